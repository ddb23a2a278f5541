"""Trends read from a store with a known history; ``stackwatch trends``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from review.history import (
    GLANCE_404_PER_HOUR,
    HOUR,
    HOURS,
    NOVA_500_PER_HOUR,
    History,
    write_history,
)
from stackwatch.catalog.loader import default_catalog
from stackwatch.cli import main
from stackwatch.query.context import Context
from stackwatch.review.forecast import Verdict
from stackwatch.review.trends import trends
from stackwatch.store.opening import open_store

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Ten days to the last whole hour (the commands read up to now)."""
    now = time.time() // HOUR * HOUR
    return write_history(tmp_path_factory.mktemp("history"), now)


def test_free_capacity_runs_out_at_the_known_date(history: History) -> None:
    store = open_store(history.config, create=False)
    try:
        view = trends(Context(store, default_catalog(), now=history.now), HOURS * HOUR)
    finally:
        store.close()
    chart = view.chart("free_vcpu")
    by = {ln.labels["aggregate"]: ln for ln in chart.lines}
    assert set(by) == {"(cloud)", "gpu", "ssd"}
    cloud, gpu = by["(cloud)"], by["gpu"]
    assert cloud.rate_per_day == pytest.approx(-2 * 2 * 24)   # two hosts, 2 an hour each
    assert cloud.forecast is not None and cloud.forecast.verdict is Verdict.RUNS_OUT
    assert cloud.forecast.date == pytest.approx(history.runs_out(), abs=1.0)
    assert gpu.forecast is not None and gpu.forecast.date == pytest.approx(
        history.runs_out(), abs=1.0)
    ram = view.chart("free_ram").lines[0]
    assert ram.forecast is not None and ram.forecast.verdict is Verdict.NO_TREND
    vms = view.chart("instances").lines[0]
    assert vms.labels == {"hostname": "cmp-1"} and vms.last == (HOURS - 1) // 10
    assert view.chart("volumes").lines[0].rate_per_day == pytest.approx(24.0)
    assert view.chart("flavors").lines[0].labels == {"flavor": "m1.small"}
    requests = {ln.labels["service"]: ln for ln in view.chart("requests").lines}
    # 100 GET + 3 POST an hour for nova, every hour
    assert {round(p.v or 0, 6) for p in requests["nova"].points} == {100 + NOVA_500_PER_HOUR}
    assert {round(p.v or 0, 6) for p in requests["glance"].points} == {GLANCE_404_PER_HOUR}
    assert len(requests["nova"].points) == HOURS - 1  # between the hours' middles


def test_the_trends_command(history: History, tmp_path: Path) -> None:
    import sqlite3

    from stackwatch.store.log_history import LogHistory

    LogHistory(history.config.path).close()  # its tables, as `logs backfill` makes them
    with sqlite3.connect(history.config.path) as conn:
        conn.execute("INSERT OR REPLACE INTO log_hourly_requests VALUES "
                     "(?, 'keystone', 'ctl', 'POST', '/v3/auth/tokens', '201', 42)",
                     (history.t0 - 3 * HOUR,))
    config = tmp_path / "stackwatch.yaml"
    config.write_text(yaml.safe_dump({"clouds": [{"name": "c"}],
                                      "store": {"path": str(history.config.path)}}))
    done = CliRunner().invoke(main, ["trends", "--config", str(config), "--range", "30d",
                                     "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    backfilled = next(c for c in data["charts"] if c["key"] == "requests")["lines"]
    assert {ln["labels"]["service"]: ln["points"][0]["v"] for ln in backfilled
            }["keystone"] == 42  # the hour `logs backfill` stored
    free = next(c for c in data["charts"] if c["key"] == "free_vcpu")
    assert free["lines"][0]["forecast"]["verdict"] == "runs out"
    text = CliRunner().invoke(main, ["trends", "--config", str(config)])
    assert text.exit_code == 0, text.output
    assert "Free vCPU" in text.output and "runs out" in text.output
    missing = tmp_path / "none.yaml"
    missing.write_text(yaml.safe_dump({"clouds": [{"name": "c"}],
                                       "store": {"path": str(tmp_path / "nothing.sqlite")}}))
    refused = CliRunner().invoke(main, ["trends", "--config", str(missing)])
    assert refused.exit_code == 2 and "no store" in refused.output
    assert not (tmp_path / "nothing.sqlite").exists()


def test_bucket_widths() -> None:
    from stackwatch.review.trends import bucket

    assert bucket(3600) == 60 and bucket(6 * 3600) == 120  # short looks: minutes
    assert bucket(2 * 86400) == bucket(30 * 86400) == HOUR  # the store's hourly sums
    assert bucket(200 * 86400) == 3 * HOUR                 # at most 2,000 points
