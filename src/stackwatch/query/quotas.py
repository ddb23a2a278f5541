"""Quotas against usage, per project and resource, nearest their limit first.

From the API sources' ``*_limits_*_max`` / ``*_used`` samples (nova: cores, RAM,
instances; neutron: networks, subnets, ports, routers, floating IPs, security
groups; cinder: gigabytes), read every quotas interval (600 s by default). A big
cloud has tens of thousands (3,000 projects, 10 resources each): they are sorted as
plain tuples and a view is built only for the part a page or an API page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, overload

from stackwatch.query.context import Context
from stackwatch.query.times import Stamped

#: (service, resource, unit, limit metric, usage metric)
QUOTAS: tuple[tuple[str, str, str, str, str], ...] = (
    ("nova", "cores", "", "openstack_nova_limits_vcpus_max", "openstack_nova_limits_vcpus_used"),
    ("nova", "ram", "MiB", "openstack_nova_limits_memory_max",
     "openstack_nova_limits_memory_used"),
    ("nova", "instances", "", "openstack_nova_limits_instances_max",
     "openstack_nova_limits_instances_used"),
    *((("neutron", resource, "", f"openstack_neutron_limits_{word}_max",
        f"openstack_neutron_limits_{word}_used"))
      for resource, word in (("network", "networks"), ("subnet", "subnets"),
                             ("port", "ports"), ("router", "routers"),
                             ("floatingip", "floating_ips"),
                             ("security_group", "security_groups"))),
    ("cinder", "gigabytes", "GiB", "openstack_cinder_limits_volume_max_gb",
     "openstack_cinder_limits_volume_used_gb"),
)


class QuotaView(Stamped):
    """One project's quota of one resource and what it uses of it.

    ``limit`` is null when unlimited (-1). ``share`` is ``used / limit``: null when
    unlimited, or when the limit is 0 and nothing is used (a project kept from a
    resource on purpose).
    """

    service: str
    resource: str
    unit: str
    project: str
    project_id: str
    region: str
    limit: float | None
    used: float
    share: float | None


class _Row(NamedTuple):
    service: str
    resource: str
    unit: str
    project: str
    project_id: str
    region: str
    limit: float
    used: float
    share: float | None
    timestamp: float

    def view(self) -> QuotaView:
        return QuotaView(service=self.service, resource=self.resource, unit=self.unit,
                         project=self.project, project_id=self.project_id,
                         region=self.region, limit=None if self.limit < 0 else self.limit,
                         used=self.used, share=self.share, timestamp=self.timestamp)


class Quotas(Sequence[QuotaView]):
    """Quotas in order; an index or a slice builds the views it returns."""

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> QuotaView: ...

    @overload
    def __getitem__(self, index: slice) -> list[QuotaView]: ...

    def __getitem__(self, index: int | slice) -> QuotaView | list[QuotaView]:
        if isinstance(index, slice):
            return [row.view() for row in self._rows[index]]
        return self._rows[index].view()

    def limited(self, count: int) -> list[QuotaView]:
        """The first ``count`` that have a limit (unlimited ones sort last)."""
        return [row.view() for row in self._rows[:count] if row.share is not None]


def _share(limit: float, used: float) -> float | None:
    if limit < 0:
        return None
    if limit == 0:
        return 1.0 if used > 0 else None
    return used / limit


def quotas(ctx: Context, project: str = "", service: str = "", resource: str = "") -> Quotas:
    """Every project's quotas with usage, the largest share used first (unlimited last);
    ``project`` matches a project's name or id."""
    rows = []
    for svc, res, unit, limit_name, used_name in QUOTAS:
        if (service and service != svc) or (resource and resource != res):
            continue
        used = {s.labels: s.value for s in ctx.store.latest_samples(used_name)}
        for sample in ctx.store.latest_samples(limit_name):
            name, pid = sample.label("tenant"), sample.label("tenant_id")
            if project and project not in (name, pid):
                continue
            in_use = used.get(sample.labels, 0.0)
            rows.append(_Row(svc, res, unit, name, pid, sample.label("region"), sample.value,
                             in_use, _share(sample.value, in_use), sample.timestamp))
    rows.sort(key=lambda q: (q.share is None, -(q.share or 0.0), q.project, q.service,
                             q.resource))
    return Quotas(rows)


def project_names(ctx: Context) -> dict[str, str]:
    """Project id -> name, as the quota samples carry them (``tenant_id``, ``tenant``)."""
    return {s.label("tenant_id"): s.label("tenant")
            for s in ctx.store.latest_samples("openstack_nova_limits_instances_max")
            if s.label("tenant")}
