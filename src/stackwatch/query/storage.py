"""Storage: volumes and snapshots by status over time, the stuck ones, cinder's
services and its pools.

``api.block_storage`` lists every volume and snapshot out of its resting status
(``available``/``in-use``) as an item with the time of its last change
(``updated_at``). One that has stayed so longer than a threshold (30 min unless
asked otherwise) is *stuck*: a delete that never finished, a create that hangs, an
``error_deleting`` nobody cleared. Younger ones are under way.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, computed_field

from stackwatch.model import CheckResult, ItemKind, Sample
from stackwatch.query.compute import SERVICES_SHOWN, ServiceRow, service_rows
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import ItemView
from stackwatch.query.quotas import project_names
from stackwatch.query.samples import RangeView, sample_range
from stackwatch.query.sight import Sight, sight
from stackwatch.query.times import Stamped

SOURCE = "api.block_storage"
#: out of its resting status longer than this, a volume or snapshot is stuck
STUCK_AFTER_S = 1800.0
#: stuck volumes and snapshots listed on the page (the API pages through all of them)
STUCK_SHOWN = 100
GIB = 1024.0 ** 3


class VolumeRow(ItemView):
    """A volume or snapshot out of its resting status, and whether it is stuck."""

    stuck: bool


class Pool(BaseModel):
    """A cinder pool's capacity in GiB (``total`` null when the backend says
    "infinite" or "unknown")."""

    name: str
    backend: str
    free_gb: float | None
    total_gb: float | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float | None:
        """Used of total, when both are known."""
        if self.free_gb is None or not self.total_gb or self.total_gb == float("inf"):
            return None
        return (self.total_gb - self.free_gb) / self.total_gb


class StoragePage(Stamped):
    """Everything the storage page shows."""

    volumes_by_status: dict[str, float]
    snapshots_by_status: dict[str, float]
    volumes_chart: RangeView
    snapshots_chart: RangeView
    stuck: list[VolumeRow]
    stuck_listed: int
    under_way: int
    stuck_after_seconds: float
    services: list[ServiceRow]
    services_total: int
    services_down: int
    pools: list[Pool]
    sight: list[Sight]
    start: float
    end: float


def volumes(ctx: Context, kind: str = "", stuck: bool | None = None, status: str = "",
            project: str = "", stuck_after: float = STUCK_AFTER_S) -> list[VolumeRow]:
    """Volumes and snapshots out of their resting status, the longest so first;
    ``kind`` volume or snapshot, ``stuck`` only those out of it longer (or not longer)
    than ``stuck_after`` seconds, ``project`` an id."""
    if kind not in ("", ItemKind.VOLUME, ItemKind.SNAPSHOT):
        raise BadQuery(f"kind: {kind!r} is neither volume nor snapshot")
    kinds = [kind] if kind else [ItemKind.VOLUME, ItemKind.SNAPSHOT]
    names = project_names(ctx)
    out = []
    for name in kinds:
        for item in ctx.store.latest_items(name):
            view = ItemView.of(item, ctx.now, names.get(item.project, ""))
            late = view.age_seconds is not None and view.age_seconds >= stuck_after
            if ((stuck is None or late == stuck) and (not status or item.status == status)
                    and (not project or item.project == project)):
                out.append(VolumeRow(**view.model_dump(exclude={"time"}), stuck=late))
    out.sort(key=lambda v: (not v.stuck, -(v.age_seconds or 0.0), v.kind, v.id))
    return out


def cinder_services(ctx: Context, checks: list[CheckResult] | None = None) -> list[ServiceRow]:
    """Cinder's services (``os-services``), worst first."""
    return service_rows(ctx, "cinder", "cinder.service", "openstack_cinder_agent_state", checks)


def pools(ctx: Context) -> list[Pool]:
    """Cinder's pools, the fullest first."""
    free = {s.labels: s.value
            for s in ctx.store.latest_samples("openstack_cinder_pool_capacity_free_gb")}
    total = {s.labels: s for s in ctx.store.latest_samples(
        "openstack_cinder_pool_capacity_total_gb")}
    out = []
    for labels in sorted(set(free) | set(total)):
        sample = total.get(labels)
        out.append(Pool(name=dict(labels).get("name", ""),
                        backend=dict(labels).get("volume_backend_name", ""),
                        free_gb=free.get(labels), total_gb=sample.value if sample else None))
    out.sort(key=lambda p: (-(p.share or 0.0), p.name))
    return out


def _counts(samples: list[Sample]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for sample in samples:
        counts[sample.label("status")] += int(sample.value)
    return {k: float(v) for k, v in counts.most_common()}


def storage_page(ctx: Context, seconds: float, stuck_after: float = STUCK_AFTER_S
                 ) -> StoragePage:
    """The storage page over the last ``seconds``."""
    checks = ctx.checks()
    found = volumes(ctx, stuck_after=stuck_after)
    late = [v for v in found if v.stuck]
    services = cinder_services(ctx, checks)
    start = ctx.now - seconds
    step = seconds / 240
    return StoragePage(
        timestamp=ctx.now,
        volumes_by_status=_counts(ctx.store.latest_samples(
            "openstack_cinder_volume_status_counter")),
        snapshots_by_status=_counts(ctx.store.latest_samples(
            "openstack_cinder_snapshots_by_status")),
        volumes_chart=sample_range(ctx, "openstack_cinder_volume_status_counter", start,
                                   ctx.now, step=step),
        snapshots_chart=sample_range(ctx, "openstack_cinder_snapshots_by_status", start,
                                     ctx.now, step=step),
        stuck=late[:STUCK_SHOWN], stuck_listed=len(late), under_way=len(found) - len(late),
        stuck_after_seconds=stuck_after, services=services[:SERVICES_SHOWN],
        services_total=len(services), services_down=sum(1 for s in services
                                                         if s.state == "down"),
        pools=pools(ctx),
        sight=[s for s in (sight(checks, SOURCE, r)
                           for r in ("volumes", "snapshots", "services", "pools")) if s.blind],
        start=start, end=ctx.now)
