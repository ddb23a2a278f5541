"""infra.mysql against a real 3-node Galera cluster on 127.0.0.1 (tests/servers.py
``start_galera``): desynced, flow control, a node stopped, quorum lost — each seen as the
operator must see it, per node and in the mysql service's health."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from servers import Galera, start_galera
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import MySQLConfig
from stackwatch.model import Collection, Status
from stackwatch.sources.infra.mysql import MySQLSource

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def galera() -> Iterator[Galera]:
    # under /tmp itself: the servers run as the mysql user, which cannot enter pytest's
    # (root-only) temporary folders
    with tempfile.TemporaryDirectory(prefix="stackwatch-galera-") as base, \
            start_galera(Path(base)) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def source(galera: Galera) -> MySQLSource:
    return MySQLSource(MySQLConfig.model_validate({
        "servers": [{"url": node.url, "host": node.name} for node in galera.nodes],
        "expected_cluster_size": 3, "timeout": 5}))


def node_status(out: Collection, host: str) -> tuple[Status, str]:
    [found] = [c for c in out.checks if c.name == "mysql.node"
               and dict(c.labels)["host"] == host]
    return found.status, found.message


def value(out: Collection, name: str, host: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name and s.label("host") == host]
    return found


def test_healthy_then_desynced_then_flow_control(galera: Galera, source: MySQLSource) -> None:
    out = source.collect()
    assert_declared(out, source="infra")
    assert_covered(out, "infra.mysql")
    for node in galera.nodes:
        status, message = node_status(out, node.name)
        assert status is Status.OK and "Galera Synced, Primary, cluster size 3" in message
    mysql = evaluate(default_catalog(), out.checks).service("mysql")
    assert mysql is not None and mysql.status is Status.OK and len(mysql.members) == 3

    node1, node2, _ = galera.nodes
    node2.query("SET GLOBAL wsrep_desync=ON")
    try:
        status, message = node_status(source.collect(), "node2")
        assert status is Status.WARNING and "Donor/Desynced" in message
    finally:
        node2.query("SET GLOBAL wsrep_desync=OFF")

    # node2 holds a table lock its appliers need: its receive queue passes its flow
    # control limit and it pauses the whole cluster while node1 keeps writing
    node1.query("CREATE DATABASE IF NOT EXISTS fc")
    node1.query("CREATE TABLE IF NOT EXISTS fc.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
    node2.query("SET GLOBAL wsrep_provider_options='gcs.fc_limit=2'")
    source.collect()   # the paused time counts from this run
    holder = pymysql.connect(host="127.0.0.1", port=node2.port, user="root", autocommit=True)
    holder.cursor().execute("LOCK TABLES fc.t WRITE")
    writer = threading.Thread(target=lambda: [node1.query("INSERT INTO fc.t (v) VALUES (1)")
                                              for _ in range(10)], daemon=True)
    writer.start()
    try:
        time.sleep(3)
        out = source.collect()
    finally:
        holder.cursor().execute("UNLOCK TABLES")
        holder.close()
        writer.join(60)
    assert value(out, "mysql_galera_flow_control_paused_ratio", "node1") >= 0.1
    status, message = node_status(out, "node1")
    assert status is Status.WARNING and "by flow control" in message
    assert value(out, "mysql_galera_recv_queue", "node2") >= 1


def test_a_node_stopped_then_quorum_lost(galera: Galera, source: MySQLSource) -> None:
    node1, node2, node3 = galera.nodes
    galera.stop(node3)

    def settled(key: str, want: str) -> None:
        deadline = time.monotonic() + 60
        while node1.status().get(key) != want:
            assert time.monotonic() < deadline, f"node1 {key} never {want}"
            time.sleep(0.5)

    settled("wsrep_cluster_size", "2")
    out = source.collect()
    for host in ("node1", "node2"):
        status, message = node_status(out, host)
        assert status is Status.WARNING and "cluster has 2 of 3 nodes" in message
    status, message = node_status(out, "node3")
    assert status is Status.UNKNOWN and "cannot look" in message
    up = {s.label("target"): s.value for s in out.samples
          if s.name == "stackwatch_infra_target_up"}
    assert up == {"node1": 1, "node2": 1, "node3": 0}
    mysql = evaluate(default_catalog(), out.checks).service("mysql")
    assert mysql is not None and mysql.status is Status.WARNING
    assert "not looked at: node3" in mysql.message

    galera.stop(node2, kill=True)   # 1 of the last 2: node1 loses quorum
    settled("wsrep_cluster_status", "non-Primary")
    out = source.collect()
    status, message = node_status(out, "node1")
    assert status is Status.CRITICAL and "non-Primary" in message
    assert value(out, "mysql_galera_primary", "node1") == 0
    mysql = evaluate(default_catalog(), out.checks).service("mysql")
    assert mysql is not None and mysql.status is Status.CRITICAL
