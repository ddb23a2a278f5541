"""Bare Metal API v1 (ironic) of the simulated cloud, served with the optional services
(:mod:`stackwatch.sim.optional`).

Follows ironic's API reference (``api-root-response.json``,
``nodes-list-details-response.json``): ``GET /`` the version document (microversions
1.1 to 1.93), ``GET /v1/nodes/detail`` (admin) by ``limit``/``marker`` at most 1000
(``max_limit``) with an absolute ``next`` link when the page is full; the fields of
microversion 1.65 (``conductor_group``, ``lessee``, ``retired``), whatever is asked.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from stackwatch.sim.api.paging import next_url, page
from stackwatch.sim.api.wire import json_response
from stackwatch.sim.optional import Node, world_of
from stackwatch.sim.routing import ApiContext, auth_of, set_microversion

MAX_LIMIT = 1000  # ironic.conf [api] max_limit
MAX_VERSION = "1.93"
DEPLOY_KERNEL = "a2d4b0f4-8a9c-4b3f-9d55-1f3e7a1c0b11"
DEPLOY_RAMDISK = "6b0e2c1d-3f4a-4e5b-8c6d-7e8f9a0b1c22"


def node_payload(api: ApiContext, node: Node) -> dict[str, Any]:
    link = api.url(f"/v1/nodes/{node.uuid}")
    return {
        "uuid": node.uuid, "name": node.name, "driver": "ipmi",
        "driver_info": {"ipmi_address": "10.0.0.1", "ipmi_username": "ADMIN",
                        "ipmi_password": "******", "deploy_kernel": DEPLOY_KERNEL,
                        "deploy_ramdisk": DEPLOY_RAMDISK},
        "extra": {}, "instance_info": {}, "instance_uuid": node.instance_uuid,
        "last_error": node.last_error, "maintenance": node.maintenance,
        "maintenance_reason": node.maintenance_reason, "power_state": node.power_state,
        "target_power_state": None, "provision_state": node.provision_state,
        "target_provision_state": None, "console_enabled": False,
        "resource_class": "baremetal", "conductor_group": "", "lessee": None,
        "owner": None, "retired": False, "retired_reason": None, "traits": [],
        "properties": {"cpus": 32, "memory_mb": 131072, "local_gb": 900},
        "clean_step": {}, "driver_internal_info": {}, "inspection_finished_at": None,
        "inspection_started_at": None, "network_interface": "flat", "raid_config": {},
        "target_raid_config": {}, "reservation": None,
        **{sub: [{"href": f"{link}/{sub}", "rel": "self"},
                 {"href": f"{link.replace('/v1/', '/')}/{sub}", "rel": "bookmark"}]
           for sub in ("ports", "portgroups", "states")},
        "created_at": node.updated_at.isoformat(),
        "updated_at": node.updated_at.isoformat(),
        "provision_updated_at": node.provision_updated_at.isoformat(),
        "links": [{"href": link, "rel": "self"},
                  {"href": link.replace("/v1/", "/"), "rel": "bookmark"}],
    }


def register(api: ApiContext) -> None:
    """Serve ironic's version document and node listing."""

    async def root(request: web.Request) -> web.Response:
        version = {"id": "v1", "links": [{"href": api.url("/v1/"), "rel": "self"}],
                   "min_version": "1.1", "status": "CURRENT", "version": MAX_VERSION}
        return json_response({"default_version": version, "versions": [version],
                              "name": "OpenStack Ironic API",
                              "description": "Ironic is an OpenStack project which aims "
                                             "to provision baremetal machines."})

    async def nodes(request: web.Request) -> web.Response:
        if not auth_of(request).is_admin:
            return json_response({"error_message": json.dumps({
                "faultstring": "Access was denied to this resource.", "faultcode": "Client",
                "debuginfo": None})}, 403)  # ironic's: a JSON document inside the string
        asked = request.headers.get("X-OpenStack-Ironic-API-Version")
        set_microversion(request, asked or "1.1")
        chosen, full = page(request, world_of(api.state).nodes, lambda n: n.uuid, cap=MAX_LIMIT)
        body: dict[str, Any] = {"nodes": [node_payload(api, n) for n in chosen]}
        if full:
            body["next"] = next_url(api, request, chosen[-1].uuid)
        return json_response(body)

    api.route("GET", "/", root, auth=False)
    api.route("GET", "/v1/nodes/detail", nodes)

