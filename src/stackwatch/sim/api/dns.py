"""DNS API v2 (designate) of the simulated cloud, served with the optional services
(:mod:`stackwatch.sim.optional`).

Follows designate's API reference (``get-versions-response.json``,
``list-zones-response.json``, ``list-recordset-in-zone-response.json``): listings by
``limit``/``marker`` at most 1000 (``max_limit_v2``) with ``links.self`` and, when the
page is full, ``links.next``, and ``metadata.total_count``. ``X-Auth-All-Projects:
True`` lists every project's items for an admin (403 for others); without it, the
token's project's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page, self_url
from stackwatch.sim.api.wire import json_response, truthy
from stackwatch.sim.optional import Recordset, Zone, world_of
from stackwatch.sim.routing import ApiContext, auth_of, request_id_of

MAX_LIMIT = 1000  # designate.conf [service:api] max_limit_v2
CREATED = "2026-01-05T09:00:00.000000"


def zone_payload(api: ApiContext, zone: Zone) -> dict[str, Any]:
    return {"id": zone.id, "pool_id": "794ccc2c-d751-44fe-b57f-8894c9f5c842",
            "project_id": zone.project_id, "name": zone.name,
            "email": f"hostmaster@{zone.name.rstrip('.')}", "ttl": 3600, "serial": 1,
            "status": zone.status, "action": "CREATE" if zone.status == "PENDING" else "NONE",
            "description": None, "masters": [], "type": zone.type, "transferred_at": None,
            "version": 1, "created_at": CREATED, "updated_at": None, "attributes": {},
            "links": {"self": api.url(f"/v2/zones/{zone.id}")}}


def recordset_payload(api: ApiContext, zone: Zone, rs: Recordset) -> dict[str, Any]:
    return {"description": None,
            "links": {"self": api.url(f"/v2/zones/{zone.id}/recordsets/{rs.id}")},
            "updated_at": None, "records": list(rs.records), "ttl": None, "id": rs.id,
            "name": rs.name, "project_id": zone.project_id, "zone_id": zone.id,
            "zone_name": zone.name, "created_at": CREATED, "version": 1, "type": rs.type,
            "status": rs.status, "action": "CREATE" if rs.status == "PENDING" else "NONE"}


def _error(request: web.Request, status: int, kind: str, message: str) -> web.Response:
    return json_response({"code": status, "type": kind, "message": message,
                          "request_id": request_id_of(request)}, status)


def register(api: ApiContext) -> None:
    """Serve designate's version document, zones and their recordsets."""

    async def versions(request: web.Request) -> web.Response:
        links = [{"href": api.url("/v2"), "rel": "self"},
                 {"href": "https://docs.openstack.org/api-ref/dns", "rel": "help"}]
        return json_response({"versions": [
            {"id": "v2", "links": links, "status": "SUPPORTED",
             "updated": "2022-06-29T00:00:00Z"},
            {"id": "v2.0", "links": links, "status": "CURRENT",
             "updated": "2022-06-29T00:00:00Z"}]})

    def visible(request: web.Request) -> Sequence[Zone] | web.Response:
        auth = auth_of(request)
        zones: Sequence[Zone] = world_of(api.state).zones
        if truthy(request.headers.get("X-Auth-All-Projects", "false")):
            if not auth.is_admin:
                return _error(request, 403, "forbidden", "Forbidden")
            return zones
        return [z for z in zones if z.project_id == auth.project_id]

    def listing(request: web.Request, key: str, items: list[dict[str, Any]], full: bool,
                last: str, total: int) -> web.Response:
        links = {"self": self_url(api, request)}
        if full:
            links["next"] = next_url(api, request, last)
        return json_response({key: items, "links": links, "metadata": {"total_count": total}})

    async def zones(request: web.Request) -> web.Response:
        found = visible(request)
        if isinstance(found, web.Response):
            return found
        chosen, full = page(request, found, lambda z: z.id, cap=MAX_LIMIT)
        return listing(request, "zones", [zone_payload(api, z) for z in chosen], full,
                       chosen[-1].id if chosen else "", len(found))

    async def recordsets(request: web.Request) -> web.Response:
        found = visible(request)
        if isinstance(found, web.Response):
            return found
        zone = next((z for z in found if z.id == request.match_info["zone_id"]), None)
        if zone is None:
            return _error(request, 404, "zone_not_found", "Could not find Zone")
        sets = world_of(api.state).zone_recordsets.get(zone.id, [])
        chosen, full = page(request, sets, lambda r: r.id, cap=MAX_LIMIT)
        return listing(request, "recordsets", [recordset_payload(api, zone, r) for r in chosen],
                       full, chosen[-1].id if chosen else "", len(sets))

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v2/zones", zones)
    api.route("GET", "/v2/zones/{zone_id}/recordsets", recordsets)
