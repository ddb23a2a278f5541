"""Life: services heartbeat, agents report, churn boots and deletes, all consistent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.events import Change

pytestmark = pytest.mark.integration


def test_heartbeats_and_churn(tmp_path: Path) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", churn_rate=25.0, seed=2) as cloud:
        changes: list[Change] = []
        cloud.call(cloud.state.subscribe, changes.append)
        before = {s.id: s.updated_at for s in cloud.state.compute_services}
        time.sleep(12)  # past nova's 10 s report interval
        after = {s.id: s.updated_at for s in cloud.state.compute_services}
        assert all(after[sid] > before[sid] for sid in before)
        causes = {c.cause for c in changes}
        assert {"life", "churn"} <= causes
        churn = [c for c in changes if c.cause == "churn" and c.resource == "server"]
        assert any(c.kind == "created" for c in churn)
        assert any(c.kind == "deleted" for c in churn)
        assert cloud.call(cloud.state.check_consistency) == []
        assert all(s.is_up(cloud.state.now()) for s in cloud.state.compute_services)
        cloud.flush()
        assert cloud.state.subscriber_errors == 0  # DBs, logs and bus took every change
