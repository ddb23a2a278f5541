"""The overview: the cloud's verdict, its problems first, services by nodes, capacity at a
glance and the freshness of every source."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from stackwatch.catalog.loader import Catalog, Role
from stackwatch.query.context import Context
from stackwatch.query.health import Problem, problems
from stackwatch.query.models import HealthView, MemberView
from stackwatch.query.sources import SourceView, sources
from stackwatch.query.times import Stamped

#: more nodes than this: compute-only nodes fold into one column per service
MAX_NODE_COLUMNS = 40
ENDPOINT = "endpoint"
COMPUTE_COLUMN = "compute nodes"


class Cell(BaseModel):
    """One service on one node (column): its status and why; a folded column counts."""

    status: str
    message: str
    counts: dict[str, int] = {}


class ServiceRow(BaseModel):
    """A row of the map: a service, its HA mode and its cells by column."""

    name: str
    project: str
    ha: str
    quorum: bool
    status: str
    message: str
    cells: dict[str, Cell]


class Gauge(BaseModel):
    """Used of capacity for one resource, summed over the cloud's hypervisors."""

    resource: str
    unit: str
    used: float
    capacity: float
    hosts: int

    @property
    def share(self) -> float:
        return self.used / self.capacity if self.capacity else 0.0


class StoryView(BaseModel):
    """The demo's story: what is injected now, what comes next, failed injects."""

    now: str
    next: str
    failed: int


class SyntheticStepView(BaseModel):
    """One step of the last synthetic run (its ``synthetic.<step>`` check)."""

    step: str
    status: str
    seconds: float | None
    message: str


class OverviewView(Stamped):
    """Everything the overview page shows."""

    status: str
    message: str
    problems: list[Problem]
    columns: list[str]
    rows: list[ServiceRow]
    unwatched: list[str]
    capacity: list[Gauge]
    sources: list[SourceView]
    story: StoryView | None = None
    #: the last synthetic run's steps, in run order (none when it never ran)
    synthetic: list[SyntheticStepView] = []


_GAUGES = (("vCPU", "", "openstack_nova_vcpus_used", "openstack_nova_vcpus_capacity"),
           ("RAM", "bytes", "openstack_nova_memory_used_bytes",
            "openstack_nova_memory_capacity_bytes"),
           ("local disk", "bytes", "openstack_nova_local_storage_used_bytes",
            "openstack_nova_local_storage_capacity_bytes"))


def capacity_glance(ctx: Context) -> list[Gauge]:
    """vCPU, RAM and local disk used of what placement lets be allocated, cloud-wide."""
    out = []
    for resource, unit, used_name, capacity_name in _GAUGES:
        used = ctx.store.latest_samples(used_name)
        capacity = ctx.store.latest_samples(capacity_name)
        if capacity:
            out.append(Gauge(resource=resource, unit=unit, used=sum(s.value for s in used),
                             capacity=sum(s.value for s in capacity),
                             hosts=len({s.label("hostname") for s in capacity})))
    return out


def _columns(view: HealthView, catalog: Catalog) -> tuple[list[str], set[str]]:
    """The map's columns and the compute-only hosts folded into one column.

    A host is compute-only when every service on it also runs on compute nodes (nova-compute,
    the Open vSwitch agent, libvirtd): its roles alone cannot say so, since an agent that
    runs on network nodes too gives every compute node the network role (no host folded,
    a big cloud's map had 1,000 columns and its overview weighed 1 MB).
    """
    hosts = [n for n in view.nodes]
    folded: set[str] = set()
    if len(hosts) > MAX_NODE_COLUMNS:
        on_computes = {s.name for s in catalog.services if Role.COMPUTE in s.roles}
        folded = {n.host for n in hosts
                  if n.members and all(m.service in on_computes for m in n.members)}
    columns = [ENDPOINT] + [n.host for n in hosts if n.host not in folded]
    if folded:
        columns.append(COMPUTE_COLUMN)
    return columns, folded


def _cells(members: list[MemberView], folded: set[str]) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    counts: Counter[str] = Counter()
    for member in members:
        if member.host in folded:
            counts[member.status] += 1
        else:
            cells[member.host or ENDPOINT] = Cell(status=member.status, message=member.message)
    if counts:
        worst = next(s for s in ("CRITICAL", "WARNING", "UNKNOWN", "OK") if counts[s])
        summary = ", ".join(f"{n} {s}" for s, n in counts.most_common())
        cells[COMPUTE_COLUMN] = Cell(status=worst, message=summary, counts=dict(counts))
    return cells


def synthetic_glance(ctx: Context) -> list[SyntheticStepView]:
    """The latest ``synthetic.*`` checks (docs/synthetic.md), in the order a run takes them."""
    from stackwatch.synthetic.steps import STEPS

    order = [*STEPS, "cleanup"]
    found = [c for c in ctx.checks() if c.name.startswith("synthetic.")
             and c.name.removeprefix("synthetic.") in order]
    found.sort(key=lambda c: order.index(c.name.removeprefix("synthetic.")))
    return [SyntheticStepView(step=c.name.removeprefix("synthetic."), status=c.status.name,
                              seconds=c.perfdata[0].value if c.perfdata else None,
                              message=c.message) for c in found]


def overview(ctx: Context) -> OverviewView:
    """The overview now."""
    view = ctx.health_view()
    columns, folded = _columns(view, ctx.catalog)
    specs = {s.name: s for s in ctx.catalog.services}
    rows = [ServiceRow(name=s.name, project=specs[s.name].project, ha=s.ha,
                       quorum=specs[s.name].quorum, status=s.status, message=s.message,
                       cells=_cells(s.members, folded))
            for s in view.services if s.watched]
    rank = {"CRITICAL": 0, "WARNING": 1, "UNKNOWN": 2, "OK": 3}
    rows.sort(key=lambda r: (rank.get(r.status, 3), r.project, r.name))
    story = ctx.extras.get("story")
    state = story() if story else None
    return OverviewView(
        timestamp=ctx.now, status=view.status, message=view.message,
        problems=problems(view, ctx.catalog), columns=columns, rows=rows,
        unwatched=[s.name for s in view.services if not s.watched],
        capacity=capacity_glance(ctx), sources=sources(ctx), synthetic=synthetic_glance(ctx),
        story=None if state is None else StoryView.model_validate(state))
