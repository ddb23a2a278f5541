"""Simulated placement (API 1.0 ... 1.39), following ``reference/api/placement/``.

The microversion comes from ``OpenStack-API-Version: placement X`` (``latest`` =
1.39, none = 1.0) and is echoed as ``openstack-api-version`` with
``vary: openstack-api-version``; out of range is 406 with ``min_version`` and
``max_version`` in the error (``GET___resource_providers@9.99.406-bad-microversion.json``).
Every call needs the admin (or service) role: a member gets 403 in placement's
``errors`` format. Versioned shapes (placement API reference): 1.1 aggregates link,
1.6 traits link, 1.11 allocations link, 1.14 parent/root provider uuids and
``in_tree``, 1.12 allocations as dicts with project/user, 1.15 ``Last-Modified`` /
``Cache-Control``, 1.19 generation in aggregates, 1.28 consumer generations, 1.38
``/usages`` grouped by consumer type with ``consumer_count``.
Links are relative paths under the service prefix (``/placement/resource_providers/...``)
as placement writes them behind a mounted WSGI script.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from stackwatch.sim import records as r
from stackwatch.sim.routing import (
    ApiContext,
    auth_of,
    json_response,
    request_id_of,
    set_microversion,
)

MIN_VERSION = (1, 0)
MAX_VERSION = (1, 39)
Version = tuple[int, int]

# placement's standard resource classes (os-resource-classes), then custom ones in use.
STANDARD_CLASSES = (
    "VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET", "NUMA_CORE",
    "NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU", "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC", "PCPU", "MEM_ENCRYPTION_CONTEXT",
    "FPGA", "PGPU", "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
)  # fmt: skip


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _errors(request: web.Request, status: int, title: str, detail: str,
            extra: dict[str, Any] | None = None) -> web.Response:
    # placement/GET___resource_providers__{uuid}@latest.404.json
    body: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if extra is None:
        body["code"] = "placement.undefined_code"
    body["request_id"] = request_id_of(request)
    body.update(extra or {})
    return json_response({"errors": [body]}, status)


def parse_version(request: web.Request) -> Version | web.Response:
    header = request.headers.get("OpenStack-API-Version", "")
    raw = None
    for part in header.split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == "placement":
            raw = value.strip()
    if raw is None:
        return MIN_VERSION
    if raw.lower() == "latest":
        return MAX_VERSION
    match = re.fullmatch(r"(\d+)\.(\d+)", raw)
    version = (int(match.group(1)), int(match.group(2))) if match else None
    if version is None or not MIN_VERSION <= version <= MAX_VERSION:
        # placement/GET___resource_providers@9.99.406-bad-microversion.json
        return _errors(request, 406, "Not Acceptable",
                       "The resource could not be generated that was acceptable to your "
                       "browser (content of type application/json. \n\n Invalid microversion: "
                       f"Unacceptable version header: {raw}",
                       {"max_version": fmt(MAX_VERSION), "min_version": fmt(MIN_VERSION)})
    return version


Handler = Callable[[web.Request, Version], Awaitable[web.Response]]


def register(api: ApiContext) -> None:
    """Add placement's routes under ``/placement``."""
    state = api.state
    prefix = api.spec.prefix

    def versioned(policy: str, handler: Handler, cacheable: bool = True
                  ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            version = parse_version(request)
            if isinstance(version, web.Response):
                return version
            set_microversion(request, fmt(version))
            caller = auth_of(request)
            if not (caller.is_admin or "service" in caller.roles):
                # placement/GET___resource_providers@latest.403-member.json
                response = _errors(request, 403, "Forbidden", "Access was denied to this "
                                   f"resource.\n\n Policy does not allow {policy} to be "
                                   "performed.  ")
            else:
                response = await handler(request, version)
            response.headers["openstack-api-version"] = f"placement {fmt(version)}"
            if response.status < 400:  # errors carry no vary (...404.json, ...403-member.json)
                response.headers["vary"] = "openstack-api-version"
            if cacheable and version >= (1, 15) and response.status == 200:
                response.headers["Cache-Control"] = "no-cache"
                response.headers["Last-Modified"] = format_datetime(
                    datetime.now(UTC).replace(microsecond=0), usegmt=True)
            return response
        return wrapped

    def rp_link(uuid: str, rel: str = "") -> str:
        return f"{prefix}/resource_providers/{uuid}" + (f"/{rel}" if rel else "")

    def rp_body(rp: r.ResourceProvider, version: Version) -> dict[str, Any]:
        # placement/GET___resource_providers@{1.0,latest}.json
        links = [{"rel": "self", "href": rp_link(rp.id)},
                 {"rel": "inventories", "href": rp_link(rp.id, "inventories")},
                 {"rel": "usages", "href": rp_link(rp.id, "usages")}]
        if version >= (1, 1):
            links.append({"rel": "aggregates", "href": rp_link(rp.id, "aggregates")})
        if version >= (1, 6):
            links.append({"rel": "traits", "href": rp_link(rp.id, "traits")})
        if version >= (1, 11):
            links.append({"rel": "allocations", "href": rp_link(rp.id, "allocations")})
        body: dict[str, Any] = {"uuid": rp.id, "name": rp.name, "generation": rp.generation,
                                "links": links}
        if version >= (1, 14):
            body["parent_provider_uuid"] = rp.parent_provider_uuid
            body["root_provider_uuid"] = rp.root
        return body

    def find_rp(request: web.Request) -> r.ResourceProvider | web.Response:
        uuid = request.match_info["uuid"]
        rp = state.resource_providers.get(uuid)
        if rp is None:
            return _errors(request, 404, "Not Found", "The resource could not be found.\n\n "
                           f"No resource provider with uuid {uuid} found  ")
        return rp

    async def root(request: web.Request) -> web.Response:
        # placement/GET___.json (no auth, always 1.0)
        return json_response({"versions": [{
            "id": "v1.0", "max_version": fmt(MAX_VERSION), "min_version": fmt(MIN_VERSION),
            "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]}, 200,
            {"openstack-api-version": "placement 1.0", "vary": "openstack-api-version"})

    async def list_rps(request: web.Request, version: Version) -> web.Response:
        q = request.query
        rows: list[r.ResourceProvider]
        if "name" in q:
            rows = state.resource_providers.by("name", q["name"])
        elif "uuid" in q:
            one = state.resource_providers.get(q["uuid"])
            rows = [one] if one else []
        else:
            rows = list(state.resource_providers)
        if "in_tree" in q and version >= (1, 14):
            tree = state.resource_providers.get(q["in_tree"])
            if tree is None:
                return _errors(request, 400, "Bad Request", "The provider UUID given in "
                               f"in_tree could not be found: {q['in_tree']}")
            rows = [rp for rp in rows if rp.root == tree.root]
        if "member_of" in q and version >= (1, 3):
            wanted = set(q["member_of"].removeprefix("in:").split(","))
            rows = [rp for rp in rows if wanted & set(rp.aggregates)]
        if "required" in q and version >= (1, 18):
            required = [t for t in q["required"].split(",") if t]
            rows = [rp for rp in rows
                    if all((t[1:] not in rp.traits) if t.startswith("!") else (t in rp.traits)
                           for t in required)]
        if "resources" in q and version >= (1, 4):
            wanted_res = _parse_resources(q["resources"])
            if wanted_res is None:
                return _errors(request, 400, "Bad Request", "Badly formed resources parameter")
            rows = [rp for rp in rows if _has_room(rp, state.rp_usages(rp.id), wanted_res)]
        return json_response({"resource_providers": [rp_body(rp, version) for rp in rows]})

    async def show_rp(request: web.Request, version: Version) -> web.Response:
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        return json_response(rp_body(rp, version))

    async def inventories(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_providers__{uuid}__inventories@latest.*.json
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        return json_response({"resource_provider_generation": rp.generation, "inventories": {
            rc: _inventory(inv) for rc, inv in rp.inventories.items()}})

    async def inventory(request: web.Request, version: Version) -> web.Response:
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        rc = request.match_info["resource_class"]
        inv = rp.inventories.get(rc)
        if inv is None:
            return _errors(request, 404, "Not Found", "The resource could not be found.\n\n "
                           f"No inventory of class {rc} for {rp.id}  ")
        return json_response({"resource_provider_generation": rp.generation, **_inventory(inv)})

    async def usages(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_providers__{uuid}__usages@latest.*.json
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        return json_response({"resource_provider_generation": rp.generation,
                              "usages": state.rp_usages(rp.id)})

    async def rp_allocations(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_providers__{uuid}__allocations@latest.*.json
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        out: dict[str, Any] = {}
        for consumer, alloc in state.rp_allocations(rp.id).items():
            item: dict[str, Any] = {"resources": dict(alloc.resources[rp.id])}
            if version >= (1, 28):
                item["consumer_generation"] = alloc.consumer_generation
            out[consumer] = item
        return json_response({"allocations": out,
                              "resource_provider_generation": rp.generation})

    async def aggregates(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_providers__{uuid}__aggregates@latest.*.json
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        body: dict[str, Any] = {"aggregates": list(rp.aggregates)}
        if version >= (1, 19):
            body["resource_provider_generation"] = rp.generation
        return json_response(body)

    async def traits(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_providers__{uuid}__traits@latest.*.json
        rp = find_rp(request)
        if isinstance(rp, web.Response):
            return rp
        return json_response({"traits": list(rp.traits),
                              "resource_provider_generation": rp.generation})

    async def consumer_allocations(request: web.Request, version: Version) -> web.Response:
        consumer = request.match_info["consumer"]
        alloc = state.allocations.get(consumer)
        if alloc is None:
            return json_response({"allocations": {}})
        allocations: dict[str, Any] = {}
        for rp_uuid, resources in alloc.resources.items():
            rp = state.resource_providers.get(rp_uuid)
            allocations[rp_uuid] = {"generation": rp.generation if rp else 0,
                                    "resources": dict(resources)}
        body: dict[str, Any] = {"allocations": allocations}
        if version >= (1, 12):
            body["project_id"] = alloc.project_id
            body["user_id"] = alloc.user_id
        if version >= (1, 28):
            body["consumer_generation"] = alloc.consumer_generation
        if version >= (1, 38):
            body["consumer_type"] = alloc.consumer_type
        return json_response(body)

    async def project_usages(request: web.Request, version: Version) -> web.Response:
        # placement/GET___usages~project_id={project_id}@latest(.empty-project).json
        if version < (1, 9):
            return _errors(request, 404, "Not Found", "The resource could not be found.")
        project = request.query.get("project_id")
        if not project:
            return _errors(request, 400, "Bad Request",
                           "JSON does not validate: 'project_id' is a required property")
        user = request.query.get("user_id")
        allocs = [a for a in state.allocations.by("project_id", project)
                  if user is None or a.user_id == user]
        if version < (1, 38):
            total: dict[str, int] = {}
            for alloc in allocs:
                for resources in alloc.resources.values():
                    for rc, amount in resources.items():
                        total[rc] = total.get(rc, 0) + amount
            return json_response({"usages": total})
        grouped: dict[str, dict[str, int]] = {}
        for alloc in allocs:
            group = grouped.setdefault(alloc.consumer_type, {})
            for resources in alloc.resources.values():
                for rc, amount in resources.items():
                    group[rc] = group.get(rc, 0) + amount
            group["consumer_count"] = group.get("consumer_count", 0) + 1
        return json_response({"usages": grouped})

    def all_classes() -> list[str]:
        custom = sorted({rc for rp in state.resource_providers for rc in rp.inventories
                         if rc.startswith("CUSTOM_")})
        return [*STANDARD_CLASSES, *custom]

    async def resource_classes(request: web.Request, version: Version) -> web.Response:
        # placement/GET___resource_classes@latest.json
        return json_response({"resource_classes": [
            {"name": rc, "links": [{"rel": "self", "href": f"{prefix}/resource_classes/{rc}"}]}
            for rc in all_classes()]})

    async def list_traits(request: web.Request, version: Version) -> web.Response:
        if version < (1, 6):
            return _errors(request, 404, "Not Found", "The resource could not be found.")
        names = sorted({t for rp in state.resource_providers for t in rp.traits} | {
            "COMPUTE_NODE", "HW_CPU_X86_AVX2", "COMPUTE_NET_ATTACH_INTERFACE"})
        q = request.query.get("name", "")
        if q.startswith("startswith:"):
            names = [n for n in names if n.startswith(q.removeprefix("startswith:"))]
        elif q.startswith("in:"):
            wanted = set(q.removeprefix("in:").split(","))
            names = [n for n in names if n in wanted]
        return json_response({"traits": names})

    async def allocation_candidates(request: web.Request, version: Version) -> web.Response:
        # placement/GET___allocation_candidates~resources=...&limit=2@latest.json
        if version < (1, 10):
            return _errors(request, 404, "Not Found", "The resource could not be found.")
        wanted = _parse_resources(request.query.get("resources", ""))
        if not wanted:
            return _errors(request, 400, "Bad Request", "Badly formed resources parameter")
        limit_text = request.query.get("limit")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else None
        requests_: list[dict[str, Any]] = []
        summaries: dict[str, Any] = {}
        for rp in state.resource_providers:
            if rp.parent_provider_uuid is not None:
                continue
            used = state.rp_usages(rp.id)
            if not _has_room(rp, used, wanted):
                continue
            allocation: dict[str, Any] = {"allocations": {rp.id: {"resources": dict(wanted)}}}
            if version >= (1, 34):
                allocation["mappings"] = {"": [rp.id]}
            requests_.append(allocation)
            summaries[rp.id] = {"resources": {
                rc: {"capacity": int(inv.capacity()), "used": used.get(rc, 0)}
                for rc, inv in rp.inventories.items()}, "traits": list(rp.traits)}
            if version >= (1, 29):
                summaries[rp.id]["parent_provider_uuid"] = rp.parent_provider_uuid
                summaries[rp.id]["root_provider_uuid"] = rp.root
            if limit is not None and len(requests_) >= limit:
                break
        return json_response({"allocation_requests": requests_, "provider_summaries": summaries})

    v = versioned
    api.route("GET", "/", root, auth=False)
    api.route("GET", "/resource_providers", v("placement:resource_providers:list", list_rps))
    api.route("GET", "/resource_providers/{uuid}",
              v("placement:resource_providers:show", show_rp))
    api.route("GET", "/resource_providers/{uuid}/inventories",
              v("placement:resource_providers:inventories:list", inventories))
    api.route("GET", "/resource_providers/{uuid}/inventories/{resource_class}",
              v("placement:resource_providers:inventories:show", inventory))
    api.route("GET", "/resource_providers/{uuid}/usages",
              v("placement:resource_providers:usages", usages))
    api.route("GET", "/resource_providers/{uuid}/allocations",
              v("placement:resource_providers:allocations:list", rp_allocations))
    api.route("GET", "/resource_providers/{uuid}/aggregates",
              v("placement:resource_providers:aggregates:list", aggregates))
    api.route("GET", "/resource_providers/{uuid}/traits",
              v("placement:resource_providers:traits:list", traits))
    api.route("GET", "/allocations/{consumer}", v("placement:allocations:list",
                                                   consumer_allocations))
    api.route("GET", "/usages", v("placement:usages", project_usages))
    api.route("GET", "/resource_classes", v("placement:resource_classes:list",
                                            resource_classes))
    api.route("GET", "/traits", v("placement:traits:list", list_traits))
    api.route("GET", "/allocation_candidates", v("placement:allocation_candidates:list",
                                                 allocation_candidates))


def _inventory(inv: r.Inventory) -> dict[str, Any]:
    return {"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
            "max_unit": inv.max_unit or inv.total, "step_size": inv.step_size,
            "allocation_ratio": inv.allocation_ratio}


def _parse_resources(text: str) -> dict[str, int] | None:
    out: dict[str, int] = {}
    for part in text.split(","):
        rc, sep, amount = part.partition(":")
        if not sep or not amount.strip().isdigit() or not rc.strip():
            return None
        out[rc.strip()] = int(amount)
    return out


def _has_room(rp: r.ResourceProvider, used: dict[str, int], wanted: dict[str, int]) -> bool:
    for rc, amount in wanted.items():
        inv = rp.inventories.get(rc)
        if inv is None or used.get(rc, 0) + amount > inv.capacity():
            return False
        if amount > (inv.max_unit or inv.total):
            return False
    return True
