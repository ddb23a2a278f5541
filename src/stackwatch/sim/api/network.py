"""Networking API v2.0 (neutron) of the simulated cloud.

Payloads follow the recordings in ``shared/reference/api/network/`` key for key
(neutron 28.0.2, ML2, ``router`` + ``network_ip_availability`` plugins); agents and
the L3 agent scheduler, which the recorded cloud did not have, follow the
neutron-lib API reference samples (``api-ref/source/v2/samples/agents/*.json``).

Listing behaviour, as neutron does it: sorted by id; ``limit``/``marker`` with
``page_reverse``; ``<collection>_links`` built like ``api_common.get_pagination_links``
(``next`` unless a forward page came back short, ``previous`` unless a reverse page
did); filters on any attribute (repeatable = any of), ``fields`` to select keys;
non-admin callers see only their project's resources (plus shared and external
networks), and no agents.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim import records as r
from stackwatch.sim.api.neutron_extensions import EXTENSIONS
from stackwatch.sim.api.neutron_payloads import (
    Payload,
    agent_payload,
    agent_router_payload,
    floating_ip_payload,
    ip_availability_payload,
    network_payload,
    port_payload,
    router_payload,
    security_group_payload,
    subnet_payload,
)
from stackwatch.sim.api.wire import (
    Fragments,
    at_or_after,
    collection_response,
    json_response,
    parse_int,
    zulu,
)
from stackwatch.sim.routing import ApiContext, Auth, auth_of
from stackwatch.sim.state import CloudState, Table

# Query parameters that are not filters (neutron api_common / pagination / sorting).
_CONTROL = frozenset({"limit", "marker", "page_reverse", "fields", "sort_key", "sort_dir"})
# Attributes some records of a kind lack (``is_default`` on internal networks).
_OPTIONAL_ATTRIBUTES = frozenset({"is_default"})
_QUOTA_ORDER = (
    "network", "subnet", "subnetpool", "port", "router", "floatingip", "rbac_policy",
    "security_group", "security_group_rule",
)


class NeutronError(Exception):
    """An error answered as ``{"NeutronError": {"type", "message", "detail"}}``."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message

    def response(self) -> web.Response:
        body = {"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}}
        return json_response(body, self.status)


def not_found(kind: str, what: str, ident: str) -> NeutronError:
    """neutron-lib ``<Kind>NotFound``: "Network <id> could not be found." (recorded)."""
    return NeutronError(404, f"{kind}NotFound", f"{what} {ident} could not be found.")


# --------------------------------------------------------------------------- listing


def _matches(payload: Payload, filters: Mapping[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        value = payload.get(key)
        if key == "fixed_ips" and isinstance(value, list):
            pairs = [w.partition("=") for w in wanted]
            if not all(any(f.get(k) == v for f in value) for k, _, v in pairs):
                return False
            continue
        if isinstance(value, bool):
            text = str(value).lower()
            if text not in (w.lower() for w in wanted):
                return False
        elif isinstance(value, list):
            if not all(w in value for w in wanted):
                return False
        elif ("" if value is None else str(value)) not in wanted:
            return False
    return True


def pagination_links(
    request: web.Request, url: str, ids: list[str], limit: int | None, page_reverse: bool
) -> list[Payload]:
    """neutron ``api_common.get_pagination_links`` (recorded: both links on page 1);
    ``ids`` are the page's primary keys in order."""
    if not limit:
        return []
    params = [(k, v) for k, v in request.query.items() if k != "marker"]
    links = []
    if not (len(ids) < limit and not page_reverse):
        nxt = [(k, v) for k, v in params if k != "page_reverse"]
        if ids:
            nxt.append(("marker", ids[-1]))
        links.append({"rel": "next", "href": f"{url}?{urlencode(nxt)}"})
    if not (len(ids) < limit and page_reverse):
        prev = [(k, v) for k, v in params if k != "page_reverse"]
        if ids:
            prev.append(("marker", ids[0]))
        prev.append(("page_reverse", "True"))
        links.append({"rel": "previous", "href": f"{url}?{urlencode(prev)}"})
    return links


class NeutronApi:
    """The handlers; one instance per simulator, bound to its state."""

    def __init__(self, api: ApiContext) -> None:
        self.api = api
        self.state: CloudState = api.state
        self.fragments = Fragments()

    # -- generic listing ---------------------------------------------------------------

    def _list(
        self,
        request: web.Request,
        collection: str,
        path: str,
        table: Table[Any],
        build: Callable[[Any], Payload],
        *,
        visible: Callable[[Any], bool] | None = None,
        columns: Mapping[str, str] | None = None,
        what: tuple[str, str] = ("", ""),
        cache: Hashable | None = None,
    ) -> web.Response:
        """One page of a collection. ``cache``: the payload's variant (``""`` for none)
        when payloads depend only on the record and it, so encoded ones are reused;
        None when they depend on more (time, other records)."""
        query = request.query
        try:
            limit = parse_int(query.get("limit")) or None
        except ValueError:
            raise NeutronError(
                400, "BadRequest",
                f"Bad limit request: Limit must be an integer 0 or greater and not "
                f"'{query.get('limit')}'",
            ) from None
        marker = query.get("marker")
        page_reverse = query.get("page_reverse", "").lower() == "true"
        where: dict[str, str] = {}
        filters: dict[str, list[str]] = {}
        changed = None
        if "changed_since" in query:
            # the standard-attr-timestamp extension: updated at or after the time given
            try:
                changed = at_or_after(query["changed_since"])
            except ValueError:
                raise NeutronError(
                    400, "InvalidInput",
                    f"Invalid input for operation: {query['changed_since']} is not a valid "
                    "time.") from None
        for name in set(query.keys()) - _CONTROL - {"changed_since"}:
            values = query.getall(name)
            record_field = (columns or {}).get(name)
            if record_field is not None and len(values) == 1:
                where[record_field] = values[0]
            else:
                filters[name] = list(values)
        if filters:
            probe = next(iter(table), None)
            known = build(probe) if probe is not None else {}
            unknown = sorted(
                k for k in filters
                if probe is not None and k not in known and k not in _OPTIONAL_ATTRIBUTES
            )
            if unknown:
                raise NeutronError(
                    400, "HTTPBadRequest", f"[{unknown[0]}] is invalid attribute for filtering"
                )

        def keep(record: Any) -> bool:
            if visible is not None and not visible(record):
                return False
            if changed is not None and not changed(getattr(record, "updated_at", None)):
                return False
            return not filters or _matches(build(record), filters)

        try:
            page = table.page(
                marker=marker, limit=limit, descending=page_reverse, where=where,
                predicate=keep if (visible or filters or changed) else None,
            )
        except KeyError:
            raise not_found(what[0], what[1], marker or "") from None
        rows = list(reversed(page.items)) if page_reverse else page.items
        links = pagination_links(
            request, self.api.url(path), [row.id for row in rows], limit, page_reverse
        )
        extra = {f"{collection}_links": links} if links else {}
        wanted = query.getall("fields", [])
        if cache is not None:
            # ``fields`` asked: a variant of its own (the same keys in the same order)
            variant, part = (cache, tuple(wanted)), build
            if wanted == ["id"]:  # the ids alone (a listing proving another whole)
                def part(row: Any) -> Payload:
                    return {"id": row.id}
            elif wanted:
                def part(row: Any) -> Payload:
                    return {k: v for k, v in build(row).items() if k in wanted}
            fragments = [self.fragments.get(row, variant, part) for row in rows]
            return collection_response(collection, fragments, extra)
        items = [build(row) for row in rows]
        if wanted:
            items = [{k: v for k, v in item.items() if k in wanted} for item in items]
        return json_response({collection: items, **extra})

    def _own(self, auth: Auth) -> Callable[[Any], bool] | None:
        if auth.is_admin:
            return None
        return lambda record: record.project_id == auth.project_id

    def _show(self, request: web.Request, key: str, payload: Payload) -> web.Response:
        wanted = request.query.getall("fields", [])
        if wanted:
            payload = {k: v for k, v in payload.items() if k in wanted}
        return json_response({key: payload})

    # -- version documents -------------------------------------------------------------

    async def versions(self, request: web.Request) -> web.Response:
        """``GET /`` (recorded: 200, one CURRENT v2.0)."""
        link = {"rel": "self", "href": self.api.url("/v2.0/")}
        return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [link]}]})

    async def v2_root(self, request: web.Request) -> web.Response:
        """``GET /v2.0`` with a token: recorded 404 (neutron serves no document there)."""
        raise NeutronError(404, "HTTPNotFound", "The resource could not be found.")

    async def extensions(self, request: web.Request) -> web.Response:
        """``GET /v2.0/extensions`` (recorded list of the ML2 + router plugins)."""
        return json_response({"extensions": [dict(e, links=[]) for e in EXTENSIONS]})

    # -- networks ----------------------------------------------------------------------

    def _network_visible(self, auth: Auth) -> Callable[[r.Network], bool] | None:
        if auth.is_admin:
            return None
        return lambda n: n.project_id == auth.project_id or n.shared or n.router_external

    async def list_networks(self, request: web.Request) -> web.Response:
        auth = auth_of(request)
        return self._list(
            request, "networks", "/v2.0/networks", self.state.networks,
            lambda n: network_payload(n, admin=auth.is_admin),
            visible=self._network_visible(auth),
            columns={"id": "id", "name": "name", "project_id": "project_id",
                    "tenant_id": "project_id", "status": "status"},
            what=("Network", "Network"),
            cache=auth.is_admin,
        )

    def _network(self, request: web.Request, ident: str) -> r.Network:
        net = self.state.networks.get(ident)
        visible = self._network_visible(auth_of(request))
        if net is None or (visible is not None and not visible(net)):
            raise not_found("Network", "Network", ident)
        return net

    async def show_network(self, request: web.Request) -> web.Response:
        net = self._network(request, request.match_info["id"])
        return self._show(request, "network", network_payload(net, admin=auth_of(request).is_admin))

    async def create_network(self, request: web.Request) -> web.Response:
        """``POST /v2.0/networks`` (recorded: 201; 403 for provider attrs as member)."""
        auth = auth_of(request)
        spec = await _resource(request, "network")
        provider = [k for k in spec if k.startswith("provider:") or k == "router:external"]
        if provider and not auth.is_admin:
            rule = " and ".join(f"rule:create_network:{k}" for k in provider)
            raise NeutronError(
                403, "PolicyNotAuthorized",
                f"(rule:create_network and {rule}) is disallowed by policy",
            )
        now = self.state.now()
        net_type = spec.get("provider:network_type", "vxlan")
        segmentation = spec.get("provider:segmentation_id")
        if segmentation is None and net_type in ("vxlan", "vlan", "geneve"):
            used = {n.segmentation_id for n in self.state.networks}
            segmentation = next(i for i in range(100, 1 << 24) if i not in used)
        net = r.Network(
            id=str(uuid.uuid4()), name=str(spec.get("name", "")),
            project_id=str(spec.get("project_id") or auth.project_id or ""),
            created_at=now, updated_at=now,
            admin_state_up=bool(spec.get("admin_state_up", True)),
            shared=bool(spec.get("shared", False)),
            router_external=bool(spec.get("router:external", False)),
            network_type=str(net_type),
            physical_network=spec.get("provider:physical_network"),
            segmentation_id=segmentation,
            description=str(spec.get("description", "")),
            availability_zones=(),
        )
        self.state.add(net)
        return json_response(
            {"network": network_payload(net, admin=auth.is_admin, created=True)}, 201
        )

    async def update_network(self, request: web.Request) -> web.Response:
        """``PUT /v2.0/networks/{id}``: name, description, admin_state_up and, with the
        ``net-mtu-writable`` extension, mtu (admin or owner; 400 below IPv4's 68)."""
        auth = auth_of(request)
        net = self._network(request, request.match_info["id"])
        if not auth.is_admin and net.project_id != auth.project_id:
            raise NeutronError(403, "PolicyNotAuthorized",
                               "rule:update_network is disallowed by policy")
        spec = await _resource(request, "network")
        changes: dict[str, Any] = {}
        for key in ("name", "description"):
            if key in spec:
                changes[key] = str(spec[key])
        if "admin_state_up" in spec:
            changes["admin_state_up"] = bool(spec["admin_state_up"])
        if "mtu" in spec:
            mtu = spec["mtu"]
            if not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 68:
                raise NeutronError(400, "HTTPBadRequest",
                                   f"Invalid input for mtu. Reason: '{mtu}' is too small - "
                                   "must be at least '68'.")
            changes["mtu"] = mtu
        if changes:
            net = self.state.update("network", net.id, **changes,
                                    revision_number=net.revision_number + 1,
                                    updated_at=self.state.now())
        return json_response({"network": network_payload(net, admin=auth.is_admin)})

    async def delete_network(self, request: web.Request) -> web.Response:
        """``DELETE /v2.0/networks/{id}``: 204 (recorded); 409 NetworkInUse with ports."""
        net = self._network(request, request.match_info["id"])
        ports = self.state.ports.by("network_id", net.id)
        if any(p.device_owner not in ("network:dhcp", "") for p in ports):
            raise NeutronError(
                409, "NetworkInUse",
                f"Unable to complete operation on network {net.id}. "
                "There are one or more ports still in use on the network.",
            )
        for port in ports:
            self.state.delete("port", port.id)
        for subnet_id in net.subnets:
            if subnet_id in self.state.subnets:
                self.state.delete("subnet", subnet_id)
        self.state.delete("network", net.id)
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- subnets -----------------------------------------------------------------------

    def _subnet_payload(self, subnet: r.Subnet) -> Payload:
        net = self.state.networks.get(subnet.network_id)
        return subnet_payload(subnet, bool(net and net.router_external))

    async def list_subnets(self, request: web.Request) -> web.Response:
        auth = auth_of(request)
        net_visible = self._network_visible(auth)
        visible: Callable[[r.Subnet], bool] | None = None
        if net_visible is not None:
            def visible(s: r.Subnet) -> bool:
                net = self.state.networks.get(s.network_id)
                return s.project_id == auth.project_id or bool(net and net_visible(net))
        return self._list(
            request, "subnets", "/v2.0/subnets", self.state.subnets, self._subnet_payload,
            visible=visible,
            columns={"id": "id", "name": "name", "network_id": "network_id",
                    "project_id": "project_id", "tenant_id": "project_id", "cidr": "cidr"},
            what=("Subnet", "Subnet"),
        )

    async def show_subnet(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        subnet = self.state.subnets.get(ident)
        if subnet is None:
            raise not_found("Subnet", "Subnet", ident)
        return self._show(request, "subnet", self._subnet_payload(subnet))

    async def create_subnet(self, request: web.Request) -> web.Response:
        """``POST /v2.0/subnets`` (recorded: gateway .1, pool .2 to the last host)."""
        auth = auth_of(request)
        spec = await _resource(request, "subnet")
        net = self._network(request, str(spec.get("network_id", "")))
        try:
            cidr = ipaddress.ip_network(str(spec.get("cidr", "")), strict=False)
        except ValueError:
            raise NeutronError(
                400, "HTTPBadRequest",
                f"Invalid input for cidr. Reason: '{spec.get('cidr')}' is not a valid IP subnet.",
            ) from None
        hosts = list(cidr.hosts()) if cidr.num_addresses <= 65536 else []
        gateway = str(spec.get("gateway_ip") or (hosts[0] if hosts else cidr[1]))
        first = hosts[1] if len(hosts) > 1 else cidr[2]
        last = hosts[-1] if hosts else cidr[-2]
        now = self.state.now()
        subnet = r.Subnet(
            id=str(uuid.uuid4()), name=str(spec.get("name", "")), network_id=net.id,
            project_id=str(spec.get("project_id") or auth.project_id or ""),
            cidr=str(cidr), gateway_ip=gateway, created_at=now, updated_at=now,
            ip_version=cidr.version,
            allocation_pools=(r.AllocationPool(str(first), str(last)),),
            enable_dhcp=bool(spec.get("enable_dhcp", True)),
            description=str(spec.get("description", "")),
        )
        self.state.add(subnet)
        self.state.update("network", net.id, subnets=(*net.subnets, subnet.id),
                          revision_number=net.revision_number + 1, updated_at=now)
        return json_response({"subnet": self._subnet_payload(subnet)}, 201)

    async def delete_subnet(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        subnet = self.state.subnets.get(ident)
        if subnet is None:
            raise not_found("Subnet", "Subnet", ident)
        for port in self.state.ports.by("network_id", subnet.network_id):
            if any(f.subnet_id == ident for f in port.fixed_ips):
                raise NeutronError(
                    409, "SubnetInUse",
                    f"Unable to complete operation on subnet {ident}: "
                    "One or more ports have an IP allocation from this subnet.",
                )
        self.state.delete("subnet", ident)
        net = self.state.networks.get(subnet.network_id)
        if net is not None:
            self.state.update("network", net.id,
                              subnets=tuple(s for s in net.subnets if s != ident))
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- ports -------------------------------------------------------------------------

    async def list_ports(self, request: web.Request) -> web.Response:
        return self._list(
            request, "ports", "/v2.0/ports", self.state.ports, port_payload,
            visible=self._own(auth_of(request)),
            columns={"id": "id", "name": "name", "network_id": "network_id",
                    "project_id": "project_id", "tenant_id": "project_id",
                    "device_id": "device_id", "device_owner": "device_owner",
                    "status": "status", "mac_address": "mac_address",
                    "binding:host_id": "binding_host_id"},
            what=("Port", "Port"),
            cache="",
        )

    def _port(self, request: web.Request, ident: str) -> r.Port:
        port = self.state.ports.get(ident)
        own = self._own(auth_of(request))
        if port is None or (own is not None and not own(port)):
            raise not_found("Port", "Port", ident)
        return port

    async def show_port(self, request: web.Request) -> web.Response:
        port = self._port(request, request.match_info["id"])
        return self._show(request, "port", port_payload(port))

    def _allocate_ip(self, subnet: r.Subnet) -> str:
        taken = {
            f.ip_address
            for p in self.state.ports.by("network_id", subnet.network_id)
            for f in p.fixed_ips
        }
        taken.add(subnet.gateway_ip or "")
        for pool in subnet.allocation_pools:
            start, end = int(ipaddress.ip_address(pool.start)), int(ipaddress.ip_address(pool.end))
            for number in range(start, end + 1):
                address = str(ipaddress.ip_address(number))
                if address not in taken:
                    return address
        raise NeutronError(
            409, "IpAddressGenerationFailure",
            f"No more IP addresses available on network {subnet.network_id}.",
        )

    def _new_port(
        self, net: r.Network, project_id: str, *, name: str = "", device_id: str = "",
        device_owner: str = "", subnet_id: str | None = None, ip: str | None = None,
        status: str = "DOWN",
    ) -> r.Port:
        subnet = self.state.subnets.get(subnet_id or (net.subnets[0] if net.subnets else ""))
        fixed: tuple[r.FixedIP, ...] = ()
        if subnet is not None:
            fixed = (r.FixedIP(subnet.id, ip or self._allocate_ip(subnet)),)
        groups = () if device_owner.startswith("network:") else tuple(
            g.id for g in self.state.security_groups.by("project_id", project_id)
            if g.name == "default"
        )
        now = self.state.now()
        mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        port = r.Port(
            id=str(uuid.uuid4()), name=name, network_id=net.id, project_id=project_id,
            mac_address=mac, created_at=now, updated_at=now, fixed_ips=fixed,
            device_id=device_id, device_owner=device_owner, status=status,
            security_groups=groups, binding_vif_type="unbound",
            port_security_enabled=not device_owner.startswith("network:"),
        )
        self.state.add(port)
        return port

    async def create_port(self, request: web.Request) -> web.Response:
        """``POST /v2.0/ports`` (recorded: 201, DOWN, unbound, first free pool address)."""
        auth = auth_of(request)
        spec = await _resource(request, "port")
        net = self._network(request, str(spec.get("network_id", "")))
        fixed = spec.get("fixed_ips") or [{}]
        port = self._new_port(
            net, str(spec.get("project_id") or auth.project_id or ""),
            name=str(spec.get("name", "")), device_id=str(spec.get("device_id", "")),
            device_owner=str(spec.get("device_owner", "")),
            subnet_id=fixed[0].get("subnet_id"), ip=fixed[0].get("ip_address"),
        )
        return json_response({"port": port_payload(port)}, 201)

    async def delete_port(self, request: web.Request) -> web.Response:
        port = self._port(request, request.match_info["id"])
        self.state.delete("port", port.id)
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- routers -----------------------------------------------------------------------

    async def list_routers(self, request: web.Request) -> web.Response:
        return self._list(
            request, "routers", "/v2.0/routers", self.state.routers, router_payload,
            visible=self._own(auth_of(request)),
            columns={"id": "id", "name": "name", "project_id": "project_id",
                    "tenant_id": "project_id", "status": "status"},
            what=("Router", "Router"),
            cache="",
        )

    def _router(self, request: web.Request, ident: str) -> r.Router:
        router = self.state.routers.get(ident)
        own = self._own(auth_of(request))
        if router is None or (own is not None and not own(router)):
            raise not_found("Router", "Router", ident)
        return router

    async def show_router(self, request: web.Request) -> web.Response:
        router = self._router(request, request.match_info["id"])
        return self._show(request, "router", router_payload(router))

    async def create_router(self, request: web.Request) -> web.Response:
        """``POST /v2.0/routers`` (recorded: 201); scheduled to the least busy live L3
        agent, as neutron's ``LeastRoutersScheduler`` does when agents exist."""
        auth = auth_of(request)
        spec = await _resource(request, "router")
        now = self.state.now()
        router_id = str(uuid.uuid4())
        project_id = str(spec.get("project_id") or auth.project_id or "")
        gateway = None
        gw_spec = spec.get("external_gateway_info")
        if isinstance(gw_spec, dict) and gw_spec.get("network_id"):
            ext = self._network(request, str(gw_spec["network_id"]))
            gw_port = self._new_port(ext, "", device_id=router_id,
                                     device_owner="network:router_gateway")
            gateway = r.ExternalGateway(ext.id, gw_port.fixed_ips,
                                        bool(gw_spec.get("enable_snat", True)))
        router = r.Router(
            id=router_id, name=str(spec.get("name", "")), project_id=project_id,
            created_at=now, updated_at=now, external_gateway=gateway,
            admin_state_up=bool(spec.get("admin_state_up", True)),
            description=str(spec.get("description", "")),
            distributed=bool(spec.get("distributed", False)), ha=bool(spec.get("ha", False)),
        )
        self.state.add(router)
        candidates = [a for a in self._l3_agents() if a.admin_state_up and a.is_alive(now)]
        if candidates:
            best = min(candidates,
                       key=lambda a: self.state.router_bindings.count_by("l3_agent_id", a.id))
            self._bind(router.id, best.id)
        return json_response({"router": router_payload(router)}, 201)

    async def delete_router(self, request: web.Request) -> web.Response:
        router = self._router(request, request.match_info["id"])
        interfaces = [
            p for p in self.state.ports.by("device_id", router.id)
            if p.device_owner == "network:router_interface"
        ]
        if interfaces:
            raise NeutronError(
                409, "RouterInUse",
                f"Router {router.id} still has ports",
            )
        for port in self.state.ports.by("device_id", router.id):
            self.state.delete("port", port.id)
        for binding in self.state.router_bindings.by("router_id", router.id):
            self.state.delete("router_binding", binding.id)
        self.state.delete("router", router.id)
        return web.Response(status=204)

    async def add_router_interface(self, request: web.Request) -> web.Response:
        """``PUT /v2.0/routers/{id}/add_router_interface`` (recorded answer)."""
        router = self._router(request, request.match_info["id"])
        spec = await _json(request)
        subnet = self.state.subnets.get(str(spec.get("subnet_id", "")))
        if subnet is None:
            raise not_found("Subnet", "Subnet", str(spec.get("subnet_id", "")))
        net = self.state.networks.get(subnet.network_id)
        assert net is not None
        port = self._new_port(
            net, router.project_id, device_id=router.id,
            device_owner="network:router_interface", subnet_id=subnet.id,
            ip=subnet.gateway_ip,
        )
        self.state.update("router", router.id, revision_number=router.revision_number + 1,
                          updated_at=self.state.now())
        return json_response({
            "id": router.id, "project_id": router.project_id, "port_id": port.id,
            "network_id": net.id, "subnet_id": subnet.id, "subnet_ids": [subnet.id],
        })

    async def remove_router_interface(self, request: web.Request) -> web.Response:
        """``PUT /v2.0/routers/{id}/remove_router_interface`` (API reference)."""
        router = self._router(request, request.match_info["id"])
        spec = await _json(request)
        for port in self.state.ports.by("device_id", router.id):
            if port.device_owner != "network:router_interface":
                continue
            subnets = [f.subnet_id for f in port.fixed_ips]
            if spec.get("port_id") == port.id or spec.get("subnet_id") in subnets:
                self.state.delete("port", port.id)
                return json_response({
                    "id": router.id, "project_id": router.project_id, "port_id": port.id,
                    "network_id": port.network_id, "subnet_id": subnets[0] if subnets else None,
                    "subnet_ids": subnets, "tenant_id": router.project_id,
                })
        raise NeutronError(
            404, "RouterInterfaceNotFoundForSubnet",
            f"Router {router.id} has no interface on subnet {spec.get('subnet_id')}",
        )

    # -- floating IPs ------------------------------------------------------------------

    def _fip_payload(self, fip: r.FloatingIP) -> Payload:
        return floating_ip_payload(fip, self.state.ports.get(fip.port_id or ""))

    async def list_floating_ips(self, request: web.Request) -> web.Response:
        return self._list(
            request, "floatingips", "/v2.0/floatingips", self.state.floating_ips,
            self._fip_payload, visible=self._own(auth_of(request)),
            columns={"id": "id", "project_id": "project_id", "tenant_id": "project_id",
                    "floating_network_id": "floating_network_id", "status": "status",
                    "floating_ip_address": "floating_ip_address"},
            what=("FloatingIP", "Floating IP"),
        )

    async def show_floating_ip(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        fip = self.state.floating_ips.get(ident)
        own = self._own(auth_of(request))
        if fip is None or (own is not None and not own(fip)):
            raise not_found("FloatingIP", "Floating IP", ident)
        return self._show(request, "floatingip", self._fip_payload(fip))

    async def create_floating_ip(self, request: web.Request) -> web.Response:
        """``POST /v2.0/floatingips`` (recorded: 201, DOWN, a ``network:floatingip`` port)."""
        auth = auth_of(request)
        spec = await _resource(request, "floatingip")
        ext = self._network(request, str(spec.get("floating_network_id", "")))
        fip_id = str(uuid.uuid4())
        port = self._new_port(ext, "", device_id=fip_id, device_owner="network:floatingip",
                              status="N/A")
        now = self.state.now()
        fip = r.FloatingIP(
            id=fip_id, project_id=str(spec.get("project_id") or auth.project_id or ""),
            floating_ip_address=port.fixed_ips[0].ip_address if port.fixed_ips else "",
            floating_network_id=ext.id, created_at=now, updated_at=now,
            description=str(spec.get("description", "")),
        )
        self.state.add(fip)
        return json_response({"floatingip": self._fip_payload(fip)}, 201)

    async def update_floating_ip(self, request: web.Request) -> web.Response:
        """``PUT /v2.0/floatingips/{id}`` with ``port_id`` (API reference): associate
        with a port, through the router on its network, or disassociate (null)."""
        ident = request.match_info["id"]
        fip = self.state.floating_ips.get(ident)
        own = self._own(auth_of(request))
        if fip is None or (own is not None and not own(fip)):
            raise not_found("FloatingIP", "Floating IP", ident)
        spec = await _resource(request, "floatingip")
        changes: dict[str, Any] = {"updated_at": self.state.now(),
                                   "revision_number": fip.revision_number + 1}
        if "description" in spec:
            changes["description"] = str(spec["description"])
        if "port_id" in spec and spec["port_id"] is None:
            changes.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
        elif "port_id" in spec:
            port = self._port(request, str(spec["port_id"]))
            routers = {
                p.device_id for p in self.state.ports.by("network_id", port.network_id)
                if p.device_owner == "network:router_interface"
            }
            router = next((x for x in sorted(routers) if x in self.state.routers), None)
            if router is None or not port.fixed_ips:
                raise NeutronError(
                    404, "ExternalGatewayForFloatingIPNotFound",
                    f"External network {fip.floating_network_id} is not reachable from "
                    f"subnet {port.fixed_ips[0].subnet_id if port.fixed_ips else ''}.  "
                    f"Therefore, cannot associate Port {port.id} with a Floating IP.",
                )
            changes.update(port_id=port.id, fixed_ip_address=port.fixed_ips[0].ip_address,
                           router_id=router, status="ACTIVE")
        fip = self.state.update("floating_ip", fip.id, **changes)
        return json_response({"floatingip": self._fip_payload(fip)})

    async def delete_floating_ip(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        fip = self.state.floating_ips.get(ident)
        own = self._own(auth_of(request))
        if fip is None or (own is not None and not own(fip)):
            raise not_found("FloatingIP", "Floating IP", ident)
        for port in self.state.ports.by("device_id", fip.id):
            self.state.delete("port", port.id)
        self.state.delete("floating_ip", fip.id)
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- subnet pools ------------------------------------------------------------------

    async def list_subnetpools(self, request: web.Request) -> web.Response:
        """``GET /v2.0/subnetpools``: one shared IPv4 pool of the admin project, from which
        no subnet was allocated (API reference ``subnetpools-list-response``: the prefix
        lengths are strings, as neutron answers them)."""
        auth_of(request)
        public = next((n for n in self.state.networks if n.router_external), None)
        owner = public.project_id if public else ""
        created = zulu(public.created_at if public else self.state.now())
        pool = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "stackwatch-sim:subnetpool:shared")),
                "name": "shared-default-subnetpool-v4", "tenant_id": owner,
                "project_id": owner, "prefixes": ["10.128.0.0/16"], "ip_version": 4,
                "min_prefixlen": "24", "max_prefixlen": "26", "default_prefixlen": "24",
                "default_quota": None, "address_scope_id": None, "is_default": True,
                "shared": True, "description": "", "revision_number": 0, "tags": [],
                "created_at": created, "updated_at": created}
        return json_response({"subnetpools": [pool]})

    # -- security groups ---------------------------------------------------------------

    async def list_security_groups(self, request: web.Request) -> web.Response:
        return self._list(
            request, "security_groups", "/v2.0/security-groups", self.state.security_groups,
            security_group_payload, visible=self._own(auth_of(request)),
            columns={"id": "id", "name": "name", "project_id": "project_id",
                    "tenant_id": "project_id"},
            what=("SecurityGroup", "Security group"),
            cache="",
        )

    async def show_security_group(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        group = self.state.security_groups.get(ident)
        own = self._own(auth_of(request))
        if group is None or (own is not None and not own(group)):
            raise not_found("SecurityGroup", "Security group", ident)
        return self._show(request, "security_group", security_group_payload(group))

    # -- agents and the L3 agent scheduler ---------------------------------------------

    def _l3_agents(self) -> list[r.Agent]:
        return self.state.agents.by("agent_type", "L3 agent")

    def _agent_payload(self, agent: r.Agent) -> Payload:
        return agent_payload(agent, self.state.now(), self.state.agent_configurations(agent))

    async def list_agents(self, request: web.Request) -> web.Response:
        """``GET /v2.0/agents``: a member sees an empty list (recorded ``200-member``)."""
        auth = auth_of(request)
        visible: Callable[[r.Agent], bool] | None = None
        if not auth.is_admin:
            def visible(agent: r.Agent) -> bool:
                return False
        return self._list(
            request, "agents", "/v2.0/agents", self.state.agents, self._agent_payload,
            visible=visible,
            columns={"id": "id", "agent_type": "agent_type", "host": "host",
                    "binary": "binary", "topic": "topic"},
            what=("Agent", "Agent"),
        )

    def _agent(self, request: web.Request, ident: str) -> r.Agent:
        agent = self.state.agents.get(ident)
        if agent is None or not auth_of(request).is_admin:
            raise not_found("Agent", "Agent", ident)
        return agent

    async def show_agent(self, request: web.Request) -> web.Response:
        agent = self._agent(request, request.match_info["id"])
        return self._show(request, "agent", self._agent_payload(agent))

    async def update_agent(self, request: web.Request) -> web.Response:
        """``PUT /v2.0/agents/{id}``: ``admin_state_up`` and ``description`` (API ref)."""
        agent = self._agent(request, request.match_info["id"])
        spec = await _resource(request, "agent")
        changes: dict[str, Any] = {}
        if "admin_state_up" in spec:
            changes["admin_state_up"] = bool(spec["admin_state_up"])
        if "description" in spec:
            changes["description"] = spec["description"]
        agent = self.state.update("agent", agent.id, **changes)
        return json_response({"agent": self._agent_payload(agent)})

    async def delete_agent(self, request: web.Request) -> web.Response:
        agent = self._agent(request, request.match_info["id"])
        for binding in self.state.router_bindings.by("l3_agent_id", agent.id):
            self.state.delete("router_binding", binding.id)
        self.state.delete("agent", agent.id)
        return web.Response(status=204)

    def _bind(self, router_id: str, agent_id: str) -> None:
        index = 1 + self.state.router_bindings.count_by("router_id", router_id)
        self.state.add(r.RouterBinding(f"{router_id}:{agent_id}", router_id, agent_id, index))

    async def agent_routers(self, request: web.Request) -> web.Response:
        """``GET /v2.0/agents/{id}/l3-routers`` (API ref ``agent-l3-routers-list-response``)."""
        agent = self._agent(request, request.match_info["id"])
        routers = [
            self.state.routers.get(b.router_id)
            for b in self.state.router_bindings.by("l3_agent_id", agent.id)
        ]
        return json_response({"routers": [agent_router_payload(x, self.state)
                                          for x in routers if x is not None]})

    async def add_agent_router(self, request: web.Request) -> web.Response:
        """``POST /v2.0/agents/{id}/l3-routers`` ``{"router_id"}``: 201 with a null body.

        As neutron's ``add_router_to_l3_agent``: the agent must be a live, enabled L3
        agent (400 ``InvalidL3Agent``); a non-HA router already on another agent is 409
        ``RouterHostedByL3Agent``; on this agent already, nothing changes.
        """
        agent = self._agent(request, request.match_info["id"])
        router_id = str((await _json(request)).get("router_id", ""))
        router = self.state.routers.get(router_id)
        if router is None:
            raise not_found("Router", "Router", router_id)
        now = self.state.now()
        if agent.agent_type != "L3 agent" or not agent.admin_state_up or not agent.is_alive(now):
            raise NeutronError(
                400, "InvalidL3Agent",
                f"Agent {agent.id} is not a L3 Agent or has been disabled",
            )
        bindings = self.state.router_bindings.by("router_id", router.id)
        if any(b.l3_agent_id == agent.id for b in bindings):
            return json_response(None, 201)
        if bindings and not router.ha:
            raise NeutronError(
                409, "RouterHostedByL3Agent",
                f"The router {router.id} has been already hosted by the L3 Agent "
                f"{bindings[0].l3_agent_id}.",
            )
        self._bind(router.id, agent.id)
        return json_response(None, 201)

    async def remove_agent_router(self, request: web.Request) -> web.Response:
        """``DELETE /v2.0/agents/{id}/l3-routers/{router_id}``: 204; 409 when not there."""
        agent = self._agent(request, request.match_info["id"])
        router_id = request.match_info["router_id"]
        if router_id not in self.state.routers:
            raise not_found("Router", "Router", router_id)
        binding = self.state.router_bindings.get(f"{router_id}:{agent.id}")
        if binding is None:
            raise NeutronError(
                409, "RouterNotHostedByL3Agent",
                f"The router {router_id} is not hosted by L3 agent {agent.id}.",
            )
        self.state.delete("router_binding", binding.id)
        return web.Response(status=204)

    def _dhcp_hosts(self, network_id: str) -> set[str]:
        """Hosts serving a network's DHCP: those its ``network:dhcp`` ports are bound to."""
        return {
            p.binding_host_id for p in self.state.ports.by("network_id", network_id)
            if p.device_owner == "network:dhcp" and p.binding_host_id
        }

    async def agent_networks(self, request: web.Request) -> web.Response:
        """``GET /v2.0/agents/{id}/dhcp-networks`` (API reference, DHCP agent scheduler):
        the networks whose DHCP port is bound to the agent's host."""
        agent = self._agent(request, request.match_info["id"])
        if agent.agent_type != "DHCP agent":
            return json_response({"networks": []})
        ids = {
            p.network_id for p in self.state.ports.by("binding_host_id", agent.host)
            if p.device_owner == "network:dhcp"
        }
        nets = [self.state.networks.get(i) for i in sorted(ids)]
        return json_response(
            {"networks": [network_payload(n, admin=True) for n in nets if n is not None]}
        )

    async def network_dhcp_agents(self, request: web.Request) -> web.Response:
        """``GET /v2.0/networks/{id}/dhcp-agents`` (API reference)."""
        if not auth_of(request).is_admin:
            raise NeutronError(
                403, "PolicyNotAuthorized", "rule:get_dhcp-agents is disallowed by policy"
            )
        net = self._network(request, request.match_info["id"])
        hosts = self._dhcp_hosts(net.id)
        agents = [
            dict(self._agent_payload(a), resource_versions={})
            for a in self.state.agents.by("agent_type", "DHCP agent") if a.host in hosts
        ]
        return json_response({"agents": agents})

    async def router_agents(self, request: web.Request) -> web.Response:
        """``GET /v2.0/routers/{id}/l3-agents`` (API ref ``router-l3-agent-list-response``)."""
        if not auth_of(request).is_admin:
            raise NeutronError(
                403, "PolicyNotAuthorized", "rule:get_l3-agents is disallowed by policy"
            )
        router = self._router(request, request.match_info["id"])
        agents = []
        for binding in self.state.router_bindings.by("router_id", router.id):
            agent = self.state.agents.get(binding.l3_agent_id)
            if agent is not None:
                # the scheduler extension answers the plugin's agent dicts, which carry
                # resource_versions (API ref router-l3-agent-list-response.json)
                payload = self._agent_payload(agent)
                payload["ha_state"] = ("active" if binding.binding_index == 1 else "standby") \
                    if router.ha else None
                payload["resource_versions"] = {}
                agents.append(payload)
        return json_response({"agents": agents})

    # -- availability zones ------------------------------------------------------------

    async def list_availability_zones(self, request: web.Request) -> web.Response:
        """``GET /v2.0/availability_zones`` (API reference, ``availability_zone``).

        As neutron's ``_list_availability_zones``: one zone per (agent zone, resource) —
        DHCP agents give ``network`` zones, L3 agents ``router`` zones; ``available``
        when any of its agents is administratively up (liveness does not count).
        Filters ``name``, ``resource``, ``state``; others are 400.
        """
        zones: dict[tuple[str, str], bool] = {}
        for agent_type, resource in (("DHCP agent", "network"), ("L3 agent", "router")):
            for agent in self.state.agents.by("agent_type", agent_type):
                if agent.availability_zone:
                    key = (agent.availability_zone, resource)
                    zones[key] = zones.get(key, False) or agent.admin_state_up
        items = [{"name": name, "resource": resource,
                  "state": "available" if up else "unavailable"}
                 for (name, resource), up in sorted(zones.items())]
        filters = {k: request.query.getall(k) for k in set(request.query) - {"fields"}}
        unknown = sorted(set(filters) - {"name", "resource", "state"})
        if unknown:
            raise NeutronError(
                400, "HTTPBadRequest", f"[{unknown[0]}] is invalid attribute for filtering"
            )
        items = [z for z in items if _matches(z, filters)]
        wanted = request.query.getall("fields", [])
        if wanted:
            items = [{k: v for k, v in z.items() if k in wanted} for z in items]
        return json_response({"availability_zones": items})

    # -- quotas ------------------------------------------------------------------------

    def _quota(self, project_id: str, defaults: bool = False) -> Payload:
        state = self.state
        return {
            name: state.quota_defaults["network"].get(name, -1) if defaults
            else state.quota_limit("network", project_id, name)
            for name in _QUOTA_ORDER
        }

    def _require_admin_or_own(self, request: web.Request, project_id: str) -> None:
        auth = auth_of(request)
        if not auth.is_admin and auth.project_id != project_id:
            raise NeutronError(
                403, "PolicyNotAuthorized", "rule:get_quota is disallowed by policy"
            )

    async def list_quotas(self, request: web.Request) -> web.Response:
        """``GET /v2.0/quotas``: projects with non-default quotas (recorded: none)."""
        auth = auth_of(request)
        projects = sorted({
            q.project_id for q in self.state.quotas
            if q.service == "network" and (auth.is_admin or q.project_id == auth.project_id)
        })
        body = [dict(self._quota(p), project_id=p, tenant_id=p) for p in projects]
        return json_response({"quotas": body})

    async def show_quota(self, request: web.Request) -> web.Response:
        project_id = request.match_info["project_id"]
        self._require_admin_or_own(request, project_id)
        return json_response({"quota": self._quota(project_id)})

    async def quota_defaults(self, request: web.Request) -> web.Response:
        project_id = request.match_info["project_id"]
        self._require_admin_or_own(request, project_id)
        return json_response({"quota": self._quota(project_id, defaults=True)})

    async def quota_details(self, request: web.Request) -> web.Response:
        """``GET /v2.0/quotas/{p}/details`` (recorded: limit/used/reserved)."""
        project_id = request.match_info["project_id"]
        self._require_admin_or_own(request, project_id)
        limits = self._quota(project_id)
        used = self.state.quota_usage("network", project_id)
        return json_response({"quota": {
            name: {"limit": limits[name], "used": used.get(name, 0), "reserved": 0}
            for name in _QUOTA_ORDER
        }})

    # -- IP availability ---------------------------------------------------------------

    async def list_ip_availabilities(self, request: web.Request) -> web.Response:
        """``GET /v2.0/network-ip-availabilities``: admin only; a member gets an empty
        list (recorded ``200-member-empty-list``)."""
        if not auth_of(request).is_admin:
            return json_response({"network_ip_availabilities": []})
        # neutron/extensions/network_ip_availability.py creates the controller with
        # allow_pagination=True; the plugin has no native pagination, so neutron
        # emulates it over the results, keyed on network_id
        return self._list(
            request, "network_ip_availabilities", "/v2.0/network-ip-availabilities",
            self.state.networks, lambda n: ip_availability_payload(self.state, n),
            columns={"network_id": "id", "network_name": "name", "project_id": "project_id",
                     "tenant_id": "project_id"},
            what=("Network", "Network"),
        )

    async def show_ip_availability(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        net = self.state.networks.get(ident)
        if net is None or not auth_of(request).is_admin:
            raise not_found("Network", "Network", ident)
        return json_response({"network_ip_availability": ip_availability_payload(self.state, net)})


async def _json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 400 in neutron's words when it is not one."""
    try:
        body = await request.json()
    except ValueError:
        raise NeutronError(400, "HTTPBadRequest", "Malformed request body") from None
    if not isinstance(body, dict):
        raise NeutronError(400, "HTTPBadRequest", "Malformed request body")
    return body


async def _resource(request: web.Request, key: str) -> dict[str, Any]:
    """The ``{"<key>": {...}}`` object of a create/update body (400 when missing)."""
    spec = (await _json(request)).get(key)
    if not isinstance(spec, dict):
        raise NeutronError(
            400, "HTTPBadRequest", f"Resource body required with key '{key}'"
        )
    return spec


def _guard(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except NeutronError as error:
            return error.response()
        return response

    guarded.__doc__ = handler.__doc__
    return guarded


def register(api: ApiContext) -> None:
    """Serve neutron's routes under the network prefix."""
    n = NeutronApi(api)
    routes: list[tuple[str, str, Callable[[web.Request], Any], bool]] = [
        ("GET", "/", n.versions, False),
        ("GET", "/v2.0", n.v2_root, True),
        ("GET", "/v2.0/", n.v2_root, True),
        ("GET", "/v2.0/extensions", n.extensions, True),
        ("GET", "/v2.0/networks", n.list_networks, True),
        ("POST", "/v2.0/networks", n.create_network, True),
        ("GET", "/v2.0/networks/{id}", n.show_network, True),
        ("PUT", "/v2.0/networks/{id}", n.update_network, True),
        ("DELETE", "/v2.0/networks/{id}", n.delete_network, True),
        ("GET", "/v2.0/subnets", n.list_subnets, True),
        ("POST", "/v2.0/subnets", n.create_subnet, True),
        ("GET", "/v2.0/subnets/{id}", n.show_subnet, True),
        ("DELETE", "/v2.0/subnets/{id}", n.delete_subnet, True),
        ("GET", "/v2.0/ports", n.list_ports, True),
        ("POST", "/v2.0/ports", n.create_port, True),
        ("GET", "/v2.0/ports/{id}", n.show_port, True),
        ("DELETE", "/v2.0/ports/{id}", n.delete_port, True),
        ("GET", "/v2.0/routers", n.list_routers, True),
        ("POST", "/v2.0/routers", n.create_router, True),
        ("GET", "/v2.0/routers/{id}", n.show_router, True),
        ("DELETE", "/v2.0/routers/{id}", n.delete_router, True),
        ("PUT", "/v2.0/routers/{id}/add_router_interface", n.add_router_interface, True),
        ("PUT", "/v2.0/routers/{id}/remove_router_interface", n.remove_router_interface, True),
        ("GET", "/v2.0/routers/{id}/l3-agents", n.router_agents, True),
        ("GET", "/v2.0/networks/{id}/dhcp-agents", n.network_dhcp_agents, True),
        ("GET", "/v2.0/agents/{id}/dhcp-networks", n.agent_networks, True),
        ("GET", "/v2.0/floatingips", n.list_floating_ips, True),
        ("POST", "/v2.0/floatingips", n.create_floating_ip, True),
        ("GET", "/v2.0/floatingips/{id}", n.show_floating_ip, True),
        ("PUT", "/v2.0/floatingips/{id}", n.update_floating_ip, True),
        ("DELETE", "/v2.0/floatingips/{id}", n.delete_floating_ip, True),
        ("GET", "/v2.0/subnetpools", n.list_subnetpools, True),
        ("GET", "/v2.0/security-groups", n.list_security_groups, True),
        ("GET", "/v2.0/security-groups/{id}", n.show_security_group, True),
        ("GET", "/v2.0/agents", n.list_agents, True),
        ("GET", "/v2.0/agents/{id}", n.show_agent, True),
        ("PUT", "/v2.0/agents/{id}", n.update_agent, True),
        ("DELETE", "/v2.0/agents/{id}", n.delete_agent, True),
        ("GET", "/v2.0/agents/{id}/l3-routers", n.agent_routers, True),
        ("POST", "/v2.0/agents/{id}/l3-routers", n.add_agent_router, True),
        ("DELETE", "/v2.0/agents/{id}/l3-routers/{router_id}", n.remove_agent_router, True),
        ("GET", "/v2.0/availability_zones", n.list_availability_zones, True),
        ("GET", "/v2.0/quotas", n.list_quotas, True),
        ("GET", "/v2.0/quotas/{project_id}", n.show_quota, True),
        ("GET", "/v2.0/quotas/{project_id}/default", n.quota_defaults, True),
        ("GET", "/v2.0/quotas/{project_id}/details", n.quota_details, True),
        ("GET", "/v2.0/network-ip-availabilities", n.list_ip_availabilities, True),
        ("GET", "/v2.0/network-ip-availabilities/{id}", n.show_ip_availability, True),
    ]
    for method, path, handler, auth in routes:
        api.route(method, path, _guard(handler), auth=auth)
