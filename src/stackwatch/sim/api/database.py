"""Database API v1.0 (trove) of the simulated cloud, served with the optional services
(:mod:`stackwatch.sim.optional`).

Follows trove's API reference (``instance-mgmt-list-response.json``): the management
listing ``GET /v1.0/{project_id}/mgmt/instances`` (admin only: trove's 403 otherwise)
holds every project's instances, by ``limit``/``marker`` (20 when no limit is asked,
at most 1000) with a ``links`` next link when the page is full.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response
from stackwatch.sim.optional import DatabaseInstance, world_of
from stackwatch.sim.routing import ApiContext, auth_of

MAX_LIMIT = 1000


def instance_payload(api: ApiContext, project: str, i: DatabaseInstance) -> dict[str, Any]:
    return {"created": "2026-01-05T09:00:00", "updated": "2026-01-05T09:10:00",
            "datastore": {"type": i.datastore_type, "version": i.datastore_version},
            "deleted": False, "deleted_at": None, "encrypted_rpc_messaging": True,
            "flavor": {"id": "d2", "links": []}, "id": i.id,
            "links": [{"href": api.url(f"/v1.0/{project}/instances/{i.id}"), "rel": "self"}],
            "name": i.name, "region": api.state.region, "status": i.status,
            "addresses": [], "ip": [], "server": None, "server_id": None,
            "service_status": "HEALTHY" if i.status == "ACTIVE" else i.status,
            "service_status_updated": "2026-01-05T09:10:00", "volume_id": None,
            "tenant_id": i.tenant_id, "task_description": "No tasks for the instance.",
            "volume": {"size": i.volume_size, "used": i.volume_used}}


def register(api: ApiContext) -> None:
    """Serve trove's version document and management instance listing."""

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "id": "v1.0", "status": "CURRENT", "updated": "2012-08-01T00:00:00Z",
            "links": [{"href": api.url("/v1.0/"), "rel": "self"}]}]})

    async def instances(request: web.Request) -> web.Response:
        if not auth_of(request).is_admin:
            return json_response({"forbidden": {
                "code": 403, "message": "User does not have admin privileges."}}, 403)
        project = request.match_info["project_id"]
        chosen, full = page(request, world_of(api.state).instances, lambda i: i.id,
                            cap=MAX_LIMIT, default=20)
        body: dict[str, Any] = {"instances": [instance_payload(api, project, i)
                                              for i in chosen]}
        if full:
            body["links"] = [{"href": next_url(api, request, chosen[-1].id), "rel": "next"}]
        return json_response(body)

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v1.0/{project_id}/mgmt/instances", instances)
