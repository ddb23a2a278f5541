"""The service databases of the simulated cloud, kept equal to its ground truth.

:class:`ServiceDatabases` creates one database per service (SQLite files
``<workdir>/db/<name>.sqlite`` by default, or databases on the server a ``db_url``
names), loads the whole :class:`~stackwatch.sim.state.CloudState` in bulk, then
writes every :class:`~stackwatch.sim.events.Change` through. Writes happen on one
background thread, in change order, a batch per transaction, so the API's event loop
never waits for a database; :meth:`ServiceDatabases.flush` waits until everything
queued so far is written (tests call it before they look).

``db_url`` is a server URL: ``mysql+pymysql://root@127.0.0.1:3306/`` creates the
databases ``nova``, ``nova_api``, ``nova_cell0``, ``cinder``, ``keystone``, ``neutron``,
``placement`` (dropping them first: the simulator owns them). A path in the URL is
a prefix for the names (``.../sim1_`` -> ``sim1_nova``), so several simulators can
share one server. PostgreSQL URLs work the same way.
"""

from __future__ import annotations

import logging
import operator
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stackwatch.errors import SimulatorError
from stackwatch.sim.db import scenarios, schema
from stackwatch.sim.db.rows import Delete, Insert, Op, Row, RowMapper, Update, batches
from stackwatch.sim.events import Change
from stackwatch.sim.state import CloudState

log = logging.getLogger(__name__)

# Kinds in the order a bulk load must see them (ids referenced by later kinds first).
LOAD_ORDER = (
    "domain", "project", "user", "role_assignment", "compute_service", "hypervisor",
    "flavor", "server", "instance_action", "migration", "quota", "resource_provider",
    "allocation", "network", "subnet", "port", "router", "floating_ip", "security_group",
    "agent", "router_binding",
    "volume_service", "volume", "snapshot", "image",
)  # fmt: skip
INSERT_CHUNK = 2000

Job = Callable[["ServiceDatabases"], None]


@dataclass(frozen=True)
class _Load:
    """The records to bulk-load, taken at attach time."""

    records: tuple[Any, ...]


@dataclass(frozen=True)
class LoadReport:
    """What the bulk load wrote and how long it took."""

    rows: int
    seconds: float


class ServiceDatabases:
    """The simulated cloud's service databases (see the module docstring)."""

    def __init__(self, workdir: Path, db_url: str | None = None) -> None:
        self.workdir = workdir
        self._server_url = sa.make_url(db_url) if db_url else None
        self._engines: dict[str, Engine] = {}
        self._mapper = RowMapper()
        self._queue: queue.SimpleQueue[Change | _Load | Job | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._state: CloudState | None = None
        self.errors = 0
        self.written = 0
        self.last_load: LoadReport | None = None
        self._load_error = ""

    # ------------------------------------------------------------------ set-up

    def url(self, database: str) -> sa.URL:
        """The SQLAlchemy URL of one database."""
        if self._server_url is None:
            return sa.URL.create("sqlite", database=str(self.workdir / "db" / f"{database}.sqlite"))
        prefix = (self._server_url.database or "").strip("/")
        url = self._server_url.set(database=f"{prefix}{database}")
        if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url

    @property
    def urls(self) -> dict[str, str]:
        """``{database: url}`` usable by any SQLAlchemy client (password included)."""
        return {
            name: self.url(name).render_as_string(hide_password=False) for name in schema.DATABASES
        }

    def engine(self, database: str) -> Engine:
        """The engine of one database (after :meth:`create`)."""
        return self._engines[database]

    def create(self) -> None:
        """(Re)create every database and its tables, empty but for the start-up rows."""
        try:
            self._create()
        except sa.exc.SQLAlchemyError as exc:
            where = self._server_url.render_as_string() if self._server_url else self.workdir
            raise SimulatorError(f"cannot create the service databases at {where}: {exc}") from exc
        self._apply(RowMapper.initial_rows())

    def _create(self) -> None:
        if self._server_url is None:
            (self.workdir / "db").mkdir(parents=True, exist_ok=True)
            for name in schema.DATABASES:
                path = self.workdir / "db" / f"{name}.sqlite"
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            self._create_server_databases()
        for name in schema.DATABASES:
            engine = self._make_engine(self.url(name))
            schema.metadata(name).create_all(engine)
            self._engines[name] = engine

    def _create_server_databases(self) -> None:
        assert self._server_url is not None
        backend = self._server_url.get_backend_name()
        if backend == "postgresql":
            admin = sa.create_engine(
                self._server_url.set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
        else:
            admin = sa.create_engine(self._server_url.set(database=""))
        try:
            with admin.connect() as conn:
                for name in schema.DATABASES:
                    db = self.url(name).database
                    q = admin.dialect.identifier_preparer.quote(str(db))
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {q}")
                    charset = "" if backend == "postgresql" else " CHARACTER SET utf8mb4"
                    conn.exec_driver_sql(f"CREATE DATABASE {q}{charset}")
                if backend != "postgresql":
                    conn.commit()
        finally:
            admin.dispose()

    @staticmethod
    def _make_engine(url: sa.URL) -> Engine:
        if url.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (stackwatch) never block us
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine

    # ------------------------------------------------------------------ load and follow

    def attach(self, state: CloudState, wait: bool = True) -> None:
        """Load ``state`` in bulk, then follow its change feed, on the writer thread.

        Must be called where the state is not being changed (before the simulator
        serves, or on its event-loop thread): it takes the records of every table (they
        are immutable) and subscribes, in one step; mapping and writing happen on the
        writer thread. With ``wait`` it returns once the bulk load is written, and raises
        :class:`SimulatorError` if it could not be.
        """
        self._state = state
        self._mapper.agent_configurations = state.agent_configurations
        tables = state.tables()
        snapshot = [rec for kind in LOAD_ORDER if kind in tables for rec in list(tables[kind])]
        self._unsubscribe = state.subscribe(self._on_change)
        self._queue.put(_Load(tuple(snapshot)))
        self._thread = threading.Thread(target=self._run, name="sim-db-writer", daemon=True)
        self._thread.start()
        if wait:
            self.flush(timeout=600)
            if self.last_load is None:
                raise SimulatorError(f"loading the service databases failed: {self._load_error}")

    def _load(self, load: _Load) -> None:
        started = time.monotonic()
        ops = self._mapper.load(load.records, datetime.now(UTC))
        try:
            rows = self._apply(ops, regroup=True)
        except sa.exc.SQLAlchemyError as exc:
            self._load_error = str(exc).splitlines()[0]
            raise
        self.last_load = LoadReport(rows=rows, seconds=time.monotonic() - started)
        log.info("service databases loaded: %d rows in %.1fs", rows, self.last_load.seconds)

    # ------------------------------------------------------------------ scenarios

    def inject(self, name: str, params: Mapping[str, str]) -> str:
        """Start a DB-side fault scenario (sim.faults calls this); written in the background.

        ``token-bloat`` (``rows``, ``user``: the service user making most tokens,
        ``expired_share``) and ``revocation-growth`` (``rows``, ``days``). The rows are
        written on the writer thread; :meth:`flush` waits for them.
        """
        state = self._state
        if state is None:
            raise SimulatorError(f"{name}: the service databases are not attached")
        rows = int(params.get("rows", "1000000" if name == "token-bloat" else "50000"))
        users = {u.name: u.id for u in state.users}
        if name == "token-bloat":
            user = params.get("user", "nova")
            if user not in users:
                raise SimulatorError(f"token-bloat: no user named {user!r}")
            share = float(params.get("expired_share", "0.6"))
            others = [uid for n, uid in users.items() if n != user][:500]

            def bloat(dbs: ServiceDatabases) -> None:
                scenarios.bloat_tokens(dbs.engine("keystone"), rows=rows,
                                       service_user_id=users[user], other_user_ids=others,
                                       expired_share=share)  # fmt: skip

            self.submit(bloat)
            return f"token-bloat: writing {rows} rows to keystone.token ({user} makes most)"
        if name == "revocation-growth":
            days = int(params.get("days", "7"))
            user_ids = list(users.values())[:1000]
            project_ids = [p.id for p in state.projects][:1000]

            def grow(dbs: ServiceDatabases) -> None:
                scenarios.grow_revocation_events(
                    dbs.engine("keystone"),
                    rows=rows,
                    days=days,
                    user_ids=user_ids,
                    project_ids=project_ids,
                )

            self.submit(grow)
            return f"revocation-growth: writing {rows} rows to keystone.revocation_event"
        raise SimulatorError(f"the service databases know no scenario {name!r}")

    def clear(self, name: str) -> str:
        """Undo a DB-side scenario (empties the table it filled)."""
        wipe: dict[str, tuple[str, Callable[[Engine], int]]] = {
            "token-bloat": ("token", scenarios.clear_tokens),
            "revocation-growth": ("revocation_event", scenarios.clear_revocation_events),
        }
        if name not in wipe:
            raise SimulatorError(f"the service databases know no scenario {name!r}")
        table, fn = wipe[name]
        self.submit(lambda dbs: log.info("%s: %d rows deleted", name, fn(dbs.engine("keystone"))))
        return f"{name}: emptying keystone.{table}"

    def _on_change(self, change: Change) -> None:
        self._queue.put(change)  # the event loop only enqueues; the writer maps and writes

    def submit(self, job: Job) -> None:
        """Run ``job(self)`` on the writer thread, after what is queued (scenarios)."""
        self._queue.put(job)

    def take_away(self) -> str:
        """``database-down``: each SQLite file moved aside (``nova.sqlite.down``) and an
        empty directory in its place, so that a new connection fails ("unable to open
        database file") as one to a database server that is down would. The writer keeps
        its open connection to the moved file: nothing written meanwhile is lost. Service
        databases on a server (``--db-url``) are left up: the scenario then shows on the
        APIs only."""
        if self._server_url is not None:
            return "the service databases are on a server, left up"
        for name in schema.DATABASES:
            path = self.workdir / "db" / f"{name}.sqlite"
            if path.is_file():
                path.rename(path.with_name(path.name + ".down"))
                path.mkdir()
        return "the service databases are unreachable"

    def bring_back(self) -> str:
        """Undo :meth:`take_away`."""
        if self._server_url is not None:
            return "the service databases were left up"
        for name in schema.DATABASES:
            path = self.workdir / "db" / f"{name}.sqlite"
            moved = path.with_name(path.name + ".down")
            if moved.is_file():
                if path.is_dir():
                    path.rmdir()
                moved.rename(path)
        return "the service databases are back"

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every change queued so far is written."""
        if self._thread is None or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise SimulatorError(f"service databases did not catch up within {timeout:.0f}s")

    def close(self) -> None:
        """Stop following the state, finish writing, dispose of the engines."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None
        for engine in self._engines.values():
            engine.dispose()

    def _run(self) -> None:
        """Writer thread: map changes to rows and write them, a batch per transaction."""
        stop = False
        while not stop:
            item = self._queue.get()
            pending: list[Op] = []
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, Change):
                    if self._mapper.handles(item.resource):
                        pending.extend(self._mapper.ops(item))
                else:
                    self._write(pending)
                    pending = []
                    if isinstance(item, threading.Event):
                        item.set()
                    elif isinstance(item, _Load):
                        self._guard(self._load, item)
                    else:
                        self._guard(item, self)
                if len(pending) > 5000:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(pending)

    def _guard(self, job: Callable[[Any], None], arg: Any) -> None:
        try:
            job(arg)
        except Exception:  # a failed load or scenario is logged and counted; we go on
            self.errors += 1
            log.exception("service database job %r failed", job)

    def _write(self, ops: list[Op]) -> None:
        if not ops:
            return
        try:
            self.written += self._apply(ops)
            return
        except sa.exc.SQLAlchemyError:
            log.exception("writing %d row operations failed; retrying them one by one", len(ops))
        for op in ops:  # so that one bad row costs one row, not the whole batch
            try:
                self.written += self._apply([op])
            except sa.exc.SQLAlchemyError as exc:
                self.errors += 1
                log.warning("row operation on %s.%s failed: %s", op.database, op.table, exc)

    def _apply(self, ops: Iterable[Op], regroup: bool = False) -> int:
        """Apply row operations, one transaction per database touched; returns rows."""
        conns: dict[str, Connection] = {}
        rows = 0
        updates: list[Update] = []  # consecutive updates of the same shape, written at once

        def write_updates() -> int:
            if not updates:
                return 0
            first = updates[0]
            conn = self._conn(conns, first.database)
            _update_tuples(conn, schema.table(first.database, first.table), updates)
            written = len(updates)
            updates.clear()
            return written

        try:
            for item in batches(ops, regroup):
                if isinstance(item, Update):
                    if updates and not _same_shape(updates[0], item):
                        rows += write_updates()
                    updates.append(item)
                    continue
                rows += write_updates()
                if isinstance(item, tuple):
                    database, table, values = item
                    conn = self._conn(conns, database)
                    _insert_tuples(conn, schema.table(database, table), values)
                    rows += len(values)
                else:
                    rows += self._apply_one(self._conn(conns, item.database), item)
            rows += write_updates()
            for conn in conns.values():
                conn.commit()
        finally:
            for conn in conns.values():
                conn.close()
        return rows

    def _conn(self, conns: dict[str, Connection], database: str) -> Connection:
        conn = conns.get(database)
        if conn is None:
            conn = conns[database] = self._engines[database].connect()
        return conn

    @staticmethod
    def _apply_one(conn: Connection, op: Op) -> int:
        t = schema.table(op.database, op.table)
        if isinstance(op, Insert):
            conn.execute(t.insert(), op.row)
            return 1
        where = sa.and_(*(t.c[k] == v for k, v in op.where.items()))
        if isinstance(op, Update):
            conn.execute(t.update().where(where).values(op.values))
        elif isinstance(op, Delete):
            conn.execute(t.delete().where(where))
        return 1


def _insert_tuples(conn: Connection, table: sa.Table, rows: list[Row]) -> None:
    """Insert rows through the driver's ``executemany`` with positional tuples.

    SQLAlchemy's ``insert()`` with dicts builds and processes the parameters of every
    row in Python (a third of a big bulk load); the driver takes tuples as they are
    (PyMySQL turns them into multi-row ``INSERT ... VALUES``). Every row names every
    column (:mod:`~stackwatch.sim.db.rows`), holding only str, int, bool, float,
    datetime, date or None, which the drivers convert themselves — except that SQLite
    gets dates as SQLAlchemy stores them (``2026-11-21 06:12:23.000000`` text), so the
    tables hold exactly what the ORM path wrote. ``exec_driver_sql`` keeps the
    transaction and SQLAlchemy's error wrapping.
    """
    columns = [c.name for c in table.columns]
    quote = conn.dialect.identifier_preparer.quote
    mark = _mark(conn)
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    convert = _sqlite_texts(conn, table, columns)
    pick = operator.itemgetter(*columns)
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk: list[tuple[Any, ...]] = []
        for row in rows[start : start + INSERT_CHUNK]:
            try:
                picked = pick(row)
            except KeyError:  # a row leaving a column out: NULL, as SQLAlchemy binds it
                picked = tuple(row.get(c) for c in columns)
            values = picked if len(columns) > 1 else (picked,)
            if convert:
                listed = list(values)
                for i, to_text in convert:
                    if listed[i] is not None:
                        listed[i] = to_text(listed[i])
                values = tuple(listed)
            chunk.append(values)
        conn.exec_driver_sql(sql, chunk)


def _same_shape(a: Update, b: Update) -> bool:
    return (a.database, a.table) == (b.database, b.table) and (
        a.where.keys() == b.where.keys() and a.values.keys() == b.values.keys())


def _update_tuples(conn: Connection, table: sa.Table, updates: list[Update]) -> None:
    """``UPDATE ... SET ... WHERE ...`` of updates of one shape, through the driver's
    ``executemany`` on tuples (as :func:`_insert_tuples`): the heartbeats of a big
    cloud are a hundred such rows a second, and SQLAlchemy building a statement for
    each kept the writer thread, and so the GIL, busy (listing pages waited on it)."""
    first = updates[0]
    quote = conn.dialect.identifier_preparer.quote
    mark = _mark(conn)
    sql = (
        f"UPDATE {quote(table.name)} SET "
        f"{', '.join(f'{quote(c)} = {mark}' for c in first.values)} WHERE "
        f"{' AND '.join(f'{quote(c)} = {mark}' for c in first.where)}"
    )
    convert = _sqlite_texts(conn, table, [*first.values, *first.where])
    params: list[tuple[Any, ...]] = []
    for op in updates:
        values = [op.values[c] for c in first.values] + [op.where[c] for c in first.where]
        for i, to_text in convert:
            if values[i] is not None:
                values[i] = to_text(values[i])
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)


def _mark(conn: Connection) -> str:
    """The driver's parameter marker (``?`` for sqlite3, ``%s`` for PyMySQL)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _sqlite_texts(conn: Connection, table: sa.Table, columns: list[str]
                  ) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, converter) of the date and datetime ``columns`` on SQLite, which gets
    them as SQLAlchemy's text; nothing on other databases (their drivers convert)."""
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    if conn.dialect.name == "sqlite":
        for i, name in enumerate(columns):
            kind = table.c[name].type
            if isinstance(kind, sa.DateTime):
                convert.append((i, _sqlite_datetime))
            elif isinstance(kind, sa.Date):
                convert.append((i, _sqlite_date))
    return convert


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite ``DATETIME`` text: ``2026-11-21 06:12:23.000000``."""
    if value.tzinfo is None:
        return value.isoformat(" ", "microseconds")  # the same text, faster
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_date(value: date) -> str:
    """SQLAlchemy's SQLite ``DATE`` text: ``2026-11-21``."""
    return value.strftime("%Y-%m-%d")


def count_rows(engine: Engine, table: str, where: Mapping[str, Any] | None = None) -> int:
    """``SELECT COUNT(*)`` of a table, optionally filtered by equality (tests, scenarios)."""
    md = sa.MetaData()
    t = sa.Table(table, md, autoload_with=engine)
    query = sa.select(sa.func.count()).select_from(t)
    for k, v in (where or {}).items():
        query = query.where(t.c[k] == v)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
