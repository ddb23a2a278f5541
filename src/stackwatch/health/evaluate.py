"""Node → service → cloud health from check results, HA-mode aware. Pure functions.

Members. A check is about a member of a catalog service when one of its labels
``binary``, ``service_type``, ``agent_type`` or ``service`` names the service
(or one of its aliases, :attr:`ServiceSpec.names`) and it carries a ``host``
label, which names the member — or it is an endpoint check naming the
``service_type`` (member: the endpoint). So a nova service check
(``binary=nova-scheduler, host=ctl1``), a neutron agent check, the API
endpoint check (``service_type=compute``) and a process check
(``service=rabbitmq, host=ctl2``) count; a node's process and port checks
(``node.*``) of a service whose members on that node a backend names
(cinder-volume's ``stor1@lvm``) count for those members; a check on a service as a whole
(``logs.auth_bruteforce{service=keystone}``) does not. Checks named
``stackwatch*`` are about sources, not services. Several checks on one member
combine to the worst known status.

A member is up when OK or WARNING (WARNING: up but degraded, e.g. disabled),
down when CRITICAL, not looked at when UNKNOWN.

Services:

* active/active — OK while every looked-at member is up; WARNING when some
  are down or degraded; CRITICAL when none is up (or, with ``quorum``, when
  at most half are up).
* active/passive — exactly one member up is OK (the others are the passive
  ones); none up is CRITICAL; more than one is WARNING.
* UNKNOWN only when nothing could be looked at: every member UNKNOWN, or no
  member seen while a source that watches the service failed. A service that
  no check mentions and whose sources did not fail is "not watched": its
  verdict is ``UNWATCHED`` (never OK; its ``status`` field is UNKNOWN) and it is
  left out of the cloud's status.

Two views of one member. The SQL sources judge nova and cinder services and
neutron agents from their tables (``nova.db_service``...) as the API sources do
from their lists (``nova.service``...). The API's view wins when it was read;
the database's counts only where it was not (:data:`DATABASE_VIEWS`): the API
source failed or is not configured, or it could not read that list, in the
check's cloud and region.

Partial blindness. A source that read some of its resources but not others
emits an UNKNOWN ``stackwatch.resource`` check per unread resource, and an
UNKNOWN ``stackwatch.partial`` check when a per-item read missed some items
(projects' quotas, placement's providers, compute capacity). A WARNING
``stackwatch.partial`` (a resource or log tail the run's deadline cut short,
delivered next run) blinds nothing and is not counted here. Each UNKNOWN one is a
:class:`BlindPart` of the service the source is about:
for ``api.<type>`` the service whose ``service_type`` is that type (nova-api
for ``api.compute``), for other sources those listing it in ``sources``. It
is listed in the service's ``blind`` and message (``partly blind:
api.compute quotas``) without changing what its members say (they were
looked at); the cloud is at least UNKNOWN while any part is blind, as when a
whole source fails (a known problem still outranks it).

Services a cloud need not have (:meth:`Catalog.expects`: removed by a release,
or of the ML2 backend the clouds do not use) count only when seen: no check
about one leaves it "not watched" even when its sources failed.

The cloud's status is the worst of the watched services
(:meth:`Status.worst`) and of the WARNING/CRITICAL checks that are about no
member (cross-checks, brute force in the logs), and at least UNKNOWN while a
source could not look; a node's is the worst of its members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stackwatch.catalog.loader import Catalog, HAMode, Role, ServiceSpec
from stackwatch.model import CheckResult, Status

MEMBER_LABELS = ("binary", "service_type", "agent_type", "service")
SOURCE_CHECK = "stackwatch_source"
#: Checks a source emits about a part it could not read (UNKNOWN) while it read others.
PART_CHECKS = ("stackwatch.resource", "stackwatch.partial")
#: What ``status`` and ``/api/v1/health`` say of a service nothing watches.
UNWATCHED = "UNWATCHED"


@dataclass(frozen=True, slots=True)
class DatabaseView:
    """A SQL source's check of members an API source also lists (its ``api_resource``
    read gives ``api_check``): counted only while the API's view is not read."""

    check: str
    api_check: str
    api_source: str
    api_resource: str


DATABASE_VIEWS = (
    DatabaseView("nova.db_service", "nova.service", "api.compute", "services"),
    DatabaseView("cinder.db_service", "cinder.service", "api.block_storage", "services"),
    DatabaseView("neutron.db_agent", "neutron.agent", "api.network", "agents"),
    DatabaseView("nova.db_heartbeat", "nova.heartbeat", "api.compute", "services"),
    DatabaseView("neutron.db_heartbeat", "neutron.heartbeat", "api.network", "agents"),
)


@dataclass(frozen=True, slots=True)
class MemberHealth:
    """One member of a service (one host, or the endpoint when ``host`` is empty)."""

    service: str
    host: str
    status: Status
    message: str


@dataclass(frozen=True, slots=True)
class BlindPart:
    """What one source could not read while it read the rest (a resource, some projects)."""

    source: str
    resource: str
    message: str
    status: Status = Status.UNKNOWN


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """A service's status from its members, given its HA mode."""

    name: str
    ha: HAMode
    status: Status
    message: str
    members: tuple[MemberHealth, ...] = ()
    watched: bool = True
    blind: tuple[BlindPart, ...] = ()   # parts of its sources that could not be read

    @property
    def verdict(self) -> str:
        """The status's name, or ``UNWATCHED`` for a service nothing watches."""
        return self.status.name if self.watched else UNWATCHED


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """A host's status: the worst of the members on it; its roles from their services."""

    host: str
    status: Status
    members: tuple[MemberHealth, ...]
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True, slots=True)
class CloudHealth:
    """The whole cloud at a glance."""

    status: Status
    message: str
    services: tuple[ServiceHealth, ...]
    nodes: tuple[NodeHealth, ...]
    others: tuple[CheckResult, ...] = ()   # not-OK checks on no member (cross-checks...)
    blind: tuple[BlindPart, ...] = ()      # every part a source could not read

    def service(self, name: str) -> ServiceHealth | None:
        """One service's health by name."""
        return next((s for s in self.services if s.name == name), None)


def member_key(check: CheckResult, catalog: Catalog) -> tuple[str, str] | None:
    """(service, host) of the member a check is about (host "" for the endpoint), or None."""
    if check.name.startswith("stackwatch"):
        return None
    labels = dict(check.labels)
    if "host" not in labels and "service_type" not in labels:
        return None  # about a service as a whole (e.g. brute force in its logs), not a member
    for label in MEMBER_LABELS:
        value = labels.get(label)
        spec = catalog.service(value) if value else None
        if spec is not None:
            return spec.name, labels.get("host", "")
    return None


def combine_member(service: str, host: str, checks: Sequence[CheckResult]) -> MemberHealth:
    """One member's health from every check about it: the worst known status."""
    known = [c for c in checks if c.status != Status.UNKNOWN]
    chosen = known or list(checks)
    status = Status.worst(c.status for c in chosen)
    messages = [c.message for c in chosen if c.status == status]
    return MemberHealth(service, host, status, "; ".join(dict.fromkeys(messages)))


def _who(members: Iterable[MemberHealth]) -> str:
    return ", ".join(m.host or "endpoint" for m in members)


def _parts_text(parts: Sequence[BlindPart]) -> str:
    """``api.compute quotas, usage; sql.nova services``."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for part in parts:
        by_source[part.source].append(part.resource)
    return "; ".join(f"{source} {', '.join(dict.fromkeys(resources))}"
                     for source, resources in by_source.items())


def parts_by_service(catalog: Catalog, blind: Iterable[BlindPart]
                     ) -> dict[str, list[BlindPart]]:
    """Service name -> the blind parts that concern it (see the module docstring)."""
    out: dict[str, list[BlindPart]] = defaultdict(list)
    for part in blind:
        kind, _, rest = part.source.partition(".")
        typed = [s for s in catalog.services
                 if kind == "api" and s.service_type == rest.replace("_", "-")]
        for spec in typed or [s for s in catalog.services if part.source in s.sources]:
            out[spec.name].append(part)
    return out


def service_health(
    spec: ServiceSpec, members: Sequence[MemberHealth], failed_sources: Mapping[str, str],
    blind: Sequence[BlindPart] = (),
) -> ServiceHealth:
    """Apply the HA rules of ``spec`` to its members; ``blind``: parts of its sources
    that could not be read (listed, UNKNOWN, beside what the members say)."""
    health = _from_members(spec, members, failed_sources)
    if not blind:
        return health
    return replace(health, message=f"{health.message}; partly blind: {_parts_text(blind)}",
                   blind=tuple(blind))


def _from_members(spec: ServiceSpec, members: Sequence[MemberHealth],
                  failed_sources: Mapping[str, str]) -> ServiceHealth:
    members = tuple(sorted(members, key=lambda m: m.host))
    failed = [name for name in spec.sources if name in failed_sources]
    if not members:
        if failed:
            # The reasons are the sources' own checks; one name each keeps this line short.
            return ServiceHealth(spec.name, spec.ha, Status.UNKNOWN,
                                 f"could not look: source {', '.join(failed)} failed")
        return ServiceHealth(spec.name, spec.ha, Status.UNKNOWN, "not watched", watched=False)
    up = [m for m in members if m.status in (Status.OK, Status.WARNING)]
    degraded = [m for m in members if m.status == Status.WARNING]
    down = [m for m in members if m.status == Status.CRITICAL]
    unknown = [m for m in members if m.status == Status.UNKNOWN]
    looked = len(up) + len(down)
    note = f"; not looked at: {_who(unknown)}" if unknown else ""
    if looked == 0:
        return ServiceHealth(spec.name, spec.ha, Status.UNKNOWN,
                             "no member could be looked at: " + members[0].message, members)
    if not up:
        return ServiceHealth(spec.name, spec.ha, Status.CRITICAL,
                             f"all {len(down)} down: {_who(down)}{note}", members)
    if spec.ha is HAMode.ACTIVE_PASSIVE:
        if len(up) > 1:
            return ServiceHealth(spec.name, spec.ha, Status.WARNING,
                                 f"{len(up)} active, expected exactly one: {_who(up)}{note}",
                                 members)
        status = Status.WARNING if degraded else Status.OK
        return ServiceHealth(spec.name, spec.ha, status,
                             f"active on {_who(up)}" + (f" (degraded: {up[0].message})"
                                                        if degraded else "") + note, members)
    if spec.quorum and 2 * len(up) <= looked:
        return ServiceHealth(spec.name, spec.ha, Status.CRITICAL,
                             f"quorum lost: {len(up)} of {looked} up; down: {_who(down)}{note}",
                             members)
    if down or degraded:
        parts = [f"{len(up)} of {looked} up"]
        if down:
            parts.append(f"down: {_who(down)}")
        if degraded:
            parts.append(f"degraded: {_who(degraded)}")
        return ServiceHealth(spec.name, spec.ha, Status.WARNING, "; ".join(parts) + note,
                             members)
    return ServiceHealth(spec.name, spec.ha, Status.OK, f"{len(up)} of {looked} up{note}",
                         members)


def expire(checks: Iterable[CheckResult], now: float, max_age: float) -> list[CheckResult]:
    """Checks older than ``max_age`` seconds become UNKNOWN: a stale OK is not an OK."""
    out = []
    for check in checks:
        age = now - check.timestamp
        if age > max_age and check.status != Status.UNKNOWN:
            check = replace(check, status=Status.UNKNOWN,
                            message=f"stale: last seen {age:.0f} s ago: {check.message}")
        out.append(check)
    return out


def _origin(labels: dict[str, str]) -> tuple[str, str]:
    """(cloud, source) of a check: ``("east", "api.compute")`` of ``east/api.compute``
    (several clouds prefix their sources, and label their checks with ``cloud``)."""
    prefix, _, base = labels.get("source", "").rpartition("/")
    return labels.get("cloud", prefix), base


def _database_views_not_counted(checks: Sequence[CheckResult]) -> set[tuple[str, str, str]]:
    """(check name, cloud, region) of the database views the API's view overrides: those
    whose API check was read (a known status) in that cloud and region, its source and
    list read."""
    unread: set[tuple[str, str, str]] = set()
    for check in checks:
        labels = dict(check.labels)
        cloud, source = _origin(labels)
        if check.name == SOURCE_CHECK and check.status == Status.UNKNOWN:
            unread.add((cloud, source, ""))
        elif check.name == "stackwatch.resource" and check.status == Status.UNKNOWN:
            unread.add((cloud, source, labels.get("resource", "")))
    read_in = {(c.name, dict(c.labels).get("cloud", ""), dict(c.labels).get("region", ""))
               for c in checks if c.status != Status.UNKNOWN}
    return {(view.check, cloud, region)
            for view in DATABASE_VIEWS
            for name, cloud, region in read_in if name == view.api_check
            and (cloud, view.api_source, "") not in unread
            and (cloud, view.api_source, view.api_resource) not in unread}


def _node_checks_to_backends(by_member: dict[tuple[str, str], list[CheckResult]]
                             ) -> dict[tuple[str, str], list[CheckResult]]:
    """A node's checks of a service (its process, its ports: ``host=stor1``) count for the
    service's members on that node that a backend names (cinder-volume reports itself as
    ``stor1@lvm``): one process serves them, and as a member of its own it would make an
    active/passive service look active twice."""
    out = dict(by_member)
    for (service, host), checks in by_member.items():
        if "@" in host or not any(c.name.startswith("node.") for c in checks):
            continue
        backends = [key for key in by_member
                    if key[0] == service and key[1].startswith(host + "@")]
        if backends:
            del out[(service, host)]
            for key in backends:
                out[key] = out[key] + checks
    return out


def evaluate(catalog: Catalog, checks: Iterable[CheckResult]) -> CloudHealth:
    """Health of every catalog service, node and the cloud from the latest checks."""
    checks = list(checks)
    overridden = _database_views_not_counted(checks)
    by_member: dict[tuple[str, str], list[CheckResult]] = defaultdict(list)
    failed_sources: dict[str, str] = {}
    blind: list[BlindPart] = []
    others: list[CheckResult] = []
    for check in checks:
        if check.name == SOURCE_CHECK:
            if check.status == Status.UNKNOWN:
                failed_sources[dict(check.labels).get("source", "")] = check.message
            continue
        if check.name in PART_CHECKS:
            if check.status == Status.UNKNOWN:
                labels = dict(check.labels)
                blind.append(BlindPart(labels.get("source", ""), labels.get("resource", ""),
                                       check.message))
            continue
        labels = dict(check.labels)
        if (check.name, labels.get("cloud", ""), labels.get("region", "")) in overridden:
            continue  # the API's view of the same members was read
        key = member_key(check, catalog)
        if key is not None:
            by_member[key].append(check)
        elif check.status != Status.OK and not check.name.startswith("stackwatch"):
            others.append(check)
    members_of: dict[str, list[MemberHealth]] = defaultdict(list)
    for (service, host), member_checks in _node_checks_to_backends(by_member).items():
        members_of[service].append(combine_member(service, host, member_checks))
    # A wholly failed source is reported as such; its parts are not "partly" blind.
    blind = sorted((p for p in blind if p.source not in failed_sources),
                   key=lambda p: (p.source, p.resource))
    parts_of = parts_by_service(catalog, blind)
    # A service the clouds need not have (removed by a release, the other ML2 backend's)
    # counts only when seen: a failed source does not make it UNKNOWN.
    services = tuple(service_health(spec, members_of.get(spec.name, []),
                                    failed_sources if catalog.expects(spec) else {},
                                    parts_of.get(spec.name, ()))
                     for spec in catalog.services)
    hosts: dict[str, list[MemberHealth]] = defaultdict(list)
    for health in services:
        for member in health.members:
            if member.host:
                hosts[member.host].append(member)
    roles_of = {spec.name: spec.roles for spec in catalog.services}
    nodes = tuple(
        NodeHealth(host, Status.worst(m.status for m in members), tuple(members),
                   tuple(r for r in Role if any(r in roles_of[m.service] for m in members)))
        for host, members in sorted(hosts.items()))
    watched = [s for s in services if s.watched]
    status = Status.worst(s.status for s in watched) if watched else Status.UNKNOWN
    bad = [s.name for s in watched if s.status != Status.OK]
    if not watched:
        message = "nothing watched: no service check and no source result"
    elif bad:
        message = f"{len(bad)} of {len(watched)} services not OK: {', '.join(bad)}"
    else:
        message = f"all {len(watched)} watched services OK"
    if failed_sources:
        # A source that could not look is a blind spot even when no service depends on it.
        status = Status.worst((status, Status.UNKNOWN))
        message += f"; sources that could not look: {', '.join(sorted(failed_sources))}"
    if blind:
        # Part of a source unread is a blind spot too; it ranks below known problems.
        status = Status.worst((status, Status.UNKNOWN))
        message += f"; partly blind: {_parts_text(blind)}"
    # Known problems outside any member (a cross-check disagreeing, brute force in the
    # logs) count; their UNKNOWNs (a cross-check with one side not read yet) do not.
    alarming = [c for c in others if c.status in (Status.WARNING, Status.CRITICAL)]
    if alarming:
        status = Status.worst((status, *(c.status for c in alarming)))
        names = sorted({c.name for c in alarming})
        message += f"; {len(alarming)} other checks not OK: {', '.join(names)}"
    others.sort(key=lambda c: (c.name, c.labels))
    return CloudHealth(status, message, services, nodes, tuple(others), tuple(blind))

