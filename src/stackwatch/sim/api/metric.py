"""Metric API v1 (gnocchi) of the simulated cloud, served with the optional services
(:mod:`stackwatch.sim.optional`).

Follows gnocchi's REST API documentation: ``GET /v1/status`` (admin; ``details=true``
adds the backlog per metric), ``GET /v1/metric`` and ``GET /v1/resource/generic`` as
JSON arrays by ``limit``/``marker`` at most 1000 (``max_limit``), the last page shorter
than the limit.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import page
from stackwatch.sim.api.wire import json_response, truthy
from stackwatch.sim.optional import OptionalWorld, world_of
from stackwatch.sim.routing import ApiContext, auth_of

MAX_LIMIT = 1000  # gnocchi.conf [api] max_limit
STARTED = "2026-01-05T09:00:00+00:00"


def register(api: ApiContext) -> None:
    """Serve gnocchi's version document, status, metrics and generic resources."""

    def world() -> OptionalWorld:
        return world_of(api.state)

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "status": "CURRENT", "id": "v1.0", "updated": "2015-03-19",
            "links": [{"href": api.url("/v1/"), "rel": "self"}]}]})

    async def status(request: web.Request) -> web.Response:
        if not auth_of(request).is_admin:
            return json_response({"code": 403, "description": "Access was denied to "
                                  "this resource.", "title": "Forbidden"}, 403)
        backlog: dict[str, int] = world().backlog
        storage: dict[str, Any] = {"summary": {"metrics": len(backlog),
                                               "measures": sum(backlog.values())}}
        if truthy(request.query.get("details", "false")):
            storage["measures_to_process"] = dict(backlog)
        return json_response({"storage": storage, "metricd": {
            "processors": list(world().processors),
            "statistics": {"begin_at": STARTED}}})

    async def metrics(request: web.Request) -> web.Response:
        chosen, _ = page(request, world().metrics, str, cap=MAX_LIMIT)
        owner = world().account_project  # the admin project, as ceilometer's
        return json_response([{"id": m, "archive_policy_name": "low", "creator": "admin",
                               "name": "cpu", "resource_id": None, "unit": None,
                               "created_by_user_id": "admin",
                               "created_by_project_id": owner} for m in chosen])

    async def resources(request: web.Request) -> web.Response:
        chosen, _ = page(request, world().resources, str, cap=MAX_LIMIT)
        return json_response([{"id": r, "type": "generic", "creator": "admin",
                               "original_resource_id": r, "project_id": None,
                               "user_id": None, "started_at": STARTED, "ended_at": None,
                               "revision_start": STARTED, "revision_end": None,
                               "metrics": {}} for r in chosen])

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v1/status", status)
    api.route("GET", "/v1/metric", metrics)
    api.route("GET", "/v1/resource/generic", resources)
