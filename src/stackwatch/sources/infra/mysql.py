"""``infra.mysql``: each MySQL/MariaDB server (each Galera node) on its own, over SQL.

Per server and run, one connection (PyMySQL) and four reads, all needing only
the ``PROCESS`` privilege (and ``USAGE``)::

    SHOW GLOBAL STATUS                       connections, Galera's wsrep_* status
    SHOW GLOBAL VARIABLES WHERE ...          max_connections, wsrep_on, version
    information_schema.PROCESSLIST           statements running for long_query_seconds
    information_schema.INNODB_TRX            transactions waiting for a lock

Checks, each ``{service=mysql, host}`` (a member of the ``mysql`` service):

* ``mysql.node`` — answering; on a Galera node also ``wsrep_ready`` ON, connected,
  in the *Primary* component (CRITICAL otherwise: it refuses queries or is cut
  off), ``Synced`` (``Donor/Desynced`` or ``Joined`` WARNING), the cluster size
  against ``expected_cluster_size`` (WARNING below), and flow control: the share
  of the time since the last run replication was paused (from the cumulative
  ``wsrep_flow_control_paused_ns``; the first run uses ``wsrep_flow_control_paused``,
  the share since the last ``FLUSH STATUS``), WARNING at ``flow_control_paused``.
* ``mysql.connections`` — ``Threads_connected`` against ``max_connections``.
* ``mysql.queries`` — WARNING while statements have run ``long_query_seconds``
  or transactions waited ``lock_wait_seconds`` for a lock (named by thread id,
  user, database and time; never by their SQL, which may hold data).

Galera's state numbers (``wsrep_local_state``): 1 Joining, 2 Donor/Desynced,
3 Joined, 4 Synced. A server whose ``wsrep_on`` is OFF is judged as a plain
server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from stackwatch.errors import (
    InvalidResponse,
    SourceAuthError,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)
from stackwatch.infra_config import MySQLConfig, MySQLServer
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import (
    Context,
    InfraSource,
    check,
    named,
    percent_status,
    sample,
    worst,
)

log = logging.getLogger(__name__)

#: ``SHOW GLOBAL STATUS`` variable -> metric (every server).
STATUS_FIELDS: tuple[tuple[str, str], ...] = (
    ("Threads_connected", "mysql_connections"),
    ("Max_used_connections", "mysql_max_used_connections"),
    ("Threads_running", "mysql_threads_running"),
    ("Aborted_connects", "mysql_aborted_connects_total"),
    ("Slow_queries", "mysql_slow_queries_total"),
    ("Uptime", "mysql_uptime_seconds"),
)
#: ``SHOW GLOBAL STATUS`` variable -> metric (Galera nodes).
GALERA_FIELDS: tuple[tuple[str, str], ...] = (
    ("wsrep_cluster_size", "mysql_galera_cluster_size"),
    ("wsrep_local_state", "mysql_galera_local_state"),
    ("wsrep_local_recv_queue", "mysql_galera_recv_queue"),
    ("wsrep_local_send_queue", "mysql_galera_send_queue"),
    ("wsrep_flow_control_sent", "mysql_galera_flow_control_sent_total"),
    ("wsrep_flow_control_recv", "mysql_galera_flow_control_recv_total"),
    ("wsrep_local_cert_failures", "mysql_galera_cert_failures_total"),
    ("wsrep_local_bf_aborts", "mysql_galera_bf_aborts_total"),
    ("wsrep_desync_count", "mysql_galera_desync_count"),
)
#: Galera status variable, its good value -> metric (1 when it has that value).
GALERA_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("wsrep_ready", "ON", "mysql_galera_ready"),
    ("wsrep_connected", "ON", "mysql_galera_connected"),
    ("wsrep_cluster_status", "Primary", "mysql_galera_primary"),
)
VARIABLES = ("max_connections", "version", "wsrep_on", "wsrep_provider", "wsrep_node_name",
             "wsrep_cluster_name")
LOCAL_STATES = {"1": "Joining", "2": "Donor/Desynced", "3": "Joined", "4": "Synced"}

PROCESSLIST_SQL = (
    "SELECT ID, USER, DB, COMMAND, TIME FROM information_schema.PROCESSLIST "
    "WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID') "
    "AND USER NOT IN ('system user', 'event_scheduler') AND ID <> CONNECTION_ID() "
    "AND TIME >= %s ORDER BY TIME DESC")
LOCK_WAITS_SQL = (
    "SELECT trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, trx_wait_started, NOW()) "
    "FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' "
    "ORDER BY trx_wait_started")


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement running long: who, where, for how long (never its SQL)."""

    thread: int
    user: str
    db: str
    command: str
    seconds: float


@dataclass(frozen=True, slots=True)
class ServerState:
    """What one read of a server saw."""

    status: Mapping[str, str]
    variables: Mapping[str, str]
    statements: tuple[Statement, ...] = ()
    lock_waits: tuple[tuple[int, float], ...] = ()   # (thread, seconds waited)
    queries_error: str = ""                          # why those two could not be read
    read_at: float = field(default_factory=time.monotonic)

    @property
    def galera(self) -> bool:
        """Whether the server runs as a Galera node (``wsrep_on`` ON)."""
        return self.variables.get("wsrep_on", "OFF").upper() == "ON"


def number(values: Mapping[str, str], name: str) -> float | None:
    """A status or variable as a number; None when absent or not a number."""
    try:
        return float(values[name])
    except (KeyError, ValueError):
        return None


def flow_control_paused(now: ServerState, before: ServerState | None) -> float | None:
    """The share of time replication was paused since ``before`` (else since FLUSH STATUS)."""
    paused = number(now.status, "wsrep_flow_control_paused_ns")
    earlier = number(before.status, "wsrep_flow_control_paused_ns") if before else None
    elapsed = now.read_at - before.read_at if before else 0.0
    if paused is not None and earlier is not None and elapsed > 0 and paused >= earlier:
        return min(1.0, (paused - earlier) / 1e9 / elapsed)
    return number(now.status, "wsrep_flow_control_paused")


def judge_galera(state: ServerState, config: MySQLConfig, paused: float | None
                 ) -> tuple[Status, str]:
    """A Galera node's status and why (see the module docstring)."""
    s = state.status
    local = s.get("wsrep_local_state", "")
    local_name = s.get("wsrep_local_state_comment") or LOCAL_STATES.get(local, local or "?")
    size = number(s, "wsrep_cluster_size")
    judged: list[tuple[Status, str]] = [(Status.OK, "")]
    if s.get("wsrep_connected", "OFF") != "ON":
        judged.append((Status.CRITICAL, "not connected to the cluster"))
    if s.get("wsrep_cluster_status", "") != "Primary":
        judged.append((Status.CRITICAL, f"in a {s.get('wsrep_cluster_status') or 'unknown'} "
                       "component: refuses queries (quorum lost or partitioned)"))
    if s.get("wsrep_ready", "OFF") != "ON":
        judged.append((Status.CRITICAL, "wsrep not ready: refuses queries"))
    if local in ("1", "2", "3"):
        why = {"1": "joining the cluster", "2": "donor or desynced: not applying in step",
               "3": "joined, catching up"}[local]
        judged.append((Status.WARNING, f"{local_name} ({why})"))
    if size is not None and config.expected_cluster_size and size < config.expected_cluster_size:
        judged.append((Status.WARNING, f"cluster has {size:.0f} of "
                       f"{config.expected_cluster_size} nodes"))
    if paused is not None and paused >= config.flow_control_paused:
        judged.append((Status.WARNING, f"replication paused {100 * paused:.0f}% of the "
                       "time by flow control (a node cannot keep up)"))
    status, reason = worst(*judged)
    summary = f"Galera {local_name}, {s.get('wsrep_cluster_status', '?')}, cluster size " + (
        f"{size:.0f}" if size is not None else "?")
    return status, (f"{summary}: {reason}" if reason else summary)


def judge_queries(state: ServerState, config: MySQLConfig) -> tuple[Status, str]:
    """Long statements and lock waits."""
    if state.queries_error:
        return Status.UNKNOWN, f"cannot look at statements: {state.queries_error}"
    waits = [(t, w) for t, w in state.lock_waits if w >= config.lock_wait_seconds]
    parts = []
    if state.statements:
        longest = state.statements[0]
        parts.append(f"{len(state.statements)} statement{'s' * (len(state.statements) > 1)} "
                     f"running {config.long_query_seconds:g}s or more: " + named(
                         [f"thread {q.thread} ({q.user}@{q.db or '-'} {q.command} "
                          f"{q.seconds:.0f}s)" for q in state.statements], 5)
                     + f"; longest {longest.seconds:.0f}s")
    if waits:
        parts.append(f"{len(waits)} transaction{'s' * (len(waits) > 1)} waiting for a lock "
                     f"{config.lock_wait_seconds:g}s or more: "
                     + named([f"thread {t} ({w:.0f}s)" for t, w in waits], 5))
    if parts:
        return Status.WARNING, "; ".join(parts)
    return Status.OK, (f"no statement running {config.long_query_seconds:g}s, no lock wait "
                       f"of {config.lock_wait_seconds:g}s")


def server_results(host: str, state: ServerState, config: MySQLConfig,
                   before: ServerState | None = None) -> Collection:
    """Samples and checks of one server."""
    labels = {"host": host}
    samples: list[Sample] = []
    for var, metric in STATUS_FIELDS:
        if (v := number(state.status, var)) is not None:
            samples.append(sample(metric, v, labels))
    max_connections = number(state.variables, "max_connections")
    if max_connections is not None:
        samples.append(sample("mysql_max_connections", max_connections, labels))
    longest = max((q.seconds for q in state.statements), default=0.0)
    waits = [w for _, w in state.lock_waits]
    if not state.queries_error:
        samples += [sample("mysql_long_queries", len(state.statements), labels),
                    sample("mysql_longest_query_seconds", longest, labels),
                    sample("mysql_lock_waits", len(waits), labels),
                    sample("mysql_longest_lock_wait_seconds", max(waits, default=0.0), labels)]
    version = state.variables.get("version", "")
    if state.galera:
        for var, metric in GALERA_FIELDS:
            if (v := number(state.status, var)) is not None:
                samples.append(sample(metric, v, labels))
        for var, good, metric in GALERA_FLAGS:
            if var in state.status:
                samples.append(sample(metric, 1 if state.status[var] == good else 0, labels))
        paused = flow_control_paused(state, before)
        if paused is not None:
            samples.append(sample("mysql_galera_flow_control_paused_ratio", paused, labels))
        node_status, node_message = judge_galera(state, config, paused)
    else:
        node_status, node_message = Status.OK, "answering (not a Galera node)"
    member = {"service": "mysql", "host": host}
    connected = number(state.status, "Threads_connected")
    checks: list[CheckResult] = [check("mysql.node", node_status,
                                       f"{host}: {version} {node_message}".replace("  ", " "),
                                       **member)]
    if connected is not None and max_connections:
        status = percent_status(connected, max_connections, config.connections.warning,
                                config.connections.critical)
        checks.append(check("mysql.connections", status, f"{host}: {connected:.0f} of "
                            f"{max_connections:.0f} connections in use", **member))
    status, message = judge_queries(state, config)
    checks.append(check("mysql.queries", status, f"{host}: {message}", **member))
    return Collection(tuple(samples), tuple(checks))


# ------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect (the password never leaves this object)."""

    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    unix_socket: str | None
    defaults_file: str | None

    @property
    def where(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"


def endpoint(server: MySQLServer) -> Endpoint:
    """Parse the server's URL (already validated by the config)."""
    parts = urlsplit(server.url.get_secret_value())
    query = parse_qs(parts.query)
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or 3306,
                    unquote(parts.username) if parts.username else None,
                    unquote(parts.password) if parts.password else None,
                    query.get("unix_socket", [None])[0],
                    str(server.defaults_file) if server.defaults_file else None)


def translate(exc: Exception, what: str, where: str, timeout: float) -> SourceError:
    """A PyMySQL exception -> the stackwatch error, naming what and where."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    message = f"{what} on {where}: {text[:200]}"
    if code in (1045, 1044, 1698):
        return SourceAuthError(message)
    if code in (1142, 1143, 1227):
        return SourceAuthError(f"{message} (the account needs PROCESS)")
    if "timed out" in text.lower() or code == 3024:
        return SourceTimeout(f"{what} on {where}: no answer within {timeout:g}s")
    if code in (2003, 2002, 2006, 2013):
        return SourceUnavailable(message)
    return InvalidResponse(message)


class MySQLSource(InfraSource[MySQLServer]):
    """Every configured server, in turn; one not answering never hides the others."""

    piece = "mysql"

    def __init__(self, config: MySQLConfig) -> None:
        super().__init__(config.servers)
        self.config = config
        self._before: dict[str, ServerState] = {}

    def target_name(self, target: MySQLServer) -> str:
        return target.member()

    def unreadable(self, target: MySQLServer, reason: str) -> tuple[CheckResult, ...]:
        host = target.member()
        return tuple(check(name, Status.UNKNOWN, f"{host}: {reason}", service="mysql",
                           host=host) for name in ("mysql.node", "mysql.connections",
                                                   "mysql.queries"))

    def read(self, target: MySQLServer) -> Collection:
        host = target.member()
        state = self.read_state(endpoint(target))
        out = server_results(host, state, self.config, self._before.get(host))
        self._before[host] = state
        return out

    def read_state(self, where: Endpoint) -> ServerState:
        """Connect, read the four things, disconnect; translate every error."""
        import pymysql

        timeout = self.config.timeout
        what = "connect"
        started = time.monotonic()
        try:
            conn = pymysql.connect(
                host=where.host, port=where.port, user=where.user or "",
                password=where.password or "", unix_socket=where.unix_socket,
                read_default_file=where.defaults_file, connect_timeout=timeout,
                read_timeout=timeout, write_timeout=timeout, autocommit=True)
        except Exception as exc:  # PyMySQL raises its own errors and OSError subclasses
            raise translate(exc, what, where.where, timeout) from None
        try:
            with conn.cursor() as cur:
                what = "SHOW GLOBAL STATUS"
                cur.execute(what)
                status = {str(k): str(v) for k, v in cur.fetchall()}
                what = "SHOW GLOBAL VARIABLES"
                cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN ("
                            + ", ".join(["%s"] * len(VARIABLES)) + ")", VARIABLES)
                variables = {str(k): str(v) for k, v in cur.fetchall()}
                statements, waits, error = self._queries(cur)
        except Exception as exc:
            raise translate(exc, what, where.where, timeout) from None
        finally:
            conn.close()
        log.info("mysql %s: read in %.3fs", where.where, time.monotonic() - started)
        return ServerState(status, variables, statements, waits, error)

    def _queries(self, cur: Any) -> tuple[tuple[Statement, ...], tuple[tuple[int, float], ...],
                                         str]:
        """Long statements and lock waits; a refusal (no PROCESS) is said, not raised."""
        import pymysql

        try:
            cur.execute(PROCESSLIST_SQL, (int(self.config.long_query_seconds),))
            statements = tuple(Statement(int(i), str(u or ""), str(d or ""), str(c), float(t))
                               for i, u, d, c, t in cur.fetchall()
                               if float(t) >= self.config.long_query_seconds)
            cur.execute(LOCK_WAITS_SQL)
            waits = tuple((int(t), float(s or 0)) for t, s in cur.fetchall())
        except (pymysql.err.OperationalError, pymysql.err.ProgrammingError,
                pymysql.err.InternalError) as exc:
            code = exc.args[0] if exc.args else 0
            if code in (1142, 1143, 1227, 1047, 1105):
                return (), (), str(exc.args[1] if len(exc.args) > 1 else exc)[:200]
            raise
        return statements, waits, ""


def build(config: MySQLConfig, context: Context) -> MySQLSource:
    """``infra.mysql`` for the section ``config``."""
    return MySQLSource(config)

