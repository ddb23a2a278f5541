"""``api.network``: neutron networks, subnets, routers, ports, floating IPs, agents, quotas.

Calls per collection: one listing each of networks, subnets, routers, ports,
floatingips, security-groups, agents and network-ip-availabilities, sent
without ``limit`` (neutron's ``pagination_max_limit`` is unlimited by default,
so one page holds everything; ``*_links`` are followed when a deployment caps
it), with ``fields=`` so that only the columns read travel; plus one
``agents/{id}/l3-routers`` per L3 agent; and every ``quotas`` interval (600 s)
two more: ``quotas`` (every project with non-default quotas, in one answer)
and ``quotas/{p}/default`` once (the defaults, the same for every project).
Usage per project is counted from the listings above (shared within a cycle),
not asked project by project. ``quota_details`` (openstack-exporter's
``quota_<resource>``): one ``quotas/{p}/details`` per project, or with neutron's
database configured four queries and the defaults above
(:mod:`stackwatch.sources.sql.shortcuts`).

Items (no call of their own): every router an L3 agent hosts, from the
``l3-routers`` answers, with the agents hosting it and how many of them are alive;
one whose every agent is dead is *stranded* (its traffic stopped), listed first.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwatch.config import HeartbeatConfig, LatencyConfig
from stackwatch.errors import InvalidResponse
from stackwatch.model import (
    CheckResult,
    Collection,
    Item,
    ItemKind,
    Labels,
    Sample,
    Status,
    make_labels,
)
from stackwatch.sources.heartbeat import heartbeat_check
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.changed import ChangedListing, PerItem, by_ids
from stackwatch.sources.openstack_api.client import ApiClient, Json
from stackwatch.sources.openstack_api.identity_projects import Project, load_projects
from stackwatch.sources.openstack_api.server_listing import FULL_EVERY_S
from stackwatch.sources.resources import Resource

if TYPE_CHECKING:
    from stackwatch.sources.sql.shortcuts import Shortcuts

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AGENT_CHECK = "neutron.agent"
#: heartbeat late (sources/heartbeat.py): ``heartbeat_timestamp`` against report_interval
HEARTBEAT_CHECK = "neutron.heartbeat"

#: How long a listing is shared between the resources of one cycle (seconds).
LISTING_MAX_AGE_S = 5.0

#: neutron quota resource -> (listing path, key, metric word), for usage counted by project.
QUOTA_RESOURCES: dict[str, tuple[str, str, str]] = {
    "network": ("networks", "networks", "networks"),
    "subnet": ("subnets", "subnets", "subnets"),
    "port": ("ports", "ports", "ports"),
    "router": ("routers", "routers", "routers"),
    "floatingip": ("floatingips", "floatingips", "floating_ips"),
    "security_group": ("security-groups", "security_groups", "security_groups"),
}

#: Columns asked of each listing: those its own resource reads, and project_id for usage.
_FIELDS: dict[str, tuple[str, ...]] = {
    "networks": ("id", "project_id", "status", "name", "shared", "router:external",
                 "provider:network_type", "provider:physical_network",
                 "provider:segmentation_id", "subnets", "tags", "mtu"),
    "subnets": ("id", "project_id", "name", "network_id", "cidr", "gateway_ip", "enable_dhcp",
                "dns_nameservers", "tags", "subnetpool_id"),
    "security-groups": ("id", "project_id"),
    "routers": ("id", "name", "status", "project_id", "admin_state_up",
                "external_gateway_info", "ha"),
    "ports": ("id", "status", "binding:vif_type", "device_owner", "device_id", "fixed_ips",
              "project_id", "network_id", "mac_address", "admin_state_up"),
    "floatingips": ("id", "status", "fixed_ip_address", "project_id", "floating_network_id",
                    "router_id", "floating_ip_address"),
}

#: openstack-exporter's network status values (neutron.go knownNetworkStatuses); -1 else
NETWORK_STATUS = {"ACTIVE": 0, "BUILD": 1, "DOWN": 2, "ERROR": 3}
#: neutron's quota resources, each an openstack-exporter ``quota_<resource>`` metric
QUOTA_DETAILS = ("network", "subnet", "subnetpool", "port", "router", "floatingip",
                 "security_group", "security_group_rule", "rbac_policy")


@dataclass(frozen=True, slots=True)
class Agent:
    """A neutron agent (L3, DHCP, metadata, Open vSwitch...)."""

    id: str
    binary: str
    agent_type: str
    host: str
    alive: bool
    admin_state_up: bool
    availability_zone: str
    heartbeat: float | None = None   # ``heartbeat_timestamp``

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Agent:
        what = "neutron agents"
        return cls(f.text(d, "id", what), f.text(d, "binary", what),
                   f.text(d, "agent_type", what, ""), f.text(d, "host", what),
                   f.flag(d, "alive", what), f.flag(d, "admin_state_up", what, True),
                   f.text(d, "availability_zone", what, ""),
                   f.timestamp(d, "heartbeat_timestamp", what))


@dataclass(frozen=True, slots=True)
class HostedRouter:
    """A router as ``agents/{id}/l3-routers`` lists it."""

    id: str
    name: str
    status: str
    project_id: str
    ha: bool

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> HostedRouter:
        what = "neutron l3-routers"
        return cls(f.text(d, "id", what), f.text(d, "name", what, ""),
                   f.text(d, "status", what, ""),
                   f.text(d, "project_id", what, "") or f.text(d, "tenant_id", what, ""),
                   f.flag(d, "ha", what, False))


@dataclass(frozen=True, slots=True)
class Port:
    """What stackwatch keeps of a port."""

    status: str
    vif_type: str
    device_owner: str
    fixed_ips: int
    id: str = ""
    network_id: str = ""
    mac_address: str = ""
    device_id: str = ""
    admin_state_up: bool = True
    addresses: str = ""    # the fixed IPs' addresses, comma-separated

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Port:
        what = "neutron ports"
        fixed = [ip for ip in f.items(d, "fixed_ips", what) if isinstance(ip, Mapping)]
        return cls(f.text(d, "status", what, ""), f.text(d, "binding:vif_type", what, ""),
                   f.text(d, "device_owner", what, ""), len(fixed), f.text(d, "id", what, ""),
                   f.text(d, "network_id", what, ""), f.text(d, "mac_address", what, ""),
                   f.text(d, "device_id", what, ""), f.flag(d, "admin_state_up", what, True),
                   ",".join(f.text(ip, "ip_address", what, "") for ip in fixed))


@dataclass(frozen=True, slots=True)
class SubnetAvailability:
    """Used and total IPs of one subnet of one network."""

    network_id: str
    network_name: str
    project_id: str
    subnet_name: str
    cidr: str
    ip_version: str
    used: float
    total: float


def _availabilities(d: Mapping[str, Any]) -> list[SubnetAvailability]:
    what = "neutron network-ip-availabilities"
    project = f.text(d, "project_id", what, "") or f.text(d, "tenant_id", what, "")
    rows = []
    for s in f.items(d, "subnet_ip_availability", what):
        if isinstance(s, Mapping):
            rows.append(SubnetAvailability(
                f.text(d, "network_id", what), f.text(d, "network_name", what, ""), project,
                f.text(s, "subnet_name", what, ""), f.text(s, "cidr", what, ""),
                f.text(s, "ip_version", what, ""), f.number(s, "used_ips", what, 0),
                f.number(s, "total_ips", what, 0)))
    return rows


class NetworkSource(ApiSource):
    """Neutron through its API."""

    service_type = "network"
    codename = "neutron"

    def __init__(self, client: ApiClient, intervals: Mapping[str, float] | None = None,
                 latency: LatencyConfig | None = None, heartbeat: HeartbeatConfig | None = None,
                 disabled_metrics: Sequence[str] = ()) -> None:
        super().__init__(client, intervals, latency, heartbeat, disabled_metrics)
        #: ports whole every ``intervals["api.network.ports_full"]`` s (600), those
        #: changed since the last read in between (:mod:`.changed`)
        self.port_listing = ChangedListing(client, self.service_type, "neutron ports",
                                           self.interval("ports_full", FULL_EVERY_S))
        self._port_rows = PerItem(self._port_row)

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("networks", self.networks, self.interval("networks")),
            Resource("subnets", self.subnets, self.interval("subnets")),
            Resource("routers", self.routers, self.interval("routers")),
            Resource("ports", self.ports, self.interval("ports")),
            Resource("floating_ips", self.floating_ips, self.interval("floating_ips")),
            Resource("subnet_pools", self.subnet_pools, self.interval("subnet_pools", 300)),
            Resource("security_groups", self.security_groups,
                     self.interval("security_groups", 300)),
            Resource("agents", self.agents, self.interval("agents")),
            Resource("ip_availability", self.ip_availability,
                     self.interval("ip_availability", 300)),
            Resource("quotas", self.quotas, self.interval("quotas", 600)),
            Resource("quota_details", self.quota_details,
                     self.interval("quota_details", 600)),
        )

    def _list(self, path: str, key: str, *fields: str, **params: str) -> list[Json]:
        query: dict[str, object] = {"fields": list(fields)} if fields else {}
        query.update(params)
        return list(self.client.list_all("network", f"v2.0/{path}", key, params=query or None,
                                         page_size=0))

    def _listing(self, path: str, key: str) -> list[Json]:
        """A listing read by its own resource and by ``quotas``: once per cycle."""
        def load() -> list[Json]:
            if path == "ports":
                return self._read_ports()
            return self._list(path, key, *_FIELDS[path])
        return self.client.shared(f"network.{path}", LISTING_MAX_AGE_S, load)

    def _read_ports(self) -> list[Json]:
        """Every port: in full now and then, else those changed since the last read
        (``changed_since``, the standard-attr-timestamp extension) proven whole by a
        listing of every port's id (a twentieth of the bytes)."""
        fields = _FIELDS["ports"]
        return self.port_listing.read(
            lambda: self._list("ports", "ports", *fields),
            lambda since: self._list("ports", "ports", *fields, changed_since=since),
            by_ids(lambda: (f.text(p, "id", "neutron ports") for p in
                            self._list("ports", "ports", "id"))))

    def networks(self) -> Collection:
        rows = self._listing("networks", "networks")
        what = "neutron networks"
        samples = [self.sample("openstack_neutron_networks", len(rows))]
        for n in rows:
            status = f.text(n, "status", what, "")
            samples.append(self.sample(
                "openstack_neutron_network", NETWORK_STATUS.get(status, -1),
                id=f.text(n, "id", what), tenant_id=f.text(n, "project_id", what, ""),
                status=status, name=f.text(n, "name", what, ""),
                is_shared=_go_bool(f.flag(n, "shared", what, False)),
                is_external=_go_bool(f.flag(n, "router:external", what, False)),
                provider_network_type=f.text(n, "provider:network_type", what, ""),
                provider_physical_network=f.text(n, "provider:physical_network", what, ""),
                provider_segmentation_id=f.text(n, "provider:segmentation_id", what, ""),
                subnets=_joined(n, "subnets", what), tags=_joined(n, "tags", what),
                mtu=f"{f.number(n, 'mtu', what, 0):.0f}"))
        return Collection(tuple(samples))

    def subnets(self) -> Collection:
        rows = self._listing("subnets", "subnets")
        what = "neutron subnets"
        samples = [self.sample("openstack_neutron_subnets", len(rows))]
        samples += [self.sample(
            "openstack_neutron_subnet", 1, id=f.text(s, "id", what),
            tenant_id=f.text(s, "project_id", what, ""), name=f.text(s, "name", what, ""),
            network_id=f.text(s, "network_id", what, ""), cidr=f.text(s, "cidr", what, ""),
            gateway_ip=f.text(s, "gateway_ip", what, ""),
            enable_dhcp=_go_bool(f.flag(s, "enable_dhcp", what, False)),
            dns_nameservers=_joined(s, "dns_nameservers", what), tags=_joined(s, "tags", what))
            for s in rows]
        return Collection(tuple(samples))

    def subnet_pools(self) -> Collection:
        """openstack-exporter's ``subnets_total/used/free``: for each prefix of each subnet
        pool and each prefix length it allows, how many subnets of that length it holds,
        how many of its subnets have that length, and how many could still be cut."""
        what = "neutron subnetpools"
        taken: dict[str, list[IPNetwork]] = {}
        for s in self._listing("subnets", "subnets"):
            owner = f.text(s, "subnetpool_id", "neutron subnets", "")
            if owner:
                taken.setdefault(owner, []).append(_network(f.text(s, "cidr", "neutron subnets")))
        samples: list[Sample] = []
        for pool in self._list("subnetpools", "subnetpools"):
            pool_id = f.text(pool, "id", what)
            low = int(f.number(pool, "min_prefixlen", what))
            high = int(f.number(pool, "max_prefixlen", what))
            subnets = taken.get(pool_id, [])
            for prefix in (_network(str(p)) for p in f.items(pool, "prefixes", what)):
                inside = [s for s in subnets if s.version == prefix.version and s.overlaps(prefix)]
                free = _free_blocks(prefix, inside)
                for length in range(max(low, prefix.prefixlen), high + 1):
                    labels = {"ip_version": f"{prefix.version}", "prefix": str(prefix),
                              "prefix_length": f"{length}",
                              "project_id": f.text(pool, "project_id", what, ""),
                              "subnet_pool_id": pool_id,
                              "subnet_pool_name": f.text(pool, "name", what, "")}
                    samples += [
                        self.sample("openstack_neutron_subnets_total",
                                    2 ** (length - prefix.prefixlen), **labels),
                        self.sample("openstack_neutron_subnets_used",
                                    sum(1 for s in inside if s.prefixlen == length), **labels),
                        self.sample("openstack_neutron_subnets_free",
                                    sum(2 ** (length - b.prefixlen) for b in free
                                        if b.prefixlen <= length), **labels)]
        return Collection(tuple(samples))

    def security_groups(self) -> Collection:
        count = len(self._listing("security-groups", "security_groups"))
        # nova's os-security-groups was a proxy to these, removed at microversion 2.36
        # (openstack-exporter asks it at 2.87 and gets 404): neutron's count stands for it
        return Collection((self.sample("openstack_neutron_security_groups", count),
                           self.sample("openstack_nova_security_groups", count)))

    def routers(self) -> Collection:
        rows = self._listing("routers", "routers")
        what = "neutron routers"
        not_active = sum(1 for r in rows if f.text(r, "status", what, "") != "ACTIVE")
        samples = [self.sample("openstack_neutron_routers", len(rows)),
                   self.sample("openstack_neutron_routers_not_active", not_active)]
        samples += [self.sample(
            "openstack_neutron_router", 1, id=f.text(r, "id", what),
            name=f.text(r, "name", what, ""), project_id=f.text(r, "project_id", what, ""),
            admin_state_up=_go_bool(f.flag(r, "admin_state_up", what, True)),
            status=f.text(r, "status", what, ""),
            external_network_id=f.text(f.obj(r, "external_gateway_info", what), "network_id",
                                       what, "")) for r in rows]
        return Collection(tuple(samples))

    def _port_row(self, d: Mapping[str, Any]) -> tuple[Port, Labels]:
        """A port and the labels of its ``openstack_neutron_port`` (made once per change)."""
        p = Port.from_api(d)
        return p, make_labels(
            uuid=p.id, network_id=p.network_id, mac_address=p.mac_address,
            device_owner=p.device_owner, device_id=p.device_id, status=p.status,
            binding_vif_type=p.vif_type, admin_state_up=_go_bool(p.admin_state_up),
            fixed_ips=p.addresses, region=self.region_label)

    def ports(self) -> Collection:
        rows = self._port_rows(self._listing("ports", "ports"))
        ports = [port for port, _ in rows]
        by_status = Counter(p.status for p in ports)
        samples = [self.sample("openstack_neutron_ports", len(ports)),
                   self.sample("openstack_neutron_ports_binding_failed",
                               sum(1 for p in ports if p.vif_type == "binding_failed")),
                   self.sample("openstack_neutron_ports_no_ips",
                               sum(1 for p in ports if p.status == "ACTIVE" and not p.fixed_ips))]
        samples.append(self.sample("openstack_neutron_ports_lb_not_active", sum(
            1 for p in ports if p.device_owner == "neutron:LOADBALANCERV2"
            and p.status != "ACTIVE")))
        samples += [self.sample("openstack_neutron_ports_by_status", n, status=st)
                    for st, n in sorted(by_status.items())]
        if self.wants("openstack_neutron_port"):
            now = time.time()
            samples += [Sample("openstack_neutron_port", 1.0, labels, now)
                        for _, labels in rows]
        return Collection(tuple(samples))

    def floating_ips(self) -> Collection:
        rows = self._listing("floatingips", "floatingips")
        what = "neutron floatingips"
        stuck = sum(1 for r in rows if f.text(r, "fixed_ip_address", what, "")
                    and f.text(r, "status", what, "") != "ACTIVE")
        by_status = Counter(f.text(r, "status", what, "") for r in rows)
        samples = [self.sample("openstack_neutron_floating_ips", len(rows)),
                   self.sample("openstack_neutron_floating_ips_associated_not_active", stuck)]
        samples += [self.sample("openstack_neutron_floating_ips_by_status", n, status=st)
                    for st, n in sorted(by_status.items())]
        samples += [self.sample(
            "openstack_neutron_floating_ip", 1, id=f.text(r, "id", what),
            floating_network_id=f.text(r, "floating_network_id", what, ""),
            router_id=f.text(r, "router_id", what, ""), status=f.text(r, "status", what, ""),
            project_id=f.text(r, "project_id", what, ""),
            floating_ip_address=f.text(r, "floating_ip_address", what, "")) for r in rows]
        return Collection(tuple(samples))

    def agents(self) -> Collection:
        agents = [Agent.from_api(a) for a in self._list("agents", "agents")]
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        for a in agents:
            samples.append(self.sample(
                "openstack_neutron_agent_state", 1 if a.alive else 0, id=a.id, hostname=a.host,
                service=a.binary, adminState="up" if a.admin_state_up else "down",
                availability_zone=a.availability_zone))
            checks.append(_agent_check(a, self.region_label))
            age = self.heartbeat_age(a.heartbeat)
            if age is not None:
                samples.append(self.sample("openstack_neutron_agent_heartbeat_age_seconds", age,
                                           hostname=a.host, service=a.binary))
            checks.append(heartbeat_check(
                HEARTBEAT_CHECK, host=a.host, binary=a.binary, age=age,
                interval=self.heartbeat.neutron_report_interval, says_up=a.alive,
                enabled=a.admin_state_up, region=self.region_label))
        l3 = [a for a in agents if a.agent_type == "L3 agent"]

        def routers_of(agent: Agent) -> list[HostedRouter]:
            body = self.client.get("network", f"v2.0/agents/{agent.id}/l3-routers")
            return [HostedRouter.from_api(r) for r in f.items(body, "routers",
                                                                 "neutron l3-routers")
                    if isinstance(r, Mapping)]

        hosting: dict[str, tuple[HostedRouter, list[Agent]]] = {}
        for agent, routers in zip(l3, self.client.map(routers_of, l3), strict=True):
            if isinstance(routers, BaseException):
                raise routers
            samples.append(self.sample("openstack_neutron_l3_agent_routers", len(routers),
                                       l3_agent_id=agent.id, agent_host=agent.host,
                                       agent_alive=str(agent.alive).lower()))
            for router in routers:
                hosting.setdefault(router.id, (router, []))[1].append(agent)
        samples += self._l3_agents_of_routers(hosting)
        return Collection(tuple(samples), tuple(checks), items=_router_items(self, hosting))

    def _l3_agents_of_routers(self, hosting: Mapping[str, tuple[HostedRouter, list[Agent]]]
                              ) -> list[Sample]:
        """openstack-exporter's ``l3_agent_of_router``, 1 when the agent is alive: from the
        ``l3-routers`` answers, plus ``routers/{id}/l3-agents`` for HA routers alone (the
        one answer giving each agent's ``ha_state``; empty for a router without HA)."""
        ha = [router for router, _ in hosting.values() if router.ha]

        def states(router: HostedRouter) -> dict[str, str]:
            body = self.client.get("network", f"v2.0/routers/{router.id}/l3-agents")
            what = "neutron l3-agents"
            return {f.text(a, "id", what): f.text(a, "ha_state", what, "")
                    for a in f.items(body, "agents", what) if isinstance(a, Mapping)}

        ha_states: dict[str, dict[str, str]] = {}
        for router, answer in zip(ha, self.client.map(states, ha), strict=True):
            if isinstance(answer, BaseException):
                raise answer
            ha_states[router.id] = answer
        return [self.sample("openstack_neutron_l3_agent_of_router", 1 if a.alive else 0,
                            router_id=router.id, l3_agent_id=a.id,
                            ha_state=ha_states.get(router.id, {}).get(a.id, ""),
                            agent_alive=_go_bool(a.alive),
                            agent_admin_up=_go_bool(a.admin_state_up), agent_host=a.host)
                for router, agents in hosting.values() for a in agents]

    def ip_availability(self) -> Collection:
        samples = []
        for network in self._list("network-ip-availabilities", "network_ip_availabilities"):
            for s in _availabilities(network):
                labels = {"network_id": s.network_id, "network_name": s.network_name,
                          "ip_version": s.ip_version, "cidr": s.cidr,
                          "subnet_name": s.subnet_name, "project_id": s.project_id}
                samples.append(self.sample("openstack_neutron_network_ip_availabilities_total",
                                           s.total, **labels))
                samples.append(self.sample("openstack_neutron_network_ip_availabilities_used",
                                           s.used, **labels))
        return Collection(tuple(samples))

    def quotas(self) -> Collection:
        """Limit and use per project: overrides in one call, defaults in one, use counted."""
        projects = load_projects(self.client)
        if not projects:
            return Collection()
        what = "neutron quotas"
        overrides: dict[str, Mapping[str, Any]] = {}
        for row in self._list("quotas", "quotas"):
            owner = f.text(row, "project_id", what, "") or f.text(row, "tenant_id", what)
            overrides[owner] = row
        defaults = self._quota_defaults(projects)
        used: dict[str, Counter[str]] = {}
        for resource, (path, key, _) in QUOTA_RESOURCES.items():
            used[resource] = Counter(
                f.text(r, "project_id", f"neutron {path}", "") or
                f.text(r, "tenant_id", f"neutron {path}", "")
                for r in self._listing(path, key))
        samples: list[Sample] = []
        for project in projects:
            limits = overrides.get(project.id, defaults)
            labels = {"tenant": project.name, "tenant_id": project.id}
            for resource, (_, _, word) in QUOTA_RESOURCES.items():
                limit = f.number(limits, resource, what, f.number(defaults, resource, what, -1))
                samples.append(self.sample(f"openstack_neutron_limits_{word}_max", limit,
                                           **labels))
                samples.append(self.sample(f"openstack_neutron_limits_{word}_used",
                                           used[resource][project.id], **labels))
        return Collection(tuple(samples))


    def _quota_defaults(self, projects: Sequence[Project]) -> Mapping[str, Any]:
        """``quotas/{p}/default`` (the same for every project), read once per cycle for
        ``quotas`` and ``quota_details``."""
        def load() -> Mapping[str, Any]:
            body = self.client.get("network", f"v2.0/quotas/{projects[0].id}/default")
            return f.obj(body, "quota", "neutron quotas/default")
        return self.client.shared("network.quota_defaults", LISTING_MAX_AGE_S, load)

    def quota_details(self) -> Collection:
        """openstack-exporter's ``quota_<resource>`` (type used, reserved, limit), from
        ``quotas/{p}/details`` per project as it reads them (neutron has no bulk form),
        or with neutron's database configured from ``quotas/{p}/default`` once and four
        queries (:mod:`stackwatch.sources.sql.shortcuts`); not read when
        ``disabled_metrics`` disables them all."""
        if not self.wants(*(f"openstack_neutron_quota_{r}" for r in QUOTA_DETAILS)):
            return Collection()

        def one(project: Project) -> tuple[Project, Mapping[str, Any]]:
            body = self.client.get("network", f"v2.0/quotas/{project.id}/details")
            return project, f.obj(body, "quota", f"neutron quotas/{project.id}/details")

        def by_api() -> tuple[list[tuple[Project, Mapping[str, Any]]],
                              tuple[CheckResult, ...]]:
            return self.per_project("quota_details", one)

        rows, checks = self.from_databases(
            "neutron quota details", lambda db: db.neutron_quotas,
            lambda db: (self._details_from_sql(db), ()), by_api)
        samples: list[Sample] = []
        what = "neutron quotas details"
        for project, quota in rows:
            labels = {"tenant": project.name, "tenant_id": project.id}
            for resource in QUOTA_DETAILS:
                entry = f.obj(quota, resource, what)
                for kind in ("used", "reserved", "limit"):
                    samples.append(self.sample(f"openstack_neutron_quota_{resource}",
                                               f.number(entry, kind, what, 0), type=kind,
                                               **labels))
        return Collection(tuple(samples), checks)

    def _details_from_sql(self, shortcuts: Shortcuts
                          ) -> list[tuple[Project, Mapping[str, Any]]]:
        """The same details from neutron's database, the defaults (neutron.conf's
        ``[QUOTAS]``, which no database holds) from ``quotas/{p}/default``: its keys are
        the resources neutron registered, those ``details`` lists."""
        projects = load_projects(self.client)
        if not projects:
            return []
        defaults = self._quota_defaults(projects)
        limits = {r: f.number(defaults, r, "neutron quotas/default") for r in defaults}
        facts = shortcuts.neutron_quota_facts()
        none: dict[str, float] = {}
        return [(p, {r: {"limit": facts.overrides.get((p.id, r), limit),
                         "used": facts.used.get(p.id, none).get(r, 0.0),
                         "reserved": facts.reserved.get(p.id, none).get(r, 0.0)}
                     for r, limit in limits.items()}) for p in projects]


def _network(cidr: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise InvalidResponse(f"neutron: {cidr!r} is not a CIDR") from None


def _free_blocks(prefix: IPNetwork, taken: Sequence[IPNetwork]) -> list[IPNetwork]:
    """``prefix`` less ``taken``, as the fewest aligned blocks (what is left to cut)."""
    blocks = [prefix]
    for subnet in taken:
        left: list[IPNetwork] = []
        for block in blocks:
            if subnet.version != block.version or not block.overlaps(subnet):
                left.append(block)
            elif subnet.supernet_of(block):  # type: ignore[arg-type]
                continue
            else:
                left.extend(block.address_exclude(subnet))  # type: ignore[arg-type]
        blocks = left
    return list(ipaddress.collapse_addresses(blocks))  # type: ignore[type-var]


def _go_bool(value: bool) -> str:
    """A boolean label value as openstack-exporter writes it (Go's FormatBool)."""
    return "true" if value else "false"


def _joined(item: Mapping[str, Any], key: str, what: str) -> str:
    """A list field as one comma-separated label value (openstack-exporter's form)."""
    return ",".join(str(v) for v in f.items(item, key, what))


def _router_items(source: NetworkSource,
                  hosting: Mapping[str, tuple[HostedRouter, list[Agent]]]) -> tuple[Item, ...]:
    """One item per hosted router, stranded ones (no hosting agent alive) first."""
    items = []
    for router, agents in hosting.values():
        agents = sorted(agents, key=lambda a: a.host)
        alive = [a for a in agents if a.alive]
        dead = [a.host for a in agents if not a.alive]
        message = ""
        if dead:
            message = (f"no L3 agent alive: {', '.join(dead)} dead" if not alive else
                       f"L3 agent dead on {', '.join(dead)}; alive on "
                       f"{', '.join(a.host for a in alive)}")
        items.append(source.item(
            ItemKind.ROUTER, router.id, name=router.name, status=router.status,
            host=",".join(a.host for a in agents), project=router.project_id, message=message,
            l3_agent_ids=",".join(a.id for a in agents), agents_alive=str(len(alive)),
            ha=str(router.ha).lower()))
    items.sort(key=lambda i: (i.attribute("agents_alive") != "0", i.host, i.name, i.id))
    return tuple(items)


def _agent_check(agent: Agent, region: str) -> CheckResult:
    """OK alive; WARNING administratively down; CRITICAL dead (WARNING if also admin down)."""
    labels = make_labels(host=agent.host, binary=agent.binary, region=region)
    what = f"{agent.binary} on {agent.host}"
    if not agent.alive:
        status = Status.CRITICAL if agent.admin_state_up else Status.WARNING
        extra = "" if agent.admin_state_up else " (administratively down)"
        return CheckResult(AGENT_CHECK, status, f"{what} is dead{extra}", labels)
    if not agent.admin_state_up:
        return CheckResult(AGENT_CHECK, Status.WARNING,
                           f"{what} is alive but administratively down", labels)
    return CheckResult(AGENT_CHECK, Status.OK, f"{what} is alive", labels)
