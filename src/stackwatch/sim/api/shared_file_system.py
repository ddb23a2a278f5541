"""Shared File Systems API v2 (manila) of the simulated cloud, served with the optional
services (:mod:`stackwatch.sim.optional`).

Follows manila's API reference (``shares-list-detailed-response.json``, "List API
versions"): ``GET /`` the version document with 300 Multiple Choices (microversions
2.0 to 2.89); ``GET /v2/shares/detail`` by ``limit``/``offset`` or ``marker`` at most
1000 (``osapi_max_limit``) with ``shares_links`` (a next link when the page is full);
``all_tenants=1`` lists every project's shares for an admin, otherwise the token's
project's.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response, truthy
from stackwatch.sim.optional import Share, world_of
from stackwatch.sim.routing import ApiContext, auth_of, set_microversion

MAX_LIMIT = 1000  # manila.conf osapi_max_limit


def share_payload(api: ApiContext, share: Share) -> dict[str, Any]:
    link = f"/{share.project_id}/shares/{share.id}"
    return {
        "links": [{"href": api.url("/v2" + link), "rel": "self"},
                  {"href": api.url(link), "rel": "bookmark"}],
        "availability_zone": share.availability_zone, "share_network_id": None,
        "export_locations": [], "share_server_id": None, "share_group_id": None,
        "snapshot_id": None, "id": share.id, "size": share.size,
        "share_type": share.share_type, "share_type_name": share.share_type_name,
        "export_location": None, "project_id": share.project_id, "metadata": {},
        "status": share.status, "access_rules_status": "active", "description": None,
        "host": "manila-share-1@generic#GENERIC", "task_state": None, "is_public": False,
        "snapshot_support": True, "name": share.name, "has_replicas": False,
        "replication_type": None, "created_at": "2026-01-05T09:00:00.000000",
        "share_proto": share.share_proto, "volume_type": share.share_type_name,
    }


def register(api: ApiContext) -> None:
    """Serve manila's version document and share listing."""

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "id": "v2.0", "status": "CURRENT", "version": "2.89", "min_version": "2.0",
            "updated": "2015-08-27T11:33:21Z",
            "links": [{"rel": "self", "href": api.url("/v2/")}]}]}, 300)

    async def shares(request: web.Request) -> web.Response:
        auth = auth_of(request)
        asked = request.headers.get("X-OpenStack-Manila-API-Version")
        set_microversion(request, asked or "2.0")
        found: list[Share] = world_of(api.state).shares
        if not (auth.is_admin and truthy(request.query.get("all_tenants", "0"))):
            found = [s for s in found if s.project_id == auth.project_id]
        chosen, full = page(request, found, lambda s: s.id, cap=MAX_LIMIT)
        links = [{"href": next_url(api, request, chosen[-1].id), "rel": "next"}] if full else []
        return json_response({"shares": [share_payload(api, s) for s in chosen],
                              "shares_links": links})

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v2/shares/detail", shares)
