"""Compute: nova services, hypervisors, servers by status over time, and the servers
in ERROR with their fault.

Services come from ``api.compute``'s ``openstack_nova_agent_state`` and
``openstack_nova_service_forced_down`` samples, judged by its ``nova.service``
checks (stale ones UNKNOWN); hypervisors from its hypervisor items with placement's
figures; servers in ERROR from its server items (fault message, code and time).
"""

from __future__ import annotations

from pydantic import BaseModel

from stackwatch.model import CheckResult, ItemKind, Sample, Status
from stackwatch.query.capacity import Amount, hosts
from stackwatch.query.context import Context
from stackwatch.query.models import SEVERITY_ORDER, ItemView
from stackwatch.query.quotas import project_names
from stackwatch.query.samples import RangeView, sample_range
from stackwatch.query.sight import Sight, sight
from stackwatch.query.times import Stamped

SOURCE = "api.compute"
#: servers in ERROR listed on the page (the API pages through all of them)
ERRORS_SHOWN = 50
#: hypervisors listed on the page (problems and fullest first)
HYPERVISORS_SHOWN = 60
#: services listed on the page, worst first: a big cloud's thousand nova-computes that
#: are up are a count, not a list (the API pages through them)
SERVICES_SHOWN = 100


class ServiceRow(BaseModel):
    """A nova or cinder service: its state, admin state and the check's verdict."""

    project: str
    binary: str
    host: str
    zone: str
    state: str                # up | down
    admin_state: str          # enabled | disabled
    disabled_reason: str
    forced_down: bool
    status: str               # the check's verdict (UNKNOWN when stale or missing)
    message: str
    region: str
    cloud: str


class HypervisorRow(BaseModel):
    """A hypervisor: state, admin state, servers and placement's figures."""

    id: str
    hostname: str
    host: str
    cloud: str
    state: str                # up | down
    admin_state: str          # enabled | disabled
    availability_zone: str
    aggregates: list[str]
    vms: float | None
    vcpu: Amount | None
    ram: Amount | None
    disk: Amount | None
    status: str               # CRITICAL down, WARNING disabled, OK
    message: str


class ComputePage(Stamped):
    """Everything the compute page shows."""

    services: list[ServiceRow]
    services_total: int
    services_down: int
    hypervisors: list[HypervisorRow]
    hypervisors_total: int
    servers_by_status: dict[str, float]
    servers_total: float | None
    servers_chart: RangeView
    errors: list[ItemView]
    errors_listed: int            # servers in ERROR the store names
    errors_counted: float | None  # servers in ERROR the counts say (may be more: the cap)
    sight: list[Sight]
    start: float
    end: float


def service_key(labels: dict[str, str], host: str = "host", binary: str = "binary"
            ) -> tuple[str, str, str, str]:
    """(cloud, region, host, binary): one service's key in checks and samples alike."""
    return (labels.get("cloud", ""), labels.get("region", ""), labels.get(host, ""),
            labels.get(binary, ""))


def service_rows(ctx: Context, project: str, check_name: str, state_metric: str,
                 checks: list[CheckResult] | None = None) -> list[ServiceRow]:
    """The services of ``project`` from its ``*_agent_state`` samples, worst first."""
    checks = ctx.checks() if checks is None else checks
    verdicts = {service_key(dict(c.labels)): c for c in checks if c.name == check_name}
    forced = {service_key(dict(s.labels), "hostname", "service"): s.value
              for s in ctx.store.latest_samples("openstack_nova_service_forced_down")}
    rows = []
    for s in ctx.store.latest_samples(state_metric):
        key = service_key(dict(s.labels), "hostname", "service")
        verdict = verdicts.get(key)
        rows.append(ServiceRow(
            project=project, binary=s.label("service"), host=s.label("hostname"),
            zone=s.label("zone"), state="up" if s.value == 1 else "down",
            admin_state=s.label("adminState"), disabled_reason=s.label("disabledReason"),
            forced_down=forced.get(key, 0.0) == 1 if project == "nova" else False,
            status=verdict.status.name if verdict else Status.UNKNOWN.name,
            message=verdict.message if verdict else "no check of it stored",
            region=s.label("region"), cloud=s.label("cloud")))
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.status, 3), r.binary, r.host))
    return rows


def nova_services(ctx: Context, checks: list[CheckResult] | None = None) -> list[ServiceRow]:
    """Nova's services (``os-services``), worst first."""
    return service_rows(ctx, "nova", "nova.service", "openstack_nova_agent_state", checks)


def hypervisors(ctx: Context, services: list[ServiceRow] | None = None) -> list[HypervisorRow]:
    """Every hypervisor, down first, then disabled, then the fullest."""
    services = nova_services(ctx) if services is None else services
    compute = {(r.cloud, r.host): r for r in services if r.binary == "nova-compute"}
    capacity = {(h.cloud, h.hostname): h for h in hosts(ctx)}
    rows = []
    for item in ctx.store.latest_items(ItemKind.HYPERVISOR):
        cloud = item.attribute("cloud")
        found = capacity.get((cloud, item.name))
        service = compute.get((cloud, item.host))
        admin = item.attribute("admin_status")
        if item.status != "up":
            status = Status.CRITICAL
            message = (service.message if service is not None and service.status != "OK"
                       else f"{item.name} is {item.status or 'in no state'}")
        elif admin == "disabled":
            reason = service.disabled_reason if service is not None else ""
            status, message = Status.WARNING, f"disabled: {reason or 'no reason given'}"
        else:
            status, message = Status.OK, "up and enabled"
        rows.append(HypervisorRow(
            id=item.id, hostname=item.name, host=item.host, cloud=cloud, state=item.status,
            admin_state=admin, availability_zone=item.attribute("availability_zone"),
            aggregates=[a for a in item.attribute("aggregates").split(",") if a],
            vms=found.vms if found else None, vcpu=found.vcpu if found else None,
            ram=found.ram if found else None, disk=found.disk if found else None,
            status=status.name, message=message))
    fullest = {(h.cloud, h.hostname): h.fullest for h in capacity.values()}
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.status, 3),
                             -fullest.get((r.cloud, r.hostname), 0.0), r.hostname))
    return rows


def servers_in_error(ctx: Context, host: str = "", project: str = "") -> list[ItemView]:
    """The servers in ERROR with their fault, the newest fault first; ``host`` and
    ``project`` (an id) narrow them."""
    names = project_names(ctx)
    found = [ItemView.of(i, ctx.now, names.get(i.project, ""))
             for i in ctx.store.latest_items(ItemKind.SERVER)
             if (not host or host in (i.host, i.attribute("node")))
             and (not project or i.project == project)]
    found.sort(key=lambda i: (-(i.since or 0.0), i.name, i.id))
    return found


def _counts(samples: list[Sample]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for sample in samples:
        status = sample.label("status")
        counts[status] = counts.get(status, 0.0) + sample.value
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def compute_page(ctx: Context, seconds: float) -> ComputePage:
    """The compute page over the last ``seconds``."""
    checks = ctx.checks()
    services = nova_services(ctx, checks)
    rows = hypervisors(ctx, services)
    by_status = _counts(ctx.store.latest_samples("openstack_nova_servers"))
    errors = servers_in_error(ctx)
    total = ctx.store.latest_samples("openstack_nova_total_vms")
    start = ctx.now - seconds
    return ComputePage(
        timestamp=ctx.now, services=services[:SERVICES_SHOWN], services_total=len(services),
        services_down=sum(1 for s in services if s.state == "down"),
        hypervisors=rows[:HYPERVISORS_SHOWN],
        hypervisors_total=len(rows), servers_by_status=by_status,
        servers_total=sum(s.value for s in total) if total else None,
        servers_chart=sample_range(ctx, "openstack_nova_servers", start, ctx.now,
                                   step=seconds / 240),
        errors=errors[:ERRORS_SHOWN], errors_listed=len(errors),
        errors_counted=by_status.get("ERROR") if by_status else None,
        sight=[s for s in (sight(checks, SOURCE, r)
                           for r in ("services", "hypervisors", "servers")) if s.blind],
        start=start, end=ctx.now)
