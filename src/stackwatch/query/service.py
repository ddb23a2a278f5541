"""One service's page: what the catalog says of it, its members with every check about
each, its endpoint's latency over the range, and what its logs say (:mod:`.logs`)."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from stackwatch.health.evaluate import member_key
from stackwatch.query.context import Context
from stackwatch.query.errors import NotFound
from stackwatch.query.logs import ServiceLogCharts, service_log_charts
from stackwatch.query.models import SEVERITY_ORDER, BlindView, CheckView, ServiceView
from stackwatch.query.samples import RangeView, sample_range
from stackwatch.query.times import Stamped

LATENCY = "openstack_api_endpoint_latency_seconds"


class MemberDetail(BaseModel):
    """A member with the checks that judge it."""

    host: str
    status: str
    message: str
    checks: list[CheckView]


class ServicePage(Stamped):
    """Everything a service's page shows."""

    name: str
    project: str
    description: str
    ha: str
    quorum: bool
    roles: list[str]
    depends_on: list[str]
    processes: list[str]
    ports: list[int]
    service_type: str | None
    status: str
    message: str
    members: list[MemberDetail]
    blind: list[BlindView]
    latency: RangeView | None
    start: float
    end: float
    #: what the service's logs say over the range (None: it serves no API of its own)
    logs: ServiceLogCharts | None = None


def _worst_first(check: CheckView) -> tuple[int, str]:
    return SEVERITY_ORDER.get(check.status, 3), check.name


def service_names(ctx: Context) -> list[str]:
    """Every catalog service's name."""
    return [s.name for s in ctx.catalog.services]


def service_page(ctx: Context, name: str, seconds: float) -> ServicePage:
    """The page of service ``name`` (or one of its aliases) over the last ``seconds``."""
    spec = ctx.catalog.service(name)
    if spec is None:
        raise NotFound(f"service: {name!r} is not in the catalog")
    checks = ctx.checks()
    health = ctx.health(checks)
    served = health.service(spec.name)
    assert served is not None  # every catalog service is evaluated
    view = ServiceView.of(served)
    by_host: dict[str, list[CheckView]] = defaultdict(list)
    for check in checks:
        key = member_key(check, ctx.catalog)
        if key is not None and key[0] == spec.name:
            by_host[key[1]].append(CheckView.of(check, ctx.now))
    start = ctx.now - seconds
    # the latency series are labelled by openstack-exporter's name (nova, cinder...), which
    # the endpoint check carries beside the service type
    codename = next((dict(c.labels)["service"] for c in checks
                     if spec.service_type and "service" in dict(c.labels)
                     and dict(c.labels).get("service_type") == spec.service_type), None)
    latency = (sample_range(ctx, LATENCY, start, ctx.now, {"service": codename},
                            step=seconds / 240) if codename else None)
    return ServicePage(
        timestamp=ctx.now, name=spec.name, project=spec.project,
        description=spec.description, ha=spec.ha.value, quorum=spec.quorum,
        roles=[r.value for r in spec.roles], depends_on=list(spec.depends_on),
        processes=list(spec.processes), ports=[p.port for p in spec.ports],
        service_type=spec.service_type, status=view.status, message=view.message,
        members=[MemberDetail(host=m.host, status=m.status, message=m.message,
                              checks=sorted(by_host.get(m.host, []), key=_worst_first))
                 for m in view.members],
        blind=view.blind, latency=latency, start=start, end=ctx.now,
        logs=service_log_charts(ctx, spec, seconds))
