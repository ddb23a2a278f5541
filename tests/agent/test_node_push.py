"""A node's process check reaches the server through the agent: the simulator's real
processes on the node, one killed, its CRITICAL at the server within two intervals.

The agent runs in this test process with the node's process source restricted to the
test's own children (other simulators may run on the same machine); the server is a real
``stackwatch server`` process taking the pushes.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from tests.agent.fleet import Server, get_json, running, wait_for
from tests.servers import free_port

from stackwatch.agent.daemon import Agent
from stackwatch.catalog.loader import load_catalog
from stackwatch.config import NodeConfig, parse_config
from stackwatch.sim.procs import SimProcesses
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.processes import ProcessesSource
from stackwatch.sources.node.table import ProcessInfo, read_processes

pytestmark = pytest.mark.integration

HOST = "cmp-node"
INTERVAL_S = 2.0
SERVICES = ("nova-compute",)


def _ours() -> list[ProcessInfo]:
    me = os.getpid()
    return [p for p in read_processes() if p.ppid == me]


def _process_check(server: Server) -> dict[str, Any] | None:
    labels = json.dumps({"service": "nova-compute", "host": HOST})
    found = get_json(f"{server.url}/api/v1/checks?name=node.process&labels="
                     f"{urllib.parse.quote(labels)}")["items"]
    return found[0] if found else None


def test_a_killed_process_is_critical_at_the_server_within_two_intervals(
        tmp_path: Path) -> None:
    server = Server(tmp_path, free_port())
    procs = SimProcesses(tmp_path / "node", services=SERVICES).start()
    config = parse_config({
        "clouds": [{"name": "c", "disable": ["api"]}],
        "intervals": {"node": INTERVAL_S, "agent": INTERVAL_S},
        "agent": {"server": server.url, "token": server.agent_token, "host": HOST,
                  "buffer_dir": str(tmp_path / "buffer"), "push_interval": 0.5}})
    plan = NodePlan(load_catalog().deployed(["ovs"]),
                    NodeConfig.model_validate(procs.node_section(HOST)))
    agent = Agent(config, [ProcessesSource(plan, table=_ours)])
    try:
        with running(server):
            server.start()
            with agent:
                wait_for(lambda: (_process_check(server) or {}).get("status") == "OK", 60,
                         what="nova-compute OK at the server")
                procs.kill("nova-compute")
                killed = time.monotonic()
                wait_for(lambda: (_process_check(server) or {}).get("status") == "CRITICAL",
                         4 * INTERVAL_S + 10, what="nova-compute CRITICAL at the server")
                took = time.monotonic() - killed
                check = _process_check(server)
                assert check is not None and "not running" in check["message"], check
                health = get_json(server.url + "/api/v1/health")["health"]
                [compute] = [s for s in health["services"] if s["name"] == "nova-compute"]
                assert any(m["host"] == HOST and m["status"] == "CRITICAL"
                           for m in compute["members"]), compute
    finally:
        procs.close()
    # two intervals, plus the push interval and the server's write
    assert took <= 2 * INTERVAL_S + 1.5, took
