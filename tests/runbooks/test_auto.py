"""``fixes.auto``: the server moves the routers of an L3 agent dead longer than
``after`` by itself, audited as ``server``; one dead for less is left alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud

from .conftest import configured
from .test_fixer import bindings

pytestmark = pytest.mark.integration


def serve(cloud: SimulatedCloud, tmp_path: Path, after: float) -> Monitor:
    config = configured(cloud, enabled=["l3-failover"], auto={"l3-failover": {"after": after}},
                        auto_every=0.2)
    config = config.model_copy(update={
        "store": config.store.model_copy(update={"path": tmp_path / f"s{after:g}.sqlite"})})
    return Monitor(config, [], listen=("127.0.0.1", 0))


def test_the_server_moves_routers_off_an_agent_dead_long_enough(
        cloud: SimulatedCloud, tmp_path: Path) -> None:
    cloud.inject("l3-agent-dead", minutes="10")  # last heartbeat 600 s ago
    try:
        dead = cloud.call(lambda s: next(iter(s.silent_services)), cloud.state)
        stranded = {r for r, a in bindings(cloud).items() if a == {dead}}
        assert stranded
        with serve(cloud, tmp_path, after=3600) as patient:
            time.sleep(1.5)  # several looks: dead 600 s is not 3600 s
            assert not [e for e in patient.store.audit(0, time.time() + 1)]
        assert {r for r, a in bindings(cloud).items() if a == {dead}} == stranded
        with serve(cloud, tmp_path, after=300) as monitor:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                applied = [e for e in monitor.store.audit(0, time.time() + 1)
                           if not e.dry_run]
                if applied:
                    break
                time.sleep(0.2)
            assert {e.target for e in applied} == stranded
            assert all(e.actor == "server" and e.result == "applied" for e in applied)
            dry = [e for e in monitor.store.audit(0, time.time() + 1) if e.dry_run]
            assert {e.plan_id for e in dry} == {e.plan_id for e in applied}
        assert not any(a == {dead} for a in bindings(cloud).values())
    finally:
        cloud.clear("l3-agent-dead")
