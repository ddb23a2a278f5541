"""infra.mysql's judgement on recorded outputs: the real control plane's MariaDB (no
Galera) and a real Galera cluster recorded in each state (scripts/record_galera.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_declared
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import MySQLConfig, Percent
from stackwatch.model import Collection, Status
from stackwatch.sources.infra.mysql import (
    ServerState,
    Statement,
    flow_control_paused,
    server_results,
)

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"
GALERA = DATA / "infra" / "galera"
RECORDED = DATA / "recorded" / "infra"
CONFIG = MySQLConfig.model_validate({"servers": [{"url": "mysql://db/"}],
                                     "expected_cluster_size": 3})


def tsv(path: Path) -> dict[str, str]:
    """``Variable_name<TAB>Value`` lines (the mariadb client's batch output) as a dict."""
    lines = path.read_text().splitlines()
    assert lines[0] == "Variable_name\tValue"
    pairs = (line.partition("\t") for line in lines[1:])
    return {name: value for name, _, value in pairs}


def galera(state: str) -> ServerState:
    return ServerState(tsv(GALERA / f"{state}.status.tsv"),
                       tsv(GALERA / f"{state}.variables.tsv"))


def node_check(out: Collection, name: str = "mysql.node") -> tuple[Status, str]:
    [found] = [c for c in out.checks if c.name == name]
    return found.status, found.message


def value(out: Collection, name: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name]
    return found


@pytest.mark.parametrize(("state", "status", "words"), [
    ("healthy", Status.OK, "Galera Synced, Primary, cluster size 3"),
    ("desynced", Status.WARNING, "Donor/Desynced (donor or desynced: not applying in step)"),
    ("flow-control", Status.WARNING, "% of the time by flow control"),
    ("size-below", Status.WARNING, "cluster has 2 of 3 nodes"),
    ("non-primary", Status.CRITICAL, "in a non-Primary component: refuses queries"),
])
def test_each_recorded_galera_state(state: str, status: Status, words: str) -> None:
    recorded = galera(state)
    out = server_results("node1", recorded, CONFIG)
    assert_declared(out, source="infra")
    got, message = node_check(out)
    assert got is status and words in message, message
    paused = float(recorded.status["wsrep_flow_control_paused"])
    assert (f"paused {100 * paused:.0f}%" in message) == (paused >= 0.1)
    assert value(out, "mysql_galera_cluster_size") == float(
        recorded.status["wsrep_cluster_size"])
    assert value(out, "mysql_galera_primary") == (
        recorded.status["wsrep_cluster_status"] == "Primary")
    assert value(out, "mysql_galera_ready") == (recorded.status["wsrep_ready"] == "ON")
    assert value(out, "mysql_galera_local_state") == float(recorded.status["wsrep_local_state"])
    assert value(out, "mysql_galera_flow_control_paused_ratio") == float(
        recorded.status["wsrep_flow_control_paused"])
    assert value(out, "mysql_connections") == float(recorded.status["Threads_connected"])
    assert value(out, "mysql_max_connections") == float(
        recorded.variables["max_connections"])


def test_non_primary_also_says_not_ready() -> None:
    _, message = node_check(server_results("node1", galera("non-primary"), CONFIG))
    assert "wsrep not ready" in message


def test_size_below_is_not_judged_without_an_expected_size() -> None:
    config = CONFIG.model_copy(update={"expected_cluster_size": 0})
    assert node_check(server_results("n", galera("size-below"), config))[0] is Status.OK


def test_three_nodes_in_three_states_make_the_mysql_service() -> None:
    checks = (server_results("node1", galera("healthy"), CONFIG).checks
              + server_results("node2", galera("desynced"), CONFIG).checks
              + server_results("node3", galera("non-primary"), CONFIG).checks)
    mysql = evaluate(default_catalog(), checks).service("mysql")
    assert mysql is not None
    assert {m.host: m.status for m in mysql.members} == {
        "node1": Status.OK, "node2": Status.WARNING, "node3": Status.CRITICAL}
    assert mysql.status is Status.WARNING
    assert "down: node3" in mysql.message and "degraded: node2" in mysql.message


def test_the_control_planes_plain_mariadb() -> None:
    state = ServerState(tsv(RECORDED / "mariadb-show-global-status.tsv"),
                        tsv(RECORDED / "mariadb-show-global-variables.tsv"))
    assert not state.galera
    out = server_results("vm", state, CONFIG)
    status, message = node_check(out)
    assert status is Status.OK and "not a Galera node" in message
    assert state.variables["version"] in message
    assert not [s for s in out.samples if s.name.startswith("mysql_galera_")]
    connections = node_check(out, "mysql.connections")
    assert connections == (Status.OK, f"vm: {state.status['Threads_connected']} of "
                           f"{state.variables['max_connections']} connections in use")
    crowded = CONFIG.model_copy(update={"connections": Percent(warning=5, critical=50)})
    assert node_check(server_results("vm", state, crowded), "mysql.connections")[0] is \
        Status.WARNING


def test_flow_control_is_the_share_since_the_last_run() -> None:
    before = ServerState({"wsrep_flow_control_paused_ns": "1000000000",
                          "wsrep_flow_control_paused": "0.9"}, {}, read_at=100.0)
    now = ServerState({"wsrep_flow_control_paused_ns": "4000000000",
                       "wsrep_flow_control_paused": "0.9"}, {}, read_at=110.0)
    assert flow_control_paused(now, before) == pytest.approx(0.3)
    assert flow_control_paused(now, None) == pytest.approx(0.9)   # first run: since FLUSH
    restarted = ServerState({"wsrep_flow_control_paused_ns": "5",
                             "wsrep_flow_control_paused": "0.01"}, {}, read_at=120.0)
    assert flow_control_paused(restarted, now) == pytest.approx(0.01)  # counter went back


def test_long_statements_and_lock_waits_are_named_without_their_sql() -> None:
    state = ServerState({"Threads_connected": "3"}, {"max_connections": "10"},
                        statements=(Statement(45, "nova", "nova", "Query", 312.0),
                                    Statement(46, "cinder", "", "Execute", 75.0)),
                        lock_waits=((47, 25.0), (48, 2.0)))
    out = server_results("ctl1", state, CONFIG.model_copy(update={"lock_wait_seconds": 10}))
    status, message = node_check(out, "mysql.queries")
    assert status is Status.WARNING
    assert "2 statements running 60s or more" in message and "longest 312s" in message
    assert "thread 45 (nova@nova Query 312s)" in message and "cinder@-" in message
    assert "1 transaction waiting for a lock 10s or more: thread 47 (25s)" in message
    assert "48" not in message
    assert value(out, "mysql_lock_waits") == 2
    assert value(out, "mysql_longest_lock_wait_seconds") == 25
    assert value(out, "mysql_longest_query_seconds") == 312
