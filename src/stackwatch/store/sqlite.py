"""The embedded store: one SQLite file in WAL mode, one writer, many readers.

Schema (compact: a series' name and labels are stored once)::

    series   (id, name, labels, last_ts, last_value)   UNIQUE(name, labels)
    samples  (series_id, ts, value)                    PRIMARY KEY(series_id, ts), no rowid
    current_series (source, series_id)                 PRIMARY KEY, no rowid; by series_id
    checks   (id, name, labels, status, message, perfdata, ts)
    latest_checks (source, name, labels, check_id, ts) PRIMARY KEY(source, name, labels)
    events   (id, ts, kind, event_type, severity, service, host, message,
              request_id, resource_ids, attributes, dedup_key)
                                                       indexed by ts, request_id;
                                                       UNIQUE(dedup_key) when not null
    event_resources (resource_id, event_id)            PRIMARY KEY, no rowid
    items    (source, kind, id, name, status, host, project, message, since,
              attributes, ts)                          PRIMARY KEY(source, kind, id), no rowid
    agent_batches (agent, seq, host, source, created, received)
                                                       PRIMARY KEY(agent, seq), no rowid
    bus_messages (message_id, ts, received, exchange, routing_key, event_type, body)
                                                       the notifications consumed (raw),
                                                       indexed by (received, message_id)
    bus_poison (id, received, reason, exchange, routing_key, size, body)
    bus_operations (resource_id, span, request_id, renamed, started, ended, outcome, host,
                    fault, request_started, build_seconds)  PRIMARY KEY(resource_id, span,
                                                       request_id): operation timings
    audit    (id, ts, actor, role, runbook, action, target, before, after, result,
              dry_run, plan_id, fingerprint, args)     indexed by ts, plan_id

``series.last_ts``/``last_value`` keep "latest" a plain scan of one small table.

"Latest" is what the latest run of each source saw: ``write(collection, source)``
replaces the source's previous series (``current_series``) and checks
(``latest_checks``) with those of the collection, so a series whose labels
changed (an agent alive, then dead), a member the source no longer lists and
everything of a source whose run failed leave "latest" at once; their history
stays. Items are current state only: a source's run replaces its items (the
unchanged ones are written again in place, the gone ones deleted); there is no
history of them. Writes without a source (``source=""``: tests, backfills) only add.
Labels are JSON objects with sorted keys, so one label set has one spelling.
Writes go through one connection under a lock; each reading thread has its
own connection, and WAL lets it read a consistent snapshot while a write is
under way.

Agents' batches (:meth:`SQLiteStore.write_batches`) are written with their ids in
``agent_batches``, in the same transaction: a replayed batch finds its id and is not
written twice, and a crash cannot keep a batch without its id or the reverse. The ids
go with the data they came with, at :meth:`SQLiteStore.prune` (by arrival time).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sqlite3
import threading
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

import orjson

from stackwatch.bus.recent import RecentIds
from stackwatch.bus.records import BusBatch, Note, Operation
from stackwatch.errors import StoreError
from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    Item,
    Labels,
    PerfDatum,
    Sample,
    Severity,
    Status,
)
from stackwatch.store import rollups
from stackwatch.store.base import (
    AUDIT_COLUMNS,
    AgentBatch,
    AgentBatchStats,
    AuditEntry,
    Statistics,
    WindowValues,
)
from stackwatch.store.bus_reads import OPERATION_COLUMNS, BusReads
from stackwatch.store.request_index import TraceRecord, follow, select_records

log = logging.getLogger(__name__)

# No unique index on message_id: a random id lands on a random page of it, one more page
# written per message; the ids of the newest messages are remembered instead
# (bus/recent.py), read back in time order from the covering index at start.
_BUS_MESSAGES = """
CREATE TABLE IF NOT EXISTS bus_messages (
    message_id TEXT NOT NULL,
    ts REAL NOT NULL,
    received REAL NOT NULL,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_messages_received ON bus_messages (received, message_id);
"""
#: a store's bus_messages from before, with its unique message ids, made as it is now
_REBUILD_BUS_MESSAGES = f"""
BEGIN IMMEDIATE;
DROP INDEX IF EXISTS bus_messages_received;
ALTER TABLE bus_messages RENAME TO bus_messages_unique;
{_BUS_MESSAGES}
INSERT INTO bus_messages SELECT message_id, ts, received, exchange, routing_key, event_type,
    body FROM bus_messages_unique ORDER BY received;
DROP TABLE bus_messages_unique;
COMMIT;
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    last_ts REAL NOT NULL,
    last_value REAL NOT NULL,
    UNIQUE (name, labels)
);
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS current_series (
    source TEXT NOT NULL,
    series_id INTEGER NOT NULL,
    PRIMARY KEY (source, series_id)
) WITHOUT ROWID;
-- latest_samples(name): the series of one name, then whether a source holds each (a
-- scan of every held series per call otherwise: 60 ms at 140,000 series, 2 ms with it)
CREATE INDEX IF NOT EXISTS current_series_id ON current_series (series_id);
CREATE TABLE IF NOT EXISTS checks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    status INTEGER NOT NULL,
    message TEXT NOT NULL,
    perfdata TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_ts ON checks (ts);
CREATE TABLE IF NOT EXISTS latest_checks (
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    check_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (source, name, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    event_type TEXT NOT NULL,
    severity INTEGER NOT NULL,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    message TEXT NOT NULL,
    request_id TEXT NOT NULL,
    resource_ids TEXT NOT NULL,
    attributes TEXT NOT NULL,
    dedup_key TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_request ON events (request_id) WHERE request_id != '';
CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS event_resources (
    resource_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (resource_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    host TEXT NOT NULL,
    project TEXT NOT NULL,
    message TEXT NOT NULL,
    since REAL,
    attributes TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (source, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_kind ON items (kind);
CREATE TABLE IF NOT EXISTS agent_batches (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    created REAL NOT NULL,
    received REAL NOT NULL,
    PRIMARY KEY (agent, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agent_batches_received ON agent_batches (received);
""" + _BUS_MESSAGES + """CREATE TABLE IF NOT EXISTS bus_poison (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    reason TEXT NOT NULL,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_operations (
    resource_id TEXT NOT NULL,
    span TEXT NOT NULL,
    request_id TEXT NOT NULL,
    renamed TEXT NOT NULL,
    started REAL,
    ended REAL,
    outcome TEXT NOT NULL,
    host TEXT NOT NULL,
    fault TEXT NOT NULL,
    request_started REAL,
    build_seconds REAL,
    PRIMARY KEY (resource_id, span, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_operations_ended ON bus_operations (ended);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    runbook TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    result TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    plan_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    args TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
CREATE INDEX IF NOT EXISTS audit_plan ON audit (plan_id);
"""


# an operation closed stays closed (its twin from the other nova family comes after); a
# failure closed without its fault takes the fault that follows
_UPSERT_OPERATION = (
    f"INSERT INTO bus_operations ({OPERATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (resource_id, span, request_id) DO UPDATE SET renamed = excluded.renamed, "
    "started = COALESCE(bus_operations.started, excluded.started), ended = excluded.ended, "
    "outcome = excluded.outcome, host = excluded.host, fault = excluded.fault, "
    "request_started = COALESCE(excluded.request_started, bus_operations.request_started), "
    "build_seconds = excluded.build_seconds WHERE bus_operations.outcome = 'open' "
    "OR (bus_operations.outcome = 'failure' AND bus_operations.fault = '')")


#: a Note's first seven fields (n[:7])
_INSERT_MESSAGE = ("INSERT INTO bus_messages (message_id, ts, received, exchange, "
                   "routing_key, event_type, body) VALUES (?, ?, ?, ?, ?, ?, ?)")




def _operation_row(op: Operation) -> tuple[Any, ...]:
    return (op.resource_id, op.span, op.request_id, op.renamed, op.started, op.ended,
            op.outcome, op.host, op.fault, op.request_started, op.build_seconds)



def open_tables(path: Path, timeout: float, schema: str, what: str) -> sqlite3.Connection:
    """A :func:`connect`ion to the store file (made if missing, WAL) with ``schema``
    created; a StoreError naming ``what`` when it cannot be opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path, timeout)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path}: cannot open {what}: {exc}") from exc
    return conn


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to the store file as every store part uses it: autocommit (explicit
    transactions), shareable across threads (callers lock), synchronous=NORMAL."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


#: the samples of the series ``:ids`` as (series, slot, count, total), by ``:step``-wide
#: slot from ``:origin``; a time range is added to it
_SLOTS = ("SELECT series_id, CAST(floor((ts - :origin) / :step) AS INTEGER) AS slot, 1 AS n, "
          "value AS total FROM samples WHERE series_id IN (SELECT value FROM json_each(:ids)) ")


def _finite(expression: str) -> str:
    """``expression`` when a finite number, else NULL (JSON has no inf or NaN)."""
    return (f"CASE WHEN {expression} BETWEEN -1.7976931348623157e308 "
            f"AND 1.7976931348623157e308 THEN {expression} END")


def _bucket_queries(step: float, hours: bool) -> list[str]:
    """The queries of :meth:`SQLiteStore.range_points`' buckets, each giving (series,
    middle, mean) by series and time: with ``hours`` (whole hours inside the range) and a
    step of whole hours, those hours from their sums, the rest from the samples."""
    if not hours or step % rollups.HOUR:
        return [_buckets([_SLOTS + "AND ts BETWEEN :start AND :end"])]
    head = _SLOTS + "AND ts >= :start AND ts < :first * 3600.0"
    tail = _SLOTS + "AND ts >= :last * 3600.0 AND ts <= :end"
    if step == rollups.HOUR:  # a bucket an hour: each part has buckets of its own
        return [_buckets([head]), rollups.HOURS, _buckets([tail])]
    return [_buckets([head, rollups.SLOTS, tail])]


def _buckets(parts: list[str]) -> str:
    """(series, the bucket's middle, its mean) of the (series, slot, count, total) rows of
    ``parts`` by series and slot; a total NULL (inf - inf) makes the mean NULL."""
    mean = "SUM(total) / SUM(n)"
    return (f"SELECT series_id, :origin + (slot + 0.5) * :step, CASE WHEN MAX(total IS NULL) "
            f"THEN NULL ELSE {_finite(mean)} END FROM (" + " UNION ALL ".join(parts)
            + ") GROUP BY series_id, slot ORDER BY series_id, slot")


def _encode_labels(labels: Labels) -> str:
    """Labels as JSON with sorted keys, spelled as ``json.dumps`` with ``ensure_ascii``
    spells them (a store's existing series keep their spelling): orjson's text when it
    is plain ASCII below DEL, where both agree, else ``json.dumps``'s escapes."""
    mapping = dict(labels)
    try:
        text = orjson.dumps(mapping, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # a value orjson does not take: json.dumps says what is wrong
        text = "\x7f"
    if text.isascii() and "\x7f" not in text:
        return text
    return json.dumps(mapping, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=1 << 18)
def _decode_labels(text: str) -> Labels:
    # Cached: /metrics and latest() decode the same few hundred thousand label sets each time.
    return tuple(sorted(orjson.loads(text).items()))


_SAMPLES_IN = ("FROM samples p WHERE p.series_id = s.id AND p.ts >= {lo} AND p.ts < {hi} "
               "AND p.value = p.value")
#: per statistic, the subquery of one series' slot (NULL: no value)
_WINDOW_SQL = {
    "last": f"SELECT p.value {_SAMPLES_IN} ORDER BY p.ts DESC LIMIT 1",
    "min": f"SELECT MIN(p.value) {_SAMPLES_IN}",
    "max": f"SELECT MAX(p.value) {_SAMPLES_IN}",
    "avg": f"SELECT AVG(p.value) {_SAMPLES_IN}",
    "sum": f"SELECT SUM(p.value) {_SAMPLES_IN}",
    "count": f"SELECT NULLIF(COUNT(*), 0) {_SAMPLES_IN}",
}
#: slots (result columns) per query: SQLite allows 2,000 columns
_SLOTS_PER_QUERY = 100


def _encode_perfdata(perfdata: Sequence[PerfDatum]) -> str:
    return json.dumps([[p.label, p.value, p.uom, p.warn, p.crit, p.minimum, p.maximum]
                       for p in perfdata])


def _decode_perfdata(text: str) -> tuple[PerfDatum, ...]:
    return tuple(PerfDatum(*item) for item in json.loads(text))


class SQLiteStore(BusReads):
    """:class:`~stackwatch.store.base.Store` on one SQLite file (``":memory:"`` not supported)."""

    _placeholder = "?"

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None  # reads only PRAGMA data_version
        self._watcher_lock = threading.Lock()
        #: reads under way, by thread: :meth:`close` waits for other threads' reads (a
        #: connection closed under a query running on another thread crashes the process)
        self._reads: dict[int, int] = {}
        self._reads_changed = threading.Condition()
        self._closed = False
        #: the latest checks last decoded: their row ids (sorted), in order, by row id
        self._decoded: tuple[tuple[int, ...], list[CheckResult], dict[int, CheckResult]] = (
            (), [], {})
        self._series_ids: dict[tuple[str, Labels], int] = {}
        #: each series' newest sample (time, value), as series.last_ts/last_value: what a
        #: write adds to the hourly sums (rollups.plan)
        self._newest: dict[int, tuple[float, float]] = {}
        # what the latest run of each source holds (mirrors current_series, latest_checks)
        self._held_series: dict[str, set[int]] = {}
        self._held_checks: dict[str, set[tuple[str, str]]] = {}
        self._held_items: dict[str, set[tuple[str, str]]] = {}
        # what a transaction of several collections made so far (write_batches)
        self._pending_ids: dict[tuple[str, Labels], int] = {}
        self._pending_newest: dict[int, tuple[float, float]] = {}
        # per source: the series, checks and items it holds so far
        self._pending_held: dict[str, tuple[set[int], set[tuple[str, str]],
                                            set[tuple[str, str]]]] = {}
        #: the ids of the newest notifications stored, read at the first write_bus
        self._bus_ids: RecentIds | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
            columns = [row[1] for row in self._writer.execute("PRAGMA table_info(latest_checks)")]
            if columns and "source" not in columns:
                # a store from before checks were kept per source: the pointers go (the
                # checks stay), the next run of each source sets its own again
                self._writer.execute("DROP TABLE latest_checks")
            columns = [row[1] for row in self._writer.execute("PRAGMA table_info(events)")]
            if columns and "dedup_key" not in columns:  # a store from before natural keys
                self._writer.execute("ALTER TABLE events ADD COLUMN dedup_key TEXT")
            if self._writer.execute("SELECT 1 FROM pragma_index_list('bus_messages') "
                                    "WHERE \"unique\"").fetchone():
                self._writer.executescript(_REBUILD_BUS_MESSAGES)
            self._writer.executescript(_SCHEMA)
            rollups.start(self._writer)
            for row in self._writer.execute(
                    "SELECT id, name, labels, last_ts, last_value FROM series"):
                self._series_ids[(row[1], _decode_labels(row[2]))] = row[0]
                self._newest[row[0]] = (row[3], row[4])
            self._load_held(self._writer)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open store: {exc}") from exc

    def _load_held(self, conn: sqlite3.Connection) -> None:
        self._held_series = {}
        self._held_checks = {}
        self._held_items = {}
        for source, series_id in conn.execute("SELECT source, series_id FROM current_series"):
            self._held_series.setdefault(source, set()).add(series_id)
        for source, name, labels in conn.execute("SELECT source, name, labels FROM latest_checks"):
            self._held_checks.setdefault(source, set()).add((name, labels))
        for source, kind, item_id in conn.execute("SELECT source, kind, id FROM items"):
            self._held_items.setdefault(source, set()).add((kind, item_id))

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path, self._timeout)
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: a big cloud's series index fits
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """This thread's reader connection, held for a read that :meth:`close` waits for."""
        me = threading.get_ident()
        with self._reads_changed:
            if self._closed:
                raise StoreError(f"{self.path}: the store is closed")
            self._reads[me] = self._reads.get(me, 0) + 1
        try:
            yield self._reader()
        finally:
            with self._reads_changed:
                left = self._reads.pop(me) - 1
                if left:
                    self._reads[me] = left
                self._reads_changed.notify_all()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: write failed: {exc}") from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        try:
            with self._reading() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: query failed: {exc}") from exc

    # ------------------------------------------------------------------ write
    def write(self, collection: Collection, source: str = "") -> None:
        """Persist samples, checks, events and items of one collection in one transaction.

        With ``source``, the collection is that source's latest run: its series, checks
        and items replace those of the source's previous run in :meth:`latest_samples`,
        :meth:`latest_checks` and :meth:`latest_items`. Without, they are added.
        """
        with self._write_lock:  # held across commit and cache update (an RLock)
            self._pending_ids.clear()
            self._pending_newest.clear()
            self._pending_held.clear()
            with self._transaction() as conn:
                done = self._write_in(conn, collection, source)
            self._committed(*done)

    _Written = tuple[dict[tuple[str, Labels], int], str, set[int], set[tuple[str, str]],
                     set[tuple[str, str]], dict[int, tuple[float, float]]]

    def _write_in(self, conn: sqlite3.Connection, collection: Collection, source: str
                  ) -> _Written:
        """Write one collection in the open transaction; what the caches learn once it
        commits (:meth:`_committed`)."""
        new_ids: dict[tuple[str, Labels], int] = {}
        newest: dict[int, tuple[float, float]] = {}
        series_ids: set[int] = set()
        if collection.samples:
            series_ids = self._write_samples(conn, collection.samples, new_ids, newest)
        held_series = self._hold_series(conn, source, series_ids)
        held_checks = self._write_checks(conn, source, collection.checks)
        if collection.events:
            self._write_events(conn, collection.events)
        held_items = self._write_items(conn, source, collection.items)
        # seen by the next collection of the same transaction (an agent's batches)
        self._pending_ids.update(new_ids)
        self._pending_newest.update(newest)
        self._pending_held[source] = (held_series, held_checks, held_items)
        return new_ids, source, held_series, held_checks, held_items, newest

    def _committed(self, new_ids: dict[tuple[str, Labels], int], source: str,
                   held_series: set[int], held_checks: set[tuple[str, str]],
                   held_items: set[tuple[str, str]],
                   newest: dict[int, tuple[float, float]]) -> None:
        self._series_ids.update(new_ids)  # only once committed
        self._newest.update(newest)
        self._held_series[source] = held_series
        self._held_checks[source] = held_checks
        self._held_items[source] = held_items

    # -------------------------------------------------------------- agents
    def write_batches(self, batches: Sequence[AgentBatch], received: float) -> list[bool]:
        """Write agents' batches in one transaction, in the order given; a batch whose
        ``(agent, seq)`` was written before is left out. True for each one written now."""
        fresh: list[bool] = []
        done: list[SQLiteStore._Written] = []
        with self._write_lock:
            self._pending_ids.clear()
            self._pending_newest.clear()
            self._pending_held.clear()
            with self._transaction() as conn:
                for batch in batches:
                    seen = conn.execute(
                        "SELECT 1 FROM agent_batches WHERE agent = ? AND seq = ?",
                        (batch.agent, batch.seq)).fetchone()
                    fresh.append(seen is None)
                    if seen is not None:
                        continue
                    done.append(self._write_in(conn, batch.collection, batch.store_source))
                    conn.execute(
                        "INSERT INTO agent_batches (agent, seq, host, source, created, "
                        "received) VALUES (?, ?, ?, ?, ?, ?)",
                        (batch.agent, batch.seq, batch.host, batch.source, batch.created,
                         received))
            for written in done:
                self._committed(*written)
        return fresh

    def agent_batches(self) -> list[AgentBatchStats]:
        """Per agent and host: the batches kept (their ids stay for the retention), the
        lowest and highest sequence, when the last arrived."""
        rows = self._query(
            "SELECT agent, host, COUNT(*), MIN(seq), MAX(seq), MAX(received), MAX(created) "
            "FROM agent_batches GROUP BY agent, host ORDER BY host, agent")
        return [AgentBatchStats(*row) for row in rows]

    def agent_sources(self) -> list[str]:
        """The store sources (``host/source``) agents have written to."""
        return [row[0] for row in self._query(
            "SELECT DISTINCT host || '/' || source FROM agent_batches ORDER BY 1")]

    def _write_samples(
        self,
        conn: sqlite3.Connection,
        samples: Sequence[Sample],
        new_ids: dict[tuple[str, Labels], int],
        latest_of: dict[int, tuple[float, float]],
    ) -> set[int]:
        """Write the samples and their hourly sums; return the ids of their series and
        put the newest sample of each into ``latest_of``.

        A sample equal to its series' newest (same time, same value: a resource not due
        re-emits its last read) is stored already and is not written again. The usual
        write (each series once, as the runner hands runs over) goes in whole-list steps;
        a key written twice keeps its last value."""
        known = self._series_ids
        pending = self._pending_ids  # series made earlier in this transaction
        keys = [(sample.name, sample.labels) for sample in samples]
        found: list[int | None] = (list(map(known.get, keys)) if not pending else
                                   [known.get(key) or pending.get(key) for key in keys])
        stamps = [sample.timestamp for sample in samples]
        values = [sample.value for sample in samples]
        fresh = [i for i, series_id in enumerate(found) if series_id is None]
        newest: dict[tuple[str, Labels], tuple[float, float]] = {}  # of new series
        for i in fresh:
            seen = newest.get(keys[i])
            if seen is None or stamps[i] >= seen[0]:
                newest[keys[i]] = (stamps[i], values[i])
        if newest:
            # One writer: ids are handed out here rather than read back row by row, and a
            # new series starts with its newest value. In the order of the (name, labels)
            # index: its pages filled one after the other, not at random (a big cloud's
            # first run inserts 591,000)
            top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM series").fetchone()[0]
            order = sorted((key[0], _encode_labels(key[1]), key) for key in newest)
            new_ids.update((key, series_id) for series_id, (_, _, key) in
                           enumerate(order, top + 1))
            conn.executemany(
                "INSERT INTO series (id, name, labels, last_ts, last_value) VALUES (?, ?, ?, ?, ?)",
                [(series_id, name, text, *newest[key])
                 for series_id, (name, text, key) in enumerate(order, top + 1)],
            )
            for i in fresh:
                found[i] = new_ids[keys[i]]
        ids = cast(list[int], found)  # every one known now
        every = list(zip(ids, stamps, values, strict=True))
        # the newest before this write: of the transaction's earlier collections, or stored
        # (a ChainMap's lookups cost a microsecond each: only when there are earlier ones)
        before: Mapping[int, tuple[float, float]] = (
            ChainMap(self._pending_newest, self._newest) if self._pending_newest
            else self._newest)
        held = set(ids)
        once = len(held) == len(every)  # each series once
        if once:
            rows = every
        else:
            final = dict(zip(zip(ids, stamps, strict=True), values, strict=True))
            rows = [(series_id, ts, value) for (series_id, ts), value in final.items()]
        if len(fresh) < len(every):  # series stored before: the samples that change them
            made = {ids[i] for i in fresh}
            updates = [row for row in every if row[0] not in made]
            same = {row for row in updates if before.get(row[0]) == (row[1], row[2])
                    } if once else set()
            if same:
                updates = [row for row in updates if row not in same]
                rows = [row for row in rows if row not in same]
            conn.executemany(
                "UPDATE series SET last_ts = ?2, last_value = ?3 WHERE id = ?1 AND last_ts <= ?2",
                updates,
            )
        conn.executemany(
            "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value",
            rows,
        )
        rollups.apply(conn, rollups.plan(rows, before))
        get = latest_of.get
        for series_id, ts, value in rows:
            seen = get(series_id) or before.get(series_id)
            if seen is None or ts >= seen[0]:
                latest_of[series_id] = (ts, value)
        return held

    def _hold_series(self, conn: sqlite3.Connection, source: str, ids: set[int]) -> set[int]:
        """Make ``ids`` the series ``source`` holds (added to them without a source)."""
        before = self._pending_held[source][0] if source in self._pending_held else \
            self._held_series.get(source, set())
        held = before | ids if not source else ids
        conn.executemany("DELETE FROM current_series WHERE source = ? AND series_id = ?",
                         [(source, i) for i in before - held])
        conn.executemany("INSERT INTO current_series (source, series_id) VALUES (?, ?)",
                         [(source, i) for i in sorted(held - before)])  # in key order
        return held

    def _write_checks(self, conn: sqlite3.Connection, source: str,
                      checks: Sequence[CheckResult]) -> set[tuple[str, str]]:
        """Write the checks; return the (name, labels) ``source`` now holds."""
        mine: set[tuple[str, str]] = set()
        for check in checks:
            labels = _encode_labels(check.labels)
            mine.add((check.name, labels))
            cursor = conn.execute(
                "INSERT INTO checks (name, labels, status, message, perfdata, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (check.name, labels, int(check.status), check.message,
                 _encode_perfdata(check.perfdata), check.timestamp),
            )
            conn.execute(
                "INSERT INTO latest_checks (source, name, labels, check_id, ts) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, name, labels) DO UPDATE SET "
                "check_id = excluded.check_id, ts = excluded.ts "
                "WHERE excluded.ts >= latest_checks.ts",
                (source, check.name, labels, cursor.lastrowid, check.timestamp),
            )
        before = self._pending_held[source][1] if source in self._pending_held else \
            self._held_checks.get(source, set())
        if not source:
            return before | mine
        conn.executemany("DELETE FROM latest_checks WHERE source = ? AND name = ? AND labels = ?",
                         [(source, *key) for key in before - mine])
        return mine

    def _write_events(self, conn: sqlite3.Connection, events: Sequence[Event]) -> None:
        """Insert the events; one whose key an event stored holds already is left out."""
        for event in events:
            cursor = conn.execute(
                "INSERT INTO events (ts, kind, event_type, severity, service, host, message, "
                "request_id, resource_ids, attributes, dedup_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (event.timestamp, event.kind, event.event_type, int(event.severity),
                 event.service, event.host, event.message, event.request_id,
                 json.dumps(list(event.resource_ids)), _encode_labels(event.attributes),
                 event.key or None),
            )
            if not cursor.rowcount:
                continue
            conn.executemany(
                "INSERT OR IGNORE INTO event_resources (resource_id, event_id) VALUES (?, ?)",
                [(rid, cursor.lastrowid) for rid in event.resource_ids],
            )

    def _write_items(self, conn: sqlite3.Connection, source: str,
                     items: Sequence[Item]) -> set[tuple[str, str]]:
        """Write the items; return the (kind, id) ``source`` now holds."""
        before = self._pending_held[source][2] if source in self._pending_held else \
            self._held_items.get(source, set())
        mine = {(item.kind, item.id) for item in items}
        if source:
            conn.executemany("DELETE FROM items WHERE source = ? AND kind = ? AND id = ?",
                             [(source, *key) for key in before - mine])
        conn.executemany(
            "INSERT INTO items (source, kind, id, name, status, host, project, message, since, "
            "attributes, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, kind, id) DO UPDATE SET name = excluded.name, "
            "status = excluded.status, host = excluded.host, project = excluded.project, "
            "message = excluded.message, since = excluded.since, "
            "attributes = excluded.attributes, ts = excluded.ts",
            [(source, i.kind, i.id, i.name, i.status, i.host, i.project, i.message, i.since,
              _encode_labels(i.attributes), i.timestamp) for i in items])
        return mine if source else before | mine

    def retain(self, sources: Iterable[str]) -> None:
        """Only ``sources`` are current: what another source's last run saw (a source no
        longer configured) leaves the latest reads. Writes without a source stay."""
        keep = {"", *sources}
        with self._write_lock:
            held = set(self._held_series) | set(self._held_checks) | set(self._held_items)
            for gone in held - keep:
                self.write(Collection(), gone)

    # ------------------------------------------------------------------- read
    def generation(self) -> str:
        """Changes whenever a write was committed since the last call (by this process or
        another): SQLite's ``data_version`` of one connection that never writes."""
        with self._watcher_lock:
            if self._closed:
                raise StoreError(f"{self.path}: the store is closed")
            if self._watcher is None:
                self._watcher = self._connect()
                self._watcher.execute("PRAGMA query_only=ON")
                with self._readers_lock:
                    self._readers.append(self._watcher)
            try:
                return str(self._watcher.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: query failed: {exc}") from exc

    def latest_samples(self, name: str | None = None) -> list[Sample]:
        """The newest sample of every series the latest run of a source emitted (of one
        metric when ``name`` is given)."""
        sql = ("SELECT name, labels, last_ts, last_value FROM series "
               "WHERE id IN (SELECT series_id FROM current_series)")
        params: tuple[str, ...] = ()
        if name is not None:
            sql += " AND name = ?"
            params = (name,)
        rows = self._query(sql + " ORDER BY name, labels", params)
        return [Sample(r[0], r[3], _decode_labels(r[1]), r[2]) for r in rows]

    def latest_rows(self) -> Iterator[tuple[str, str, float, float]]:
        """:meth:`latest_samples` as (name, labels JSON, time, value), read in batches."""
        try:
            with self._reading() as conn:
                cursor = conn.execute(
                    "SELECT name, labels, last_ts, last_value FROM series "
                    "WHERE id IN (SELECT series_id FROM current_series) ORDER BY name, labels")
                try:
                    while batch := cursor.fetchmany(10000):
                        yield from batch
                finally:
                    if not self._closed:  # closing the store ended the read already
                        cursor.close()  # ends it (a reader left open holds the WAL back)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: query failed: {exc}") from exc

    def _series_filter(self, name: str, labels: Labels | None) -> tuple[str, list[Any]]:
        if labels is None:
            return "s.name = ?", [name]
        return "s.name = ? AND s.labels = ?", [name, _encode_labels(labels)]

    def sample_range(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> list[Sample]:
        """Samples of one metric in ``[start, end]`` in time order."""
        where, params = self._series_filter(name, labels)
        rows = self._query(
            "SELECT s.name, s.labels, p.ts, p.value FROM series s "
            f"JOIN samples p ON p.series_id = s.id WHERE {where} AND p.ts BETWEEN ? AND ? "
            "ORDER BY p.ts, s.labels",
            [*params, start, end],
        )
        return [Sample(r[0], r[3], _decode_labels(r[1]), r[2]) for r in rows]

    def range_points(
        self, name: str, start: float, end: float, step: float = 0.0, match: Labels = ()
    ) -> list[tuple[Labels, list[tuple[float, float | None]]]]:
        """Each series of ``name`` carrying every label of ``match``, by labels, with its
        points in ``[start, end]`` in time order: every sample with ``step`` 0, else the
        mean of each ``step``-wide bucket at its middle, buckets aligned on multiples of
        ``step`` (the first and last may hold part of one).

        The series are chosen first (a metric has a few thousand at most), then only their
        samples are read and bucketed by SQLite; with a step of whole hours, the whole
        hours inside the range come from their sums (:mod:`.rollups`). A sample within a
        rounding error of a bucket's edge may fall in the bucket beside.
        """
        wanted = dict(match)
        chosen = sorted((labels, series_id) for series_id, labels in (
            (row[0], _decode_labels(row[1])) for row in self._query(
                "SELECT id, labels FROM series WHERE name = ?", [name]))
            if all(dict(labels).get(k) == v for k, v in wanted.items()))
        if not chosen:
            return []
        ids = json.dumps([series_id for _, series_id in chosen])
        points: dict[int, list[tuple[float, float | None]]] = {i: [] for _, i in chosen}
        # whole hours inside the range whose sums are complete
        first = max(math.ceil(start / rollups.HOUR), rollups.complete_from(self._query))
        last = math.floor(end / rollups.HOUR)
        if step <= 0:
            queries = [("SELECT series_id, ts, " + _finite("value") + " FROM samples "
                        "WHERE series_id IN (SELECT value FROM json_each(:ids)) "
                        "AND ts BETWEEN :start AND :end ORDER BY series_id, ts")]
        else:
            queries = _bucket_queries(step, first < last)
        args = {"ids": ids, "start": start, "end": end, "step": step, "first": first,
                "last": last, "origin": math.floor(start / step) * step if step > 0 else 0.0}
        for sql in queries:  # each in time order per series, and after the one before
            for series_id, rows in groupby(self._query(sql, args), itemgetter(0)):
                points[series_id] += [(t, v) for _, t, v in rows]
        return [(labels, points[i]) for labels, i in chosen if points[i]]

    def statistics(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> Statistics | None:
        """Count/min/max/avg/sum/last over ``[start, end]``; all series of ``name``
        together when ``labels`` is None."""
        where, params = self._series_filter(name, labels)
        base = (f"FROM series s JOIN samples p ON p.series_id = s.id "
                f"WHERE {where} AND p.ts BETWEEN ? AND ?")
        rows = self._query(
            f"SELECT COUNT(*), MIN(p.value), MAX(p.value), AVG(p.value), SUM(p.value) {base}",
            [*params, start, end],
        )
        count, minimum, maximum, average, total = rows[0]
        if not count:
            return None
        last = self._query(f"SELECT p.value {base} ORDER BY p.ts DESC LIMIT 1",
                           [*params, start, end])[0][0]
        return Statistics(count, minimum, maximum, average, total, last)

    def window_values(
        self, name: str, statistic: str, start: float, period: float, periods: int
    ) -> WindowValues:
        """The statistic per current series and slot.

        One correlated subquery per slot and series, each a seek on the samples' primary
        key (series, time) that aggregates its few rows: two to three times faster than
        one ``GROUP BY`` over the join (SQLite's grouping, per row, costs more than the
        seek). ``AVG`` is SQLite's ``SUM`` over ``COUNT`` (one division of the same sum);
        ``last`` reads the newest row alone, backwards on the key."""
        what = _WINDOW_SQL[statistic]
        keys: list[str] = []
        slots: list[Sequence[float | None]] = []
        for first in range(0, periods, _SLOTS_PER_QUERY):
            chosen = range(first, min(periods, first + _SLOTS_PER_QUERY))
            args: dict[str, Any] = {"name": name}
            for slot in chosen:
                hi = start + (slot + 1) * period
                args[f"lo{slot}"] = start + slot * period
                # the last slot holds a sample at its very end
                args[f"hi{slot}"] = math.nextafter(hi, math.inf) if slot == periods - 1 else hi
            columns = ", ".join(f"({what.format(lo=f':lo{slot}', hi=f':hi{slot}')})"
                                for slot in chosen)
            rows = self._query(f"SELECT s.labels, {columns} FROM series s WHERE s.name = :name "
                               "AND s.id IN (SELECT series_id FROM current_series)", args)
            found: list[Sequence[Any]] = list(zip(*rows, strict=True)) or [()] * (
                len(chosen) + 1)
            if first and list(found[0]) != keys:  # series came or went between two reads
                where = {key: j for j, key in enumerate(found[0])}
                found = [keys, *([column[where[k]] if k in where else None for k in keys]
                                 for column in found[1:])]
            keys = list(found[0])
            slots += found[1:]
        return WindowValues(keys, slots, _decode_labels)

    def latest_checks(self) -> list[CheckResult]:
        """The checks of the latest run of each source (and the newest of every check
        written without a source, by name and labels).

        Decoded once: the store keeps the checks it decoded, shared by every reading
        thread, and gives the same objects again while the latest checks are the same
        rows (a check row never changes; a run writes new ones), decoding only new rows
        (a big cloud's 4,000 took 30-100 ms to decode, at every request).
        """
        ids = tuple(row[0] for row in self._query(
            "SELECT check_id FROM latest_checks ORDER BY check_id"))
        with self._readers_lock:
            kept = self._decoded
        if kept[0] == ids:
            return list(kept[1])
        rows = self._query(
            "SELECT c.id, c.name, c.labels, c.status, c.message, c.perfdata, c.ts "
            "FROM latest_checks l JOIN checks c ON c.id = l.check_id ORDER BY c.name, c.labels"
        )
        known = kept[2]
        by_id = {r[0]: known.get(r[0]) or CheckResult(
            r[1], Status(r[3]), r[4], _decode_labels(r[2]), _decode_perfdata(r[5]), r[6])
            for r in rows}
        found = [by_id[r[0]] for r in rows]
        with self._readers_lock:
            self._decoded = (tuple(sorted(by_id)), found, by_id)
        return list(found)

    def latest_items(self, kind: str | None = None) -> list[Item]:
        """The items of the latest run of each source (and every item written without a
        source), of one ``kind`` when given, by kind and id."""
        sql = ("SELECT kind, id, name, status, host, project, message, since, attributes, ts "
               "FROM items")
        params: tuple[str, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        rows = self._query(sql + " ORDER BY kind, id, source", params)
        return [Item(kind=r[0], id=r[1], name=r[2], status=r[3], host=r[4], project=r[5],
                     message=r[6], since=r[7], attributes=_decode_labels(r[8]), timestamp=r[9])
                for r in rows]

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
        """Events in ``[start, end]`` in time order (``newest_first``: the newest ``limit``,
        newest first), filtered by kind, request, resource, severity, service or host."""
        clauses = ["e.ts BETWEEN ? AND ?"]
        params: list[Any] = [start, end]
        source = "events e"
        if kinds:
            clauses.append(f"e.kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if request_id:
            clauses.append("e.request_id = ?")
            params.append(request_id)
        if resource_id:
            source = "event_resources r JOIN events e ON e.id = r.event_id"
            clauses.append("r.resource_id = ?")
            params.append(resource_id)
        for column, value in (("severity", min_severity), ("service", service),
                              ("host", host)):
            if value is not None:
                clauses.append(f"e.{column} {'>=' if column == 'severity' else '='} ?")
                params.append(int(value) if isinstance(value, Severity) else value)
        order = " DESC" if newest_first else ""
        rows = self._query(
            "SELECT e.ts, e.kind, e.event_type, e.severity, e.service, e.host, e.message, "
            f"e.request_id, e.resource_ids, e.attributes FROM {source} "
            f"WHERE {' AND '.join(clauses)} ORDER BY e.ts{order}, e.id{order} LIMIT ?",
            [*params, limit],
        )
        return [Event(kind=r[1], event_type=r[2], timestamp=r[0], severity=Severity(r[3]),
                      service=r[4], host=r[5], message=r[6], request_id=r[7],
                      resource_ids=tuple(json.loads(r[8])), attributes=_decode_labels(r[9]))
                for r in rows]

    # ------------------------------------------------------------------ bus
    def write_bus(self, batch: BusBatch) -> int:
        """Write one consumer batch in one transaction (docs/notifications.md): each message
        not stored lately (:mod:`~stackwatch.bus.recent`: the ids of the newest ones,
        remembered) with its event, the poison, the operations (a closed one is never
        reopened). Returns messages new."""
        fresh: list[Note] = []
        ids: set[str] = set()
        with self._write_lock:
            with self._transaction() as conn:
                recent = self._recent_bus_ids(conn)
                known = recent.ids
                for n in batch.notes:
                    mid = n.message_id
                    if mid not in known and mid not in ids:
                        ids.add(mid)
                        fresh.append(n)
                self._write_bus_in(conn, fresh, batch)
            if fresh:  # once committed
                recent.add(ids, max(n.received for n in fresh))
        return len(fresh)

    def _recent_bus_ids(self, conn: sqlite3.Connection) -> RecentIds:
        """The ids of the newest notifications stored (read once, in time order)."""
        if self._bus_ids is None:
            recent = RecentIds()
            rows = conn.execute(
                "SELECT received, message_id FROM bus_messages ORDER BY received DESC "
                "LIMIT ?", (recent.most,)).fetchall()
            if rows:
                recent.add({r[1] for r in rows if r[1]}, rows[0][0])
            self._bus_ids = recent
        return self._bus_ids

    def _write_bus_in(self, conn: sqlite3.Connection, fresh: Sequence[Note],
                      batch: BusBatch) -> None:
        if fresh:
            conn.executemany(_INSERT_MESSAGE, [n[:7] for n in fresh])
            self._write_notes(conn, fresh)
        conn.executemany(
            "INSERT INTO bus_poison (received, reason, exchange, routing_key, size, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(p.received, p.reason, p.exchange, p.routing_key, p.size, p.body)
             for p in batch.poison])
        conn.executemany(_UPSERT_OPERATION, [_operation_row(op) for op in batch.operations])

    def _write_notes(self, conn: sqlite3.Connection, notes: Sequence[Note]) -> None:
        """The notes' events as :meth:`_write_events` writes events, in two ``executemany``:
        the ids are given (the write lock of ``BEGIN IMMEDIATE`` is held, so nobody else
        takes them meanwhile); the attributes are JSON already (sorted keys, UTF-8 rather
        than escapes: read back alike)."""
        if not notes:
            return
        first = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]) + 1
        dumps = orjson.dumps
        conn.executemany(
            "INSERT INTO events (id, ts, kind, event_type, severity, service, host, message, "
            "request_id, resource_ids, attributes) VALUES (?, ?, 'notification', ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            [(i, n.timestamp, n.event_type, n.severity, n.service, n.host, n.message,
              n.request_id, dumps(n.resource_ids).decode(), n.attributes)
             for i, n in enumerate(notes, first)])
        conn.executemany(
            "INSERT OR IGNORE INTO event_resources (resource_id, event_id) VALUES (?, ?)",
            [(rid, i) for i, n in enumerate(notes, first) for rid in n.resource_ids])

    def prune_bus(self, older_than: float) -> int:
        """Forget the raw messages (and so their ids) received before ``older_than``."""
        with self._transaction() as conn:
            return int(conn.execute("DELETE FROM bus_messages WHERE received < ?",
                                    (older_than,)).rowcount)

    def log_story(self, key: str, limit: int = 5000) -> list[TraceRecord]:
        """The request index's records of a request id, global request id or instance
        uuid (:func:`~stackwatch.store.request_index.follow`), read-only: none when no
        logs source ever wrote the index into this file."""
        if not self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'log_records'"):
            return []
        with self._reading() as conn:
            return follow(lambda column, keys: select_records(conn, self.path, column, keys),
                          key, limit)

    # -------------------------------------------------------------- retention
    def prune(self, older_than: float) -> int:
        """Delete what was last seen before ``older_than``; return how many rows went.

        Samples, checks, events and items older than the cutoff go. A series or check seen
        since keeps its latest value however old that sample is; one whose newest value
        is itself older (a deleted VM's series, a check nobody emits any more) goes whole,
        so a cloud with churn does not grow the store without end.
        """
        with self._write_lock:  # held across commit and cache update (an RLock)
            with self._transaction() as conn:
                gone = [row[0] for row in conn.execute(
                    "SELECT id FROM series WHERE last_ts < ?", (older_than,))]
                removed = conn.execute("DELETE FROM series WHERE last_ts < ?",
                                       (older_than,)).rowcount
                if gone:  # pointers to what went (not counted: they are not data)
                    conn.execute("DELETE FROM current_series "
                                 "WHERE series_id NOT IN (SELECT id FROM series)")
                removed += conn.execute("DELETE FROM samples WHERE ts < ?",
                                        (older_than,)).rowcount
                removed += conn.execute("DELETE FROM latest_checks WHERE ts < ?",
                                        (older_than,)).rowcount
                removed += conn.execute(
                    "DELETE FROM checks WHERE ts < ? AND id NOT IN "
                    "(SELECT check_id FROM latest_checks)", (older_than,)).rowcount
                removed += conn.execute(
                    "DELETE FROM event_resources WHERE event_id IN "
                    "(SELECT id FROM events WHERE ts < ?)", (older_than,)).rowcount
                removed += conn.execute("DELETE FROM events WHERE ts < ?",
                                        (older_than,)).rowcount
                # an item not seen since (its source gone, or a write without a source)
                removed += conn.execute("DELETE FROM items WHERE ts < ?",
                                        (older_than,)).rowcount
                removed += conn.execute("DELETE FROM agent_batches WHERE received < ?",
                                        (older_than,)).rowcount
                removed += conn.execute("DELETE FROM bus_poison WHERE received < ?",
                                        (older_than,)).rowcount
                removed += conn.execute("DELETE FROM bus_messages WHERE received < ?",
                                        (older_than,)).rowcount
                removed += conn.execute(
                    "DELETE FROM bus_operations WHERE COALESCE(ended, started) < ?",
                    (older_than,)).rowcount
                rollups.prune(conn, older_than)  # sums of what is kept: not counted
            if gone:
                dropped = set(gone)
                self._series_ids = {k: v for k, v in self._series_ids.items()
                                    if v not in dropped}
                for series_id in dropped:
                    self._newest.pop(series_id, None)
            self._load_held(self._writer)
        return removed

    # ------------------------------------------------------------------ audit
    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Add entries to the audit log in one transaction."""
        with self._transaction() as conn:
            conn.executemany(
                f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                [e.row() for e in entries])

    def audit(self, start: float, end: float, *, runbook: str | None = None,
              plan_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Audit entries in ``[start, end]``, newest first."""
        where: list[str] = ["ts BETWEEN ? AND ?"]
        params: list[Any] = [start, end]
        if runbook is not None:
            where.append("runbook = ?")
            params.append(runbook)
        if plan_id is not None:
            where.append("plan_id = ?")
            params.append(plan_id)
        rows = self._query(f"SELECT {AUDIT_COLUMNS}, id FROM audit WHERE "
                           f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
                           [*params, limit])
        return [AuditEntry.from_row(row) for row in rows]

    def close(self, patience: float = 30.0) -> None:
        """Close the writer and every reader connection, once other threads' reads under
        way have ended (at most ``patience`` seconds: a reader still busy then is left
        open, as closing it under its query would crash the process). Reads after this
        raise :class:`StoreError`."""
        me = threading.get_ident()
        with self._reads_changed:
            self._closed = True
            if not self._reads_changed.wait_for(
                    lambda: not set(self._reads) - {me}, patience):
                log.warning("%s: reads still under way after %.0f s; their connections "
                            "are left open", self.path, patience)
                return
        with self._watcher_lock, self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
