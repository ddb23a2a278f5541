"""Nova's view of the infrastructure: services, hypervisors, zones, aggregates, migrations.

Part of the simulated compute API (see :mod:`stackwatch.sim.api.compute`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.api.nova import (
    MAX_LIMIT,
    Nova,
    Version,
    error,
    int_arg,
    looks_uuid,
    us_time,
    versioned,
)
from stackwatch.sim.routing import (
    auth_of,
    json_response,
)


def register(nova: Nova) -> None:
    """Add these routes to the compute API."""
    state = nova.state
    api = nova.api
    next_link = nova.next_link
    forbid = nova.forbid

    # ---------------------------------------------------------------- services

    def service_body(svc: r.ComputeService, version: Version) -> dict[str, Any]:
        # compute/GET___v2.1__os-services@{2.1,latest}.json
        now = state.now()
        up = svc.is_up(now)  # nova: up until service_down_time passes
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
        up = svc.is_up(state.now())  # until service_down_time passes
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

        # nova's resource tracker counts reserved_host_memory_mb as used (realcloud: 512 MB
        # used on an empty node); placement's MEMORY_MB usage does not.
        memory_used = h.memory_mb_used + h.reserved_host_memory_mb
        body.update({
            "vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
            "vcpus_used": h.vcpus_used, "memory_mb_used": memory_used,
            "local_gb_used": h.local_gb_used,
            "free_ram_mb": h.memory_mb - memory_used,
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
            limit = int_arg(request, "limit")
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
            "free_ram_mb": sum(h.memory_mb - h.memory_mb_used - h.reserved_host_memory_mb
                               for h in hs),
            "local_gb": sum(h.local_gb for h in hs),
            "local_gb_used": sum(h.local_gb_used for h in hs),
            "memory_mb": sum(h.memory_mb for h in hs),
            "memory_mb_used": sum(h.memory_mb_used + h.reserved_host_memory_mb for h in hs),
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
                return error(400 if not looks_uuid(hid) else 404,
                             f"Hypervisor with ID '{hid}' could not be found."
                             if looks_uuid(hid) else f"Invalid uuid {hid}", version)
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
            up = svc.is_up(now)  # nova: up until service_down_time passes
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
            limit = int_arg(request, "limit")
            if limit is not None:
                more = len(rows) > limit
                rows = rows[:limit]
        out: dict[str, Any] = {"migrations": [migration_body(m, version) for m in rows]}
        if more and rows:
            out["migrations_links"] = next_link(request, "migrations", rows[-1].uuid)
        return json_response(out)

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

    async def list_hosts(request: web.Request, version: Version) -> web.Response:
        """GET /os-hosts (removed at 2.43; nova API reference "Hosts (os-hosts)")."""
        if version >= (2, 43):
            return error(404, "The resource could not be found.", version)
        if not auth_of(request).is_admin:
            return forbid("os_compute_api:os-hosts:list", version)
        hosts = [{"host_name": svc.host, "service": svc.binary.removeprefix("nova-"),
                  "zone": svc.zone} for svc in state.compute_services]
        return json_response({"hosts": hosts})

    v = versioned
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
    api.route("GET", "/v2.1/os-aggregates", v(list_aggregates))
    api.route("GET", "/v2.1/os-aggregates/{aggregate_id}", v(show_aggregate))
    api.route("GET", "/v2.1/os-availability-zone", v(availability_zones))
    api.route("GET", "/v2.1/os-availability-zone/detail", v(availability_zones_detail))
    api.route("GET", "/v2.1/os-migrations", v(list_migrations))
    api.route("GET", "/v2.1/os-instance_usage_audit_log", v(usage_audit_log))
    api.route("GET", "/v2.1/os-hosts", v(list_hosts))
