"""Life: services heartbeat, agents report, churn boots and deletes, all consistent."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.events import Change
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.life import Life
from stackwatch.sim.state import CloudState

pytestmark = pytest.mark.integration


def test_heartbeats_and_churn(tmp_path: Path) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", churn_rate=25.0, seed=2) as cloud:
        changes: list[Change] = []
        cloud.call(cloud.state.subscribe, changes.append)
        before = {s.id: s.updated_at for s in cloud.state.compute_services}

        def everything_seen() -> bool:
            churn = {c.kind for c in changes if c.cause == "churn" and c.resource == "server"}
            return {"created", "deleted"} <= churn and all(
                s.updated_at > before[s.id] for s in cloud.state.compute_services)

        deadline = time.monotonic() + 15  # past nova's 10 s report interval, with room
        while time.monotonic() < deadline and not cloud.call(everything_seen):
            time.sleep(0.2)
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


@pytest.mark.unit
def test_reports_stay_spread_over_the_period_after_a_long_start_up() -> None:
    """Each service reports at its own phase of the period: a start-up longer than the
    report interval must not make a big cloud report all at once (one tick doing 1000
    updates was the p99 of listing pages), and each still reports once a period."""
    clock = [datetime(2026, 11, 21, 8, 0, tzinfo=UTC)]
    state = CloudState(clock=lambda: clock[0])
    generate(state, Sizing.for_size("small", hypervisors=200, servers=0, ports=0, volumes=0),
             seed=1, base_url="http://x", admin_password="p")
    clock[0] += timedelta(seconds=90)  # every service and agent is now overdue
    changes: list[Change] = []
    state.subscribe(changes.append)
    life = Life(state)
    per_tick: list[Counter[str]] = []
    for _ in range(60):
        clock[0] += timedelta(seconds=1.003)  # ticks drift; no phase may be skipped
        seen = len(changes)
        life.heartbeat()
        per_tick.append(Counter(c.resource for c in changes[seen:]))
    services = len(state.compute_services)
    assert services > 200
    assert max(t["compute_service"] for t in per_tick) <= services / 10 * 2
    assert max(t["hypervisor"] for t in per_tick) <= 200 / 60 * 4
    reports = Counter(c.record.id for c in changes if c.resource == "compute_service")
    assert set(reports) == {s.id for s in state.compute_services}
    assert set(reports.values()) <= {6, 7}  # once every 10 s over ~61 s
    agents = Counter(c.record.id for c in changes if c.resource == "agent")
    assert set(agents) == {a.id for a in state.agents} and set(agents.values()) <= {2, 3}
    nodes = Counter(c.record.id for c in changes if c.resource == "hypervisor")
    assert set(nodes.values()) <= {1, 2} and len(nodes) == 200
    assert all(s.is_up(state.now()) for s in state.compute_services)
