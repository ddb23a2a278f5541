"""Container Infrastructure Management API v1 (magnum) of the simulated cloud, served
with the optional services (:mod:`stackwatch.sim.optional`).

Follows magnum's API reference (``versions-get-resp.json``, ``cluster-get-all-resp.json``):
``GET /v1/clusters`` by ``limit``/``marker`` at most 1000 (``max_limit``) with an
absolute ``next`` link when the page is full; an admin sees every project's clusters,
others their project's.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response
from stackwatch.sim.optional import Cluster, world_of
from stackwatch.sim.routing import ApiContext, auth_of

MAX_LIMIT = 1000  # magnum.conf [api] max_limit
TEMPLATE = "0562d357-8641-4759-8fed-8173f02c9633"


def cluster_payload(api: ApiContext, c: Cluster) -> dict[str, Any]:
    return {"status": c.status, "cluster_template_id": TEMPLATE, "uuid": c.uuid,
            "links": [{"href": api.url(f"/v1/clusters/{c.uuid}"), "rel": "self"},
                      {"href": api.url(f"/clusters/{c.uuid}"), "rel": "bookmark"}],
            "stack_id": c.stack_id, "keypair": "ops-key", "master_count": c.master_count,
            "create_timeout": 60, "node_count": c.node_count, "name": c.name,
            "project_id": c.project_id, "health_status": None, "labels": {}}


def register(api: ApiContext) -> None:
    """Serve magnum's version document and cluster listing."""

    async def versions(request: web.Request) -> web.Response:
        return json_response({"versions": [{
            "status": "CURRENT", "min_version": "1.1", "max_version": "1.11", "id": "v1",
            "links": [{"href": api.url("/v1/"), "rel": "self"}]}],
            "name": "OpenStack Magnum API",
            "description": "Magnum is an OpenStack project which aims to provide "
                           "container management."})

    async def clusters(request: web.Request) -> web.Response:
        auth = auth_of(request)
        found: list[Cluster] = world_of(api.state).clusters
        if not auth.is_admin:
            found = [c for c in found if c.project_id == auth.project_id]
        chosen, full = page(request, found, lambda c: c.uuid, cap=MAX_LIMIT)
        body: dict[str, Any] = {"clusters": [cluster_payload(api, c) for c in chosen]}
        if full:
            body["next"] = next_url(api, request, chosen[-1].uuid)
        return json_response(body)

    api.route("GET", "/", versions, auth=False)
    api.route("GET", "/v1/clusters", clusters)
