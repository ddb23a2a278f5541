"""Nova's per-tenant resources: flavors, limits, quota sets, keypairs, server groups.

Part of the simulated compute API (see :mod:`stackwatch.sim.api.compute`)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from aiohttp import web

from stackwatch.sim import records as r
from stackwatch.sim.api.nova import (
    MAX_LIMIT,
    Nova,
    Version,
    accepted,
    error,
    int_arg,
    us_time,
    versioned,
)
from stackwatch.sim.routing import (
    Auth,
    auth_of,
    json_response,
)


def register(nova: Nova) -> None:
    """Add these routes to the compute API."""
    state = nova.state
    api = nova.api
    links = nova.links
    next_link = nova.next_link
    forbid = nova.forbid

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
        limit = int_arg(request, "limit")
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

    async def list_server_groups(request: web.Request, version: Version) -> web.Response:
        """GET /os-server-groups: the simulator makes no server groups (quota in_use 0)."""
        auth_of(request)
        return json_response({"server_groups": []})

    v = versioned
    api.route("GET", "/v2.1/flavors", v(flavors_index))
    api.route("GET", "/v2.1/flavors/detail", v(flavors_detail))
    api.route("GET", "/v2.1/flavors/{flavor_id}", v(flavor_show))
    api.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", v(flavor_extra_specs))
    api.route("GET", "/v2.1/limits", v(limits))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}", v(quota_show))
    api.route("PUT", "/v2.1/os-quota-sets/{project_id}", v(quota_update))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}/detail", v(quota_show))
    api.route("GET", "/v2.1/os-quota-sets/{project_id}/defaults", v(quota_defaults))
    api.route("GET", "/v2.1/os-keypairs", v(list_keypairs))
    api.route("POST", "/v2.1/os-keypairs", v(create_keypair))
    api.route("GET", "/v2.1/os-keypairs/{name}", v(show_keypair))
    api.route("DELETE", "/v2.1/os-keypairs/{name}", v(delete_keypair))
    api.route("GET", "/v2.1/os-server-groups", v(list_server_groups))
