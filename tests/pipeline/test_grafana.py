"""``stackwatch export grafana``: a dashboard over declared metrics that Prometheus parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from servers import start_prometheus
from stackwatch.catalog.loader import default_catalog
from stackwatch.cli import main
from stackwatch.grafana import ROWS, dashboard, exprs, metric_names

CATALOG = default_catalog()


@pytest.mark.unit
@pytest.mark.parametrize(("expr", "names"), [
    ("openstack_nova_up", {"openstack_nova_up"}),
    ("sum by (service) (rate(x_total{status=~\"5..\"}[5m]))", {"x_total"}),
    ("histogram_quantile(0.95, sum by (le) (rate(d_seconds_bucket[5m])))", {"d_seconds"}),
    ("time() - s_timestamp_seconds offset 5m > bool 1e3", {"s_timestamp_seconds"}),
    ("a / on (host) group_left (zone) b and c unless d", {"a", "b", "c", "d"}),
    ('count(up{job="sum(x)"}) or vector(0)', {"up"}),
])
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.unit
def test_every_expression_reads_declared_metrics_only() -> None:
    declared = set(CATALOG.metrics)
    used = {name: expr for expr in exprs() for name in metric_names(expr)}
    assert {n: e for n, e in used.items() if n not in declared} == {}
    # it covers the heartbeat ages, capacity, the logs' APIs and the sources
    for needed in ("openstack_nova_service_heartbeat_age_seconds",
                   "openstack_log_http_request_duration_seconds",
                   "openstack_nova_vcpus_capacity", "stackwatch_source_up",
                   "openstack_neutron_agent_state"):
        assert needed in used


@pytest.mark.unit
def test_the_dashboard_model() -> None:
    model = dashboard()
    assert model["schemaVersion"] >= 36
    variables = model["templating"]["list"]
    assert [(v["name"], v["type"], v["query"]) for v in variables] == [
        ("datasource", "datasource", "prometheus")]
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows == ["Health", "APIs (from their logs)", "Compute capacity", "Agents",
                    "Sources"]
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert 0 <= panel["gridPos"]["x"] < 24
    # panels of one row do not overlap
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(set(cells)) == len(cells)
    apis = next(r for r in ROWS if r.title.startswith("APIs"))
    assert {p.title for p in apis.panels} >= {"Requests per second", "5xx per second",
                                              "Latency percentiles"}


@pytest.mark.unit
def test_the_command_writes_the_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "dash.json"
    result = CliRunner().invoke(main, ["export", "grafana", "-o", str(out), "--uid", "x1"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == dashboard(uid="x1")
    printed = CliRunner().invoke(main, ["export", "grafana"])
    assert json.loads(printed.output) == dashboard()


@pytest.mark.integration
def test_prometheus_parses_every_expression(tmp_path: Path) -> None:
    with start_prometheus(tmp_path / "prometheus") as prometheus:
        # a broken expression is refused: the check below can fail
        assert prometheus.query("sum(rate(x[5m])")["status"] == "error"
        answers = {expr: prometheus.query(expr) for expr in exprs()}
    refused = {e: a.get("error") for e, a in answers.items() if a["status"] != "success"}
    assert refused == {}
    assert len(answers) >= 30
