"""Real servers for tests (MariaDB, RabbitMQ, PostgreSQL, Galera, memcached...), on
127.0.0.1 and free ports.

Session-scoped pytest fixtures (registered in ``tests/conftest.py``):

- ``mariadb`` -> :class:`MariaDB`: ``mariadbd`` from Debian's ``mariadb-server`` with its
  own datadir under a temporary directory, ``root`` without password over TCP.
  ``mariadb.url("nova")`` is a SQLAlchemy URL; ``mariadb.create_database("x")`` makes
  a fresh database; ``mariadb.execute(sql)`` runs statements as root.
- ``rabbitmq`` -> :class:`RabbitMQ`: ``rabbitmq-server`` with its own mnesia/log dirs,
  node name, AMQP, distribution and epmd ports (and the management plugin on
  ``rabbitmq.mgmt_port`` when the fixture ``rabbitmq`` is used). ``rabbitmq.url`` is an
  ``amqp://`` URL for kombu; user ``guest`` (allowed from loopback).
- ``postgres`` -> :class:`PostgreSQL`: ``postgres`` 15 from Debian's ``postgresql`` with
  its own cluster in a temporary directory, run as the ``postgres`` account when the
  tests run as root (``initdb`` refuses root). Superuser ``stackwatch`` with a random
  password over TCP; ``postgres.create_database("x")`` makes a fresh database (ICU
  ``en-US`` collation when the server has ICU, so no test depends on byte order by
  accident) and returns its URL.

All are stopped (their process groups terminated) at the end of the session.
``start_mariadb(dir)`` / ``start_rabbitmq(dir)`` / ``start_postgres()`` are context
managers for benchmarks and scripts that want the same servers outside pytest, as are
those the infrastructure tests start themselves: ``start_galera(dir)`` (a 3-node MariaDB
Galera cluster, servers running as ``mysql``), ``start_memcached()``, ``start_haproxy(dir,
config, stats_port)``, ``start_ovsdb(dir)``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 30.0,
                stop: signal.Signals = signal.SIGTERM) -> None:
    """Terminate a process started with ``start_new_session=True`` and its children."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, stop)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_until(what: str, ready: object, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        if callable(ready) and ready():
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not become ready within {START_TIMEOUT_S:.0f}s (log {log})")


# ---------------------------------------------------------------------------- MariaDB


@dataclass(frozen=True)
class MariaDB:
    """A running MariaDB server; root has no password and connects over TCP."""

    port: int
    socket_path: Path
    datadir: Path
    host: str = "127.0.0.1"

    def url(self, database: str = "") -> str:
        """SQLAlchemy URL (PyMySQL) for ``database`` (server-level URL when empty)."""
        return f"mysql+pymysql://root@{self.host}:{self.port}/{database}?charset=utf8mb4"

    def execute(self, *statements: str) -> None:
        """Run statements as root on the server (no database selected)."""
        import pymysql

        conn = pymysql.connect(host=self.host, port=self.port, user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Drop and create database ``name``; returns its URL."""
        self.execute(
            f"DROP DATABASE IF EXISTS `{name}`",
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4",
        )
        return self.url(name)


@contextlib.contextmanager
def start_mariadb(base: Path) -> Iterator[MariaDB]:
    """Initialise a datadir under ``base`` and run ``mariadbd`` on a free port."""
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    datadir = base / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    log = base / "mariadb.err"
    install = subprocess.run(
        [
            "mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={datadir}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ],
        capture_output=True, check=False,
    )
    if install.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {install.stderr.decode()[-2000:]}")
    port = free_port()
    sock = base / "mysqld.sock"
    proc = subprocess.Popen(
        [
            mariadbd, "--no-defaults", "--user=root", f"--datadir={datadir}",
            "--bind-address=127.0.0.1", f"--port={port}", f"--socket={sock}",
            f"--pid-file={base / 'mariadbd.pid'}", f"--log-error={log}",
            "--skip-name-resolve", "--max-connections=300", "--innodb-buffer-pool-size=128M",
            "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    server = MariaDB(port=port, socket_path=sock, datadir=datadir)

    def ready() -> bool:
        if not _port_open(port):
            return False
        try:
            server.execute("SELECT 1")
        except Exception:  # any failure here means "not ready yet"
            return False
        return True

    try:
        _wait_until("mariadbd", ready, proc, log)
        yield server
    finally:
        _stop_group(proc)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A real MariaDB server for the whole test session."""
    with start_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


# ---------------------------------------------------------------------------- RabbitMQ


@dataclass(frozen=True)
class RabbitMQ:
    """A running RabbitMQ node; ``guest``/``guest`` from 127.0.0.1."""

    port: int
    mgmt_port: int
    nodename: str
    env: dict[str, str]
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """AMQP URL for kombu (default vhost ``/``)."""
        return f"amqp://guest:guest@{self.host}:{self.port}//"

    @property
    def mgmt_url(self) -> str:
        """Base URL of the management HTTP API."""
        return f"http://{self.host}:{self.mgmt_port}/api"

    def ctl(self, *args: str) -> str:
        """Run ``rabbitmqctl`` against this node and return its stdout."""
        out = subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.nodename, *args],
            env=self.env, capture_output=True, check=True, timeout=60,
        )
        return out.stdout.decode()

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """``{queue: (messages, consumers)}`` of the default vhost."""
        rows = self.ctl("-q", "list_queues", "name", "messages", "consumers")
        result: dict[str, tuple[int, int]] = {}
        for line in rows.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                result[parts[0]] = (int(parts[1]), int(parts[2]))
        return result


@contextlib.contextmanager
def start_rabbitmq(base: Path, management: bool = True) -> Iterator[RabbitMQ]:
    """Run a private RabbitMQ node (own epmd, ports and dirs) under ``base``."""
    port, dist_port, epmd_port, mgmt_port = free_port(), free_port(), free_port(), free_port()
    nodename = f"stackwatch-test-{port}@localhost"
    (base / "mnesia").mkdir(parents=True, exist_ok=True)
    (base / "log").mkdir(exist_ok=True)
    conf = base / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {mgmt_port}\n"
        # node and queue statistics every second (default 5 s): tests see changes sooner
        "collect_statistics_interval = 1000\n"
    )
    plugins = base / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n" if management else "[].\n")
    env = {
        **os.environ,
        "HOME": str(base),
        "RABBITMQ_NODENAME": nodename,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "beam.pid"),
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    log = base / "server.out"
    # Our own epmd in the foreground, so that it stops with us and leaves no daemon behind.
    epmd = subprocess.Popen(
        ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    ) if shutil.which("epmd") else None
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = RabbitMQ(port=port, mgmt_port=mgmt_port, nodename=nodename, env=env)

    def ready() -> bool:
        if not _port_open(port):
            return False
        from kombu import Connection

        try:
            with Connection(server.url, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception:  # any failure here means "not ready yet"
            return False
        return not management or _port_open(mgmt_port)

    try:
        _wait_until("rabbitmq-server", ready, proc, log)
        yield server
    finally:
        _stop_group(proc, timeout=60)
        if epmd is not None:
            _stop_group(epmd)


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """A real RabbitMQ node (with the management plugin) for the whole test session."""
    with start_rabbitmq(tmp_path_factory.mktemp("rabbitmq")) as server:
        yield server


# ---------------------------------------------------------------------------- Galera

GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"   # Debian's galera-4


@dataclass
class GaleraNode:
    """One node of a test Galera cluster: its SQL port and its group communication port."""

    name: str
    port: int
    gcomm_port: int
    ist_port: int
    base: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement as root; its rows."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", autocommit=True,
                               connect_timeout=3, read_timeout=30)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def status(self) -> dict[str, str]:
        """``SHOW GLOBAL STATUS LIKE 'wsrep%'``."""
        return {str(k): str(v) for k, v in self.query("SHOW GLOBAL STATUS LIKE 'wsrep%'")}


@dataclass
class Galera:
    """A running Galera cluster on 127.0.0.1 (Debian's mariadb-server and galera-4)."""

    nodes: list[GaleraNode]

    def start(self, node: GaleraNode, bootstrap: bool = False) -> None:
        """Start ``node`` (``bootstrap``: as a new cluster) and wait until it is ready."""
        peers = "" if bootstrap else ",".join(f"127.0.0.1:{n.gcomm_port}" for n in self.nodes)
        subprocess.run(["chown", "-R", "mysql:mysql", str(node.base)], check=True)
        log = node.base / "mariadb.err"
        node.proc = subprocess.Popen(
            [
                shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults",
                "--user=mysql", f"--datadir={node.base / 'data'}", "--bind-address=127.0.0.1",
                f"--port={node.port}", f"--socket={node.base / 'mysqld.sock'}",
                f"--pid-file={node.base / 'mariadbd.pid'}", f"--log-error={log}",
                "--skip-name-resolve", "--skip-log-bin", "--performance-schema=OFF",
                "--innodb-buffer-pool-size=16M", "--binlog-format=ROW",
                "--innodb-autoinc-lock-mode=2", "--wsrep-on=ON",
                f"--wsrep-provider={GALERA_PROVIDER}", f"--wsrep-cluster-address=gcomm://{peers}",
                f"--wsrep-node-address=127.0.0.1:{node.gcomm_port}",
                f"--wsrep-node-name={node.name}", "--wsrep-cluster-name=stackwatch-test",
                # short failure detection, so that a stopped node leaves the view in seconds
                f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port};"
                f"ist.recv_addr=127.0.0.1:{node.ist_port};evs.suspect_timeout=PT3S;"
                "evs.inactive_timeout=PT6S;evs.install_timeout=PT5S;gcache.size=16M",
                "--wsrep-sst-method=rsync",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

        def ready() -> bool:
            try:
                return node.status().get("wsrep_ready") == "ON"
            except Exception:  # any failure here means "not ready yet"
                return False

        _wait_until(f"galera {node.name}", ready, node.proc, log)

    def stop(self, node: GaleraNode, kill: bool = False) -> None:
        """Stop ``node``: cleanly (it leaves the cluster) or ``kill`` -9 (it vanishes)."""
        if node.proc is None:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=30)
        else:
            _stop_group(node.proc)
        node.proc = None


@contextlib.contextmanager
def start_galera(base: Path, size: int = 3) -> Iterator[Galera]:
    """A ``size``-node Galera cluster under ``base`` (made readable by the ``mysql`` user).

    mariadbd runs as ``mysql``, so that the rsync state transfer to a joining node
    (run by the server's own user) can write its datadir. The first node bootstraps
    the cluster; the others join one after the other (a state transfer each).
    """
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    closed = [p for p in base.parents if not p.stat().st_mode & 0o001]
    if closed:
        raise RuntimeError(f"{closed[0]} is not traversable by the mysql user: give a "
                           "base under /tmp (tempfile.mkdtemp)")
    nodes = []
    for index in range(size):
        node_base = base / f"node{index + 1}"
        (node_base / "data").mkdir(parents=True, exist_ok=True)
        nodes.append(GaleraNode(f"node{index + 1}", free_port(), free_port(), free_port(),
                                node_base))
    subprocess.run(["chown", "-R", "mysql:mysql", str(base)], check=True)
    install = subprocess.run(
        ["mariadb-install-db", "--no-defaults", "--user=mysql",
         f"--datadir={nodes[0].base / 'data'}", "--auth-root-authentication-method=normal",
         "--skip-test-db"], capture_output=True, check=False)
    if install.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {install.stderr.decode()[-2000:]}")
    cluster = Galera(nodes)
    try:
        cluster.start(nodes[0], bootstrap=True)
        for node in nodes[1:]:
            cluster.start(node)
        yield cluster
    finally:
        for node in nodes:
            cluster.stop(node, kill=True)


# ---------------------------------------------------------------------------- memcached


@dataclass(frozen=True)
class Memcached:
    """A running memcached (Debian's ``memcached``) on 127.0.0.1."""

    port: int
    max_connections: int
    memory_mb: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self, *lines: bytes) -> bytes:
        """Send text-protocol lines on a fresh connection; everything answered."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(b"".join(line + b"\r\n" for line in lines) + b"quit\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer


@contextlib.contextmanager
def start_memcached(max_connections: int = 64, memory_mb: int = 16) -> Iterator[Memcached]:
    """memcached on a free port: one worker thread, ``-c max_connections``, ``-m memory_mb``."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("memcached") or "/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(port),
         "-U", "0", "-u", "root", "-t", "1", "-c", str(max_connections), "-m", str(memory_mb),
         "-I", "512k"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"memcached did not start (exit {proc.poll()})")
            time.sleep(0.1)
        yield Memcached(port, max_connections, memory_mb)
    finally:
        _stop_group(proc)


# ---------------------------------------------------------------------------- HAProxy


@contextlib.contextmanager
def start_haproxy(base: Path, config: str, stats_port: int) -> Iterator[Path]:
    """HAProxy (Debian's ``haproxy``) in the foreground with ``config`` (written to
    ``base/haproxy.cfg``); ready when ``stats_port`` listens. Yields the config's path."""
    base.mkdir(parents=True, exist_ok=True)
    path = base / "haproxy.cfg"
    path.write_text(config)
    log = base / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-f",
                                 str(path), "-db"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_until("haproxy", lambda: _port_open(stats_port), proc, log)
        yield path
    finally:
        _stop_group(proc)


# ---------------------------------------------------------------------------- Open vSwitch


@dataclass(frozen=True)
class OVSDB:
    """A running ovsdb-server (Debian's ``openvswitch-switch``) with the vswitch schema."""

    socket: Path

    @property
    def remote(self) -> str:
        return f"unix:{self.socket}"

    def vsctl(self, *args: str) -> str:
        """``ovs-vsctl --no-wait`` against this database (no ovs-vswitchd runs here)."""
        out = subprocess.run(["ovs-vsctl", f"--db={self.remote}", "--timeout=10", "--no-wait",
                              *args], capture_output=True, check=True, timeout=30)
        return out.stdout.decode()

    def transact(self, *operations: dict[str, object]) -> str:
        """One OVSDB transaction (``ovsdb-client transact``), for the columns ovs-vswitchd
        writes (``error``, ``ofport``, ``cur_cfg``) or ovs-vsctl bumps (``next_cfg``)."""
        import json

        out = subprocess.run(["ovsdb-client", "transact", self.remote,
                              json.dumps(["Open_vSwitch", *operations])],
                             capture_output=True, check=True, timeout=30)
        return out.stdout.decode()


@contextlib.contextmanager
def start_ovsdb(base: Path) -> Iterator[OVSDB]:
    """ovsdb-server on a fresh ``conf.db`` under ``base``, initialised (``ovs-vsctl init``)."""
    base.mkdir(parents=True, exist_ok=True)
    db, sock = base / "conf.db", base / "db.sock"
    schema = "/usr/share/openvswitch/vswitch.ovsschema"
    subprocess.run(["ovsdb-tool", "create", str(db), schema], check=True, capture_output=True)
    log = base / "ovsdb-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["ovsdb-server", str(db), f"--remote=punix:{sock}", f"--unixctl={base / 'ctl'}",
             f"--pidfile={base / 'ovsdb-server.pid'}", "-vconsole:off", "-vfile:off"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = OVSDB(sock)
    try:
        _wait_until("ovsdb-server", sock.exists, proc, log)
        server.vsctl("init")
        yield server
    finally:
        _stop_group(proc)


# ------------------------------------------------------------------------- PostgreSQL

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class PostgreSQL:
    """A running PostgreSQL server; superuser ``stackwatch`` with ``password`` over TCP."""

    port: int
    password: str
    icu: bool
    user: str = "stackwatch"
    host: str = "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) for ``database``."""
        return (f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/"
                f"{database}")

    def execute(self, *statements: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run statements as the superuser (autocommit); the last one's rows."""
        import psycopg

        rows: list[tuple[object, ...]] = []
        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             password=self.password, dbname=database,
                             autocommit=True) as conn:
            for sql in statements:
                cursor = conn.execute(sql.encode())
                rows = cursor.fetchall() if cursor.description else []
        return rows

    def create_database(self, name: str) -> str:
        """Drop and create database ``name``; returns its URL."""
        locale = " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'" if self.icu else ""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                     f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8'
                     f" LOCALE 'C.UTF-8'{locale}")
        return self.url(name)


def _account() -> pwd.struct_passwd | None:
    """Whom to run the server as: ourselves, or (as root, which initdb refuses) the
    ``postgres`` account Debian's package makes, else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and there is no postgres or nobody account")


@contextlib.contextmanager
def start_postgres() -> Iterator[PostgreSQL]:
    """Initialise a cluster in a new temporary directory and run ``postgres`` on a free
    port; the directory goes when it stops.

    The directory is made under the system's temporary directory, not pytest's: that one
    is private to the user running the tests, and the server may run as another.
    """
    account = _account()
    base = Path(tempfile.mkdtemp(prefix="stackwatch-postgres-"))
    as_account: dict[str, object] = {}
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
        as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    password = secrets.token_urlsafe(16)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    env = {**os.environ, "HOME": str(base)}
    try:
        init = subprocess.run(
            [str(POSTGRES_BIN / "initdb"), "-D", str(base / "data"), "-U", "stackwatch",
             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, check=False, env=env, cwd=base, **as_account)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.decode()[-2000:]}")
        port = free_port()
        log = base / "postgres.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(POSTGRES_BIN / "postgres"), "-D", str(base / "data"), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200",
                 "-c", "shared_buffers=128MB", "-c", "log_min_messages=warning"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                cwd=base, **as_account)
        icu = b"--with-icu" in subprocess.run(
            [str(POSTGRES_BIN / "pg_config"), "--configure"], capture_output=True,
            check=False).stdout if (POSTGRES_BIN / "pg_config").exists() else False
        server = PostgreSQL(port=port, password=password, icu=icu)

        def ready() -> bool:
            if not _port_open(port):
                return False
            try:
                server.execute("SELECT 1")
            except Exception:  # any failure here means "not ready yet"
                return False
            return True

        try:
            _wait_until("postgres", ready, proc, log)
            yield server
        finally:
            # SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to leave)
            _stop_group(proc, stop=signal.SIGINT)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """A real PostgreSQL server for the whole test session."""
    with start_postgres() as server:
        yield server


# ---------------------------------------------------------------------------- Prometheus


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus (Debian's ``prometheus``) on 127.0.0.1."""

    port: int
    base: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> dict[str, Any]:
        """``/api/v1/query`` of ``expr``: its JSON answer, an error's included (400 for an
        expression Prometheus cannot parse)."""
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        url = f"{self.url}/api/v1/query?query={urllib.parse.quote(expr)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return dict(json.loads(error.read()))


@contextlib.contextmanager
def start_prometheus(base: Path, config: str = "global: {scrape_interval: 1s}\n"
                     ) -> Iterator[Prometheus]:
    """Prometheus with ``config`` (``base/prometheus.yml``) and its TSDB under ``base``;
    ready when ``/-/ready`` answers."""
    import urllib.request

    base.mkdir(parents=True, exist_ok=True)
    (base / "prometheus.yml").write_text(config)
    port = free_port()
    log = base / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [shutil.which("prometheus") or "/usr/bin/prometheus",
             f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        _wait_until("prometheus", ready, proc, log)
        yield Prometheus(port, base)
    finally:
        _stop_group(proc)
