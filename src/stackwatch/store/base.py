"""The store contract: what the runner writes and what health, web and CLI read.

The embedded implementation is SQLite (WAL, :mod:`~stackwatch.store.sqlite`); the central
one is PostgreSQL (:mod:`~stackwatch.store.postgres`), which several servers can share;
:mod:`~stackwatch.store.opening` picks one. The store knows nothing of alarms.
:class:`TokenStore` is the web's access tokens, kept beside the data
(:mod:`stackwatch.store.tokens`), only ever as digests. :class:`AlarmStateStore` keeps
the alarm engine's state, transition history, acknowledgements and silences as plain
records (``stackwatch.alarms`` gives them their meaning; SQLite:
:mod:`stackwatch.store.alarm_state`, PostgreSQL: the same tables in its schema).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stackwatch.bus.records import BusBatch, BusState, Operation, PoisonMessage
from stackwatch.model import CheckResult, Collection, Event, Item, Labels, Sample, Severity
from stackwatch.store.request_index import TraceRecord


@dataclass(frozen=True, slots=True)
class Statistics:
    """Statistics of one series over a period (Aodh/Ceilometer semantics)."""

    count: int
    minimum: float
    maximum: float
    average: float
    total: float
    last: float


#: what :meth:`Store.window_values` computes of a series in a slot
WINDOW_STATISTICS = ("last", "min", "max", "avg", "sum", "count")


@dataclass(frozen=True, slots=True)
class WindowValues:
    """:meth:`Store.window_values`, by column (a cycle reads some 100,000 series).

    ``keys[j]`` is series ``j``'s labels as the store spells them (equal keys, equal
    labels: a reader may cache by key, and ``decode`` gives the labels);
    ``slots[i][j]`` its statistic in slot ``i``, None when it has no finite value there.
    """

    keys: Sequence[str]
    slots: Sequence[Sequence[float | None]]
    decode: Callable[[str], Labels]


@dataclass(frozen=True, slots=True)
class AgentBatch:
    """One run of one source on one node, as its agent pushed it (``stackwatch.agent``)."""

    agent: str
    seq: int
    host: str
    source: str
    created: float
    collection: Collection

    @property
    def store_source(self) -> str:
        """What the batch replaces in the latest reads: the node's previous run of the
        source (``cmp-017/node.host``)."""
        return f"{self.host}/{self.source}"


@dataclass(frozen=True, slots=True)
class AgentBatchStats:
    """What the store holds of one agent on one host: batch ids kept (for the retention),
    their sequence range, when the newest arrived and was made."""

    agent: str
    host: str
    batches: int
    first_seq: int
    last_seq: int
    last_received: float
    last_created: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did (or, on a dry run, would do) what to which target.

    A fix's dry run and its application are one entry per change, sharing the plan's
    ``plan_id``; ``args`` (JSON) and ``fingerprint`` let an ``--apply`` find the dry run
    it carries out and check that its targets did not change since."""

    ts: float
    actor: str          # a token's name, ``local``, ``cli:root``, ``server``
    role: str           # operator, read...
    runbook: str        # the fix's name (token-flush, l3-failover)
    action: str         # what was (to be) done to the target: delete, move, create-index...
    target: str
    before: str
    after: str
    result: str         # "dry run", "applied", "failed: ...", "refused: ..."
    dry_run: bool
    plan_id: str
    fingerprint: str = ""
    args: str = "{}"
    id: int = 0         # given by the store

    def row(self) -> tuple[object, ...]:
        """The values of :data:`AUDIT_COLUMNS`, in order."""
        return (self.ts, self.actor, self.role, self.runbook, self.action, self.target,
                self.before, self.after, self.result, self.dry_run, self.plan_id,
                self.fingerprint, self.args)

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> AuditEntry:
        """An entry from the values of :data:`AUDIT_COLUMNS` and then ``id``."""
        return cls(ts=float(r[0]), actor=r[1], role=r[2], runbook=r[3], action=r[4],
                   target=r[5], before=r[6], after=r[7], result=r[8], dry_run=bool(r[9]),
                   plan_id=r[10], fingerprint=r[11], args=r[12], id=int(r[13]))


#: the audit table's columns as both stores name them (``id`` apart)
AUDIT_COLUMNS = ("ts, actor, role, runbook, action, target, before, after, result, dry_run, "
                 "plan_id, fingerprint, args")


class Store(Protocol):
    """Keeps samples, check results, events and items; answers the queries the rest needs."""

    def write(self, collection: Collection, source: str = "") -> None:
        """Persist everything in one collection, atomically; with ``source``, the collection
        is that source's latest run and replaces its previous one in the latest reads
        (samples, checks, items)."""
        ...

    def write_batches(self, batches: Sequence[AgentBatch], received: float) -> list[bool]:
        """Write agents' batches atomically (all or none), in order, each as
        ``write(batch.collection, batch.store_source)`` would; one whose ``(agent, seq)``
        was written before (a replay) is left out. True for each batch written now."""
        ...

    def agent_batches(self) -> list[AgentBatchStats]:
        """Per agent and host, the batches whose ids are kept."""
        ...

    def agent_sources(self) -> list[str]:
        """The sources (``host/source``) agents wrote to, while their ids are kept."""
        ...

    def retain(self, sources: Iterable[str]) -> None:
        """Only these sources are current: the latest of any other leaves the latest reads
        (in a store several servers share, of the others this server wrote last)."""
        ...

    def generation(self) -> str:
        """A token that changes whenever a write was committed since it was last read (it
        may change without one): what is read after it is at least that recent."""
        ...

    def latest_samples(self, name: str | None = None) -> list[Sample]:
        """The newest sample of every series the latest run of a source emitted (of one
        metric, when ``name`` is given)."""
        ...

    def latest_rows(self) -> Iterator[tuple[str, str, float, float]]:
        """What :meth:`latest_samples` gives, in the same order, as (name, labels, time,
        value) rows with the labels as stored: JSON, sorted keys, as ``json.dumps``
        spells them (``/metrics`` renders them without decoding them; a big cloud has
        591,000 such series)."""
        ...

    def sample_range(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> list[Sample]:
        """Samples of one metric in ``[start, end]``, optionally one label set only."""
        ...

    def range_points(
        self, name: str, start: float, end: float, step: float = 0.0, match: Labels = ()
    ) -> list[tuple[Labels, list[tuple[float, float | None]]]]:
        """Each series of ``name`` carrying every label of ``match``, by labels, with its
        points in ``[start, end]`` in time order: every sample as ``(time, value)`` with
        ``step`` 0, else the mean of each ``step``-wide bucket at the bucket's middle,
        buckets aligned on multiples of ``step``; a value that is not a finite number is
        None (JSON has none). Series without a point are left out."""
        ...

    def statistics(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> Statistics | None:
        """Count/min/max/avg/sum/last of one series over a period; ``None`` when empty."""
        ...

    def window_values(
        self, name: str, statistic: str, start: float, period: float, periods: int
    ) -> WindowValues:
        """For each series of ``name`` the latest runs still give, for each of
        ``periods`` slots ``period`` long from ``start`` (a sample at the end counts in the
        last slot), the ``statistic`` (one of :data:`WINDOW_STATISTICS`) of its finite
        values: what alarms read, computed by the database. ``avg`` is exactly ``sum``
        over ``count``, and ``last`` the newest value."""
        ...

    def latest_checks(self) -> list[CheckResult]:
        """The checks of the latest run of each source."""
        ...

    def latest_items(self, kind: str | None = None) -> list[Item]:
        """The items the latest run of each source listed (of one kind when ``kind`` is
        given), by kind and id. Items are current state only: no history is kept."""
        ...

    def events(
        self,
        start: float,
        end: float,
        kinds: Sequence[str] = (),
        request_id: str | None = None,
        resource_id: str | None = None,
        limit: int = 1000,
        *,
        min_severity: Severity | None = None,
        service: str | None = None,
        host: str | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in time order (``newest_first``: the newest ``limit``, newest first),
        filtered by kind, request id, resource id, severity (at least), service or host."""
        ...

    def write_bus(self, batch: BusBatch) -> int:
        """Write one notification consumer batch atomically: the notes whose message id is
        new (each its raw message and its event), the poison and the operations (a closed
        one is never reopened). Returns how many messages were new (docs/notifications.md)."""
        ...

    def bus_state(self, since: float) -> BusState:
        """What the consumer resumes from: message ids received since ``since``, the open
        operations, and the keys of those closed since."""
        ...

    def bus_operations(self, start: float, end: float, resource_id: str | None = None,
                       request_id: str | None = None) -> list[Operation]:
        """Operations closed in ``[start, end]`` (and open ones started then), by time."""
        ...

    def bus_poison(self, limit: int = 100) -> list[PoisonMessage]:
        """The newest messages the consumer set aside, newest first."""
        ...

    def bus_raw(self, message_id: str) -> str | None:
        """The kept raw payload of one notification, while kept."""
        ...

    def prune_bus(self, older_than: float) -> int:
        """Forget the raw notifications (and their ids) received before ``older_than``."""
        ...

    def log_story(self, key: str, limit: int = 5000) -> list[TraceRecord]:
        """The log records of a request id, global request id or instance uuid from the
        request index, in time order (none when there is no index)."""
        ...

    def prune(self, older_than: float) -> int:
        """Delete what is older than a timestamp; return how many rows went (the audit
        log is not pruned: it is small and is the record of what was changed)."""
        ...

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Add entries to the audit log, atomically."""
        ...

    def audit(self, start: float, end: float, *, runbook: str | None = None,
              plan_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Audit entries in ``[start, end]``, newest first (then by id, newest first),
        of one fix or one plan when given."""
        ...

    def close(self) -> None:
        """Release the connection(s)."""
        ...


def write_all(store: Store, collections: Iterable[Collection]) -> None:
    """Write several collections (convenience for tests and backfills)."""
    for collection in collections:
        store.write(collection)


#: What an ``agent`` token may call: the push of a node's results (docs/agent.md).
AGENT_PATHS = frozenset({"/api/v1/ingest"})


class Role(StrEnum):
    """What a web client may do: ``read`` GETs; ``operator`` also acts (POST, PUT...);
    ``agent`` pushes a node's results (:data:`AGENT_PATHS`) and nothing else, not even
    read: a token on every node opens nothing but the push."""

    READ = "read"
    OPERATOR = "operator"
    AGENT = "agent"

    def may(self, method: str, path: str = "") -> bool:
        """True when this role may send a request with this HTTP method (to this path)."""
        if self is Role.AGENT:
            return method == "POST" and path in AGENT_PATHS
        return self is Role.OPERATOR or method in ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One access token as stored: its SHA-256 ``digest``, never the token itself."""

    name: str
    role: Role
    digest: str
    created: float
    expires: float | None = None
    last_used: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now


class TokenStore(Protocol):
    """Keeps the web's access tokens (as digests) by name."""

    def add(self, token: TokenRecord) -> None:
        """Keep a new token; :class:`~stackwatch.errors.StoreError` when the name is taken."""
        ...

    def tokens(self) -> list[TokenRecord]:
        """Every token, by name."""
        ...

    def revoke(self, name: str) -> bool:
        """Forget the token of that name; False when there was none."""
        ...

    def touch(self, name: str, when: float) -> None:
        """Note that the token was used at ``when``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """The current state of one alarm instance (one alarm, one label set)."""

    alarm: str
    labels: Labels
    state: str
    severity: str
    since: float
    reason: str
    value: float | None
    notified: float


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One change of an alarm instance's state, with why (or an acknowledgement, ``kind``
    ``ack``, or a silence that covered it, ``silence``)."""

    ts: float
    alarm: str
    labels: Labels
    previous: str
    current: str
    severity: str
    reason: str
    value: float | None = None
    kind: str = "transition"


@dataclass(frozen=True, slots=True)
class AckRecord:
    """An operator's acknowledgement of a firing alarm instance: no repeats until it
    leaves the alarm state."""

    alarm: str
    labels: Labels
    by: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """Actions held back for the instances ``matchers`` (JSON list of
    ``[label, op, value]``) select, from ``starts`` to ``ends``."""

    id: int
    matchers: str
    starts: float
    ends: float
    by: str
    reason: str
    created: float


class AlarmStateStore(Protocol):
    """Keeps the alarm engine's state (:mod:`stackwatch.alarms`)."""

    def alarm_states(self) -> list[AlarmRecord]:
        """Every alarm instance's current state."""
        ...

    def save_alarms(self, changed: Sequence[AlarmRecord], gone: Sequence[tuple[str, Labels]],
                    transitions: Sequence[AlarmTransition]) -> None:
        """In one transaction: replace the ``changed`` instances, forget the ``gone`` ones
        (alarm, labels), add the ``transitions`` to the history."""
        ...

    def alarm_history(self, start: float, end: float, alarm: str | None = None,
                      limit: int = 1000) -> list[AlarmTransition]:
        """Transitions in ``[start, end]``, newest first."""
        ...

    def acknowledge(self, ack: AckRecord) -> None:
        """Keep (or replace) the acknowledgement of one instance."""
        ...

    def acks(self) -> list[AckRecord]:
        """Every acknowledgement kept."""
        ...

    def unacknowledge(self, keys: Sequence[tuple[str, Labels]]) -> None:
        """Forget the acknowledgements of these instances (they left the alarm state)."""
        ...

    def add_silence(self, silence: SilenceRecord) -> int:
        """Keep a silence (its ``id`` is ignored); return its id."""
        ...

    def silences(self, now: float | None = None) -> list[SilenceRecord]:
        """Every silence, or the ones active at ``now``."""
        ...

    def end_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now; False when there is none of that id."""
        ...

    def prune_alarms(self, older_than: float) -> int:
        """Delete history and ended silences older than a timestamp."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
