"""Read-only, time-limited access to one service database, through SQLAlchemy Core.

* Dialect-portable: MySQL/MariaDB (PyMySQL), PostgreSQL and SQLite. Queries
  are SQLAlchemy Core expressions over lightweight ``table()``/``column()``
  declarations naming only the columns read, by their real names; times are
  compared with bound UTC parameters, never with a dialect's ``NOW()``.
* Read-only and bounded on every connection: SQLite ``PRAGMA query_only`` and
  a progress handler that interrupts a statement past its deadline; MariaDB
  ``max_statement_time`` (MySQL ``MAX_EXECUTION_TIME``) and a read-only
  session; PostgreSQL ``statement_timeout`` and read-only transactions.
* Each collection first asks the server for its clock (``sql.database``: it
  answers, or CRITICAL: unreachable, about ``service=mysql``); ages of heartbeats
  are measured on that clock, never on ours.
* Errors are translated at this boundary: unreachable server ->
  SourceUnavailable, denied -> SourceAuthError, statement timeout ->
  SourceTimeout, missing table or column (another release) -> InvalidResponse
  naming the table, so that one metric is UNKNOWN and the rest go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.sql.expression import Executable

from stackwatch.errors import (
    InvalidResponse,
    SourceAuthError,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status, make_labels
from stackwatch.redact import redact
from stackwatch.sources.resources import ResourceSource

log = logging.getLogger(__name__)

#: the check that the database answers, about the catalog's database service
DATABASE_CHECK = "sql.database"
DATABASE_SERVICE = "mysql"

_MISSING = ("no such table", "doesn't exist", "does not exist", "unknown column",
            "no such column", "undefinedtable", "undefinedcolumn")
_TIMEOUT = ("max_statement_time", "max_execution_time", "statement timeout", "interrupted",
            "querycanceled", "canceling statement")
_DENIED = ("access denied", "command denied", "permission denied", "password authentication")


def build_engine(url: str, timeout: float, *, read_only: bool = True,
                 pooled: bool = True) -> Engine:
    """An engine whose connections are time-limited and (unless ``read_only`` is False:
    a fix's writes) read-only; without ``pooled``, each connection is closed after use
    (an engine used a few times a cycle, whose owner may never close it)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "mysql":
        connect_args = {"connect_timeout": max(1, int(timeout)),
                        "read_timeout": max(1, int(timeout) + 5)}
    elif backend == "postgresql":
        connect_args = {"connect_timeout": max(1, int(timeout))}
    elif backend == "sqlite":
        connect_args = {"timeout": timeout, "check_same_thread": False}
    # SQLite: a file opened anew for each statement (cheap), so that a file that went
    # away is seen gone, as a database server that went down is
    pool = {"poolclass": sa.pool.NullPool} if backend == "sqlite" or not pooled else {}
    engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True,
                              pool_recycle=3600, **pool)

    @event.listens_for(engine, "connect")
    def _session_limits(dbapi_conn: Any, record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            if backend == "sqlite":
                cursor.execute(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            elif backend == "mysql":
                try:  # MariaDB: seconds
                    cursor.execute(f"SET SESSION max_statement_time = {float(timeout)}")
                except Exception:
                    cursor.execute(f"SET SESSION MAX_EXECUTION_TIME = {int(timeout * 1000)}")
                if read_only:
                    cursor.execute("SET SESSION TRANSACTION READ ONLY")
            elif backend == "postgresql":
                cursor.execute(f"SET statement_timeout = {int(timeout * 1000)}")
                if read_only:
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        finally:
            cursor.close()

    if backend == "sqlite":
        @event.listens_for(engine, "before_cursor_execute")
        def _deadline(conn: Any, cursor: Any, statement: Any, parameters: Any,
                      context: Any, executemany: bool) -> None:
            deadline = time.monotonic() + timeout
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)

    return engine


def translate(error: exc.SQLAlchemyError, what: str, where: str) -> SourceError:
    """SQLAlchemy / driver exception -> the stackwatch error, naming query and database."""
    # redacted before it is cut: a URL cut before its '@' would not be recognised
    kind = type(getattr(error, "orig", error)).__name__
    lines = redact(str(getattr(error, "orig", None) or error)).splitlines()
    text = (lines[0] if lines else kind)[:300]
    lowered = (text + " " + kind).lower()
    message = f"{what} on {where}: {text}"
    if any(m in lowered for m in _MISSING):
        return InvalidResponse(f"{what} on {where}: table or column missing "
                               f"(another release?): {text}")
    if any(m in lowered for m in _TIMEOUT):
        return SourceTimeout(message)
    if any(m in lowered for m in _DENIED):
        return SourceAuthError(message)
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return SourceUnavailable(message)
    return InvalidResponse(message)


class SqlSource(ResourceSource):
    """Base of ``sql.<database>`` sources: one engine, queries run one after another."""

    database: str = ""

    def __init__(self, url: str, *, timeout: float = 30.0, region: str = "",
                 intervals: dict[str, float] | None = None, name: str | None = None) -> None:
        super().__init__(name or f"sql.{self.database}", region, parallel=False)
        self.url = url
        self.where = redact(url)
        self.timeout = timeout
        self._intervals = dict(intervals or {})
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        #: the database's clock at the start of the latest collection (naive UTC)
        self.db_now: dt.datetime | None = None

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                try:
                    self._engine = build_engine(self.url, self.timeout)
                except (exc.ArgumentError, ImportError, ValueError) as error:
                    # ValueError: a port that is not a number (SQLAlchemy's int())
                    raise SourceUnavailable(f"{self.where}: {redact(str(error))}") from None
            return self._engine

    def close(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def interval(self, resource: str, default: float = 0.0) -> float:
        return self._intervals.get(f"{self.name}.{resource}", default)

    def prepare(self) -> tuple[Collection, SourceError | None]:
        """Ask the database for its clock (one statement): the ``sql.database`` check
        (OK when it answers, CRITICAL when it cannot be reached: every resource is then
        UNKNOWN with that reason), about ``service=mysql`` on the server's host. Its
        clock, naive UTC, is kept in :attr:`db_now` (heartbeat ages are measured on it,
        not on ours: clock skew)."""
        url = make_url(self.url)
        labels = make_labels(service=DATABASE_SERVICE, host=url.host or "localhost",
                             database=self.database or self.name, region=self.region_label)
        started = time.monotonic()
        try:
            self.db_now = self._clock()
        except SourceAuthError:
            raise
        except SourceError as error:
            self.db_now = None
            check = CheckResult(DATABASE_CHECK, Status.CRITICAL,
                                f"database {self.where} unreachable: {error}", labels)
            return Collection(checks=(check,)), error
        took = time.monotonic() - started
        check = CheckResult(DATABASE_CHECK, Status.OK,
                            f"database {self.where} answers in {took * 1000:.0f} ms", labels,
                            (PerfDatum("time", round(took, 4), "s", minimum=0),))
        return Collection(checks=(check,)), None

    def _clock(self) -> dt.datetime:
        """The database server's time now, naive UTC (as OpenStack stores times)."""
        backend = make_url(self.url).get_backend_name()
        if backend == "mysql":
            query: Executable = sa.select(sa.func.utc_timestamp())
        elif backend == "postgresql":
            query = sa.select(sa.text("timezone('utc', now())"))
        else:  # SQLite: CURRENT_TIMESTAMP is UTC, as text
            query = sa.select(sa.func.datetime("now"))
        value = self.rows("clock", query)[0][0]
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime):
            raise InvalidResponse(f"clock on {self.where}: not a time: {value!r}")
        return value.replace(tzinfo=None) if value.tzinfo is None else \
            value.astimezone(dt.UTC).replace(tzinfo=None)

    def rows(self, what: str, query: Executable) -> list[tuple[Any, ...]]:
        """Run one read query; translate every database error."""
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                result = [tuple(row) for row in conn.execute(query)]
        except exc.SQLAlchemyError as error:
            raise translate(error, what, self.where) from None
        log.info("sql %s on %s: %d rows in %.3fs", what, self.where, len(result),
                 time.monotonic() - started)
        return result

    def scalar(self, what: str, query: Executable) -> float:
        rows = self.rows(what, query)
        value = rows[0][0] if rows else None
        return float(value or 0)

    def sample(self, name: str, value: float, /, **labels: object) -> Sample:
        return Sample(name, float(value), make_labels(labels, region=self.region_label))
