"""The slow-cloud checklist's database item on a real MariaDB: a transaction waiting for
a lock, read by infra.mysql into the store, makes the database the item flagged, with
the wait as evidence; the same server without it is OK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from servers import MariaDB
from stackwatch.infra_config import MySQLConfig
from stackwatch.model import Status
from stackwatch.runbooks.books.slow_cloud import Probe, observe, run
from stackwatch.sources.infra.mysql import MySQLSource
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

#: the APIs answered in time (the probe itself is tested against the simulator)
IN_TIME = {t: Probe(t, 0.05) for t in ("identity", "image", "block-storage", "network",
                                       "compute")}


def database_item(mariadb: MariaDB, store: SQLiteStore) -> tuple[Status, tuple[str, ...], bool]:
    source = MySQLSource(MySQLConfig.model_validate({
        "servers": [{"url": f"mysql://root@127.0.0.1:{mariadb.port}/", "host": "db1"}],
        "lock_wait_seconds": 2}))
    store.write(source.collect(), source.name)
    [found] = [v for v in run(observe(store, IN_TIME)) if v.item == "database"]
    return found.status, found.evidence, found.cause


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def test_a_lock_wait_is_the_cause(mariadb: MariaDB, store: SQLiteStore) -> None:
    assert database_item(mariadb, store) == (
        Status.OK, ("no lock waits, no long queries, connections well under the limit",),
        False)
    mariadb.execute("CREATE DATABASE IF NOT EXISTS slow_cloud",
                    "CREATE TABLE IF NOT EXISTS slow_cloud.t (id INT PRIMARY KEY, v INT) "
                    "ENGINE=InnoDB", "REPLACE INTO slow_cloud.t VALUES (1, 0)")
    holder = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
    waiter = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
    holder.begin()
    holder.cursor().execute("SELECT v FROM slow_cloud.t WHERE id = 1 FOR UPDATE")
    waiting = threading.Thread(target=lambda: waiter.cursor().execute(
        "UPDATE slow_cloud.t SET v = v + 1 WHERE id = 1"))
    waiting.start()
    try:
        time.sleep(2.5)
        status, evidence, cause = database_item(mariadb, store)
    finally:
        holder.rollback()
        waiting.join(30)
        holder.close()
        waiter.commit()
        waiter.close()
    assert status is Status.WARNING and cause
    assert len(evidence) == 1 and evidence[0].startswith("1 transaction(s) waiting for a lock,")
    # the wait as the source measured it: at least the 2.5 s it was left waiting
    assert int(evidence[0].rsplit("longest ", 1)[1].split(" ")[0]) >= 2
