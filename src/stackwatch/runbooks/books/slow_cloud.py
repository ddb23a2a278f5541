"""The slow-cloud checklist: the operations guide's list, run in order.

"The cloud is slow" has one cause at a time more often than not, and the guide walks
the usual suspects in this order: identity (every request validates a token: a bloated
token table or a slow keystone slows everything), the image backend, block storage,
the message bus (queues without consumers, messages nobody acknowledges), the
database (lock waits, long queries, connections near the limit), the network (dead
agents, missing namespaces, DHCP), then compute itself. Each item gets a verdict and
the evidence behind it, from what stackwatch already holds (the store's latest
samples) and from what must be looked at now (:func:`probe`: each API timed once
more). The first item that is not OK is marked as the cause: later items are often
slow *because* of it (a slow keystone makes every API slow).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from stackwatch.config import LatencyConfig
from stackwatch.errors import SourceError, SourceUnavailable
from stackwatch.model import Sample, Status
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Diagnosis, Evidence
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.store.base import Store

#: (service type, path) of one cheap authenticated request per API, for :func:`probe`
PROBES: tuple[tuple[str, str], ...] = (
    ("identity", "regions"),
    ("image", "v2/images?limit=1"),
    ("block-storage", "os-services"),
    ("network", "v2.0/agents?limit=1"),
    ("compute", "flavors?limit=1"),
)

#: the metrics the checklist reads from the store
METRICS: tuple[str, ...] = (
    "openstack_keystone_db_tokens", "openstack_keystone_db_tokens_expired",
    "openstack_keystone_db_tokens_per_user", "openstack_glance_up", "rabbitmq_objects",
    "openstack_cinder_up",
    "openstack_cinder_agent_state", "rabbitmq_queues_without_consumers",
    "rabbitmq_queue_messages_without_consumers", "rabbitmq_service_queue_messages_unacked",
    "mysql_lock_waits", "mysql_longest_lock_wait_seconds", "mysql_long_queries",
    "mysql_longest_query_seconds", "mysql_connections", "mysql_max_connections",
    "openstack_neutron_agent_state", "stackwatch_dataplane_missing",
    "openstack_nova_agent_state",
)


@dataclass(frozen=True, slots=True)
class Probe:
    """One API timed now: the median of a few requests, or why it could not be."""

    service_type: str
    seconds: float | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """Where an item stops being OK (the latency ones come from ``LatencyConfig``)."""

    token_rows_warning: int = 100_000
    token_rows_critical: int = 1_000_000
    unacked_warning: int = 1_000
    connections_share_warning: float = 0.8
    lock_wait_critical_seconds: float = 30.0
    latency: LatencyConfig = field(default_factory=LatencyConfig)


@dataclass(frozen=True, slots=True)
class Observed:
    """What the checklist judges: the latest samples by name and the probes."""

    samples: Mapping[str, Sequence[Sample]]
    probes: Mapping[str, Probe]

    def values(self, name: str) -> list[Sample]:
        return list(self.samples.get(name, ()))

    def total(self, name: str) -> float | None:
        found = self.values(name)
        return sum(s.value for s in found) if found else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One item of the checklist: its status, the evidence, whether it is the cause."""

    item: str
    status: Status
    evidence: tuple[str, ...]
    cause: bool = False


Item = Callable[[Observed, Limits], tuple[Status, list[str]]]


def _latency(observed: Observed, limits: Limits, service_type: str,
             name: str) -> tuple[Status, str]:
    found = observed.probes.get(service_type)
    if found is None:
        return Status.OK, f"{name} API not probed"
    if found.seconds is None:
        return Status.CRITICAL, f"{name} API did not answer: {found.error}"
    warning, critical = limits.latency.thresholds(service_type)
    status = (Status.CRITICAL if found.seconds >= critical
              else Status.WARNING if found.seconds >= warning else Status.OK)
    word = {Status.OK: "answers in", Status.WARNING: "slow:",
            Status.CRITICAL: "very slow:"}[status]
    return status, (f"{name} API {word} {found.seconds * 1000:.0f} ms now "
                    f"(warning at {warning:g} s, critical at {critical:g} s)")


def _identity(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    status, line = _latency(observed, limits, "identity", "keystone")
    evidence, statuses = [line], [status]
    rows = observed.total("openstack_keystone_db_tokens")
    if rows is not None:
        expired = observed.total("openstack_keystone_db_tokens_expired") or 0
        statuses.append(Status.CRITICAL if rows >= limits.token_rows_critical
                        else Status.WARNING if rows >= limits.token_rows_warning else Status.OK)
        line = f"token table: {rows:.0f} rows, {expired:.0f} expired"
        top = max(observed.values("openstack_keystone_db_tokens_per_user"),
                  key=lambda s: s.value, default=None)
        if top is not None and rows:
            line += (f"; user {top.label('user_id')} holds {top.value:.0f}"
                     f" ({top.value / rows:.0%})")
        evidence.append(line)
    return Status.worst(statuses), evidence


def _image(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    status, line = _latency(observed, limits, "image", "glance")
    evidence, statuses = [line], [status]
    for sample in observed.values("openstack_glance_up"):
        if sample.value < 1:
            statuses.append(Status.CRITICAL)
            evidence.append("glance API did not answer its version document at last collection")
    return Status.worst(statuses), evidence


def _block_storage(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    status, line = _latency(observed, limits, "block-storage", "cinder")
    evidence, statuses = [line], [status]
    down = [s for s in observed.values("openstack_cinder_agent_state") if s.value < 1
            and s.label("adminState") != "disabled"]
    if down:
        statuses.append(Status.CRITICAL)
        evidence.append("cinder services down: " + ", ".join(
            sorted(f"{s.label('service')} on {s.label('hostname')}" for s in down)))
    return Status.worst(statuses), evidence


def _message_bus(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    idle = observed.total("rabbitmq_queues_without_consumers")
    if idle is None and observed.values("rabbitmq_objects"):
        idle = 0.0  # the broker was read and has no queue in any vhost
    if idle is None:
        return Status.UNKNOWN, ["no RabbitMQ figures in the store (infra.rabbitmq not set up)"]
    evidence, statuses = [], [Status.OK]
    waiting = sorted(observed.values("rabbitmq_queue_messages_without_consumers"),
                     key=lambda s: (-s.value, s.label("queue")))
    if idle:
        statuses.append(Status.WARNING)
        evidence.append(f"{idle:.0f} queue(s) hold messages and have no consumer: " + ", ".join(
            f"{s.label('queue')} ({s.value:.0f} messages, vhost {s.label('vhost')})"
            for s in waiting) + " — the service that should read them is down or lost AMQP")
    unacked = [s for s in observed.values("rabbitmq_service_queue_messages_unacked")
               if s.value >= limits.unacked_warning]
    if unacked:
        statuses.append(Status.WARNING)
        evidence.append("unacknowledged messages: " + ", ".join(
            f"{s.label('service')} {s.value:.0f}" for s in unacked))
    if not evidence:
        evidence.append("every queue holding messages has a consumer; no backlog unacknowledged")
    return Status.worst(statuses), evidence


def _database(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    connections = observed.values("mysql_connections")
    if not connections:
        return Status.UNKNOWN, ["no MySQL figures in the store (infra.mysql not set up)"]
    evidence, statuses = [], [Status.OK]
    waits = observed.total("mysql_lock_waits") or 0
    if waits:
        longest = max((s.value for s in observed.values("mysql_longest_lock_wait_seconds")),
                      default=0.0)
        statuses.append(Status.CRITICAL if longest >= limits.lock_wait_critical_seconds
                        else Status.WARNING)
        evidence.append(f"{waits:.0f} transaction(s) waiting for a lock, longest {longest:.0f} s")
    long_queries = observed.total("mysql_long_queries") or 0
    if long_queries:
        longest = max((s.value for s in observed.values("mysql_longest_query_seconds")),
                      default=0.0)
        statuses.append(Status.WARNING)
        evidence.append(f"{long_queries:.0f} long query(ies), longest {longest:.0f} s")
    limit = {s.label("host"): s.value for s in observed.values("mysql_max_connections")}
    for sample in connections:
        most = limit.get(sample.label("host"))
        if most and sample.value / most >= limits.connections_share_warning:
            statuses.append(Status.WARNING)
            evidence.append(f"{sample.label('host')}: {sample.value:.0f} of {most:.0f} "
                            "connections in use")
    if not evidence:
        evidence.append("no lock waits, no long queries, connections well under the limit")
    return Status.worst(statuses), evidence


def _network(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    status, line = _latency(observed, limits, "network", "neutron")
    evidence, statuses = [line], [status]
    dead = [s for s in observed.values("openstack_neutron_agent_state") if s.value < 1
            and s.label("adminState") != "down"]
    if dead:
        statuses.append(Status.CRITICAL)
        evidence.append("neutron agents dead: " + ", ".join(
            sorted(f"{s.label('service')} on {s.label('hostname')}" for s in dead)))
    missing = [s for s in observed.values("stackwatch_dataplane_missing") if s.value > 0]
    if missing:
        statuses.append(Status.WARNING)
        evidence.append("namespaces missing: " + ", ".join(
            f"{s.value:.0f} {s.label('kind')} on {s.label('host')}" for s in missing))
    return Status.worst(statuses), evidence


def _compute(observed: Observed, limits: Limits) -> tuple[Status, list[str]]:
    status, line = _latency(observed, limits, "compute", "nova")
    evidence, statuses = [line], [status]
    down = [s for s in observed.values("openstack_nova_agent_state") if s.value < 1
            and s.label("adminState") != "disabled"]
    if down:
        statuses.append(Status.WARNING)
        evidence.append("nova services down: " + ", ".join(
            sorted(f"{s.label('service')} on {s.label('hostname')}" for s in down)))
    return Status.worst(statuses), evidence


#: the guide's order
ITEMS: tuple[tuple[str, Item], ...] = (
    ("identity", _identity), ("image", _image), ("block storage", _block_storage),
    ("message bus", _message_bus), ("database", _database), ("network", _network),
    ("compute", _compute),
)


def observe(store: Store | None, probes: Mapping[str, Probe]) -> Observed:
    """The store's latest samples of :data:`METRICS`, with the probes made now."""
    if store is None:  # no server has stored anything: the probes alone
        return Observed({}, dict(probes))
    return Observed({name: store.latest_samples(name) for name in METRICS}, dict(probes))


def run(observed: Observed, limits: Limits | None = None) -> list[Verdict]:
    """Every item in order, the first one not OK (UNKNOWN aside) marked as the cause."""
    limits = limits or Limits()
    verdicts: list[Verdict] = []
    found = False
    for name, judge in ITEMS:
        status, evidence = judge(observed, limits)
        cause = not found and status in (Status.WARNING, Status.CRITICAL)
        found = found or cause
        verdicts.append(Verdict(name, status, tuple(evidence), cause))
    return verdicts


def probe(client: ApiClient, tries: int = 3,
          probes: Iterable[tuple[str, str]] = PROBES) -> dict[str, Probe]:
    """Time each API now: the median of ``tries`` requests after one that authenticates
    and negotiates (so the token is not timed), or the error that stopped it."""
    found: dict[str, Probe] = {}
    for service_type, path in probes:
        try:
            client.get(service_type, path)
            times = []
            for _ in range(tries):
                started = time.perf_counter()
                client.get(service_type, path)
                times.append(time.perf_counter() - started)
            found[service_type] = Probe(service_type, statistics.median(times))
        except SourceError as error:
            found[service_type] = Probe(service_type, None, str(error))
    return found


class SlowCloud:
    """The slow-cloud checklist (diagnosis only: the cause it names has its own fix)."""

    name = "slow-cloud"
    summary = ("the operations guide's slow-cloud checklist in order (identity, image, "
               "block storage, bus, database, network, compute): the first item off")

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        probes = probe(ctx.client)
        errors = {p.error for p in probes.values() if p.seconds is None}
        if len(errors) == 1 and all(p.seconds is None for p in probes.values()):
            # one reason for every API (credentials, clouds.yaml, no route): stackwatch
            # could not look, which says nothing of which part of the cloud is slow
            raise SourceUnavailable(f"no API could be probed: {errors.pop()}")
        verdicts = run(observe(ctx.store, probes), Limits(latency=ctx.cloud.latency))
        evidence = [Evidence(label=f"{n}. {v.item}" + (" <- cause" if v.cause else ""),
                             value=f"{v.status.name}: " + "; ".join(v.evidence),
                             source="store and API probe")
                    for n, v in enumerate(verdicts, 1)]
        cause = next((v for v in verdicts if v.cause), None)
        if cause is not None:
            return Diagnosis(runbook=self.name, verdict=cause.status.name,
                             summary=f"{cause.item} is the first item off: {cause.evidence[0]}",
                             evidence=evidence,
                             advice=[f"start with {cause.item}: the later items are often "
                                     "slow because of it"])
        blind = [v.item for v in verdicts if v.status is Status.UNKNOWN]
        return Diagnosis(runbook=self.name, verdict="OK",
                         summary="no item of the checklist is off"
                                 + (f" (not looked at: {', '.join(blind)})" if blind else ""),
                         evidence=evidence)


RUNBOOK = SlowCloud()
