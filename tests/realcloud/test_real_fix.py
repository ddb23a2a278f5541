"""``stackwatch fix l3-failover`` against the real neutron: the router of a dead (fake)
L3 agent is moved to the live one, and neutron then lists it there.

A second fake L3 agent (``rc-net-2``) is started beside the one that hosts
``rc-router1`` (``rc-net-1``); ``rc-net-1`` is stopped and declared dead by neutron
(``agent_down_time`` 30 s); the dry run names the move, ``--apply`` makes it. Afterwards
everything is put back: ``rc-net-1`` started again and given its router back, ``rc-net-2``
stopped and its agent record deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from realcloud.cloud import RealCloud
from realcloud.resources import L3_AGENT_HOST, L3_AGENT_PROCESS, Resources
from stackwatch.cli import main as stackwatch_cli
from stackwatch.store.sqlite import SQLiteStore

SECOND_HOST, SECOND_PROCESS = "rc-net-2", "rc-fake-l3-agent-2"  # run/<name>.pid: down.sh too


def _wait(what: str, probe: Any, timeout: float, every: float = 2.0) -> Any:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"{what}: not seen within {timeout:.0f}s")


def _agent(network: Any, host: str, alive: bool | None = None) -> Any:
    found = [a for a in network.agents(host=host, agent_type="L3 agent")
             if alive is None or a.is_alive == alive]
    return found[0] if found else None


def _hosted(network: Any, agent: Any) -> set[str]:
    return {r.id for r in network.agent_hosted_routers(agent)}


@pytest.fixture
def failover(realcloud: RealCloud, resources: Resources) -> Iterator[tuple[Any, Any, Any]]:
    """(network proxy, the dead rc-net-1 agent, the live rc-net-2 agent); all put back."""
    network = realcloud.connect().network  # type: ignore[attr-defined]
    first_argv = realcloud.command_line(L3_AGENT_PROCESS)
    second_argv = [*first_argv]
    second_argv[first_argv.index(L3_AGENT_HOST)] = SECOND_HOST
    realcloud.start_bg(SECOND_PROCESS, second_argv)
    try:
        second = _wait("rc-net-2 alive", lambda: _agent(network, SECOND_HOST, True), 90)
        first = _agent(network, L3_AGENT_HOST, True)
        assert resources.router_id in _hosted(network, first)
        realcloud.stop(L3_AGENT_PROCESS)
        try:
            dead = _wait("rc-net-1 dead (agent_down_time 30 s)",
                         lambda: _agent(network, L3_AGENT_HOST, False), 150, every=5)
            yield network, dead, second
        finally:
            realcloud.start_bg(L3_AGENT_PROCESS, first_argv)
            back = _wait("rc-net-1 alive again", lambda: _agent(network, L3_AGENT_HOST, True),
                         120)
            if resources.router_id not in _hosted(network, back):
                for agent in network.agents(agent_type="L3 agent"):
                    if resources.router_id in _hosted(network, agent):
                        network.remove_router_from_agent(agent, resources.router_id)
                router = network.get_router(resources.router_id)
                network.add_router_to_agent(back, router)
            assert _hosted(network, back) >= {resources.router_id}
    finally:
        realcloud.stop(SECOND_PROCESS)
        gone = _agent(network, SECOND_HOST)
        if gone is not None:
            network.delete_agent(gone)


def test_fix_l3_failover_moves_the_router_and_neutron_lists_it_there(
        realcloud: RealCloud, resources: Resources, failover: tuple[Any, Any, Any],
        tmp_path: Path) -> None:
    network, dead, live = failover
    config = realcloud.stackwatch_config(store=tmp_path / "stackwatch.sqlite")
    config["fixes"] = {"enabled": ["l3-failover"]}
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()

    sick = runner.invoke(stackwatch_cli, ["diagnose", "l3-failover", "--config", str(path),
                                          "--format", "json"])
    assert sick.exit_code == 2, sick.output
    [diagnosis] = json.loads(sick.output)
    assert diagnosis["verdict"] == "CRITICAL" and L3_AGENT_HOST in diagnosis["summary"]

    dry = runner.invoke(stackwatch_cli, ["fix", "l3-failover", "--config", str(path)])
    assert dry.exit_code == 0, dry.output
    assert f"move {resources.router_id}: {L3_AGENT_HOST} {dead.id} -> {SECOND_HOST} " \
           f"{live.id}" in dry.output
    assert resources.router_id in _hosted(network, dead)  # the dry run changed nothing

    done = runner.invoke(stackwatch_cli, ["fix", "l3-failover", "--apply", "--config",
                                          str(path)])
    assert done.exit_code == 0, done.output
    assert resources.router_id in _hosted(network, live)
    assert resources.router_id not in _hosted(network, dead)
    agents = {a.id for a in network.routers_hosting_l3_agents(resources.router_id)}
    assert agents == {live.id}

    after = runner.invoke(stackwatch_cli, ["diagnose", "l3-failover", "--config", str(path)])
    assert after.exit_code == 0, after.output  # rc-net-1 still dead, but stranding nothing
    assert "no router stranded" in after.output
    store = SQLiteStore(tmp_path / "stackwatch.sqlite")
    try:
        entries = store.audit(0, time.time() + 1, runbook="l3-failover")
    finally:
        store.close()
    applied = [e for e in entries if not e.dry_run]
    assert [(e.target, e.result) for e in applied] == [(resources.router_id, "applied")]
    assert applied[0].actor.startswith("cli:") and applied[0].after.endswith(live.id)
