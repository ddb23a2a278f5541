"""The JSON shapes of the model objects: samples, checks, events, items and health.

Each model has an ``of`` constructor from the domain object; ``age_seconds`` is
given when a reference time is, so a reader can tell a stale value from a
fresh one. The REST API, the pages and ``--format json`` all use these.
"""

from __future__ import annotations

from pydantic import BaseModel

from stackwatch.health.evaluate import BlindPart, CloudHealth, MemberHealth, ServiceHealth
from stackwatch.model import CheckResult, Event, Item, Sample, Status
from stackwatch.query.times import Stamped, finite, iso


def _age(timestamp: float, now: float | None) -> float | None:
    return None if now is None else round(max(0.0, now - timestamp), 3)


class SampleView(Stamped):
    """One value of one series."""

    name: str
    labels: dict[str, str]
    value: float | None  # null: not a number (NaN, infinities)
    age_seconds: float | None = None

    @classmethod
    def of(cls, sample: Sample, now: float | None = None) -> SampleView:
        return cls(name=sample.name, labels=dict(sample.labels), value=finite(sample.value),
                   timestamp=sample.timestamp, age_seconds=_age(sample.timestamp, now))


class CheckView(Stamped):
    """A check with its status name, Nagios exit code and perfdata."""

    name: str
    status: str
    code: int
    message: str
    labels: dict[str, str]
    perfdata: list[str]
    age_seconds: float | None = None

    @classmethod
    def of(cls, check: CheckResult, now: float | None = None) -> CheckView:
        return cls(name=check.name, status=check.status.name, code=int(check.status),
                   message=check.message, labels=dict(check.labels),
                   perfdata=[p.render() for p in check.perfdata], timestamp=check.timestamp,
                   age_seconds=_age(check.timestamp, now))


class EventView(Stamped):
    """An event with its severity name."""

    kind: str
    event_type: str
    severity: str
    service: str
    host: str
    message: str
    request_id: str
    resource_ids: list[str]
    attributes: dict[str, str]

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(kind=event.kind, event_type=event.event_type, timestamp=event.timestamp,
                   severity=event.severity.name, service=event.service, host=event.host,
                   message=event.message, request_id=event.request_id,
                   resource_ids=list(event.resource_ids), attributes=dict(event.attributes))


class ItemView(Stamped):
    """One inventory item (``timestamp``: when it was seen); ``project`` an id and
    ``project_name`` its name when known; ``since`` when it entered its status,
    ``age_seconds`` how long ago that was."""

    kind: str
    id: str
    name: str
    status: str
    host: str
    project: str
    project_name: str
    message: str
    since: float | None
    since_time: str | None
    age_seconds: float | None
    attributes: dict[str, str]

    @classmethod
    def of(cls, item: Item, now: float, project_name: str = "") -> ItemView:
        since = item.since
        return cls(kind=item.kind, id=item.id, name=item.name, status=item.status,
                   host=item.host, project=item.project, project_name=project_name,
                   message=item.message, since=since,
                   since_time=None if since is None else iso(since),
                   age_seconds=_age(since, now) if since is not None else None,
                   attributes=dict(item.attributes), timestamp=item.timestamp)


class MemberView(BaseModel):
    """One member of a service: a host, or the endpoint when ``host`` is empty."""

    service: str
    host: str
    status: str
    message: str

    @classmethod
    def of(cls, member: MemberHealth) -> MemberView:
        return cls(service=member.service, host=member.host, status=member.status.name,
                   message=member.message)


class BlindView(BaseModel):
    """A part of a source that could not be read while the rest was."""

    source: str
    resource: str
    status: str
    message: str

    @classmethod
    def of(cls, part: BlindPart) -> BlindView:
        return cls(source=part.source, resource=part.resource, status=part.status.name,
                   message=part.message)


class ServiceView(BaseModel):
    """A service's health: its verdict (a status name, or ``UNWATCHED``) and members."""

    name: str
    ha: str
    status: str
    code: int
    message: str
    watched: bool
    members: list[MemberView]
    blind: list[BlindView]

    @classmethod
    def of(cls, service: ServiceHealth) -> ServiceView:
        return cls(name=service.name, ha=service.ha.value, status=service.verdict,
                   code=int(service.status), message=service.message,
                   watched=service.watched,
                   members=[MemberView.of(m) for m in service.members],
                   blind=[BlindView.of(p) for p in service.blind])


class NodeView(BaseModel):
    """A host: the worst of its members, its roles from their services."""

    host: str
    status: str
    roles: list[str]
    members: list[MemberView]


class HealthView(BaseModel):
    """The cloud's health: status, message, services, nodes, other checks, blind parts."""

    status: str
    code: int
    message: str
    services: list[ServiceView]
    nodes: list[NodeView]
    others: list[CheckView]
    blind: list[BlindView]

    @classmethod
    def of(cls, health: CloudHealth) -> HealthView:
        return cls(
            status=health.status.name, code=int(health.status), message=health.message,
            services=[ServiceView.of(s) for s in health.services],
            nodes=[NodeView(host=n.host, status=n.status.name, roles=[r.value for r in n.roles],
                            members=[MemberView.of(m) for m in n.members])
                   for n in health.nodes],
            others=[CheckView.of(c) for c in health.others],
            blind=[BlindView.of(p) for p in health.blind])


#: the order problems are listed in: what is down first
SEVERITY_ORDER = {Status.CRITICAL.name: 0, Status.WARNING.name: 1, Status.UNKNOWN.name: 2}
