"""Capacity: vCPU, RAM and local disk used and free per hypervisor, availability zone
and aggregate, VMs per compute node, quotas nearest their limit, and free capacity
over time.

The figures are placement's, as ``api.compute`` reads them
(``openstack_nova_{vcpus,memory,local_storage}_{available,used,capacity,free}``):
``capacity = (total - reserved) * allocation_ratio`` is what the scheduler may
allocate, ``free = capacity - used`` (negative when over-allocated). The ratio and
the reserved amount per host are ``api.placement``'s. Trends read the per-zone sums
(``openstack_nova_zone_*_free``): a few series however many hypervisors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, computed_field

from stackwatch.model import Sample
from stackwatch.query.context import Context
from stackwatch.query.quotas import QuotaView, quotas
from stackwatch.query.samples import Point, RangeView, SeriesRange, sample_range
from stackwatch.query.sight import Sight, sight
from stackwatch.query.times import Stamped

#: resource -> (metric stem with unit, placement resource class, unit for display)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "vcpu": ("vcpus_{}", "VCPU", ""),
    "ram": ("memory_{}_bytes", "MEMORY_MB", "bytes"),
    "disk": ("local_storage_{}_bytes", "DISK_GB", "bytes"),
}
_KINDS = ("available", "used", "capacity", "free")
#: hosts listed on the page (fullest first) unless more are asked for
HOSTS_SHOWN = 40
#: quotas listed on the page (nearest their limit first)
QUOTAS_SHOWN = 15
NO_ZONE = "(no zone)"


class Amount(BaseModel):
    """One resource of a host or a group of hosts: ``total`` what the hardware has,
    ``capacity`` what may be allocated (reserved taken off, overcommit applied),
    ``used`` what is allocated, ``free`` what is left (negative: over-allocated);
    ``share`` used of capacity."""

    total: float = 0.0
    capacity: float = 0.0
    used: float = 0.0
    free: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float:
        """Used of capacity (0 when there is no capacity)."""
        return self.used / self.capacity if self.capacity > 0 else 0.0

    def plus(self, other: Amount) -> Amount:
        return Amount(total=self.total + other.total, capacity=self.capacity + other.capacity,
                      used=self.used + other.used, free=self.free + other.free)


class HostCapacity(BaseModel):
    """One hypervisor: its zone, aggregates, servers and each resource with placement's
    allocation ratio and reserved amount (in placement's units: MiB, GiB)."""

    hostname: str
    cloud: str
    availability_zone: str
    aggregates: list[str]
    vms: float | None
    vcpu: Amount | None
    ram: Amount | None
    disk: Amount | None
    allocation_ratio: dict[str, float]
    reserved: dict[str, float]
    fullest: float  # the largest share used of its three resources


class GroupCapacity(BaseModel):
    """A zone, an aggregate or the whole cloud: its hosts' amounts added up."""

    name: str
    hosts: int
    vms: float
    vcpu: Amount
    ram: Amount
    disk: Amount


class CapacityPage(Stamped):
    """Everything the capacity page shows; ``hosts`` fullest first (``hosts_total`` in
    all), ``quotas`` nearest their limit first (``quotas_total`` in all)."""

    cloud: GroupCapacity
    zones: list[GroupCapacity]
    aggregates: list[GroupCapacity]
    hosts: list[HostCapacity]
    hosts_total: int
    quotas: list[QuotaView]
    quotas_total: int
    trends: dict[str, RangeView]
    units: dict[str, str]
    sight: list[Sight]
    start: float
    end: float


def _host_key(sample: Sample) -> tuple[str, str]:
    return sample.label("cloud"), sample.label("hostname")


def hosts(ctx: Context) -> list[HostCapacity]:
    """Every hypervisor with capacity figures, fullest first."""
    amounts: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict))
    labels: dict[tuple[str, str], Sample] = {}
    for resource, (stem, _, _) in RESOURCES.items():
        for kind in _KINDS:
            for sample in ctx.store.latest_samples(f"openstack_nova_{stem.format(kind)}"):
                key = _host_key(sample)
                amounts[key][resource][kind] = sample.value
                labels.setdefault(key, sample)
    vms: dict[tuple[str, str], float] = {}
    for sample in ctx.store.latest_samples("openstack_nova_running_vms"):
        vms[_host_key(sample)] = sample.value
        labels.setdefault(_host_key(sample), sample)  # a host placement has no figures of
    classes = {rc for _, rc, _ in RESOURCES.values()}
    placement: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
    for what in ("allocation_ratio", "reserved"):
        found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for sample in ctx.store.latest_samples(f"openstack_placement_resource_{what}"):
            if sample.label("resourcetype") in classes:
                found[_host_key(sample)][sample.label("resourcetype")] = sample.value
        placement[what] = found
    out = []
    for key, sample in labels.items():
        per = amounts.get(key, {})
        parts = {r: Amount(**{("total" if k == "available" else k): v
                              for k, v in per[r].items()}) if r in per else None
                 for r in RESOURCES}
        out.append(HostCapacity(
            hostname=key[1], cloud=key[0],
            availability_zone=sample.label("availability_zone"),
            aggregates=[a for a in sample.label("aggregates").split(",") if a],
            vms=vms.get(key), vcpu=parts["vcpu"], ram=parts["ram"], disk=parts["disk"],
            allocation_ratio=placement["allocation_ratio"].get(key, {}),
            reserved=placement["reserved"].get(key, {}),
            fullest=max((a.share for a in parts.values() if a is not None), default=0.0)))
    out.sort(key=lambda h: (-h.fullest, h.cloud, h.hostname))
    return out


def _group(name: str, members: Iterable[HostCapacity]) -> GroupCapacity:
    group = GroupCapacity(name=name, hosts=0, vms=0.0, vcpu=Amount(), ram=Amount(),
                          disk=Amount())
    for host in members:
        group.hosts += 1
        group.vms += host.vms or 0.0
        group.vcpu = group.vcpu.plus(host.vcpu or Amount())
        group.ram = group.ram.plus(host.ram or Amount())
        group.disk = group.disk.plus(host.disk or Amount())
    return group


def groups(found: list[HostCapacity]) -> tuple[GroupCapacity, list[GroupCapacity],
                                                list[GroupCapacity]]:
    """The cloud, its zones and its aggregates (a host may be in several aggregates)."""
    zones: dict[str, list[HostCapacity]] = defaultdict(list)
    aggregates: dict[str, list[HostCapacity]] = defaultdict(list)
    for host in found:
        zones[host.availability_zone or NO_ZONE].append(host)
        for aggregate in host.aggregates:
            aggregates[aggregate].append(host)
    return (_group("cloud", found), [_group(z, m) for z, m in sorted(zones.items())],
            [_group(a, m) for a, m in sorted(aggregates.items())])


def trend(ctx: Context, resource: str, start: float, end: float) -> RangeView:
    """Free ``resource`` over ``[start, end]``: the cloud's (the zones added up per
    bucket) and, with more than one zone, each zone's."""
    stem = RESOURCES[resource][0].format("free")
    name = f"openstack_nova_zone_{stem}"
    view = sample_range(ctx, name, start, end, step=(end - start) / 240)
    total: dict[float, float] = defaultdict(float)
    zones: dict[str, list[Point]] = {}
    for series in view.series:
        zone = series.labels.get("availability_zone") or NO_ZONE
        if "cloud" in series.labels:
            zone = f"{series.labels['cloud']}/{zone}"
        zones[zone] = series.points
        for point in series.points:
            if point.v is not None:
                total[point.t] += point.v
    out = [SeriesRange(name=name, labels={"zone": "cloud"},
                       points=[Point(t=t, v=v) for t, v in sorted(total.items())])]
    if len(zones) > 1:
        out += [SeriesRange(name=name, labels={"zone": z}, points=p)
                for z, p in sorted(zones.items())]
    return RangeView(name=name, start=start, end=end, step=view.step, series=out)


def capacity_page(ctx: Context, seconds: float, hosts_shown: int = HOSTS_SHOWN
                  ) -> CapacityPage:
    """The capacity page over the last ``seconds``; ``hosts_shown`` 0: every host."""
    found = hosts(ctx)
    cloud, zones, aggregates = groups(found)
    nearest = quotas(ctx)
    checks = ctx.checks()
    start = ctx.now - seconds
    return CapacityPage(
        timestamp=ctx.now, cloud=cloud, zones=zones, aggregates=aggregates,
        hosts=found[:hosts_shown] if hosts_shown else found, hosts_total=len(found),
        quotas=nearest.limited(QUOTAS_SHOWN),
        quotas_total=len(nearest),
        trends={r: trend(ctx, r, start, ctx.now) for r in RESOURCES},
        units={r: unit for r, (_, _, unit) in RESOURCES.items()},
        sight=[s for s in (sight(checks, "api.compute", "capacity"),
                           sight(checks, "api.compute", "quotas"),
                           sight(checks, "api.network", "quotas"),
                           sight(checks, "api.block_storage", "quotas")) if s.blind],
        start=start, end=ctx.now)
