"""``api.compute``: nova services, hypervisors, capacity, servers, flavors, aggregates, quotas.

Calls per collection (N servers, H hypervisors, P projects):
``os-services`` 1 (each service's state and heartbeat: ``nova.heartbeat``, its age
against ``report_interval`` on the API's clock); ``servers/detail`` ceil(N/1000) every
600 s, and in between only the servers changed since the previous run
(``changes-since``: :mod:`.server_listing`);
``os-hypervisors/detail`` ceil(H/1000) (paginated from 2.33); ``flavors/detail`` 1;
``os-aggregates`` 1; ``os-availability-zone`` 1; every ``quotas`` interval (600 s) one
``os-quota-sets/{p}/detail`` per project (nova has no bulk quota API; with the
``nova_api``, ``nova`` and ``nova_cell0`` databases configured, one
``os-quota-sets/{p}/defaults`` and four queries instead: ``sources/sql/shortcuts.py``), and every
``usage`` interval (3600 s) ``os-simple-tenant-usage`` ceil(P/1000). The instances'
actions, faults and migrations: :mod:`.compute_life` (``instance_actions``, ``migrations``).

Capacity (vCPU / RAM / disk per hypervisor) comes from placement alone
(inventories and usages, shared with ``api.placement``): it is the only place that
knows the reserved amount and the allocation ratio, and the one the scheduler
obeys. Every microversion gives the same four figures per resource class, which
hold together by construction:

* ``*_available`` -- inventory ``total``: what the hypervisor has, before reserved
  and overcommit (openstack-exporter's meaning: ``os-hypervisors`` ``vcpus``,
  ``memory_mb``, ``local_gb``, which nova reports to placement as ``total``);
* ``*_used`` -- placement usage: what the instances' allocations take;
* ``*_capacity`` -- ``(total - reserved) * allocation_ratio``: what may be allocated;
* ``*_free`` -- ``capacity - used``: what is still schedulable (negative when
  over-allocated after a ratio was lowered).

``os-hypervisors`` ``memory_mb_used``/``local_gb_used`` (< 2.88) are not used: nova's
resource tracker counts the host's reserved memory and disk in them, so they would
not add up with placement's figures. The free amounts are also summed per availability
zone (``openstack_nova_zone_*_free``), so that a trend over a week reads a few series,
not one per hypervisor.

Items (no call of their own): every server in ERROR with its fault (``servers/detail``
gives ``fault`` for ERROR servers: message, code, created), newest first; every
hypervisor with its state, status, zone and aggregates.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwatch.config import HeartbeatConfig, LatencyConfig, LifecycleConfig
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
from stackwatch.sources.openstack_api.changed import PerItem
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.openstack_api.compute_life import ComputeLife
from stackwatch.sources.openstack_api.identity_projects import Project, load_projects
from stackwatch.sources.openstack_api.placement import load_providers
from stackwatch.sources.openstack_api.server_listing import FULL_EVERY_S, ServerListing
from stackwatch.sources.resources import Resource

if TYPE_CHECKING:  # a runtime import would be circular (sql.nova imports .compute)
    from stackwatch.sources.sql.shortcuts import Shortcuts

MIB = 1024 * 1024
GIB = 1024 * MIB

SERVICE_CHECK = "nova.service"
#: nova's quota resources, each an openstack-exporter ``quota_<resource>`` metric
NOVA_QUOTAS = ("cores", "instances", "key_pairs", "metadata_items", "ram", "server_groups",
               "server_group_members", "fixed_ips", "floating_ips", "security_group_rules",
               "security_groups", "injected_file_content_bytes", "injected_file_path_bytes",
               "injected_files")
#: openstack-exporter's server statuses (nova.go server_status): ``server_status`` is the
#: index of a server's status, -1 for another
SERVER_STATUSES = ("ACTIVE", "BUILD", "BUILD(spawning)", "DELETED", "ERROR", "HARD_REBOOT",
                   "PASSWORD", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "SHUTOFF", "SUSPENDED",
                   "UNKNOWN", "VERIFY_RESIZE", "MIGRATING", "PAUSED", "REVERT_RESIZE",
                   "SHELVED", "SHELVED_OFFLOADED", "SOFT_DELETED")
_SERVER_STATUS_INDEX = {status: index for index, status in enumerate(SERVER_STATUSES)}
#: heartbeat late (sources/heartbeat.py): ``updated_at`` against ``report_interval``
HEARTBEAT_CHECK = "nova.heartbeat"


@dataclass(frozen=True, slots=True)
class NovaService:
    """One row of ``os-services``."""

    id: str
    binary: str
    host: str
    zone: str
    status: str            # enabled | disabled
    state: str             # up | down
    forced_down: bool
    disabled_reason: str
    updated: float | None = None   # its latest heartbeat (``updated_at``)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> NovaService:
        what = "nova os-services"
        return cls(f.text(d, "id", what), f.text(d, "binary", what), f.text(d, "host", what),
                   f.text(d, "zone", what, ""), f.text(d, "status", what),
                   f.text(d, "state", what), f.flag(d, "forced_down", what, False),
                   f.text(d, "disabled_reason", what, ""), f.timestamp(d, "updated_at", what))


@dataclass(frozen=True, slots=True)
class Hypervisor:
    """One hypervisor of ``os-hypervisors/detail``; ``running_vms`` is None from 2.88.

    Its resource fields (< 2.88) are not read: capacity comes from placement.
    """

    id: str
    hostname: str
    host: str
    state: str
    status: str
    running_vms: float | None
    current_workload: float | None = None   # < 2.88, as the two below
    free_disk_gb: float | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Hypervisor:
        what = "nova os-hypervisors"
        service = f.obj(d, "service", what)
        hostname = f.text(d, "hypervisor_hostname", what)
        return cls(f.text(d, "id", what), hostname, f.text(service, "host", what, hostname),
                   f.text(d, "state", what, ""), f.text(d, "status", what, ""),
                   f.optional_number(d, "running_vms", what),
                   f.optional_number(d, "current_workload", what),
                   f.optional_number(d, "free_disk_gb", what))


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a server is in ERROR, as nova recorded it (``fault`` of ``servers/detail``)."""

    message: str
    code: str
    created: float | None


@dataclass(frozen=True, slots=True)
class Server:
    """What stackwatch keeps of one server of ``servers/detail``; ``fault`` and
    ``updated`` are read for servers in ERROR only."""

    id: str
    project_id: str
    status: str
    node: str
    flavor: str
    name: str = ""
    host: str = ""
    fault: Fault | None = None
    updated: float | None = None
    user_id: str = ""
    access_ipv4: str = ""
    access_ipv6: str = ""
    host_id: str = ""
    zone: str = ""
    instance_name: str = ""
    flavor_id: str = ""   # before 2.47 only (then the flavor is embedded, by name)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Server:
        what = "nova servers/detail"
        flavor = f.obj(d, "flavor", what)
        # 2.47+: the flavor is embedded (original_name); before, only its id.
        name = f.text(flavor, "original_name", what, "") or f.text(flavor, "id", what, "")
        status = f.text(d, "status", what, "UNKNOWN")
        fault = None
        updated = None
        if status == "ERROR":
            raw = f.obj(d, "fault", what)
            if raw:
                # "details" (a traceback, admins only) is left out: the message says it
                fault = Fault(f.text(raw, "message", what, ""), f.text(raw, "code", what, ""),
                              f.timestamp(raw, "created", what))
            updated = f.timestamp(d, "updated", what)
        return cls(f.text(d, "id", what), f.text(d, "tenant_id", what, ""), status,
                   f.text(d, "OS-EXT-SRV-ATTR:hypervisor_hostname", what, ""), name,
                   f.text(d, "name", what, ""), f.text(d, "OS-EXT-SRV-ATTR:host", what, ""),
                   fault, updated, f.text(d, "user_id", what, ""),
                   f.text(d, "accessIPv4", what, ""), f.text(d, "accessIPv6", what, ""),
                   f.text(d, "hostId", what, ""),
                   f.text(d, "OS-EXT-AZ:availability_zone", what, ""),
                   f.text(d, "OS-EXT-SRV-ATTR:instance_name", what, ""),
                   f.text(flavor, "id", what, ""))

    @property
    def since(self) -> float | None:
        """When it went wrong: its fault's time, else its last update."""
        if self.fault is not None and self.fault.created is not None:
            return self.fault.created
        return self.updated


@dataclass(frozen=True, slots=True)
class Flavor:
    """One flavor of ``flavors/detail``."""

    id: str
    name: str
    vcpus: float
    ram: float
    disk: float
    is_public: bool

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Flavor:
        what = "nova flavors/detail"
        return cls(f.text(d, "id", what), f.text(d, "name", what), f.number(d, "vcpus", what, 0),
                   f.number(d, "ram", what, 0), f.number(d, "disk", what, 0),
                   f.flag(d, "os-flavor-access:is_public", what, True))


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A host aggregate: name, AZ (may be empty) and member hosts."""

    name: str
    availability_zone: str
    hosts: tuple[str, ...]

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Aggregate:
        what = "nova os-aggregates"
        return cls(f.text(d, "name", what), f.text(d, "availability_zone", what, ""),
                   tuple(str(h) for h in f.items(d, "hosts", what)))


@dataclass(frozen=True, slots=True)
class QuotaDetail:
    """``os-quota-sets/{p}/detail`` for one project: limit and in-use per resource."""

    project: Project
    limits: Mapping[str, float]
    in_use: Mapping[str, float]
    reserved: Mapping[str, float]

    @classmethod
    def from_api(cls, project: Project, d: Mapping[str, Any]) -> QuotaDetail:
        what = f"nova os-quota-sets/{project.id}/detail"
        body = f.obj(d, "quota_set", what)
        limits: dict[str, float] = {}
        in_use: dict[str, float] = {}
        reserved: dict[str, float] = {}
        for key in ("cores", "ram", "instances"):
            entry = f.obj(body, key, what)
            limits[key] = f.number(entry, "limit", what)
        # those nova removed (2.36: fixed_ips, floating_ips, security_group*; 2.57:
        # injected_file*) are absent: 0, as openstack-exporter reads them
        for key in NOVA_QUOTAS:
            entry = f.obj(body, key, what)
            limits.setdefault(key, f.number(entry, "limit", what, 0.0))
            in_use[key] = f.number(entry, "in_use", what, 0.0)
            reserved[key] = f.number(entry, "reserved", what, 0.0)
        return cls(project, limits, in_use, reserved)


class ComputeSource(ApiSource):
    """Nova through its API."""

    service_type = "compute"
    codename = "nova"

    def __init__(self, client: ApiClient, intervals: Mapping[str, float] | None = None,
                 latency: LatencyConfig | None = None, heartbeat: HeartbeatConfig | None = None,
                 lifecycle: LifecycleConfig | None = None,
                 disabled_metrics: Sequence[str] = ()) -> None:
        super().__init__(client, intervals, latency, heartbeat, disabled_metrics)
        self.life = ComputeLife(client, lifecycle)
        #: a full listing every ``intervals["api.compute.servers_full"]`` s (600), the
        #: servers changed since the last read in between
        self.listing = ServerListing(client, Server.from_api, lambda s: s.id,
                                     lambda s: s.status,
                                     self.interval("servers_full", FULL_EVERY_S))
        self._flavor_ids: dict[str, str] = {}
        self._status_labels = PerItem(self._status_label)

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("services", self.services, self.interval("services")),
            Resource("servers", self.servers, self.interval("servers")),
            Resource("hypervisors", self.hypervisors, self.interval("hypervisors")),
            Resource("capacity", self.capacity, self.interval("capacity")),
            Resource("flavors", self.flavors, self.interval("flavors", 300)),
            Resource("aggregates", self.aggregates, self.interval("aggregates", 300)),
            Resource("quotas", self.quotas, self.interval("quotas", 600)),
            Resource("usage", self.usage, self.interval("usage", 3600)),
            Resource("instance_actions", self.life.instance_actions,
                     self.interval("instance_actions")),
            Resource("migrations", self.life.migrations, self.interval("migrations")),
        )

    # ------------------------------------------------------------------ loaders
    def _mv(self) -> tuple[int, int]:
        return self.client.endpoint("compute").microversion or (2, 1)

    def _servers(self) -> list[Server]:
        return self.client.shared("compute.servers", 5.0, self.listing.read)

    def _flavors(self) -> list[Flavor]:
        def load() -> list[Flavor]:
            return [Flavor.from_api(d) for d in self.client.list_all(
                "compute", "flavors/detail", "flavors", params={"is_public": "None"})]
        return self.client.shared("compute.flavors", 5.0, load)

    def _aggregates(self) -> list[Aggregate]:
        def load() -> list[Aggregate]:
            body = self.client.get("compute", "os-aggregates")
            return [Aggregate.from_api(a) for a in f.items(body, "aggregates", "os-aggregates")]
        return self.client.shared("compute.aggregates", 5.0, load)

    def _hypervisors(self) -> list[Hypervisor]:
        def load() -> list[Hypervisor]:
            # Pagination of os-hypervisors exists from 2.33 on.
            size = None if self._mv() >= (2, 33) else 0
            return [Hypervisor.from_api(h) for h in self.client.list_all(
                "compute", "os-hypervisors/detail", "hypervisors", page_size=size)]
        return self.client.shared("compute.hypervisors", 5.0, load)

    def _host_labels(self) -> dict[str, tuple[str, str]]:
        """host -> (availability_zone, "agg1,agg2"), as openstack-exporter labels them."""
        zones: dict[str, str] = {}
        groups: dict[str, list[str]] = defaultdict(list)
        for agg in self._aggregates():
            for host in agg.hosts:
                if agg.availability_zone:
                    zones[host] = agg.availability_zone
                groups[host].append(agg.name)
        return {h: (zones.get(h, ""), ",".join(sorted(groups.get(h, ()))))
                for h in set(zones) | set(groups)}

    # ------------------------------------------------------------------ resources
    def services(self) -> Collection:
        body = self.client.get("compute", "os-services")
        rows = [NovaService.from_api(s) for s in f.items(body, "services", "os-services")]
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        for s in rows:
            samples.append(self.sample(
                "openstack_nova_agent_state", 1 if s.state == "up" else 0, id=s.id,
                hostname=s.host, service=s.binary, adminState=s.status, zone=s.zone,
                disabledReason=s.disabled_reason))
            samples.append(self.sample("openstack_nova_service_forced_down",
                                       1 if s.forced_down else 0, hostname=s.host,
                                       service=s.binary, zone=s.zone))
            checks.append(_service_check(SERVICE_CHECK, s.host, s.binary, s.state, s.status,
                                         s.disabled_reason, s.forced_down, self.region_label))
            age = self.heartbeat_age(s.updated)
            if age is not None:
                samples.append(self.sample("openstack_nova_service_heartbeat_age_seconds", age,
                                           hostname=s.host, service=s.binary, zone=s.zone))
            checks.append(heartbeat_check(
                HEARTBEAT_CHECK, host=s.host, binary=s.binary, age=age,
                interval=self.heartbeat.nova_report_interval,
                says_up=s.state == "up" and not s.forced_down, enabled=s.status != "disabled",
                region=self.region_label))
        return Collection(tuple(samples), tuple(checks))

    def servers(self) -> Collection:
        servers = self._servers()
        by_status = Counter(s.status for s in servers)
        by_flavor = Counter(s.flavor for s in servers)
        samples = [self.sample("openstack_nova_total_vms", len(servers))]
        samples += [self.sample("openstack_nova_servers", n, status=st)
                    for st, n in sorted(by_status.items())]
        samples += [self.sample("openstack_nova_flavor_servers", n, flavor=name)
                    for name, n in sorted(by_flavor.items())]
        samples += self._server_status(servers)
        errors = sorted((s for s in servers if s.status == "ERROR"),
                        key=lambda s: -(s.since or 0.0))  # newest first: kept by the cap
        items = tuple(self.item(
            ItemKind.SERVER, s.id, name=s.name, status=s.status, host=s.host or s.node,
            project=s.project_id, message=s.fault.message if s.fault else "", since=s.since,
            fault_code=s.fault.code if s.fault else "", node=s.node, flavor=s.flavor)
            for s in errors)
        return Collection(tuple(samples), items=items)

    def _server_status(self, servers: Sequence[Server]) -> list[Sample]:
        """openstack-exporter's ``server_status``, one per server: the index of its status.
        From 2.47 a server names its flavor, not its id: the id is found by name, as
        openstack-exporter does (flavor names are unique)."""
        ids = {fl.name: fl.id for fl in self._flavors()} if any(
            not s.flavor_id for s in servers) else {}
        if ids != self._flavor_ids:  # the labels name them: made again
            self._status_labels = PerItem(self._status_label)
            self._flavor_ids = ids
        now = time.time()
        return [Sample("openstack_nova_server_status", value, labels, now)
                for value, labels in self._status_labels(servers)]

    def _status_label(self, s: Server) -> tuple[float, Labels]:
        """A server's ``server_status`` value and labels (made once per change: the
        listing keeps the servers that did not change)."""
        return float(_SERVER_STATUS_INDEX.get(s.status, -1)), make_labels(
            id=s.id, status=s.status, name=s.name, tenant_id=s.project_id,
            user_id=s.user_id, address_ipv4=s.access_ipv4, address_ipv6=s.access_ipv6,
            host_id=s.host_id, hypervisor_hostname=s.node, uuid=s.id,
            availability_zone=s.zone, flavor_id=s.flavor_id or self._flavor_ids.get(s.flavor, ""),
            instance_libvirt=s.instance_name, region=self.region_label)

    def _legacy_hypervisors(self, hypervisors: list[Hypervisor]) -> dict[str, Hypervisor]:
        """By hostname, with ``current_workload`` and ``free_disk_gb``: the answer itself
        before 2.88; from 2.88, which dropped them, one more ``os-hypervisors/detail`` at
        nova's base microversion (2.1: no pagination), as openstack-exporter reads them
        (at 2.87)."""
        if all(h.current_workload is not None for h in hypervisors):
            return {h.hostname: h for h in hypervisors}
        body = self.client.get("compute", "os-hypervisors/detail", microversion=False)
        return {h.hostname: h for h in (Hypervisor.from_api(d) for d in f.items(
            body, "hypervisors", "nova os-hypervisors at 2.1"))}

    def hypervisors(self) -> Collection:
        hypervisors = self._hypervisors()
        counted: Counter[str] = Counter()
        if any(h.running_vms is None for h in hypervisors):
            counted = Counter(s.node for s in self._servers())
        hosts = self._host_labels()
        legacy = self._legacy_hypervisors(hypervisors)
        samples = []
        items: list[Item] = []
        for h in hypervisors:
            zone, aggs = hosts.get(h.host, ("", ""))
            vms = h.running_vms if h.running_vms is not None else counted[h.hostname]
            samples.append(self.sample("openstack_nova_running_vms", vms, hostname=h.hostname,
                                       availability_zone=zone, aggregates=aggs))
            old = legacy.get(h.hostname)
            if old is not None:
                samples.append(self.sample(
                    "openstack_nova_current_workload", old.current_workload or 0.0,
                    hostname=h.hostname, availability_zone=zone, aggregates=aggs))
                samples.append(self.sample(
                    "openstack_nova_free_disk_bytes", (old.free_disk_gb or 0.0) * GIB,
                    hostname=h.hostname, availability_zone=zone, aggregates=aggs))
            items.append(self.item(ItemKind.HYPERVISOR, h.id, name=h.hostname, status=h.state,
                                   host=h.host, admin_status=h.status, availability_zone=zone,
                                   aggregates=aggs))
        samples.append(self.sample("openstack_nova_hypervisors", len(hypervisors)))
        return Collection(tuple(samples), items=tuple(items))

    def capacity(self) -> Collection:
        hypervisors = self._hypervisors()
        hosts = self._host_labels()
        # placement failing: capacity is UNKNOWN
        loaded = load_providers(self.client, self.shortcuts)
        providers = {p.name: p for p in loaded.read}
        samples: list[Sample] = []
        zone_free: defaultdict[tuple[str, str], float] = defaultdict(float)
        for h in hypervisors:
            provider = providers.get(h.hostname)
            if provider is None:
                continue  # a hypervisor without a resource provider yet
            zone, aggs = hosts.get(h.host, ("", ""))
            labels = {"hostname": h.hostname, "availability_zone": zone, "aggregates": aggs}
            for rc, (stem, unit, scale) in _CAPACITY.items():
                inv = provider.inventories.get(rc)
                if inv is None:
                    continue
                for kind, amount in (("available", inv.total), ("used", inv.used),
                                     ("capacity", inv.capacity), ("free", inv.free)):
                    samples.append(self.sample(f"openstack_nova_{stem}_{kind}{unit}",
                                               amount * scale, **labels))
                zone_free[(f"openstack_nova_zone_{stem}_free{unit}", zone)] += inv.free * scale
        samples += [self.sample(name, amount, availability_zone=zone)
                    for (name, zone), amount in sorted(zone_free.items())]
        return Collection(tuple(samples),
                          loaded.partial(self.name, self.region_label, "capacity"))

    def flavors(self) -> Collection:
        rows = self._flavors()
        samples = [self.sample("openstack_nova_flavors", len(rows))]
        samples += [self.sample("openstack_nova_flavor", 1, id=fl.id, name=fl.name,
                                vcpus=f"{fl.vcpus:.0f}", ram=f"{fl.ram:.0f}",
                                disk=f"{fl.disk:.0f}", is_public=str(fl.is_public).lower())
                    for fl in rows]
        return Collection(tuple(samples))

    def aggregates(self) -> Collection:
        aggs = self._aggregates()
        body = self.client.get("compute", "os-availability-zone")
        zones = f.items(body, "availabilityZoneInfo", "os-availability-zone")
        samples = [self.sample("openstack_nova_aggregates", len(aggs)),
                   self.sample("openstack_nova_availability_zones", len(zones))]
        samples += [self.sample("openstack_nova_aggregate_hosts", len(a.hosts),
                                aggregate=a.name, availability_zone=a.availability_zone)
                    for a in aggs]
        for zone in zones:
            if not isinstance(zone, Mapping):
                raise InvalidResponse("os-availability-zone: an entry is not an object")
            state = f.obj(zone, "zoneState", "os-availability-zone")
            samples.append(self.sample(
                "openstack_nova_availability_zone_available",
                1 if f.flag(state, "available", "os-availability-zone", False) else 0,
                zone=f.text(zone, "zoneName", "os-availability-zone")))
        return Collection(tuple(samples))

    def quotas(self) -> Collection:
        def one(project: Project) -> QuotaDetail:
            body = self.client.get("compute", f"os-quota-sets/{project.id}/detail")
            return QuotaDetail.from_api(project, body)

        def by_api() -> tuple[list[QuotaDetail], tuple[CheckResult, ...]]:
            return self.per_project("quotas", one)

        def by_sql(db: Shortcuts) -> tuple[list[QuotaDetail], tuple[CheckResult, ...]]:
            # several cells: their instances are in databases not configured here
            return (self._quotas_from_sql(db), ()) if db.one_cell() else by_api()

        quotas, checks = self.from_databases("nova quotas", lambda db: db.nova_quotas,
                                             by_sql, by_api)
        samples: list[Sample] = []
        for quota in quotas:
            labels = {"tenant": quota.project.name, "tenant_id": quota.project.id}
            for key, metric in (("cores", "vcpus"), ("ram", "memory"),
                                ("instances", "instances")):
                samples.append(self.sample(f"openstack_nova_limits_{metric}_max",
                                           quota.limits[key], **labels))
                samples.append(self.sample(f"openstack_nova_limits_{metric}_used",
                                           quota.in_use[key], **labels))
            for key in NOVA_QUOTAS:
                for kind, values in (("in_use", quota.in_use), ("reserved", quota.reserved),
                                     ("limit", quota.limits)):
                    samples.append(self.sample(f"openstack_nova_quota_{key}", values[key],
                                               type=kind, **labels))
        return Collection(tuple(samples), checks)

    def _quotas_from_sql(self, shortcuts: Shortcuts) -> list[QuotaDetail]:
        """The same details from nova's databases, the defaults from one request
        (``os-quota-sets/{p}/defaults``: nova.conf's, which no database holds)."""
        projects = load_projects(self.client)
        if not projects:
            return []
        body = self.client.get("compute", f"os-quota-sets/{projects[0].id}/defaults")
        what = "nova os-quota-sets defaults"
        defaults = f.obj(body, "quota_set", what)
        base = {key: f.number(defaults, key, what) for key in ("cores", "ram", "instances")}
        # those this microversion no longer has are absent: 0, as from the detail
        base.update({key: f.number(defaults, key, what, 0.0) for key in NOVA_QUOTAS
                     if key not in base})
        facts = shortcuts.nova_quota_facts(NOVA_QUOTAS)
        groups = self._server_groups_per_project()
        none: dict[str, float] = {}
        zero = dict.fromkeys(NOVA_QUOTAS, 0.0)
        # in use as nova counts a project's: instances, cores and RAM from its instances,
        # server groups from their listing; key pairs and group members are per user
        # and per group, 0 for a project; nothing is reserved since Pike
        return [QuotaDetail(
            p, {k: facts.overrides.get((p.id, k), base[k]) for k in NOVA_QUOTAS},
            {**zero, **facts.in_use.get(p.id, none),
             "server_groups": float(groups.get(p.id, 0))}, zero) for p in projects]

    def _server_groups_per_project(self) -> Counter[str]:
        """Server groups per project, from one listing of every project's."""
        return Counter(f.text(group, "project_id", "nova os-server-groups")
                       for group in self.client.list_all(
                           "compute", "os-server-groups", "server_groups",
                           params={"all_projects": "True"}))

    def usage(self) -> Collection:
        """Usage of the last 24 h per project. From 2.40 nova pages by *instance*, so a
        project whose servers span pages comes once per page with part of its totals:
        the parts are added up."""
        end = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = end - dt.timedelta(days=1)
        params = {"start": start.isoformat(), "end": end.isoformat(), "detailed": 1}
        size = None if self._mv() >= (2, 40) else 0  # paginated from 2.40
        what = "nova os-simple-tenant-usage"
        totals: dict[str, list[float]] = {}
        samples = []
        for row in self.client.list_all("compute", "os-simple-tenant-usage", "tenant_usages",
                                        params=params, page_size=size):
            tenant = f.text(row, "tenant_id", what)
            parts = totals.setdefault(tenant, [0.0, 0.0, 0.0])
            for index, key in enumerate(("total_vcpus_usage", "total_memory_mb_usage",
                                         "total_hours")):
                parts[index] += f.number(row, key, what, 0)
            # openstack-exporter's server_local_gb: the servers that still exist (it asks
            # for the usage of this instant, nova's default period)
            samples += [self.sample("openstack_nova_server_local_gb",
                                    f.number(u, "local_gb", what, 0),
                                    name=f.text(u, "name", what, ""),
                                    id=f.text(u, "instance_id", what), tenant_id=tenant)
                        for u in f.items(row, "server_usages", what)
                        if isinstance(u, Mapping) and u.get("ended_at") is None]
        for tenant, (vcpu_hours, memory_mb_hours, hours) in totals.items():
            samples += [
                self.sample("openstack_nova_tenant_usage_vcpu_hours", vcpu_hours,
                            tenant_id=tenant),
                self.sample("openstack_nova_tenant_usage_memory_mb_hours", memory_mb_hours,
                            tenant_id=tenant),
                self.sample("openstack_nova_tenant_usage_hours", hours, tenant_id=tenant),
            ]
        return Collection(tuple(samples))


#: placement resource class -> (metric stem, unit suffix, scale to base units)
_CAPACITY: dict[str, tuple[str, str, float]] = {
    "VCPU": ("vcpus", "", 1),
    "MEMORY_MB": ("memory", "_bytes", MIB),
    "DISK_GB": ("local_storage", "_bytes", GIB),
}


def _service_check(name: str, host: str, binary: str, state: str, status: str,
                   reason: str, forced_down: bool, region: str) -> CheckResult:
    """OK up and enabled; WARNING disabled (maintenance); CRITICAL down or forced down."""
    labels = make_labels(host=host, binary=binary, region=region)
    what = f"{binary} on {host}"
    if forced_down:
        return CheckResult(name, Status.CRITICAL, f"{what} is forced down", labels)
    if state != "up":
        extra = f" (disabled: {reason or 'no reason given'})" if status == "disabled" else ""
        return CheckResult(name, Status.CRITICAL if status != "disabled" else Status.WARNING,
                           f"{what} is down{extra}", labels)
    if status == "disabled":
        return CheckResult(name, Status.WARNING,
                           f"{what} is up but disabled: {reason or 'no reason given'}", labels)
    return CheckResult(name, Status.OK, f"{what} is up", labels)
