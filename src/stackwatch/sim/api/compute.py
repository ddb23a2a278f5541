"""Simulated nova (compute API 2.1 ... 2.103), following ``reference/api/compute/``.

Microversions are negotiated from ``OpenStack-API-Version: compute X`` or
``X-OpenStack-Nova-API-Version: X`` (``latest`` = 2.103, none = 2.1), echoed in both
headers with ``Vary`` as recorded; out of range answers 406
(``GET___v2.1__os-services@9.99.406-bad-microversion.json``). What changed across
microversions follows nova's API reference and the recordings: 2.3 extended server
attributes, 2.11 ``forced_down``, 2.16 ``host_status``, 2.28 ``cpu_info`` as an object,
2.33 hypervisor paging, 2.47 embedded flavor, 2.53 uuids for services and
hypervisors (``/servers`` and ``/search`` gone), 2.58 action paging and
``updated_at``, 2.62/2.84 event ``host``/``hostId``/``details``, 2.75 flavor
cleanup, 2.88 hypervisor resource fields and ``/statistics`` gone (``uptime`` in
detail), 2.98 image properties, 2.100 ``scheduler_hints``.

Modules: :mod:`~stackwatch.sim.api.nova` (microversions, formats, errors, links),
:mod:`~stackwatch.sim.api.compute_infra` (services, hypervisors, zones, aggregates,
migrations), :mod:`~stackwatch.sim.api.compute_servers` (servers, actions, usage),
:mod:`~stackwatch.sim.api.compute_tenant` (flavors, limits, quotas, keypairs).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stackwatch.sim.api import compute_infra, compute_servers, compute_tenant
from stackwatch.sim.api.nova import MAX_VERSION, MIN_VERSION, Nova, Version, fmt, versioned
from stackwatch.sim.routing import ApiContext, json_response


def register(api: ApiContext) -> None:
    """Add nova's routes under ``/compute``: versions here, the rest by area."""
    nova = Nova(api)

    # ---------------------------------------------------------------- versions

    def version_doc(full: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION),
            "min_version": fmt(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": api.url("/v2.1/")}]}
        if full:
            doc["links"].append({"rel": "describedby", "type": "text/html",
                                 "href": "http://docs.openstack.org/"})
            doc["media-types"] = [{"base": "application/json",
                                   "type": "application/vnd.openstack.compute+json;version=2.1"}]
        return doc

    async def root(request: web.Request) -> web.Response:
        # compute/GET___.json
        return json_response({"versions": [
            {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
             "updated": "2025-07-04T12:00:00Z", "links": [{"rel": "self",
                                                           "href": api.url("/v2/")}]},
            version_doc(False)]})

    async def v21(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1.json
        return json_response({"version": version_doc(True)})

    v = versioned
    api.route("GET", "/", root, auth=False)
    api.route("GET", "/v2.1", v(v21), auth=False)
    api.route("GET", "/v2.1/", v(v21), auth=False)
    compute_infra.register(nova)
    compute_servers.register(nova)
    compute_tenant.register(nova)
