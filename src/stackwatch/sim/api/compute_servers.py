"""Nova's servers: list/show/create/delete, actions, instance actions, tenant usage.

Part of the simulated compute API (see :mod:`stackwatch.sim.api.compute`)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web

from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.api.nova import (
    BUILD_SECONDS,
    MAX_LIMIT,
    PASSWORD_CHARS,
    VM_STATE_OF_STATUS,
    Nova,
    Version,
    accepted,
    error,
    int_arg,
    parse_time,
    us_time,
    versioned,
    z_time,
)
from stackwatch.sim.events import Change, ChangeKind
from stackwatch.sim.routing import (
    Auth,
    auth_of,
    empty_response,
    json_response,
    request_id_of,
)
from stackwatch.sim.state import Actor, acting


def register(nova: Nova) -> None:
    """Add these routes to the compute API."""
    state = nova.state
    api = nova.api
    # servers as they were deleted: nova keeps their rows (deleted != 0) until archived,
    # and a changes-since listing shows them with status DELETED (API reference)
    deleted: dict[str, r.Server] = {}

    def remember(change: Change) -> None:
        if (change.resource == "server" and change.kind is ChangeKind.DELETED
                and change.before is not None):
            if len(deleted) >= 100_000:  # an archive run
                deleted.clear()
            deleted[change.before.id] = change.before

    state.subscribe(remember)
    rng = nova.rng
    origin = nova.origin
    links = nova.links
    next_link = nova.next_link
    forbid = nova.forbid

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
        # nova: all_tenants present and not false-ish ("", "1", "True" all mean yes)
        all_tenants = caller.is_admin and "all_tenants" in q and q["all_tenants"].lower() not in (
            "0", "false", "off", "no")
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
        since_dt = parse_time(since) if since else None

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
        limit = int_arg(request, "limit")
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        marker = request.query.get("marker")
        where, predicate = server_filter(request, caller)
        try:
            page = state.servers.page(marker=marker, limit=limit, descending=True,
                                      where=where, predicate=predicate)
        except KeyError:
            return error(400, f"marker [{marker}] not found", version)
        if "changes-since" in request.query and not page.more:
            # the deleted ones after the live ones (on the last page)
            gone = [s for s in deleted.values() if s.id not in state.servers
                    and all(getattr(s, k) == v for k, v in where.items()) and predicate(s)]
            page = replace(page, items=[*page.items, *gone])
        if detail:
            # the page is assembled from each server's cached JSON: same bytes as
            # json.dumps({"servers": [...], "servers_links": [...]}) would give
            statuses: dict[str | None, str] = {}  # host -> host_status, for this page
            parts = [encoded_server(s, version, caller, statuses) for s in page.items]
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

    def encoded_server(s: r.Server, version: Version, caller: Auth,
                       statuses: dict[str | None, str]) -> bytes:
        """A server's detail JSON, cached per (record, microversion, admin, host status).

        Records are immutable, so the cached bytes hold while the record is the same
        object; only ``host_status`` derives from another record (the service), looked
        up once per host and page (``statuses``).
        """
        host_status = ""
        if caller.is_admin and version >= (2, 16):
            host_status = statuses.get(s.host) or statuses.setdefault(s.host, _host_status(s))
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

    def no_server(request: web.Request, version: Version) -> web.Response:
        # compute/GET___v2.1__servers__{server_id}@latest.404.json
        sid = request.match_info["server_id"]
        return error(404, f"Instance {sid} could not be found.", version)

    async def server_show(request: web.Request, version: Version) -> web.Response:
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            return no_server(request, version)
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
            broken = state.broken.get("boot")  # fault boot-error
            if broken is None:
                ops.finish_build(state, server_id, rng)
                return
            if broken == "spawn":
                host = next((h.host for h in state.hypervisors), None)
                state.update("server", server_id, host=host)
            ops.fail_build(state, server_id, no_valid_host=broken == "novalidhost")

    async def server_delete(request: web.Request, version: Version) -> web.Response:
        # compute/DELETE___v2.1__servers__{server_id}@latest.json (204)
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            return no_server(request, version)
        if s.locked and not caller.is_admin:
            return error(409, f"Instance {s.id} is locked", version)
        ops.delete_server(state, s.id, request_id_of(request))
        return accepted(204)

    async def server_action(request: web.Request, version: Version) -> web.Response:
        # compute/POST___v2.1__servers__{server_id}__action@latest.{os-stop,os-start}*.json
        caller = auth_of(request)
        s = visible_server(request, caller)
        if s is None:
            return no_server(request, version)
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
            return no_server(request, version)
        actions = sorted(state.instance_actions.by("server_id", sid),
                         key=lambda a: (a.start_time, a.id), reverse=True)
        limit = int_arg(request, "limit") if version >= (2, 58) else None
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
            return no_server(request, version)
        a = state.instance_actions.get(request.match_info["request_id"])
        if a is None or a.server_id != sid:
            return error(404, f"Action {request.match_info['request_id']} not found", version)
        return json_response({"instanceAction": action_body(a, version, caller, True)})

    # ---------------------------------------------------------------- usage

    def usage_window(request: web.Request) -> tuple[datetime, datetime]:
        now = state.now()
        start = parse_time(request.query["start"]) if "start" in request.query else now
        end = parse_time(request.query["end"]) if "end" in request.query else now
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
        limit = int_arg(request, "limit") if version >= (2, 40) else None
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

    v = versioned
    api.route("GET", "/v2.1/servers", v(servers_index))
    api.route("POST", "/v2.1/servers", v(server_create))
    api.route("GET", "/v2.1/servers/detail", v(servers_detail))
    api.route("GET", "/v2.1/servers/{server_id}", v(server_show))
    api.route("DELETE", "/v2.1/servers/{server_id}", v(server_delete))
    api.route("POST", "/v2.1/servers/{server_id}/action", v(server_action))
    api.route("GET", "/v2.1/servers/{server_id}/os-instance-actions", v(list_actions))
    api.route("GET", "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
              v(show_action))
    api.route("GET", "/v2.1/os-simple-tenant-usage", v(usage_index))
    api.route("GET", "/v2.1/os-simple-tenant-usage/{project_id}", v(usage_show))
