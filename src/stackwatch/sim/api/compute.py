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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.routing import (
    ApiContext,
    Auth,
    auth_of,
    empty_response,
    json_response,
    request_id_of,
    set_microversion,
)
from stackwatch.sim.state import Actor, acting

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 103)
MAX_LIMIT = 1000  # nova [api] max_limit
BUILD_SECONDS = 1.0  # how long a simulated boot takes

# Statuses that only one vm_state gives (nova.api.openstack.common._STATE_MAP).
VM_STATE_OF_STATUS = {"ERROR": "error", "SHUTOFF": "stopped", "BUILD": "building",
                      "PAUSED": "paused", "SUSPENDED": "suspended",
                      "SHELVED_OFFLOADED": "shelved_offloaded", "VERIFY_RESIZE": "resized"}
PASSWORD_CHARS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
Version = tuple[int, int]
MV_KEY = "compute.mv"


def z_time(value: datetime | None) -> str | None:
    """``2026-11-21T06:17:10Z`` (server created/updated, fault created)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def us_time(value: datetime | None) -> str | None:
    """``2026-11-21T06:17:47.000000`` (launched_at, services, actions, migrations)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _version_headers(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}",
            "X-OpenStack-Nova-API-Version": version,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}


def error(status: int, message: str, version: Version | None = None) -> web.Response:
    """nova's fault bodies: itemNotFound, badRequest, forbidden, conflictingRequest, ..."""
    key = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest",
           501: "notImplemented"}.get(status, "computeFault")
    headers = _version_headers(fmt(version)) if version else None
    # compute/GET___v2.1__servers__{server_id}@latest.404.json: "application/json; charset=UTF-8"
    return json_response({key: {"code": status, "message": message}}, status, headers,
                         charset="UTF-8")


def parse_version(request: web.Request) -> Version | web.Response:
    """The requested microversion, or the 406/400 answer."""
    raw = None
    header = request.headers.get("OpenStack-API-Version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                raw = value.strip()
    if raw is None:
        raw = request.headers.get("X-OpenStack-Nova-API-Version")
    if raw is None:
        return MIN_VERSION
    if raw.lower() == "latest":
        return MAX_VERSION
    match = re.fullmatch(r"(\d+)\.(\d+)", raw)
    if match is None:
        return json_response({"computeFault": {"code": 400, "message": (
            f"API Version String {raw} is of invalid format. Must be of format "
            "MajorNum.MinorNum.")}}, 400)
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        return json_response({"computeFault": {"code": 406, "message": (
            f"Version {raw} is not supported by the API. Minimum is {fmt(MIN_VERSION)} and "
            f"maximum is {fmt(MAX_VERSION)}.")}}, 406, _version_headers(raw), charset="UTF-8")
    return version


Handler = Callable[[web.Request, Version], Awaitable[web.Response]]


def versioned(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Negotiate the microversion, call the handler with it, add the version headers."""
    async def wrapped(request: web.Request) -> web.Response:
        version = parse_version(request)
        if isinstance(version, web.Response):
            return version
        set_microversion(request, fmt(version))
        response = await handler(request, version)
        for key, value in _version_headers(fmt(version)).items():
            response.headers[key] = value
        return response
    return wrapped


def _int_arg(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} param must be an integer") from None
    if number < 0:
        raise web.HTTPBadRequest(reason=f"{name} param must be positive")
    return number


def register(api: ApiContext) -> None:
    """Add nova's routes under ``/compute``."""
    state = api.state
    rng = random.Random(11)
    origin = api.url("")  # bookmark links: service root without /v2.1

    def links(kind: str, rid: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": api.url(f"/v2.1/{kind}/{rid}")},
                {"rel": "bookmark", "href": f"{origin}/{kind}/{rid}"}]

    def next_link(request: web.Request, key: str, marker: str) -> list[dict[str, str]]:
        query = {k: v for k, v in request.query.items() if k != "marker"}
        query["marker"] = marker
        return [{"rel": "next", "href": api.url(f"{request.path[len(api.spec.prefix):]}"
                                                f"?{urlencode(query)}")}]

    def forbid(action: str, version: Version) -> web.Response:
        # compute/GET___v2.1__os-services@latest.403-member.json
        return error(403, f"Policy doesn't allow {action} to be performed.", version)

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

    # ---------------------------------------------------------------- services

    def service_body(svc: r.ComputeService, version: Version) -> dict[str, Any]:
        # compute/GET___v2.1__os-services@{2.1,latest}.json
        now = state.now()
        up = svc.is_up(now) and svc.id not in state.silent_services
        body: dict[str, Any] = {
            "binary": svc.binary, "host": svc.host,
            "id": svc.id if version >= (2, 53) else svc.legacy_id,
            "zone": svc.zone, "status": svc.status(), "state": "up" if up else "down",
            "updated_at": us_time(svc.updated_at), "disabled_reason": svc.disabled_reason}
        if version >= (2, 11):
            body["forced_down"] = svc.forced_down
        return body

    async def list_services(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-services:list", version)
        host, binary = request.query.get("host"), request.query.get("binary")
        items = [service_body(s, version) for s in state.compute_services
                 if (host is None or s.host == host) and (binary is None or s.binary == binary)]
        return json_response({"services": items})

    async def update_service(request: web.Request, version: Version) -> web.Response:
        """PUT /os-services/{id} (2.53: body status/disabled_reason/forced_down)."""
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-services:update", version)
        sid = request.match_info["service_id"]
        svc = _service_by_any_id(sid)
        if svc is None:
            return error(404, f"Service {sid} could not be found.", version)
        data = await request.json()
        changes: dict[str, Any] = {}
        if "status" in data:
            disabled = data["status"] == "disabled"
            changes["disabled"] = disabled
            changes["disabled_reason"] = data.get("disabled_reason") if disabled else None
        if "forced_down" in data:
            changes["forced_down"] = bool(data["forced_down"])
        svc = state.update("compute_service", svc.id, **changes)
        return json_response({"service": service_body(svc, version)})

    async def legacy_service_action(request: web.Request, version: Version) -> web.Response:
        """PUT /os-services/{enable,disable,disable-log-reason,force-down} (< 2.53)."""
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-services:update", version)
        action = request.path.rsplit("/", 1)[-1]
        data = await request.json()
        svc = state.compute_service(str(data.get("host")), str(data.get("binary")))
        if svc is None:
            return error(404, f"Host '{data.get('host')}' is not mapped to any cell", version)
        if action == "enable":
            svc = state.update("compute_service", svc.id, disabled=False, disabled_reason=None)
        elif action in ("disable", "disable-log-reason"):
            svc = state.update("compute_service", svc.id, disabled=True,
                               disabled_reason=data.get("disabled_reason"))
        elif action == "force-down":
            svc = state.update("compute_service", svc.id, forced_down=bool(data["forced_down"]))
        else:
            return error(404, "The resource could not be found.", version)
        body: dict[str, Any] = {"host": svc.host, "binary": svc.binary,
                                "status": svc.status()}
        if svc.disabled_reason:
            body["disabled_reason"] = svc.disabled_reason
        if action == "force-down":
            body = {"host": svc.host, "binary": svc.binary, "forced_down": svc.forced_down}
        return json_response({"service": body})

    def _service_by_any_id(sid: str) -> r.ComputeService | None:
        svc = state.compute_services.get(sid)
        if svc is None and sid.isdigit():
            for s in state.compute_services:
                if s.legacy_id == int(sid):
                    return s
        return svc

    # ---------------------------------------------------------------- hypervisors

    def hyp_state(h: r.Hypervisor) -> tuple[str, str, r.ComputeService | None]:
        svc = state.compute_services.get(h.service_id)
        if svc is None:
            return "down", "enabled", None
        up = svc.is_up(state.now()) and svc.id not in state.silent_services
        return ("up" if up else "down"), svc.status(), svc

    def hyp_summary(h: r.Hypervisor, version: Version) -> dict[str, Any]:
        st, status, _ = hyp_state(h)
        return {"id": h.id if version >= (2, 53) else h.legacy_id,
                "hypervisor_hostname": h.hypervisor_hostname, "state": st, "status": status}

    def hyp_detail(h: r.Hypervisor, version: Version) -> dict[str, Any]:
        # compute/GET___v2.1__os-hypervisors__detail@{2.1,2.33,2.53,2.87,2.88,latest}.json
        body = hyp_summary(h, version)
        _, _, svc = hyp_state(h)
        body.update({"hypervisor_type": h.hypervisor_type,
                     "hypervisor_version": h.hypervisor_version, "host_ip": h.host_ip,
                     "service": {
                         "id": (svc.id if version >= (2, 53) else svc.legacy_id) if svc else None,
                         "host": h.host,
                         "disabled_reason": svc.disabled_reason if svc else None}})
        if version >= (2, 88):
            body["uptime"] = None
            return body
        ci = h.cpu_info
        cpu_info: dict[str, Any] = {
            "arch": ci.arch, "model": ci.model, "vendor": ci.vendor,
            "features": list(ci.features),
            "topology": {"cores": ci.cores, "threads": ci.threads, "sockets": ci.sockets}}
        import json as _json

        body.update({
            "vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
            "vcpus_used": h.vcpus_used, "memory_mb_used": h.memory_mb_used,
            "local_gb_used": h.local_gb_used,
            "free_ram_mb": h.memory_mb - h.memory_mb_used,
            "free_disk_gb": h.local_gb - h.local_gb_used,
            "current_workload": h.current_workload, "running_vms": h.running_vms,
            "disk_available_least": h.disk_available_least,
            "cpu_info": cpu_info if version >= (2, 28) else _json.dumps(cpu_info)})
        return body

    def hyp_servers(h: r.Hypervisor) -> list[dict[str, str]]:
        return [{"name": s.instance_name, "uuid": s.id}
                for s in state.servers.by("node", h.hypervisor_hostname)]

    def find_hyp(hid: str, version: Version) -> r.Hypervisor | None:
        if version >= (2, 53):
            return state.hypervisors.get(hid)
        if hid.isdigit():
            for h in state.hypervisors:
                if h.legacy_id == int(hid):
                    return h
        return None

    async def list_hypervisors(request: web.Request, version: Version, detail: bool
                               ) -> web.Response:
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-hypervisors:list" + ("-detail" if detail else ""),
                          version)
        pattern = request.query.get("hypervisor_hostname_pattern")
        with_servers = request.query.get("with_servers", "").lower() in ("1", "true", "yes")
        limit = marker = None
        if version >= (2, 33):
            limit = _int_arg(request, "limit")
            marker = request.query.get("marker")
        if limit is not None:
            limit = min(limit, MAX_LIMIT)
        if pattern is not None and (limit is not None or marker is not None):
            return error(400, "Paging over hypervisors with the hypervisor_hostname_pattern "
                              "query parameter is not supported.", version)
        if marker is not None and find_hyp(marker, version) is None:
            return error(400, f"marker [{marker}] not found", version)
        marker_id = find_hyp(marker, version).id if marker else None  # type: ignore[union-attr]
        predicate = (lambda h: pattern in h.hypervisor_hostname) if pattern else None
        page = state.hypervisors.page(marker=marker_id, limit=limit, predicate=predicate)
        if pattern is not None and not page.items:
            return error(404, f"No hypervisor matching '{pattern}' could be found.", version)
        items = []
        for h in page.items:
            body = hyp_detail(h, version) if detail else hyp_summary(h, version)
            if with_servers and version >= (2, 53):
                servers = hyp_servers(h)
                if servers:
                    body["servers"] = servers
            items.append(body)
        out: dict[str, Any] = {"hypervisors": items}
        if page.more and page.items:
            last = page.items[-1]
            out["hypervisors_links"] = next_link(
                request, "hypervisors", last.id if version >= (2, 53) else str(last.legacy_id))
        return json_response(out)

    async def hypervisors_index(request: web.Request, version: Version) -> web.Response:
        return await list_hypervisors(request, version, detail=False)

    async def hypervisors_detail(request: web.Request, version: Version) -> web.Response:
        return await list_hypervisors(request, version, detail=True)

    async def hypervisor_statistics(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-hypervisors__statistics@{2.1,2.87,2.88}.json
        if version >= (2, 88):
            return error(404, "The resource could not be found.", version)
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-hypervisors:statistics", version)
        hs = list(state.hypervisors)
        stats = {
            "count": len(hs),
            "current_workload": sum(h.current_workload for h in hs),
            "disk_available_least": sum(h.disk_available_least for h in hs),
            "free_disk_gb": sum(h.local_gb - h.local_gb_used for h in hs),
            "free_ram_mb": sum(h.memory_mb - h.memory_mb_used for h in hs),
            "local_gb": sum(h.local_gb for h in hs),
            "local_gb_used": sum(h.local_gb_used for h in hs),
            "memory_mb": sum(h.memory_mb for h in hs),
            "memory_mb_used": sum(h.memory_mb_used for h in hs),
            "running_vms": sum(h.running_vms for h in hs),
            "vcpus": sum(h.vcpus for h in hs),
            "vcpus_used": sum(h.vcpus_used for h in hs),
        }
        return json_response({"hypervisor_statistics": stats})

    async def hypervisor_show(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-hypervisors__{id}@{2.1,2.87,latest}.json
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-hypervisors:show", version)
        hid = request.match_info["hypervisor_id"]
        h = find_hyp(hid, version)
        if h is None:
            if version >= (2, 53):
                return error(400 if not _looks_uuid(hid) else 404,
                             f"Hypervisor with ID '{hid}' could not be found."
                             if _looks_uuid(hid) else f"Invalid uuid {hid}", version)
            return error(404, f"Hypervisor with ID '{hid}' could not be found.", version)
        body = hyp_detail(h, version)
        if version >= (2, 53) and request.query.get("with_servers", "").lower() in (
                "1", "true", "yes"):
            body["servers"] = hyp_servers(h)
        return json_response({"hypervisor": body})

    async def hypervisor_uptime(request: web.Request, version: Version) -> web.Response:
        if version >= (2, 88):
            return error(404, "The resource could not be found.", version)
        h = find_hyp(request.match_info["hypervisor_id"], version)
        if h is None:
            return error(404, "Hypervisor could not be found.", version)
        body = hyp_summary(h, version)
        body["uptime"] = " 06:18:57 up 93 days,  4:02,  0 users,  load average: 0.52, 0.58, 0.59"
        return json_response({"hypervisor": body})

    async def hypervisor_search(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-hypervisors__{hostname_pattern}__search@2.1.json
        if version >= (2, 53):
            return error(404, "The resource could not be found.", version)
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-hypervisors:search", version)
        pattern = request.match_info["pattern"]
        found = [hyp_summary(h, version) for h in state.hypervisors
                 if pattern in h.hypervisor_hostname]
        if not found:
            return error(404, f"No hypervisor matching '{pattern}' could be found.", version)
        return json_response({"hypervisors": found})

    async def hypervisor_servers(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-hypervisors__{hostname_pattern}__servers@2.1.json (404 >= 2.53)
        if version >= (2, 53):
            return error(404, "The resource could not be found.", version)
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-hypervisors:servers", version)
        pattern = request.match_info["pattern"]
        found = []
        for h in state.hypervisors:
            if pattern in h.hypervisor_hostname:
                body = hyp_summary(h, version)
                servers = hyp_servers(h)
                if servers:
                    body["servers"] = servers
                found.append(body)
        if not found:
            return error(404, f"No hypervisor matching '{pattern}' could be found.", version)
        return json_response({"hypervisors": found})

    # ---------------------------------------------------------------- flavors

    def flavor_body(f: r.Flavor, version: Version, detail: bool) -> dict[str, Any]:
        # compute/GET___v2.1__flavors__detail@{2.1,latest}.json
        if not detail:
            body: dict[str, Any] = {"id": f.id, "name": f.name, "links": links("flavors", f.id)}
            if version >= (2, 55):
                body["description"] = f.description
            return body
        body = {"id": f.id, "name": f.name, "ram": f.ram, "disk": f.disk,
                "swap": f.swap if (f.swap or version >= (2, 75)) else "",
                "OS-FLV-EXT-DATA:ephemeral": f.ephemeral}
        if version < (2, 75):
            body["OS-FLV-DISABLED:disabled"] = False
        body["vcpus"] = f.vcpus
        body["os-flavor-access:is_public"] = f.is_public
        if version < (2, 75):
            body["rxtx_factor"] = f.rxtx_factor
        body["links"] = links("flavors", f.id)
        if version >= (2, 55):
            body["description"] = f.description
        if version >= (2, 61):
            body["extra_specs"] = dict(f.extra_specs)
        return body

    async def list_flavors(request: web.Request, version: Version, detail: bool
                           ) -> web.Response:
        auth_of(request)
        limit = _int_arg(request, "limit")
        marker = request.query.get("marker")
        if marker is not None and marker not in state.flavors:
            return error(400, f"marker [{marker}] not found", version)
        page = state.flavors.page(marker=marker, limit=min(limit or MAX_LIMIT, MAX_LIMIT))
        out: dict[str, Any] = {"flavors": [flavor_body(f, version, detail) for f in page.items]}
        if page.more and page.items:
            out["flavors_links"] = next_link(request, "flavors", page.items[-1].id)
        return json_response(out)

    async def flavors_index(request: web.Request, version: Version) -> web.Response:
        return await list_flavors(request, version, False)

    async def flavors_detail(request: web.Request, version: Version) -> web.Response:
        return await list_flavors(request, version, True)

    async def flavor_show(request: web.Request, version: Version) -> web.Response:
        auth_of(request)
        fid = request.match_info["flavor_id"]
        f = state.flavors.get(fid)
        if f is None:
            f = next(iter(state.flavors.by("name", fid)), None)
        if f is None:
            return error(404, f"Flavor {fid} could not be found.", version)
        return json_response({"flavor": flavor_body(f, version, True)})

    async def flavor_extra_specs(request: web.Request, version: Version) -> web.Response:
        auth_of(request)
        f = state.flavors.get(request.match_info["flavor_id"])
        if f is None:
            return error(404, "Flavor could not be found.", version)
        return json_response({"extra_specs": dict(f.extra_specs)})

    # ---------------------------------------------------------------- servers

    def server_body(s: r.Server, version: Version, caller: Auth, show: bool = False
                    ) -> dict[str, Any]:
        # compute/GET___v2.1__servers__{server_id}@{2.1,latest}.{active,error-with-fault}.json
        addresses: dict[str, list[dict[str, Any]]] = {}
        for a in s.addresses:
            addresses.setdefault(a.network_name, []).append({
                "version": a.version, "addr": a.addr, "OS-EXT-IPS:type": a.type,
                "OS-EXT-IPS-MAC:mac_addr": a.mac_addr})
        if version >= (2, 47):
            f = s.flavor
            flavor: dict[str, Any] = {
                "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
                "swap": f.swap, "original_name": f.name, "extra_specs": dict(f.extra_specs)}
        else:
            flavor = {"id": s.flavor.id, "links": [
                {"rel": "bookmark", "href": f"{origin}/flavors/{s.flavor.id}"}]}
        image: dict[str, Any] = {"id": s.image_id, "links": [
            {"rel": "bookmark", "href": f"{origin}/images/{s.image_id}"}]}
        if version >= (2, 98):
            image["properties"] = {}
        body: dict[str, Any] = {
            "accessIPv4": "", "accessIPv6": "", "addresses": addresses,
            "created": z_time(s.created_at), "flavor": flavor,
            "hostId": ops.host_id(s.project_id, s.host), "id": s.id, "image": image,
            "links": links("servers", s.id), "metadata": dict(s.metadata), "name": s.name,
            "status": s.status(), "tenant_id": s.project_id, "user_id": s.user_id,
            "updated": z_time(s.updated_at), "OS-DCF:diskConfig": "MANUAL",
        }
        if s.fault is not None and s.vm_state in ("error", "deleted"):
            fault: dict[str, Any] = {"code": s.fault.code, "created": z_time(s.fault.created),
                                     "message": s.fault.message}
            if caller.is_admin or s.fault.code != 500:
                fault["details"] = s.fault.details
            body["fault"] = fault
        if s.status() in ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "MIGRATING", "VERIFY_RESIZE",
                          "SHUTOFF", "PAUSED", "SUSPENDED", "REBOOT", "HARD_REBOOT"):
            body["progress"] = s.progress
        body["OS-EXT-AZ:availability_zone"] = s.availability_zone or ""
        body["config_drive"] = s.config_drive
        body["key_name"] = s.key_name
        body["OS-SRV-USG:launched_at"] = us_time(s.launched_at)
        body["OS-SRV-USG:terminated_at"] = us_time(s.terminated_at)
        if caller.is_admin:
            body["OS-EXT-SRV-ATTR:host"] = s.host
            body["OS-EXT-SRV-ATTR:instance_name"] = s.instance_name
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = s.node
            if version >= (2, 3):
                body.update({
                    "OS-EXT-SRV-ATTR:hostname": s.name, "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:launch_index": s.launch_index,
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:reservation_id": s.reservation_id,
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda" if s.host else None,
                    "OS-EXT-SRV-ATTR:user_data": None})
        elif version >= (2, 90):
            body["OS-EXT-SRV-ATTR:hostname"] = s.name
        body["OS-EXT-STS:task_state"] = s.task_state
        body["OS-EXT-STS:vm_state"] = s.vm_state
        body["OS-EXT-STS:power_state"] = s.power_state
        volumes: list[dict[str, Any]] = [{"id": v} for v in s.volumes_attached]
        if version >= (2, 3):
            for v in volumes:
                v["delete_on_termination"] = False
        body["os-extended-volumes:volumes_attached"] = volumes
        if version >= (2, 9):
            body["locked"] = s.locked
        if version >= (2, 16) and caller.is_admin:
            body["host_status"] = _host_status(s)
        if version >= (2, 19):
            body["description"] = s.description
        if version >= (2, 26):
            body["tags"] = list(s.tags)
        if version >= (2, 63):
            body["trusted_image_certificates"] = None
        if version >= (2, 71) and show:
            body["server_groups"] = []  # show only (compare ...servers__detail...@latest.json)
        if version >= (2, 73):
            body["locked_reason"] = s.locked_reason
        if version >= (2, 96):
            body["pinned_availability_zone"] = None
        if version >= (2, 100):
            body["scheduler_hints"] = {}
        return body

    def _host_status(s: r.Server) -> str:
        if not s.host:
            return ""
        svc = state.compute_service(s.host)
        if svc is None:
            return "UNKNOWN"
        if svc.forced_down:
            return "DOWN"
        if not svc.is_up(state.now()) or svc.id in state.silent_services:
            return "UNKNOWN"
        return "MAINTENANCE" if svc.disabled else "UP"

    def server_filter(request: web.Request, caller: Auth) -> tuple[dict[str, Any],
                                                                   Callable[[r.Server], bool]]:
        q = request.query
        all_tenants = caller.is_admin and q.get("all_tenants", "0").lower() not in (
            "0", "false", "off", "no") if "all_tenants" in q else False
        if "all_tenants" in q and q.get("all_tenants") == "":
            all_tenants = caller.is_admin
        where: dict[str, Any] = {}
        project = q.get("project_id") or q.get("tenant_id")
        if not caller.is_admin:
            where["project_id"] = caller.project_id
        elif project:
            where["project_id"] = project
        elif not all_tenants:
            where["project_id"] = caller.project_id
        if caller.is_admin and q.get("host"):
            where["host"] = q["host"]
        if caller.is_admin and q.get("node"):
            where["node"] = q["node"]
        if q.get("user_id") and caller.is_admin:
            where["user_id"] = q["user_id"]
        status = q.get("status", "").upper() or None
        if status in VM_STATE_OF_STATUS:
            # narrow by the indexed vm_state; the predicate below stays exact
            where["vm_state"] = VM_STATE_OF_STATUS[status]
        name = q.get("name")
        name_re = re.compile(name) if name else None
        flavor, image = q.get("flavor"), q.get("image")
        since = q.get("changes-since")
        since_dt = _parse_time(since) if since else None

        def predicate(s: r.Server) -> bool:
            if status and s.status() != status:
                return False
            if name_re is not None and not name_re.search(s.name):
                return False
            if flavor and s.flavor.id != flavor:
                return False
            if image and s.image_id != image:
                return False
            return not (since_dt and s.updated_at < since_dt)

        return where, predicate

    async def list_servers(request: web.Request, version: Version, detail: bool
                           ) -> web.Response:
        # compute/GET___v2.1__servers__detail~all_tenants=1&limit=1@latest.json
        caller = auth_of(request)
        all_tenants = request.query.get("all_tenants")
        if all_tenants is not None and not caller.is_admin and all_tenants.lower() not in (
                "0", "false", "off", "no"):
            # nova: policy os_compute_api:servers:{index,detail}:get_all_tenants (admin)
            kind = "detail" if detail else "index"
            return forbid(f"os_compute_api:servers:{kind}:get_all_tenants", version)
        limit = _int_arg(request, "limit")
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        marker = request.query.get("marker")
        where, predicate = server_filter(request, caller)
        try:
            page = state.servers.page(marker=marker, limit=limit, descending=True,
                                      where=where, predicate=predicate)
        except KeyError:
            return error(400, f"marker [{marker}] not found", version)
        if detail:
            # the page is assembled from each server's cached JSON: same bytes as
            # json.dumps({"servers": [...], "servers_links": [...]}) would give
            parts = [encoded_server(s, version, caller) for s in page.items]
            body = b'{"servers": [' + b", ".join(parts) + b"]"
            if page.more and page.items:
                body += b', "servers_links": ' + json.dumps(
                    next_link(request, "servers", page.items[-1].id)).encode()
            return web.Response(body=body + b"}", headers={"Content-Type": "application/json"})
        items = [{"id": s.id, "name": s.name, "links": links("servers", s.id)}
                 for s in page.items]
        out: dict[str, Any] = {"servers": items}
        if page.more and page.items:
            out["servers_links"] = next_link(request, "servers", page.items[-1].id)
        return json_response(out)

    encoded: dict[tuple[str, Version, bool], tuple[r.Server, str, bytes]] = {}

    def encoded_server(s: r.Server, version: Version, caller: Auth) -> bytes:
        """A server's detail JSON, cached per (record, microversion, admin, host status).

        Records are immutable, so the cached bytes hold while the record is the same
        object; only ``host_status`` derives from another record (the service).
        """
        host_status = _host_status(s) if caller.is_admin and version >= (2, 16) else ""
        key = (s.id, version, caller.is_admin)
        hit = encoded.get(key)
        if hit is not None and hit[0] is s and hit[1] == host_status:
            return hit[2]
        data = json.dumps(server_body(s, version, caller)).encode()
        if len(encoded) > 200_000:
            encoded.clear()
        encoded[key] = (s, host_status, data)
        return data

    async def servers_index(request: web.Request, version: Version) -> web.Response:
        return await list_servers(request, version, False)

    async def servers_detail(request: web.Request, version: Version) -> web.Response:
        return await list_servers(request, version, True)

    def visible_server(request: web.Request, caller: Auth) -> r.Server | None:
        s = state.servers.get(request.match_info["server_id"])
        if s is None or (not caller.is_admin and s.project_id != caller.project_id):
            return None
        return s

    async def server_show(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            sid = request.match_info["server_id"]
            # compute/GET___v2.1__servers__{server_id}@latest.404.json
            return error(404, f"Instance {sid} could not be found.", version)
        return json_response({"server": server_body(s, version, caller, show=True)})

    async def server_create(request: web.Request, version: Version) -> web.Response:
        # compute/POST___v2.1__servers@latest.ref-vm-1.json (202, adminPass)
        caller = auth_of(request)
        try:
            data = (await request.json())["server"]
            name = str(data["name"])
        except (ValueError, KeyError, TypeError):
            return error(400, "Invalid input for field/attribute server.", version)
        flavor_ref = str(data.get("flavorRef", "")).rsplit("/", 1)[-1]
        flavor = state.flavors.get(flavor_ref) or next(
            iter(state.flavors.by("name", flavor_ref)), None)
        if flavor is None:
            return error(400, f"Flavor {flavor_ref} could not be found.", version)
        image_ref = str(data.get("imageRef", "")).rsplit("/", 1)[-1]
        if image_ref and image_ref not in state.images and state.images:
            return error(400, f"Image {image_ref} could not be found.", version)
        project_id = caller.project_id or ""
        count = int(data.get("min_count", 1) or 1)
        if version >= (2, 37) and "networks" not in data:
            return error(400, "Invalid input for field/attribute server. Value: "
                              "'networks' is a required property", version)
        used = state.quota_usage("compute", project_id)
        for resource, amount in (("instances", count), ("cores", flavor.vcpus * count),
                                 ("ram", flavor.ram * count)):
            limit = state.quota_limit("compute", project_id, resource)
            if limit >= 0 and used[resource] + amount > limit:
                # compute/POST___v2.1__servers@latest.403-quota-exceeded-ram.json
                return error(403, f"Quota exceeded for {resource}: Requested {amount}, but "
                                  f"already used {used[resource]} of {limit} {resource}",
                             version)
        request_id = request_id_of(request)
        created: list[r.Server] = []
        for i in range(count):
            created.append(ops.create_server(
                state, name=name if count == 1 else f"{name}-{i + 1}", project_id=project_id,
                user_id=caller.user_id, flavor=flavor, image_id=image_ref, request_id=(
                    request_id if i == 0 else ops.new_request_id()), rng=rng,
                key_name=data.get("key_name"), metadata=data.get("metadata")))
        actor = Actor(cause="api", request_id=request_id, user_id=caller.user_id,
                      project_id=project_id)
        loop = asyncio.get_running_loop()
        for s in created:
            loop.call_later(BUILD_SECONDS, _finish, s.id, actor)
        s = created[0]
        return json_response({"server": {
            "id": s.id, "links": links("servers", s.id), "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": "".join(rng.choice(PASSWORD_CHARS) for _ in range(12))}}, 202,
            {"Location": api.url(f"/v2.1/servers/{s.id}")})

    def _finish(server_id: str, actor: Actor) -> None:
        with acting(actor):
            ops.finish_build(state, server_id, rng)

    async def server_delete(request: web.Request, version: Version) -> web.Response:
        # compute/DELETE___v2.1__servers__{server_id}@latest.json (204)
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            sid = request.match_info["server_id"]
            return error(404, f"Instance {sid} could not be found.", version)
        if s.locked and not caller.is_admin:
            return error(409, f"Instance {s.id} is locked", version)
        ops.delete_server(state, s.id, request_id_of(request))
        return accepted(204)

    def accepted(status: int) -> web.Response:
        # ...action@latest.{os-stop,migrate}.json: no body, "Content-Type: application/json"
        return web.Response(status=status, headers={"Content-Type": "application/json"})

    async def server_action(request: web.Request, version: Version) -> web.Response:
        # compute/POST___v2.1__servers__{server_id}__action@latest.{os-stop,os-start}*.json
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            sid = request.match_info["server_id"]
            return error(404, f"Instance {sid} could not be found.", version)
        data = await request.json()
        request_id = request_id_of(request)
        if "os-stop" in data or "os-start" in data:
            on = "os-start" in data
            wanted = "stopped" if on else "active"
            if s.vm_state != wanted:
                if s.vm_state in ("error", "building"):
                    return error(409, f"Instance {s.id} is not ready", version)
                action = "start" if on else "stop"
                return error(409, f"Cannot '{action}' instance {s.id} while it is in vm_state "
                                  f"{s.vm_state}", version)
            ops.power(state, s.id, on, request_id)
            return accepted(202)
        if "migrate" in data:
            # compute/POST___v2.1__servers__{server_id}__action@latest.migrate(.409-...).json
            if not caller.is_admin:
                return forbid("os_compute_api:os-migrate-server:migrate", version)
            if s.vm_state not in ("active", "stopped"):
                return error(409, f"Cannot 'migrate' instance {s.id} while it is in vm_state "
                                  f"{s.vm_state}", version)
            if ops.migrate(state, s.id, request_id, rng, caller.user_id) is None:
                return error(400, "No valid host was found. No valid host found for cold "
                                  "migrate", version)
            return accepted(202)
        if "confirmResize" in data:
            if s.vm_state != "resized":
                return error(409, f"Cannot 'confirmResize' instance {s.id} while it is in "
                                  f"vm_state {s.vm_state}", version)
            ops.confirm_resize(state, s.id, request_id, caller.user_id)
            return accepted(204)
        if "os-resetState" in data:
            if not caller.is_admin:
                return forbid("os_compute_api:os-admin-actions:reset_state", version)
            new = data["os-resetState"].get("state", "error")
            state.update("server", s.id, vm_state=new, task_state=None, updated_at=state.now())
            return empty_response(202)
        if "reboot" in data:
            if s.vm_state != "active":
                return error(409, f"Cannot 'reboot' instance {s.id} while it is in vm_state "
                                  f"{s.vm_state}", version)
            now = state.now()
            state.add(r.InstanceAction(
                id=request_id, server_id=s.id, action="reboot", user_id=caller.user_id,
                project_id=s.project_id, start_time=now, updated_at=now, events=(
                    r.ActionEvent("compute_reboot_instance", now, now, "Success", None,
                                  s.host),)))
            return empty_response(202)
        return error(400, "There is no such action: " + ", ".join(data), version)

    # ---------------------------------------------------------------- instance actions

    def action_body(a: r.InstanceAction, version: Version, caller: Auth, events: bool
                    ) -> dict[str, Any]:
        # compute/GET___v2.1__servers__{server_id}__os-instance-actions(__{request_id})@*.json
        body: dict[str, Any] = {
            "action": a.action, "instance_uuid": a.server_id, "request_id": a.id,
            "user_id": a.user_id, "project_id": a.project_id,
            "start_time": us_time(a.start_time), "message": a.message}
        if version >= (2, 58):
            body["updated_at"] = us_time(a.updated_at or a.start_time)
        if events:
            evs = []
            for e in a.events:
                ev: dict[str, Any] = {"event": e.event, "start_time": us_time(e.start_time),
                                      "finish_time": us_time(e.finish_time),
                                      "result": e.result}
                if caller.is_admin or version < (2, 51):
                    ev["traceback"] = e.traceback
                if version >= (2, 62):
                    if caller.is_admin:
                        ev["host"] = e.host
                    ev["hostId"] = ops.host_id(a.project_id, e.host) if e.host else ""
                if version >= (2, 84):
                    ev["details"] = e.details
                evs.append(ev)
            body["events"] = evs
        return body

    async def list_actions(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        sid = request.match_info["server_id"]
        s = visible_server(request, caller)
        if s is None:
            return error(404, f"Instance {sid} could not be found.", version)
        actions = sorted(state.instance_actions.by("server_id", sid),
                         key=lambda a: (a.start_time, a.id), reverse=True)
        limit = _int_arg(request, "limit") if version >= (2, 58) else None
        marker = request.query.get("marker") if version >= (2, 58) else None
        if marker is not None:
            ids = [a.id for a in actions]
            if marker not in ids:
                return error(400, f"Marker {marker} could not be found.", version)
            actions = actions[ids.index(marker) + 1:]
        more = limit is not None and len(actions) > limit
        if limit is not None:
            actions = actions[:limit]
        out: dict[str, Any] = {"instanceActions": [action_body(a, version, caller, False)
                                                   for a in actions]}
        if more and actions:
            out["links"] = next_link(request, "actions", actions[-1].id)
        return json_response(out)

    async def show_action(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        sid = request.match_info["server_id"]
        if visible_server(request, caller) is None:
            return error(404, f"Instance {sid} could not be found.", version)
        a = state.instance_actions.get(request.match_info["request_id"])
        if a is None or a.server_id != sid:
            return error(404, f"Action {request.match_info['request_id']} not found", version)
        return json_response({"instanceAction": action_body(a, version, caller, True)})

    # ---------------------------------------------------------------- limits / quotas

    def project_arg(request: web.Request, caller: Auth) -> str:
        tenant = request.query.get("tenant_id")
        if tenant and caller.is_admin:
            return tenant
        return caller.project_id or ""

    async def limits(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__limits(~tenant_id=...)@{2.1,latest}.json
        caller = auth_of(request)
        pid = project_arg(request, caller)
        used = state.quota_usage("compute", pid)

        def lim(resource: str) -> int:
            return state.quota_limit("compute", pid, resource)

        absolute: dict[str, Any] = {"maxTotalCores": lim("cores")}
        if version < (2, 57):
            absolute["maxPersonality"] = lim("injected_files")
            absolute["maxPersonalitySize"] = lim("injected_file_content_bytes")
        absolute.update({"maxTotalInstances": lim("instances"),
                         "maxTotalKeypairs": lim("key_pairs"),
                         "maxServerMeta": lim("metadata_items")})
        if version < (2, 39):
            absolute["maxImageMeta"] = lim("metadata_items")
        absolute.update({"maxTotalRAMSize": lim("ram"), "maxServerGroups": lim("server_groups"),
                         "maxServerGroupMembers": lim("server_group_members")})
        if version < (2, 36):
            absolute.update({"maxTotalFloatingIps": -1, "maxSecurityGroups": -1,
                             "maxSecurityGroupRules": -1})
        absolute.update({"totalRAMUsed": used["ram"], "totalCoresUsed": used["cores"],
                         "totalInstancesUsed": used["instances"]})
        if version < (2, 36):
            absolute.update({"totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0})
        absolute["totalServerGroupsUsed"] = 0
        return json_response({"limits": {"rate": [], "absolute": absolute}})

    def quota_keys(version: Version) -> list[str]:
        keys = ["cores"]
        if version < (2, 36):
            keys.append("fixed_ips")
            keys.append("floating_ips")
        if version < (2, 57):
            keys += ["injected_file_content_bytes", "injected_file_path_bytes",
                     "injected_files"]
        keys += ["instances", "key_pairs", "metadata_items", "ram"]
        if version < (2, 36):
            keys += ["security_group_rules", "security_groups"]
        keys += ["server_group_members", "server_groups"]
        return keys

    def quota_value(pid: str, key: str) -> int:
        if key in ("fixed_ips", "floating_ips", "security_group_rules", "security_groups"):
            return -1
        return state.quota_limit("compute", pid, key)

    async def quota_show(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-quota-sets__{project_id}(__detail)@{2.1,latest}.json
        caller = auth_of(request)
        pid = request.match_info["project_id"]
        if not caller.is_admin and pid != caller.project_id:
            return forbid("os_compute_api:os-quota-sets:show", version)
        detail = request.path.endswith("/detail")
        body: dict[str, Any] = {"id": pid}
        used = state.quota_usage("compute", pid) if detail else {}
        for key in quota_keys(version):
            value = quota_value(pid, key)
            body[key] = ({"limit": value, "in_use": used.get(key, 0), "reserved": 0}
                         if detail else value)
        return json_response({"quota_set": body})

    async def quota_defaults(request: web.Request, version: Version) -> web.Response:
        auth_of(request)
        pid = request.match_info["project_id"]
        body: dict[str, Any] = {"id": pid}
        for key in quota_keys(version):
            body[key] = -1 if key in ("fixed_ips", "floating_ips", "security_group_rules",
                                      "security_groups") else state.quota_defaults[
                "compute"].get(key, -1)
        return json_response({"quota_set": body})

    async def quota_update(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-quota-sets:update", version)
        pid = request.match_info["project_id"]
        data = (await request.json()).get("quota_set", {})
        for key, value in data.items():
            if key in quota_keys(version) and key != "force":
                qid = f"compute:{pid}:{key}"
                if qid in state.quotas:
                    state.update("quota", qid, hard_limit=int(value))
                else:
                    state.add(r.QuotaOverride(id=qid, service="compute", project_id=pid,
                                              resource=key, hard_limit=int(value)))
        body: dict[str, Any] = {key: quota_value(pid, key) for key in quota_keys(version)}
        return json_response({"quota_set": body})

    # ---------------------------------------------------------------- usage

    def usage_window(request: web.Request) -> tuple[datetime, datetime]:
        now = state.now()
        start = _parse_time(request.query["start"]) if "start" in request.query else now
        end = _parse_time(request.query["end"]) if "end" in request.query else now
        return start or now, min(end or now, now)

    def server_usage(s: r.Server, start: datetime, end: datetime) -> dict[str, Any] | None:
        began = s.launched_at or s.created_at
        ended = s.terminated_at
        lo, hi = max(began, start), min(ended or end, end)
        if hi < lo:
            return None
        hours = (hi - lo).total_seconds() / 3600.0
        return {"hours": hours, "flavor": s.flavor.name, "instance_id": s.id,
                "name": s.name, "tenant_id": s.project_id, "memory_mb": s.flavor.ram,
                "local_gb": s.flavor.disk + s.flavor.ephemeral, "vcpus": s.flavor.vcpus,
                "started_at": us_time(began), "ended_at": us_time(ended),
                "state": "terminated" if ended else s.vm_state,
                "uptime": int((state.now() - began).total_seconds())}

    def tenant_usage(pid: str, servers: list[r.Server], start: datetime, end: datetime,
                     detailed: bool) -> dict[str, Any]:
        rows = [u for s in servers if (u := server_usage(s, start, end)) is not None]
        body: dict[str, Any] = {"tenant_id": pid}
        if detailed:
            body["server_usages"] = rows
        body.update({
            "total_local_gb_usage": sum(u["hours"] * u["local_gb"] for u in rows),
            "total_vcpus_usage": sum(u["hours"] * u["vcpus"] for u in rows),
            "total_memory_mb_usage": sum(u["hours"] * u["memory_mb"] for u in rows),
            "total_hours": sum(u["hours"] for u in rows),
            "start": us_time(start), "stop": us_time(end)})
        return body

    async def usage_index(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-simple-tenant-usage~...@{2.1,latest}.json (2.40 paging by
        # instance: a page holds at most ``limit`` servers across tenants)
        caller = auth_of(request)
        if not caller.is_admin:
            return forbid("os_compute_api:os-simple-tenant-usage:list", version)
        start, end = usage_window(request)
        detailed = request.query.get("detailed", "0") in ("1", "true", "True")
        limit = _int_arg(request, "limit") if version >= (2, 40) else None
        marker = request.query.get("marker") if version >= (2, 40) else None
        try:
            page = state.servers.page(marker=marker, limit=limit if limit is not None else None,
                                      descending=False)
        except KeyError:
            return error(400, f"marker [{marker}] not found", version)
        by_project: dict[str, list[r.Server]] = {}
        for s in page.items:
            by_project.setdefault(s.project_id, []).append(s)
        usages = [tenant_usage(pid, servers, start, end, detailed)
                  for pid, servers in by_project.items()]
        out: dict[str, Any] = {"tenant_usages": usages}
        if page.more and page.items:
            out["tenant_usages_links"] = next_link(request, "usage", page.items[-1].id)
        return json_response(out)

    async def usage_show(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        pid = request.match_info["project_id"]
        if not caller.is_admin and pid != caller.project_id:
            return forbid("os_compute_api:os-simple-tenant-usage:show", version)
        start, end = usage_window(request)
        servers = sorted(state.servers.by("project_id", pid), key=lambda s: s.id)
        body = tenant_usage(pid, servers, start, end, True) if servers else {}
        return json_response({"tenant_usage": body})

    # ---------------------------------------------------------------- aggregates / AZ

    def aggregate_body(a: r.Aggregate, version: Version) -> dict[str, Any]:
        # compute/GET___v2.1__os-aggregates@{2.1,latest}.json
        body: dict[str, Any] = {"id": a.legacy_id}
        if version >= (2, 41):
            body["uuid"] = a.uuid
        body.update({"name": a.name, "hosts": list(a.hosts), "metadata": dict(a.metadata),
                     "created_at": us_time(a.created_at), "updated_at": us_time(a.updated_at),
                     "deleted_at": None, "deleted": False,
                     "availability_zone": a.availability_zone})
        return body

    async def list_aggregates(request: web.Request, version: Version) -> web.Response:
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-aggregates:index", version)
        return json_response({"aggregates": [aggregate_body(a, version)
                                             for a in state.aggregates]})

    async def show_aggregate(request: web.Request, version: Version) -> web.Response:
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-aggregates:show", version)
        a = state.aggregates.get(request.match_info["aggregate_id"])
        if a is None:
            return error(404, f"Aggregate {request.match_info['aggregate_id']} could not be "
                              "found.", version)
        return json_response({"aggregate": aggregate_body(a, version)})

    def zone_of(host: str) -> str:
        return ops.zone_of(state, host)

    async def availability_zones(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-availability-zone@latest.json
        auth_of(request)
        zones: dict[str, bool] = {}
        now = state.now()
        for svc in state.compute_services:
            if svc.binary == "nova-compute":
                zone = zone_of(svc.host)
                up = svc.is_up(now) and not svc.disabled
                zones[zone] = zones.get(zone, False) or up
        return json_response({"availabilityZoneInfo": [
            {"zoneName": z, "zoneState": {"available": ok}, "hosts": None}
            for z, ok in zones.items()]})

    async def availability_zones_detail(request: web.Request, version: Version
                                        ) -> web.Response:
        # compute/GET___v2.1__os-availability-zone__detail@latest.json
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-availability-zone:detail", version)
        now = state.now()
        zones: dict[str, dict[str, dict[str, Any]]] = {}
        zone_ok: dict[str, bool] = {}
        for svc in state.compute_services:
            zone = "internal" if svc.zone == "internal" else zone_of(svc.host)
            up = svc.is_up(now) and svc.id not in state.silent_services
            zones.setdefault(zone, {}).setdefault(svc.host, {})[svc.binary] = {
                "available": up, "active": not svc.disabled, "updated_at": us_time(svc.updated_at)}
            zone_ok[zone] = zone_ok.get(zone, False) or (up and not svc.disabled)
        order = sorted(zones, key=lambda z: (z != "internal", z))
        return json_response({"availabilityZoneInfo": [
            {"zoneName": z, "zoneState": {"available": zone_ok[z]}, "hosts": zones[z]}
            for z in order]})

    # ---------------------------------------------------------------- migrations, keypairs

    def migration_body(m: r.Migration, version: Version) -> dict[str, Any]:
        # compute/GET___v2.1__os-migrations@{2.1,latest}.json
        body: dict[str, Any] = {"id": m.legacy_id}
        if version >= (2, 59):
            body["uuid"] = m.uuid
        body.update({
            "source_compute": m.source_compute, "dest_compute": m.dest_compute,
            "source_node": m.source_node, "dest_node": m.dest_node,
            "dest_host": m.dest_host,
            "old_instance_type_id": m.old_flavor_id, "new_instance_type_id": m.new_flavor_id,
            "instance_uuid": m.server_id, "status": m.status})
        if version >= (2, 23):
            body["migration_type"] = m.migration_type
        if version >= (2, 80):
            body["user_id"] = m.user_id
            body["project_id"] = m.project_id
        body["created_at"] = us_time(m.created_at)
        body["updated_at"] = us_time(m.updated_at)
        return body

    async def list_migrations(request: web.Request, version: Version) -> web.Response:
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-migrations:index", version)
        rows = sorted(state.migrations, key=lambda m: (m.created_at, m.legacy_id), reverse=True)
        q = request.query
        for key, attr in (("status", "status"), ("instance_uuid", "server_id"),
                          ("migration_type", "migration_type")):
            if q.get(key):
                rows = [m for m in rows if getattr(m, attr) == q[key]]
        if q.get("host"):
            rows = [m for m in rows if q["host"] in (m.source_compute, m.dest_compute)]
        more = False
        if version >= (2, 59):
            marker = q.get("marker")
            if marker:
                uuids = [m.uuid for m in rows]
                if marker not in uuids:
                    return error(400, f"Marker {marker} could not be found.", version)
                rows = rows[uuids.index(marker) + 1:]
            limit = _int_arg(request, "limit")
            if limit is not None:
                more = len(rows) > limit
                rows = rows[:limit]
        out: dict[str, Any] = {"migrations": [migration_body(m, version) for m in rows]}
        if more and rows:
            out["migrations_links"] = next_link(request, "migrations", rows[-1].uuid)
        return json_response(out)

    async def list_keypairs(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__os-keypairs@latest.json
        caller = auth_of(request)
        user = request.query.get("user_id") if caller.is_admin else None
        rows = state.keypairs.by("user_id", user or caller.user_id)
        items = []
        for k in rows:
            body: dict[str, Any] = {"name": k.name, "public_key": k.public_key,
                                    "fingerprint": k.fingerprint}
            if version >= (2, 2):
                body["type"] = k.type
            items.append({"keypair": body})
        return json_response({"keypairs": items})

    def keypair_body(k: r.Keypair, version: Version, full: bool) -> dict[str, Any]:
        # nova API reference "Keypairs (keypairs)": show/create add user_id, id, dates
        body: dict[str, Any] = {"name": k.name, "public_key": k.public_key,
                                "fingerprint": k.fingerprint}
        if version >= (2, 2):
            body["type"] = k.type
        if full:
            body.update({"user_id": k.user_id, "created_at": us_time(k.created_at),
                         "deleted": False, "deleted_at": None, "updated_at": None, "id": 1})
        return body

    async def create_keypair(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        try:
            data = (await request.json())["keypair"]
            name = str(data["name"])
        except (ValueError, KeyError, TypeError):
            return error(400, "Invalid input for field/attribute keypair.", version)
        kid = f"{caller.user_id}:{name}"
        if kid in state.keypairs:
            return error(409, f"Key pair '{name}' already exists.", version)
        public = data.get("public_key")
        if not public and version >= (2, 92):
            return error(400, "Invalid input for field/attribute keypair. Value: "
                              "'public_key' is a required property", version)
        material = public or f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{uuid.uuid4().hex} nova@sim"
        digest = hashlib.md5(material.encode(), usedforsecurity=False).hexdigest()
        keypair = r.Keypair(id=kid, name=name, user_id=caller.user_id,
                            fingerprint=":".join(digest[i:i + 2] for i in range(0, 32, 2)),
                            public_key=material, created_at=state.now(),
                            type=str(data.get("type", "ssh")))
        state.add(keypair)
        body = keypair_body(keypair, version, False)
        body["user_id"] = caller.user_id
        if not public:
            body["private_key"] = "-----BEGIN OPENSSH PRIVATE KEY-----\n(simulated)\n" \
                                  "-----END OPENSSH PRIVATE KEY-----\n"
        return json_response({"keypair": body}, 201 if version >= (2, 2) else 200)

    async def show_keypair(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        name = request.match_info["name"]
        keypair = state.keypairs.get(f"{caller.user_id}:{name}")
        if keypair is None:
            return error(404, f"Keypair {name} not found for user {caller.user_id}", version)
        return json_response({"keypair": keypair_body(keypair, version, True)})

    async def delete_keypair(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        name = request.match_info["name"]
        kid = f"{caller.user_id}:{name}"
        if kid not in state.keypairs:
            return error(404, f"Keypair {name} not found for user {caller.user_id}", version)
        state.delete("keypair", kid)
        return accepted(202 if version < (2, 2) else 204)

    async def usage_audit_log(request: web.Request, version: Version) -> web.Response:
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-instance-usage-audit-log:list", version)
        # compute/GET___v2.1__os-instance_usage_audit_log@2.1.json
        hosts = [s.host for s in state.compute_services if s.binary == "nova-compute"]
        now = state.now()
        period_end = now.replace(minute=0, second=0, microsecond=0)
        log: dict[str, Any] = {}
        for host in hosts:
            count = state.servers.count_by("host", host)
            log[host] = {"state": "DONE", "instances": count, "errors": 0, "message": (
                f"Instance usage audit ran for host {host}, {count} instances in "
                f"{0.5 + count / 400:.16f} seconds.")}
        return json_response({"instance_usage_audit_logs": {
            "period_beginning": (period_end - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "period_ending": period_end.strftime("%Y-%m-%d %H:%M:%S"),
            "num_hosts": len(hosts), "num_hosts_done": len(hosts), "num_hosts_running": 0,
            "num_hosts_not_run": 0, "hosts_not_run": [],
            "total_instances": sum(v["instances"] for v in log.values()), "total_errors": 0,
            "overall_status": "ALL hosts done. 0 errors.", "log": log}})

    async def list_server_groups(request: web.Request, version: Version) -> web.Response:
        """GET /os-server-groups: the simulator makes no server groups (quota in_use 0)."""
        auth_of(request)
        return json_response({"server_groups": []})

    async def list_hosts(request: web.Request, version: Version) -> web.Response:
        """GET /os-hosts (removed at 2.43; nova API reference "Hosts (os-hosts)")."""
        if version >= (2, 43):
            return error(404, "The resource could not be found.", version)
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-hosts:list", version)
        hosts = [{"host_name": svc.host, "service": svc.binary.removeprefix("nova-"),
                  "zone": svc.zone} for svc in state.compute_services]
        return json_response({"hosts": hosts})

    # ---------------------------------------------------------------- routes

    v = versioned
    api.route("GET", "/", root, auth=False)
    api.route("GET", "/v2.1", v(v21), auth=False)
    api.route("GET", "/v2.1/", v(v21), auth=False)
    api.route("GET", "/v2.1/os-services", v(list_services))
    api.route("PUT", "/v2.1/os-services/{service_id}", v(update_service))
    for action in ("enable", "disable", "disable-log-reason", "force-down"):
        api.route("PUT", f"/v2.1/os-services/{action}", v(legacy_service_action))
    api.route("GET", "/v2.1/os-hypervisors", v(hypervisors_index))
    api.route("GET", "/v2.1/os-hypervisors/detail", v(hypervisors_detail))
    api.route("GET", "/v2.1/os-hypervisors/statistics", v(hypervisor_statistics))
    api.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}", v(hypervisor_show))
    api.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}/uptime", v(hypervisor_uptime))
    api.route("GET", "/v2.1/os-hypervisors/{pattern}/search", v(hypervisor_search))
    api.route("GET", "/v2.1/os-hypervisors/{pattern}/servers", v(hypervisor_servers))
    api.route("GET", "/v2.1/flavors", v(flavors_index))
    api.route("GET", "/v2.1/flavors/detail", v(flavors_detail))
    api.route("GET", "/v2.1/flavors/{flavor_id}", v(flavor_show))
    api.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", v(flavor_extra_specs))
    api.route("GET", "/v2.1/servers", v(servers_index))
    api.route("POST", "/v2.1/servers", v(server_create))
    api.route("GET", "/v2.1/servers/detail", v(servers_detail))
    api.route("GET", "/v2.1/servers/{server_id}", v(server_show))
    api.route("DELETE", "/v2.1/servers/{server_id}", v(server_delete))
    api.route("POST", "/v2.1/servers/{server_id}/action", v(server_action))
    api.route("GET", "/v2.1/servers/{server_id}/os-instance-actions", v(list_actions))
    api.route("GET", "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
              v(show_action))
    api.route("GET", "/v2.1/limits", v(limits))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}", v(quota_show))
    api.route("PUT", "/v2.1/os-quota-sets/{project_id}", v(quota_update))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}/detail", v(quota_show))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}/defaults", v(quota_defaults))
    api.route("GET", "/v2.1/os-simple-tenant-usage", v(usage_index))
    api.route("GET", "/v2.1/os-simple-tenant-usage/{project_id}", v(usage_show))
    api.route("GET", "/v2.1/os-aggregates", v(list_aggregates))
    api.route("GET", "/v2.1/os-aggregates/{aggregate_id}", v(show_aggregate))
    api.route("GET", "/v2.1/os-availability-zone", v(availability_zones))
    api.route("GET", "/v2.1/os-availability-zone/detail", v(availability_zones_detail))
    api.route("GET", "/v2.1/os-migrations", v(list_migrations))
    api.route("GET", "/v2.1/os-keypairs", v(list_keypairs))
    api.route("POST", "/v2.1/os-keypairs", v(create_keypair))
    api.route("GET", "/v2.1/os-keypairs/{name}", v(show_keypair))
    api.route("DELETE", "/v2.1/os-keypairs/{name}", v(delete_keypair))
    api.route("GET", "/v2.1/os-instance_usage_audit_log", v(usage_audit_log))
    api.route("GET", "/v2.1/os-hosts", v(list_hosts))
    api.route("GET", "/v2.1/os-server-groups", v(list_server_groups))


def _looks_uuid(value: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F-]{32,36}", value) is not None


def _parse_time(value: str) -> datetime | None:
    from datetime import UTC

    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"Invalid timestamp {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
