"""The central store: PostgreSQL, which several servers can share and which outlives any
one server's machine.

Same tables and semantics as :mod:`stackwatch.store.sqlite` (schema and migrations in
:mod:`stackwatch.store.postgres_schema`), written so that servers sharing the store
can write at once:

- nothing read from the database is kept in the process: a series' id comes from an
  ``INSERT … ON CONFLICT`` in the write's own transaction, and what a source held
  before its run is what the database holds, not a mirror another server cannot see;
- a source's run is written under a transaction-level advisory lock on its name, so
  two servers writing the same source in turn replace each other's run whole, never
  half; different sources do not wait for each other;
- a write is one transaction of four statements (series and samples, checks, events,
  items), each fed whole arrays (``unnest``) and ordered by key, so concurrent writes
  lock rows in the same order; a deadlock or serialization failure (rolled back by
  the server) is tried again;
- an agent's batch is claimed by its id in the transaction that writes it, so a push
  reaching two servers at once is written once;
- ``retain`` drops only the sources this server (its ``writer`` name, by default the
  host name) wrote last, so a server restarted with fewer sources does not blank
  another's; ``prune`` runs on one server at a time, in short transactions.

The request index of the logs a server reads stays in its local SQLite file
(``index``: ``store.path``), which :meth:`PostgresStore.log_story` reads.

Errors become :class:`~stackwatch.errors.StoreError` naming the store by its URL with
the password masked, and what was asked. Connections come from a pool (pre-pinged, so
a restarted PostgreSQL is reconnected to), with connect, statement and
idle-in-transaction timeouts.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from stackwatch.bus.records import BusBatch, Operation
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
from stackwatch.redact import redact
from stackwatch.store import alarm_state
from stackwatch.store.base import (
    AUDIT_COLUMNS,
    AckRecord,
    AgentBatch,
    AgentBatchStats,
    AlarmRecord,
    AlarmTransition,
    AuditEntry,
    Role,
    SilenceRecord,
    Statistics,
    TokenRecord,
    WindowValues,
)
from stackwatch.store.bus_reads import OPERATION_COLUMNS, BusReads
from stackwatch.store.postgres_schema import (
    MIGRATIONS,
    Migration,
    current_version,
    migrate,
    too_new,
)
from stackwatch.store.request_index import TraceRecord, follow, select_records

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tries of a write PostgreSQL rolled back as a deadlock or serialization failure.
RETRIES = 3
#: Seconds a server starting waits for another one's migration before it gives up.
MIGRATION_WAIT_S = 600
#: Series ids per prune transaction: a big store's prune is many short transactions.
PRUNE_CHUNK = 2000
#: SQLSTATEs of a transaction the server rolled back and that may simply be run again.
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected

_SOURCE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('stackwatch.source'), hashtext(%s))"
_PRUNE_LOCK = "hashtext('stackwatch.prune')"

# an operation closed stays closed (its twin from the other nova family comes after); a
# failure closed without its fault takes the fault that follows
_UPSERT_OPERATION = (
    f"INSERT INTO bus_operations ({OPERATION_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (resource_id, span, request_id) DO UPDATE SET renamed = excluded.renamed, "
    "started = COALESCE(bus_operations.started, excluded.started), ended = excluded.ended, "
    "outcome = excluded.outcome, host = excluded.host, fault = excluded.fault, "
    "request_started = COALESCE(excluded.request_started, bus_operations.request_started), "
    "build_seconds = excluded.build_seconds WHERE bus_operations.outcome = 'open' "
    "OR (bus_operations.outcome = 'failure' AND bus_operations.fault = '')")
# the messages not stored before: their ids come back
_CLAIM_MESSAGES = """
INSERT INTO bus_messages (message_id, ts, received, exchange, routing_key, event_type, body)
SELECT * FROM unnest(%(ids)s::text[], %(ts)s::float8[], %(received)s::float8[],
                     %(exchanges)s::text[], %(keys)s::text[], %(types)s::text[],
                     %(bodies)s::text[])
ON CONFLICT DO NOTHING RETURNING message_id
"""


def _operation_row(op: Operation) -> tuple[Any, ...]:
    return (_text(op.resource_id), _text(op.span), _text(op.request_id), _text(op.renamed),
            op.started, op.ended, op.outcome, _text(op.host), _text(op.fault),
            op.request_started, op.build_seconds)


# The arrays go in binary (%(…)b): ten times cheaper than array literals for 136,000 rows.

# Series and samples of one run, and the series the source holds, in one statement:
# a series' newest value, inserted or updated (``excluded`` wins when not older),
# returns its id whichever way; samples of the same (series, ts) replace the value.
_WRITE_SAMPLES = """
WITH incoming AS MATERIALIZED (
    SELECT name COLLATE "C" AS name, labels COLLATE "C" AS labels, ts, value
    FROM unnest(%(names)b::text[], %(labels)b::text[], %(ts)b::float8[], %(values)b::float8[])
        AS i(name, labels, ts, value)
), upserted AS (
    INSERT INTO series AS s (name, labels, last_ts, last_value)
    SELECT DISTINCT ON (name, labels) name, labels, ts, value FROM incoming
    ORDER BY name, labels, ts DESC
    ON CONFLICT (name, labels) DO UPDATE SET
        last_ts = GREATEST(s.last_ts, excluded.last_ts),
        last_value = CASE WHEN excluded.last_ts >= s.last_ts
                          THEN excluded.last_value ELSE s.last_value END
    RETURNING s.id, s.name, s.labels
), stored AS (
    INSERT INTO samples AS p (series_id, ts, value)
    SELECT u.id, i.ts, i.value FROM incoming i JOIN upserted u USING (name, labels)
    ORDER BY u.id, i.ts
    ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value
), held AS (
    INSERT INTO current_series (source, series_id)
    SELECT %(source)s, id FROM upserted u WHERE NOT EXISTS (
        SELECT 1 FROM current_series c WHERE c.source = %(source)s AND c.series_id = u.id)
    ORDER BY id
    ON CONFLICT DO NOTHING
), released AS (
    DELETE FROM current_series c
    WHERE %(replace)s AND c.source = %(source)s
      AND NOT EXISTS (SELECT 1 FROM upserted u WHERE u.id = c.series_id)
)
SELECT count(*) FROM upserted
"""

# Checks of one run; the newest of each (name, labels) becomes the source's latest unless
# a newer one is there; with a source, what its run did not give leaves latest_checks.
_WRITE_CHECKS = """
WITH incoming AS MATERIALIZED (
    SELECT name COLLATE "C" AS name, labels COLLATE "C" AS labels, status, message,
           perfdata, ts, n
    FROM unnest(%(names)b::text[], %(labels)b::text[], %(statuses)b::int2[],
                %(messages)b::text[], %(perfdata)b::text[], %(ts)b::float8[])
        WITH ORDINALITY AS i(name, labels, status, message, perfdata, ts, n)
), inserted AS (
    INSERT INTO checks (name, labels, status, message, perfdata, ts)
    SELECT name, labels, status, message, perfdata, ts FROM incoming ORDER BY n
    RETURNING id, name, labels, ts
), latest AS (
    INSERT INTO latest_checks AS l (source, name, labels, check_id, ts)
    SELECT DISTINCT ON (name, labels) %(source)s, name, labels, id, ts FROM inserted
    ORDER BY name, labels, ts DESC, id DESC
    ON CONFLICT (source, name, labels) DO UPDATE SET
        check_id = excluded.check_id, ts = excluded.ts
    WHERE excluded.ts >= l.ts
)
DELETE FROM latest_checks l
WHERE %(replace)s AND l.source = %(source)s
  AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.name = l.name AND i.labels = l.labels)
"""

_WRITE_EVENTS = """
WITH inserted AS (
    INSERT INTO events (ts, kind, event_type, severity, service, host, message, request_id,
                        resource_ids, attributes, dedup_key)
    SELECT ts, kind, event_type, severity, service, host, message, request_id,
           ARRAY(SELECT jsonb_array_elements_text(resources::jsonb)), attributes, dedup_key
    FROM unnest(%(ts)b::float8[], %(kinds)b::text[], %(types)b::text[], %(severities)b::int2[],
                %(services)b::text[], %(hosts)b::text[], %(messages)b::text[],
                %(requests)b::text[], %(resources)b::text[], %(attributes)b::text[],
                %(keys)b::text[])
        WITH ORDINALITY AS i(ts, kind, event_type, severity, service, host, message,
                             request_id, resources, attributes, dedup_key, n)
    ORDER BY n
    ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
    RETURNING id, resource_ids
)
INSERT INTO event_resources (resource_id, event_id)
SELECT r, id FROM inserted, unnest(resource_ids) AS r
ON CONFLICT DO NOTHING
"""


# A source's items replace its previous run's: changed ones in place, gone ones deleted.
_WRITE_ITEMS = """
WITH incoming AS MATERIALIZED (
    SELECT kind COLLATE "C" AS kind, id COLLATE "C" AS id, name, status, host, project,
           message, since, attributes, ts
    FROM unnest(%(kinds)b::text[], %(ids)b::text[], %(names)b::text[], %(statuses)b::text[],
                %(hosts)b::text[], %(projects)b::text[], %(messages)b::text[],
                %(since)b::float8[], %(attributes)b::text[], %(ts)b::float8[])
        AS i(kind, id, name, status, host, project, message, since, attributes, ts)
), stored AS (
    INSERT INTO items AS t (source, kind, id, name, status, host, project, message, since,
                            attributes, ts)
    SELECT %(source)s, kind, id, name, status, host, project, message, since, attributes, ts
    FROM incoming ORDER BY kind, id
    ON CONFLICT (source, kind, id) DO UPDATE SET
        name = excluded.name, status = excluded.status, host = excluded.host,
        project = excluded.project, message = excluded.message, since = excluded.since,
        attributes = excluded.attributes, ts = excluded.ts
)
DELETE FROM items t
WHERE %(replace)s AND t.source = %(source)s
  AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.kind = t.kind AND i.id = t.id)
"""


@functools.lru_cache(maxsize=1 << 18)
def _encode_labels(labels: Labels) -> str:
    # The same spelling as SQLite's (sorted keys, no spaces); cached: a pure function of
    # the label set, and a big cloud writes the same few hundred thousand every run.
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=1 << 18)
def _decode_labels(text: str) -> Labels:
    return tuple(sorted(json.loads(text).items()))


#: per statistic, its aggregate over one series' slot (avg: the sum over the count)
_WINDOW_SQL = {"last": "(array_agg(p.value ORDER BY p.ts DESC))[1]", "min": "MIN(p.value)",
               "max": "MAX(p.value)", "avg": "SUM(p.value) / COUNT(*)", "sum": "SUM(p.value)",
               "count": "COUNT(*)"}


def _text(value: str) -> str:
    """Text PostgreSQL can keep: it refuses NUL, which a log line may carry (SQLite keeps it),
    so that one character becomes U+FFFD rather than failing the whole write."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _encode_perfdata(perfdata: Sequence[PerfDatum]) -> str:
    return json.dumps([[_text(p.label), p.value, p.uom, p.warn, p.crit, p.minimum, p.maximum]
                       for p in perfdata])


def _decode_perfdata(text: str) -> tuple[PerfDatum, ...]:
    return tuple(PerfDatum(*item) for item in json.loads(text))


def _reason(exc: BaseException) -> str:
    """What went wrong, from the driver (SQLAlchemy's own text adds the statement)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return redact(text)


def _options(url: str, timeout: float) -> dict[str, Any]:
    """libpq connection arguments: timeouts, TCP keepalives (a server's machine that
    vanishes is noticed), and the URL's own ``options`` kept."""
    ms = int(timeout * 1000)
    given = make_url(url).query.get("options", "")
    options = f"-c statement_timeout={ms} -c lock_timeout={ms} " \
              f"-c idle_in_transaction_session_timeout={2 * ms}"
    return {"connect_timeout": max(1, int(min(timeout, 10))), "application_name": "stackwatch",
            "options": f"{given} {options}".strip(), "keepalives": 1, "keepalives_idle": 30,
            "keepalives_interval": 10, "keepalives_count": 3}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One collection as the write statements take it (None: that statement not run)."""

    source: str
    samples: dict[str, Any] | None
    checks: dict[str, Any] | None
    events: dict[str, Any] | None
    items: dict[str, Any] | None


def _check_version(found: int | None, migrations: Sequence[Migration], hint: str) -> None:
    """A reader's store must be there, at the version this code knows."""
    known = migrations[-1].version if migrations else 0
    if found is None:
        raise StoreError(f"no stackwatch store in this database{f'; {hint}' if hint else ''}")
    if found > known:
        raise too_new(found, known)
    if found < known:
        raise StoreError(f"the store's schema is version {found}, this stackwatch reads "
                         f"{known}: start `stackwatch server` of this version to migrate it")


class PostgresStore(BusReads):
    """:class:`~stackwatch.store.base.Store` and :class:`~stackwatch.store.base.TokenStore`
    on a PostgreSQL database (``postgresql+psycopg://user:password@host:port/database``).

    ``create`` migrates the schema (the server); without it the store must be there at this
    code's version (readers). ``writer`` names this server among those sharing the store;
    ``index`` is the local SQLite file of this machine's request index (:meth:`log_story`).
    """

    _placeholder = "%s"

    def __init__(
        self,
        url: str,
        *,
        writer: str | None = None,
        create: bool = True,
        hint: str = "",
        timeout: float = 30.0,
        pool_size: int = 4,
        migrations: Sequence[Migration] = MIGRATIONS,
        index: Path | None = None,
    ) -> None:
        self.location = redact(url)  # how errors and logs name the store
        #: the local SQLite file with this machine's request index (``store.path``)
        self.index = index
        self.writer = writer or socket.gethostname()
        try:
            self._engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout,
                pool_pre_ping=True, pool_recycle=1800, pool_use_lifo=True, hide_parameters=True,
                connect_args=_options(url, timeout))
        except ModuleNotFoundError as exc:
            raise StoreError(f"{self.location}: the PostgreSQL driver is not installed "
                             f"({exc.name}): pip install 'stackwatch[postgres]'") from None
        except (ArgumentError, SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"{self.location}: not a PostgreSQL URL: {_reason(exc)}") from None
        try:
            with self._engine.begin() as conn:
                if create:
                    # a long ALTER may take its time, and a second server waits for it
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{MIGRATION_WAIT_S}s'")
                    before, after = migrate(conn, migrations)
                    if before != after:
                        log.info("%s: schema migrated from version %d to %d", self.location,
                                 before, after)
                else:
                    _check_version(current_version(conn), migrations, hint)
        except StoreError as exc:
            self._engine.dispose()
            raise StoreError(f"{self.location}: {exc}") from None
        except (SQLAlchemyError, OSError) as exc:
            self._engine.dispose()
            raise StoreError(f"{self.location}: cannot open store: {_reason(exc)}") from None

    # ------------------------------------------------------------ transactions
    def _transact(self, what: str, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction; a deadlock or serialization failure, which the
        server rolled back, is tried again; other database errors are StoreError."""
        for attempt in range(1, RETRIES + 1):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state in _RETRYABLE and attempt < RETRIES:
                    log.info("%s: %s rolled back (%s), trying again", self.location, what,
                             state)
                    continue
                raise StoreError(f"{self.location}: {what} failed: {_reason(exc)}") from None
            except SQLAlchemyError as exc:  # the pool: no connection in time
                raise StoreError(f"{self.location}: {what} failed: {_reason(exc)}") from None
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # a tuple: SQLAlchemy reads a list as many parameter sets (executemany)
        def run(conn: Connection) -> list[Any]:
            result = conn.exec_driver_sql(sql, tuple(params))
            return list(result.all()) if result.returns_rows else []

        return self._transact("query", run)

    # ------------------------------------------------------------------ write
    def write(self, collection: Collection, source: str = "") -> None:
        """Persist samples, checks, events and items of one collection in one transaction.

        With ``source``, the collection is that source's latest run: its series, checks
        and items replace those of the source's previous run (whichever server wrote it)
        in :meth:`latest_samples`, :meth:`latest_checks` and :meth:`latest_items`.
        Without, they are added.
        """
        written = self._prepare(collection, source)  # before the transaction: short

        def work(conn: Connection) -> None:
            # a big run's sorts and joins in memory rather than in temporary files
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            self._write_in(conn, written)

        self._transact("write", work)

    def _prepare(self, collection: Collection, source: str) -> _Prepared:
        """The statements' parameters of one collection, those with nothing to do left out."""
        def given(present: bool, params: dict[str, Any]) -> dict[str, Any] | None:
            return params if present or source else None  # a source's run replaces

        return _Prepared(
            source,
            given(bool(collection.samples), self._sample_params(collection.samples, source)),
            given(bool(collection.checks), self._check_params(collection.checks, source)),
            self._event_params(collection.events),
            given(bool(collection.items), self._item_params(collection.items, source)))

    def _write_in(self, conn: Connection, written: _Prepared) -> None:
        """Write one prepared collection in the open transaction."""
        if written.source:
            conn.exec_driver_sql(_SOURCE_LOCK, (written.source,))
        for sql, params in ((_WRITE_SAMPLES, written.samples), (_WRITE_CHECKS, written.checks),
                            (_WRITE_EVENTS, written.events), (_WRITE_ITEMS, written.items)):
            if params is not None:
                conn.exec_driver_sql(sql, params)
        if written.source:
            conn.exec_driver_sql(
                "INSERT INTO sources (source, writer, written) VALUES (%s, %s, %s) "
                "ON CONFLICT (source) DO UPDATE SET writer = excluded.writer, "
                "written = excluded.written", (written.source, self.writer, time.time()))

    # ---------------------------------------------------------------- agents
    def write_batches(self, batches: Sequence[AgentBatch], received: float) -> list[bool]:
        """Write agents' batches in one transaction, in the order given, each as
        :meth:`write` would under its ``host/source``; a batch whose ``(agent, seq)`` was
        written before is left out. True for each one written now.

        A batch's id is claimed first (``INSERT … ON CONFLICT DO NOTHING``): the same
        batch pushed to two servers at once (a retry through another one) is written by
        whichever claims it, the other waits for that transaction and leaves it out.
        """
        prepared = [(batch, self._prepare(batch.collection, batch.store_source))
                    for batch in batches]

        def work(conn: Connection) -> list[bool]:
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            fresh: list[bool] = []
            for batch, written in prepared:
                claimed = conn.exec_driver_sql(
                    "INSERT INTO agent_batches (agent, seq, host, source, created, received) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                    (_text(batch.agent), batch.seq, _text(batch.host), _text(batch.source),
                     batch.created, received)).first()
                fresh.append(claimed is not None)
                if claimed is not None:
                    self._write_in(conn, written)
            return fresh

        return self._transact("writing agents' batches", work)

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

    @staticmethod
    def _sample_params(samples: Sequence[Sample], source: str) -> dict[str, Any]:
        # One row per (series, ts), the last written winning as SQLite's upsert does: a
        # statement may not update the same row twice.
        points: dict[tuple[str, Labels, float], float] = {}
        for sample in samples:
            points[(sample.name, sample.labels, sample.timestamp)] = sample.value
        return {"names": [k[0] for k in points],
                "labels": [_encode_labels(k[1]) for k in points],
                "ts": [k[2] for k in points], "values": list(points.values()),
                "source": source, "replace": bool(source)}

    @staticmethod
    def _check_params(checks: Sequence[CheckResult], source: str) -> dict[str, Any]:
        return {"names": [_text(c.name) for c in checks],
                "labels": [_encode_labels(c.labels) for c in checks],
                "statuses": [int(c.status) for c in checks],
                "messages": [_text(c.message) for c in checks],
                "perfdata": [_encode_perfdata(c.perfdata) for c in checks],
                "ts": [c.timestamp for c in checks], "source": source,
                "replace": bool(source)}

    @staticmethod
    def _event_params(events: Sequence[Event]) -> dict[str, Any] | None:
        if not events:
            return None
        return {"ts": [e.timestamp for e in events], "kinds": [_text(e.kind) for e in events],
                "types": [_text(e.event_type) for e in events],
                "severities": [int(e.severity) for e in events],
                "services": [_text(e.service) for e in events],
                "hosts": [_text(e.host) for e in events],
                "messages": [_text(e.message) for e in events],
                "requests": [_text(e.request_id) for e in events],
                "resources": [json.dumps([_text(r) for r in e.resource_ids]) for e in events],
                "attributes": [_encode_labels(e.attributes) for e in events],
                "keys": [_text(e.key) or None for e in events]}

    @staticmethod
    def _item_params(items: Sequence[Item], source: str) -> dict[str, Any]:
        # one row per (kind, id), the last one winning as SQLite's upsert does
        last = list({(i.kind, i.id): i for i in items}.values())
        return {"kinds": [_text(i.kind) for i in last], "ids": [_text(i.id) for i in last],
                "names": [_text(i.name) for i in last],
                "statuses": [_text(i.status) for i in last],
                "hosts": [_text(i.host) for i in last],
                "projects": [_text(i.project) for i in last],
                "messages": [_text(i.message) for i in last],
                "since": [i.since for i in last],
                "attributes": [_encode_labels(i.attributes) for i in last],
                "ts": [i.timestamp for i in last], "source": source, "replace": bool(source)}

    def retain(self, sources: Iterable[str]) -> None:
        """Only ``sources`` are current among those this server wrote last: what another
        of them saw (a source no longer configured) leaves the latest reads. Sources that
        other servers sharing the store wrote last are theirs to retain; writes without a
        source stay."""
        keep = set(sources)
        mine = self._query("SELECT source FROM sources WHERE writer = %s ORDER BY source",
                           (self.writer,))
        for (gone,) in mine:
            if gone not in keep:
                self._transact("retain", functools.partial(self._forget, gone))

    def _forget(self, source: str, conn: Connection) -> None:
        conn.exec_driver_sql(_SOURCE_LOCK, (source,))
        # still ours? another server may have written it since we looked
        if conn.exec_driver_sql("DELETE FROM sources WHERE source = %s AND writer = %s "
                                "RETURNING 1", (source, self.writer)).first() is None:
            return
        for table in ("current_series", "latest_checks", "items"):
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE source = %s", (source,))

    # ------------------------------------------------------------------- read
    def generation(self) -> str:
        """Changes whenever a write was committed since the last call (by any server):
        the write-ahead log's insert position, which every commit moves (so does any other
        database of the cluster: a rendering more, never a stale one)."""
        return str(self._query("SELECT pg_current_wal_insert_lsn()::text")[0][0])

    def latest_samples(self, name: str | None = None) -> list[Sample]:
        """The newest sample of every series the latest run of a source emitted (of one
        metric when ``name`` is given)."""
        sql = ("SELECT name, labels, last_ts, last_value FROM series s WHERE EXISTS "
               "(SELECT 1 FROM current_series c WHERE c.series_id = s.id)")
        params: tuple[str, ...] = ()
        if name is not None:
            sql += " AND name = %s"
            params = (name,)
        rows = self._query(sql + " ORDER BY name, labels", params)
        return [Sample(r[0], r[3], _decode_labels(r[1]), r[2]) for r in rows]

    def latest_rows(self) -> Iterator[tuple[str, str, float, float]]:
        """:meth:`latest_samples` as (name, labels JSON, time, value)."""
        rows = self._query("SELECT name, labels, last_ts, last_value FROM series s WHERE "
                           "EXISTS (SELECT 1 FROM current_series c WHERE c.series_id = s.id) "
                           "ORDER BY name, labels")
        return iter([(r[0], r[1], r[2], r[3]) for r in rows])

    @staticmethod
    def _series_filter(name: str, labels: Labels | None) -> tuple[str, list[Any]]:
        if labels is None:
            return "s.name = %s", [name]
        return "s.name = %s AND s.labels = %s", [name, _encode_labels(labels)]

    def sample_range(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> list[Sample]:
        """Samples of one metric in ``[start, end]`` in time order."""
        where, params = self._series_filter(name, labels)
        rows = self._query(
            "SELECT s.name, s.labels, p.ts, p.value FROM series s "
            f"JOIN samples p ON p.series_id = s.id WHERE {where} AND p.ts BETWEEN %s AND %s "
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
        ``step``; a value that is not a finite number is None. The series are chosen
        first, then PostgreSQL buckets their samples (SQLite's store reads whole hours from
        sums it keeps; this one reads every sample)."""
        wanted = dict(match)
        chosen = sorted((labels, series_id) for series_id, labels in (
            (row[0], _decode_labels(row[1])) for row in self._query(
                "SELECT id, labels FROM series WHERE name = %s", [name]))
            if all(dict(labels).get(k) == v for k, v in wanted.items()))
        if not chosen:
            return []
        ids = [series_id for _, series_id in chosen]
        if step <= 0:
            rows = self._query(
                "SELECT series_id, ts, value FROM samples WHERE series_id = ANY(%s) "
                "AND ts BETWEEN %s AND %s ORDER BY series_id, ts", [ids, start, end])
        else:
            origin = math.floor(start / step) * step
            rows = self._query(
                "SELECT series_id, %s + (slot + 0.5) * %s, SUM(value) / COUNT(*) FROM ("
                "SELECT series_id, floor((ts - %s) / %s) AS slot, value FROM samples "
                "WHERE series_id = ANY(%s) AND ts BETWEEN %s AND %s) AS b "
                "GROUP BY series_id, slot ORDER BY series_id, slot",
                [origin, step, origin, step, ids, start, end])
        points: dict[int, list[tuple[float, float | None]]] = {i: [] for _, i in chosen}
        for series_id, t, v in rows:
            points[series_id].append((t, v if v is not None and math.isfinite(v) else None))
        return [(labels, points[i]) for labels, i in chosen if points[i]]

    def statistics(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> Statistics | None:
        """Count/min/max/avg/sum/last over ``[start, end]``; all series of ``name``
        together when ``labels`` is None."""
        where, params = self._series_filter(name, labels)
        base = (f"FROM series s JOIN samples p ON p.series_id = s.id "
                f"WHERE {where} AND p.ts BETWEEN %s AND %s")
        rows = self._query(
            f"SELECT COUNT(*), MIN(p.value), MAX(p.value), AVG(p.value), SUM(p.value), "
            f"(SELECT p.value {base} ORDER BY p.ts DESC LIMIT 1) {base}",
            [*params, start, end, *params, start, end],
        )
        count, minimum, maximum, average, total, last = rows[0]
        if not count:
            return None
        return Statistics(count, minimum, maximum, average, total, last)

    def window_values(
        self, name: str, statistic: str, start: float, period: float, periods: int
    ) -> WindowValues:
        """The statistic per current series and slot: one ``GROUP BY`` series and slot,
        turned into columns (a series without a value in any slot is left out)."""
        rows = self._query(
            "SELECT s.labels, LEAST(FLOOR((p.ts - %s) / %s)::int, %s) AS slot, "
            f"{_WINDOW_SQL[statistic]} FROM series s "
            "JOIN samples p ON p.series_id = s.id WHERE s.name = %s "
            "AND s.id IN (SELECT series_id FROM current_series) "
            "AND p.ts BETWEEN %s AND %s GROUP BY s.id, s.labels, slot ORDER BY s.labels",
            [start, period, periods - 1, name, start, start + period * periods])
        keys: list[str] = []
        slots: list[list[float | None]] = [[] for _ in range(periods)]
        for key, found in groupby(rows, key=lambda r: r[0]):
            keys.append(key)
            for column in slots:
                column.append(None)
            for _, slot, value in found:
                slots[slot][-1] = None if value is None else float(value)
        return WindowValues(keys, slots, _decode_labels)

    def latest_checks(self) -> list[CheckResult]:
        """The checks of the latest run of each source (and the newest of every check
        written without a source, by name and labels)."""
        rows = self._query(
            "SELECT c.name, c.labels, c.status, c.message, c.perfdata, c.ts "
            "FROM latest_checks l JOIN checks c ON c.id = l.check_id ORDER BY c.name, c.labels"
        )
        return [CheckResult(r[0], Status(r[2]), r[3], _decode_labels(r[1]),
                            _decode_perfdata(r[4]), r[5]) for r in rows]

    def latest_items(self, kind: str | None = None) -> list[Item]:
        """The items of the latest run of each source (and every item written without a
        source), of one ``kind`` when given, by kind and id."""
        sql = ("SELECT kind, id, name, status, host, project, message, since, attributes, ts "
               "FROM items")
        params: tuple[str, ...] = ()
        if kind is not None:
            sql += " WHERE kind = %s"
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
        clauses = ["e.ts BETWEEN %s AND %s"]
        params: list[Any] = [start, end]
        source = "events e"
        if kinds:
            clauses.append("e.kind = ANY(%s)")
            params.append(list(kinds))
        if request_id:
            clauses.append("e.request_id = %s")
            params.append(request_id)
        if resource_id:
            source = "event_resources r JOIN events e ON e.id = r.event_id"
            clauses.append("r.resource_id = %s")
            params.append(resource_id)
        for column, value in (("severity", min_severity), ("service", service),
                              ("host", host)):
            if value is not None:
                clauses.append(f"e.{column} {'>=' if column == 'severity' else '='} %s")
                params.append(int(value) if isinstance(value, Severity) else value)
        order = " DESC" if newest_first else ""
        rows = self._query(
            "SELECT e.ts, e.kind, e.event_type, e.severity, e.service, e.host, e.message, "
            f"e.request_id, e.resource_ids, e.attributes FROM {source} "
            f"WHERE {' AND '.join(clauses)} ORDER BY e.ts{order}, e.id{order} LIMIT %s",
            [*params, limit],
        )
        return [Event(kind=r[1], event_type=r[2], timestamp=r[0], severity=Severity(r[3]),
                      service=r[4], host=r[5], message=r[6], request_id=r[7],
                      resource_ids=tuple(r[8]), attributes=_decode_labels(r[9]))
                for r in rows]

    # ------------------------------------------------------------------ bus
    def write_bus(self, batch: BusBatch) -> int:
        """Write one consumer batch in one transaction, as :meth:`SQLiteStore.write_bus
        <stackwatch.store.sqlite.SQLiteStore.write_bus>`: the messages are claimed by id
        first, and only the new ones' events are written."""
        notes = batch.notes
        claim = {"ids": [_text(n.message_id) for n in notes],
                 "ts": [n.timestamp for n in notes],
                 "received": [n.received for n in notes],
                 "exchanges": [_text(n.exchange) for n in notes],
                 "keys": [_text(n.routing_key) for n in notes],
                 "types": [_text(n.event_type) for n in notes],
                 "bodies": [_text(n.body) for n in notes]}
        operations = [_operation_row(op) for op in batch.operations]
        poison = [(p.received, _text(p.reason), _text(p.exchange), _text(p.routing_key), p.size,
                   _text(p.body)) for p in batch.poison]

        def work(conn: Connection) -> int:
            fresh: set[str] = set()
            if notes:
                fresh = {r[0] for r in conn.exec_driver_sql(_CLAIM_MESSAGES, claim)}
            params = self._event_params([n.event() for n in notes
                                         if _text(n.message_id) in fresh])
            if params is not None:
                conn.exec_driver_sql(_WRITE_EVENTS, params)
            if poison:
                conn.exec_driver_sql(
                    "INSERT INTO bus_poison (received, reason, exchange, routing_key, size, "
                    "body) VALUES (%s, %s, %s, %s, %s, %s)", poison)
            if operations:
                conn.exec_driver_sql(_UPSERT_OPERATION, operations)
            return len(fresh)

        return self._transact("writing notifications", work)

    def prune_bus(self, older_than: float) -> int:
        """Forget the raw messages (and so their ids) received before ``older_than``."""
        return self._transact("pruning notifications", lambda conn: int(conn.exec_driver_sql(
            "DELETE FROM bus_messages WHERE received < %s", (older_than,)).rowcount))

    def log_story(self, key: str, limit: int = 5000) -> list[TraceRecord]:
        """The request index's records of a request id, global request id or instance
        uuid, from this machine's index (``index``, the local SQLite file: the logs a server
        reads are indexed where it reads them); none when there is none."""
        if self.index is None:
            return []
        try:
            conn = sqlite3.connect(f"{self.index.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=30)
        except sqlite3.Error:  # no file: no logs source ever wrote one here
            return []
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                "AND name = 'log_records'").fetchall():
                return []
            return follow(lambda column, keys: select_records(conn, self.index or Path(),
                                                              column, keys), key, limit)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.index}: request index query failed: {exc}") from exc
        finally:
            conn.close()

    # -------------------------------------------------------------- retention
    def prune(self, older_than: float) -> int:
        """Delete what was last seen before ``older_than``; return how many rows went.

        As :meth:`SQLiteStore.prune <stackwatch.store.sqlite.SQLiteStore.prune>`, in short
        transactions (samples by ranges of series ids), on one server at a time: while
        another server prunes the store, this returns 0 at once.
        """
        try:
            with self._engine.connect() as conn:
                if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PRUNE_LOCK})"
                                            ).scalar():
                    conn.rollback()
                    log.info("%s: another server is pruning the store", self.location)
                    return 0
                conn.commit()
                try:
                    return self._prune(conn, older_than)
                finally:
                    try:
                        conn.rollback()
                        conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PRUNE_LOCK})")
                        conn.commit()
                    except DBAPIError:  # a pooled session must not keep the lock
                        conn.invalidate()
        except DBAPIError as exc:
            raise StoreError(f"{self.location}: prune failed: {_reason(exc)}") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.location}: prune failed: {_reason(exc)}") from None

    @staticmethod
    def _prune(conn: Connection, older_than: float) -> int:
        def step(sql: str, params: Sequence[Any]) -> int:
            with conn.begin():
                return int(conn.exec_driver_sql(sql, tuple(params)).scalar_one())

        # a series not seen since goes whole, with the pointers to it (not counted)
        removed = step("WITH gone AS (DELETE FROM series WHERE last_ts < %s RETURNING id), "
                       "unheld AS (DELETE FROM current_series WHERE series_id IN "
                       "(SELECT id FROM gone)) SELECT count(*) FROM gone", (older_than,))
        bounds = conn.exec_driver_sql(
            "SELECT MIN(series_id), MAX(series_id) FROM samples").one()
        conn.commit()
        if bounds[0] is not None:
            for low in range(int(bounds[0]), int(bounds[1]) + 1, PRUNE_CHUNK):
                removed += step(
                    "WITH gone AS (DELETE FROM samples WHERE series_id >= %s "
                    "AND series_id < %s AND ts < %s RETURNING 1) SELECT count(*) FROM gone",
                    (low, low + PRUNE_CHUNK, older_than))
        removed += step("WITH gone AS (DELETE FROM latest_checks WHERE ts < %s RETURNING 1) "
                        "SELECT count(*) FROM gone", (older_than,))
        removed += step("WITH gone AS (DELETE FROM checks c WHERE ts < %s AND NOT EXISTS "
                        "(SELECT 1 FROM latest_checks l WHERE l.check_id = c.id) RETURNING 1) "
                        "SELECT count(*) FROM gone", (older_than,))
        removed += step("WITH gone AS (DELETE FROM events WHERE ts < %s RETURNING id), "
                        "resources AS (DELETE FROM event_resources WHERE event_id IN "
                        "(SELECT id FROM gone) RETURNING 1) "
                        "SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM resources)",
                        (older_than,))
        # an item not seen since (its source gone, or a write without a source)
        removed += step("WITH gone AS (DELETE FROM items WHERE ts < %s RETURNING 1) "
                        "SELECT count(*) FROM gone", (older_than,))
        for sql in ("DELETE FROM bus_poison WHERE received < %s",
                    "DELETE FROM bus_messages WHERE received < %s",
                    "DELETE FROM bus_operations WHERE COALESCE(ended, started) < %s"):
            removed += step(f"WITH gone AS ({sql} RETURNING 1) SELECT count(*) FROM gone",
                            (older_than,))
        # agents' batch ids go with the data they came with (by arrival)
        removed += step("WITH gone AS (DELETE FROM agent_batches WHERE received < %s "
                        "RETURNING 1) SELECT count(*) FROM gone", (older_than,))
        return removed

    # ----------------------------------------------------------------- audit
    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Add entries to the audit log in one transaction."""
        if not entries:
            return
        rows = [e.row() for e in entries]
        self._transact("recording the audit log", lambda conn: conn.exec_driver_sql(
            f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})", rows))

    def audit(self, start: float, end: float, *, runbook: str | None = None,
              plan_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Audit entries in ``[start, end]``, newest first."""
        where: list[str] = ["ts BETWEEN %s AND %s"]
        params: list[Any] = [start, end]
        if runbook is not None:
            where.append("runbook = %s")
            params.append(runbook)
        if plan_id is not None:
            where.append("plan_id = %s")
            params.append(plan_id)
        rows = self._query(f"SELECT {AUDIT_COLUMNS}, id FROM audit WHERE "
                           f"{' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT %s",
                           [*params, limit])
        return [AuditEntry.from_row(r) for r in rows]

    # ----------------------------------------------------------------- tokens
    def add(self, token: TokenRecord) -> None:
        """Keep a new token; :class:`StoreError` when its name is taken."""
        added = self._transact("adding a token", lambda conn: conn.exec_driver_sql(
            "INSERT INTO tokens (name, role, digest, created, expires, last_used) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING 1",
            (token.name, token.role.value, token.digest, token.created, token.expires,
             token.last_used)).first())
        if added is None:
            raise StoreError(f"a token named {token.name!r} exists; revoke it first "
                             "or choose another name")

    def tokens(self) -> list[TokenRecord]:
        """Every token, by name."""
        rows = self._query("SELECT name, role, digest, created, expires, last_used "
                           "FROM tokens ORDER BY name")
        return [TokenRecord(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def revoke(self, name: str) -> bool:
        """Delete the token of that name; False when there was none."""
        return bool(self._transact("revoking a token", lambda conn: conn.exec_driver_sql(
            "DELETE FROM tokens WHERE name = %s", (name,)).rowcount))

    def touch(self, name: str, when: float) -> None:
        """Note the token's last use (kept when a later one is already noted)."""
        self._transact("noting a token's use", lambda conn: conn.exec_driver_sql(
            "UPDATE tokens SET last_used = %s WHERE name = %s "
            "AND (last_used IS NULL OR last_used < %s)", (when, name, when)))

    # ----------------------------------------------------------------- alarms
    def alarm_states(self) -> list[AlarmRecord]:
        """Every alarm instance's current state."""
        rows = self._query("SELECT alarm, labels, state, severity, since, reason, value, "
                           "notified FROM alarm_states ORDER BY alarm, labels")
        return [alarm_state.record_of(r) for r in rows]

    def save_alarms(self, changed: Sequence[AlarmRecord], gone: Sequence[tuple[str, Labels]],
                    transitions: Sequence[AlarmTransition]) -> None:
        """Replace changed instances, forget gone ones, add transitions: one transaction."""
        if not (changed or gone or transitions):
            return

        def work(conn: Connection) -> None:
            cursor = conn.connection.cursor()
            if changed:
                cursor.executemany(
                    "INSERT INTO alarm_states (alarm, labels, state, severity, since, reason, "
                    "value, notified) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (alarm, labels) DO UPDATE SET state = EXCLUDED.state, "
                    "severity = EXCLUDED.severity, since = EXCLUDED.since, "
                    "reason = EXCLUDED.reason, value = EXCLUDED.value, "
                    "notified = EXCLUDED.notified",
                    [alarm_state.state_row(r) for r in changed])
            if gone:
                cursor.executemany("DELETE FROM alarm_states WHERE alarm = %s AND labels = %s",
                                   [(a, alarm_state.encode_labels(lb)) for a, lb in gone])
            if transitions:
                cursor.executemany(
                    "INSERT INTO alarm_history (ts, alarm, labels, previous, current, "
                    "severity, reason, value, kind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s)", [alarm_state.transition_row(t) for t in transitions])

        self._transact("saving alarm states", work)

    def alarm_history(self, start: float, end: float, alarm: str | None = None,
                      limit: int = 1000) -> list[AlarmTransition]:
        """Transitions in ``[start, end]``, newest first."""
        where = "ts BETWEEN %s AND %s" + (" AND alarm = %s" if alarm else "")
        rows = self._query(
            "SELECT ts, alarm, labels, previous, current, severity, reason, value, kind "
            f"FROM alarm_history WHERE {where} ORDER BY ts DESC, id DESC LIMIT %s",
            [start, end, *([alarm] if alarm else []), limit])
        return [alarm_state.transition_of(r) for r in rows]

    def acknowledge(self, ack: AckRecord) -> None:
        """Keep (or replace) the acknowledgement of one instance."""
        self._query("INSERT INTO alarm_acks (alarm, labels, by_whom, reason, at) VALUES "
                    "(%s, %s, %s, %s, %s) ON CONFLICT (alarm, labels) DO UPDATE SET "
                    "by_whom = EXCLUDED.by_whom, reason = EXCLUDED.reason, at = EXCLUDED.at",
                    [ack.alarm, alarm_state.encode_labels(ack.labels), ack.by, ack.reason,
                     ack.at])

    def acks(self) -> list[AckRecord]:
        """Every acknowledgement kept."""
        rows = self._query("SELECT alarm, labels, by_whom, reason, at FROM alarm_acks")
        return [AckRecord(r[0], alarm_state.decode_labels(r[1]), r[2], r[3], r[4])
                for r in rows]

    def unacknowledge(self, keys: Sequence[tuple[str, Labels]]) -> None:
        """Forget the acknowledgements of these instances."""
        for alarm, labels in keys:
            self._query("DELETE FROM alarm_acks WHERE alarm = %s AND labels = %s",
                        [alarm, alarm_state.encode_labels(labels)])

    def add_silence(self, silence: SilenceRecord) -> int:
        """Keep a silence; return its id."""
        rows = self._query("INSERT INTO alarm_silences (matchers, starts, ends, by_whom, "
                           "reason, created) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                           [silence.matchers, silence.starts, silence.ends, silence.by,
                            silence.reason, silence.created])
        return int(rows[0][0])

    def silences(self, now: float | None = None) -> list[SilenceRecord]:
        """Every silence, or the ones active at ``now``."""
        where, params = ("WHERE starts <= %s AND ends > %s", [now, now]) \
            if now is not None else ("", [])
        rows = self._query("SELECT id, matchers, starts, ends, by_whom, reason, created "
                           f"FROM alarm_silences {where} ORDER BY id", params)
        return [SilenceRecord(*r) for r in rows]

    def end_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now; False when there is none of that id."""
        return bool(self._query("UPDATE alarm_silences SET ends = %s WHERE id = %s AND "
                                "ends > %s RETURNING 1", [now, silence_id, now]))

    def prune_alarms(self, older_than: float) -> int:
        """Delete history and ended silences older than a timestamp."""
        rows = self._query("WITH a AS (DELETE FROM alarm_history WHERE ts < %s RETURNING 1), "
                           "b AS (DELETE FROM alarm_silences WHERE ends < %s RETURNING 1) "
                           "SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)",
                           [older_than, older_than])
        return int(rows[0][0])

    def close(self) -> None:
        """Close every pooled connection (a second close does nothing)."""
        self._engine.dispose()
