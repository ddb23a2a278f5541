"""A synthetic run's checks and samples as the store, the overview and /metrics show them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import SyntheticConfig, Threshold
from stackwatch.model import Status
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.synthetic.source import SyntheticSource, to_collection
from stackwatch.synthetic.steps import RunResult, StepResult
from stackwatch.web.app import make_app

pytestmark = pytest.mark.unit


def a_run() -> RunResult:
    steps = (StepResult("token", True, 0.4, "a token issued in 0.40s"),
             StepResult("volume_create", True, 0.1, "a volume asked for in 0.10s"),
             StepResult("volume_available", False, 3.0, "the volume is error"),
             StepResult("volume_delete", True, 0.6, "the volume deleted and gone in 0.60s"),
             StepResult("floating_ip_create", True, 7.5, "a floating IP allocated in 7.50s"))
    return RunResult("abcd1234", time.time(), 12.0, steps,
                     earlier=("server swt-old-server (s1)",), left=())


def test_checks_judge_time_and_failure() -> None:
    config = SyntheticConfig(thresholds={"floating_ip_create": Threshold(warning=5,
                                                                          critical=10)})
    checks = {c.name: c for c in to_collection(config, a_run()).checks}
    assert checks["synthetic.token"].status is Status.OK
    assert checks["synthetic.volume_available"].status is Status.CRITICAL
    assert checks["synthetic.volume_available"].message == (
        "volume_available failed after 3.0s: the volume is error")
    assert checks["synthetic.floating_ip_create"].status is Status.WARNING
    assert "(at or above 5s)" in checks["synthetic.floating_ip_create"].message
    assert checks["synthetic.cleanup"].status is Status.OK
    assert "deleted 1 left by earlier runs: server swt-old-server" in \
        checks["synthetic.cleanup"].message


def test_the_overview_shows_the_last_run(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.write(to_collection(SyntheticConfig(), a_run()), "synthetic")
    now = time.time()

    async def go(path: str) -> str:
        app = make_app(store, load_catalog(), clock=lambda: now, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path)
            assert response.status == 200
            return await response.text()

    try:
        page = asyncio.run(go("/"))
        metrics = asyncio.run(go("/metrics"))
    finally:
        store.close()
    problems = page[page.index('id="problems"'):page.index('id="synthetic"')]
    assert 'href="/checks?name=synthetic.volume_available"' in problems  # a problem
    section = page[page.index('id="synthetic"'):]
    section = section[:section.index("</table>")]
    steps = [line.split('name=synthetic.')[1].split('"')[0]
             for line in section.splitlines() if "name=synthetic." in line]
    assert steps == ["token", "volume_create", "volume_available", "volume_delete",
                     "floating_ip_create", "cleanup"]
    assert 'title="volume_available failed after 3.0s: the volume is error"' in section
    assert 'stackwatch_synthetic_success{step="volume_available"} 0.0' in metrics
    assert 'stackwatch_synthetic_step_seconds{step="token"} 0.4' in metrics


def test_the_source_runs_at_its_interval_and_reports_the_last_run_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[float] = []
    now = [1000.0]

    def fake_run(config: SyntheticConfig) -> RunResult:
        runs.append(now[0])
        return a_run()

    monkeypatch.setattr("stackwatch.synthetic.run.run_synthetic", fake_run)
    source = SyntheticSource(SyntheticConfig(interval=600), clock=lambda: now[0])
    stamps = []
    for at in (1000.0, 1060.0, 1599.0, 1600.0, 1660.0):
        now[0] = at
        found = source.collect()
        stamps.append(next(s.timestamp for s in found.samples))
        assert {c.name for c in found.checks} >= {"synthetic.token", "synthetic.cleanup"}
    assert runs == [1000.0, 1600.0]
    assert stamps == sorted(stamps)  # each report stamped when it is made
