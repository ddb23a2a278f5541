"""infra.mysql against the real MariaDB of the tests: a plain server, a statement running
long, a transaction waiting for a lock, an account without PROCESS, credentials from a
defaults file, and every way of failing to look (one server failing never hides another)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from infra.faulty import serving
from servers import MariaDB, free_port
from stackwatch.catalog.testing import assert_declared
from stackwatch.errors import InvalidResponse, SourceAuthError, SourceTimeout, SourceUnavailable
from stackwatch.infra_config import MySQLConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.mysql import MySQLSource

pytestmark = pytest.mark.integration


def source_for(*servers: dict[str, object], **options: object) -> MySQLSource:
    return MySQLSource(MySQLConfig.model_validate({"servers": list(servers), **options}))


def local(mariadb: MariaDB, host: str = "db1", user: str = "root", password: str = ""
          ) -> dict[str, object]:
    secret = f":{password}" if password else ""
    return {"url": f"mysql://{user}{secret}@127.0.0.1:{mariadb.port}/", "host": host}


def only(out: Collection, name: str, host: str = "db1") -> CheckResult:
    [found] = [c for c in out.checks if c.name == name and dict(c.labels)["host"] == host]
    return found


def value(out: Collection, name: str, **labels: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items())]
    return found


def test_a_plain_server(mariadb: MariaDB) -> None:
    out = source_for(local(mariadb)).collect()
    assert_declared(out, source="infra")
    node = only(out, "mysql.node")
    assert node.status is Status.OK and "not a Galera node" in node.message
    assert dict(node.labels) == {"service": "mysql", "host": "db1"}
    assert only(out, "mysql.connections").status is Status.OK
    assert value(out, "mysql_max_connections") == 300   # as tests/servers.py starts it
    assert value(out, "mysql_connections") >= 1
    assert only(out, "mysql.queries").status is Status.OK
    assert value(out, "stackwatch_infra_target_up", target="db1") == 1


@pytest.fixture
def long_statement(mariadb: MariaDB) -> Iterator[int]:
    """A statement running in another connection for a few seconds: its thread id."""
    conn = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
    thread = conn.thread_id()
    runner = threading.Thread(target=lambda: conn.cursor().execute("SELECT SLEEP(6)"))
    runner.start()
    try:
        yield thread
    finally:
        runner.join()
        conn.close()


def test_a_statement_running_long_is_named_without_its_sql(
        mariadb: MariaDB, long_statement: int) -> None:
    time.sleep(2.2)
    out = source_for(local(mariadb), long_query_seconds=2).collect()
    queries = only(out, "mysql.queries")
    assert queries.status is Status.WARNING
    assert f"thread {long_statement} (root@- Query" in queries.message
    assert "SLEEP" not in queries.message.upper()
    assert value(out, "mysql_long_queries") >= 1
    assert value(out, "mysql_longest_query_seconds") >= 2


def test_a_transaction_waiting_for_a_lock(mariadb: MariaDB) -> None:
    mariadb.execute("CREATE DATABASE IF NOT EXISTS infra_locks",
                    "CREATE TABLE IF NOT EXISTS infra_locks.t (id INT PRIMARY KEY, v INT) "
                    "ENGINE=InnoDB", "REPLACE INTO infra_locks.t VALUES (1, 0)")
    holder = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
    waiter = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
    holder.begin()
    holder.cursor().execute("SELECT v FROM infra_locks.t WHERE id = 1 FOR UPDATE")
    waiting = threading.Thread(target=lambda: waiter.cursor().execute(
        "UPDATE infra_locks.t SET v = v + 1 WHERE id = 1"))
    waiting.start()
    try:
        time.sleep(2.2)
        out = source_for(local(mariadb), lock_wait_seconds=2).collect()
    finally:
        holder.rollback()
        waiting.join(30)
        holder.close()
        waiter.commit()
        waiter.close()
    queries = only(out, "mysql.queries")
    assert queries.status is Status.WARNING
    assert f"waiting for a lock 2s or more: thread {waiter.thread_id()} (" in queries.message
    assert value(out, "mysql_lock_waits") == 1
    assert value(out, "mysql_longest_lock_wait_seconds") >= 2


def test_an_account_without_process_cannot_see_statements(mariadb: MariaDB) -> None:
    mariadb.execute("CREATE USER IF NOT EXISTS 'plain'@'%' IDENTIFIED BY 'plain-pw'")
    try:
        out = source_for(local(mariadb, user="plain", password="plain-pw")).collect()
    finally:
        mariadb.execute("DROP USER 'plain'@'%'")
    assert only(out, "mysql.node").status is Status.OK
    queries = only(out, "mysql.queries")
    assert queries.status is Status.UNKNOWN and "PROCESS" in queries.message
    assert not [s for s in out.samples if s.name == "mysql_lock_waits"]


def test_credentials_from_a_defaults_file(mariadb: MariaDB, tmp_path: Path) -> None:
    mariadb.execute("CREATE USER IF NOT EXISTS 'fromfile'@'%' IDENTIFIED BY 'file-pw'",
                    "GRANT PROCESS ON *.* TO 'fromfile'@'%'")
    cnf = tmp_path / "monitor.cnf"
    cnf.write_text("[client]\nuser = fromfile\npassword = file-pw\n")
    try:
        out = source_for({"url": f"mysql://127.0.0.1:{mariadb.port}/", "host": "db1",
                          "defaults_file": str(cnf)}).collect()
    finally:
        mariadb.execute("DROP USER 'fromfile'@'%'")
    assert only(out, "mysql.queries").status is Status.OK


def test_a_wrong_password_is_an_auth_error_never_showing_it(
        mariadb: MariaDB, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = source_for(local(mariadb, password="Wr0ng-secret"))
    with pytest.raises(SourceAuthError, match="Access denied") as info:
        source.collect()
    assert "Wr0ng-secret" not in str(info.value) and "Wr0ng-secret" not in caplog.text
    assert "Wr0ng-secret" not in repr(source.config)


@pytest.mark.parametrize(("answer", "error", "words"), [
    (None, SourceTimeout, "no answer within 1s"),
    (b"\x05\x00\x00\x00garbage-not-mysql\r\n", InvalidResponse, "connect on 127.0.0.1"),
    (b"", SourceUnavailable, "connect on 127.0.0.1"),
])
def test_hung_garbage_and_closed_servers(answer: bytes | None, error: type[Exception],
                                         words: str) -> None:
    with serving(answer, speaks_first=True) as server:
        source = source_for({"url": f"mysql://monitor:pw@127.0.0.1:{server.port}/"},
                            timeout=1)
        started = time.monotonic()
        with pytest.raises(error, match=words):
            source.collect()
        assert time.monotonic() - started < 5


def test_one_server_down_never_hides_the_other(mariadb: MariaDB) -> None:
    source = source_for(local(mariadb), {"url": f"mysql://root@127.0.0.1:{free_port()}/",
                                         "host": "db2"}, timeout=2)
    for run in (1, 2):
        out = source.collect()
        assert only(out, "mysql.node", "db1").status is Status.OK
        for name in ("mysql.node", "mysql.connections", "mysql.queries"):
            down = only(out, name, "db2")
            assert down.status is Status.UNKNOWN and "connection refused" in down.message.lower()
        assert value(out, "stackwatch_infra_target_up", target="db2") == 0
        assert value(out, "stackwatch_infra_target_failures_total", target="db2") == run
        assert value(out, "stackwatch_infra_target_up", target="db1") == 1
