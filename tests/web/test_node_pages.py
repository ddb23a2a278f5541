"""The node pages over what the real node sources saw of the simulator's processes
(killed, their ports taken) and of this machine's own disks, memory and load."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.node.test_sim_node import CATALOG, HOLD, SERVICES, _ours

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import NodeConfig
from stackwatch.model import Collection, Item, ItemKind
from stackwatch.sim.procs import SimProcesses
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.processes import ProcessesSource
from stackwatch.store.base import AgentBatch
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app

pytestmark = pytest.mark.integration

SICK = "sim-node"
CALM = "calm-node"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[SimProcesses]:
    running = SimProcesses(tmp_path, services=SERVICES).start()
    yield running
    running.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def fetch(store: SQLiteStore, path: str) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        app = make_app(store, load_catalog(), clock=time.time, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path)
            return response.status, await response.text()
    return asyncio.run(go())


def get_json(store: SQLiteStore, path: str) -> Any:
    code, body = fetch(store, path)
    assert code == 200, body
    return json.loads(body)


def _section(html: str, table_id: str) -> str:
    """The text of the table ``table_id`` of a page."""
    start = html.index(f'<table id="{table_id}">')
    return unescape(html[start:html.index("</table>", start)])


def _collect_sick(store: SQLiteStore, procs: SimProcesses) -> str:
    """nova-compute killed and nova-api's port held by a stranger, as the real node
    sources see it; returns the stranger's name."""
    plan = NodePlan(CATALOG, NodeConfig.model_validate(procs.node_section(SICK)))
    store.write(ProcessesSource(plan, _ours).collect())
    procs.inject("process-killed", {"name": "nova-compute"})
    procs.kill("nova-api")
    squatter = subprocess.Popen([sys.executable, "-c", HOLD, str(procs.port(8774))],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "ready\n"
        store.write(ProcessesSource(plan, _ours).collect())
        store.write(PortsSource(plan, _ours).collect())
        return next(p.name for p in _ours() if p.pid == squatter.pid)
    finally:
        squatter.kill()
        squatter.communicate()


def _collect_calm(store: SQLiteStore) -> None:
    """This machine's own host figures, as the node CALM."""
    store.write(HostSource(NodeConfig(), CALM).collect())


def test_killed_process_and_taken_port_on_the_node_page(
        store: SQLiteStore, procs: SimProcesses) -> None:
    stranger = _collect_sick(store, procs)
    code, html = fetch(store, f"/nodes/{SICK}")
    assert code == 200, html
    processes = _section(html, "processes")
    row = processes[processes.index("nova-compute"):]
    assert row.index("CRITICAL") < row.index("</tr>")
    assert "nova-compute: not running (expected on compute nodes)" in row
    ports = _section(html, "ports")
    assert f"is held by {stranger} (pid " in ports and "not nova-api" in ports
    detail = get_json(store, f"/api/v1/nodes/{SICK}")
    assert detail["status"] == "CRITICAL"
    assert "compute" in detail["roles"]
    by_service = {c["labels"]["service"]: c for c in detail["processes"]}
    assert by_service["nova-compute"]["message"] in processes
    assert by_service["keystone"]["status"] == "OK"
    taken = [c for c in detail["ports"] if c["labels"]["service"] == "nova-api"]
    assert taken and taken[0]["status"] == "CRITICAL" and stranger in taken[0]["message"]
    def same(checks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(c["labels"]["service"], c["status"], c["message"]) for c in checks]

    assert same(get_json(store, f"/nodes/{SICK}.json")["processes"]) == same(
        detail["processes"])


def test_disk_gauges_show_each_mount(store: SQLiteStore) -> None:
    _collect_calm(store)
    detail = get_json(store, f"/api/v1/nodes/{CALM}")
    disks = detail["figures"]["disks"]
    assert disks, "this machine has at least one mounted filesystem"
    assert detail["figures"]["memory_total_bytes"] > 0
    code, html = fetch(store, f"/nodes/{CALM}")
    assert code == 200
    for disk in disks:
        assert f'id="disk-{disk["mount"]}"' in html
        assert f'aria-label="disk {disk["mount"]}"' in html
        if disk["percent"] is not None:
            assert f'aria-valuenow="{disk["percent"]}"' in html
    assert 'class="mark" style="left: 80%"' in html and 'style="left: 90%"' in html


def test_the_failing_node_comes_first(store: SQLiteStore, procs: SimProcesses) -> None:
    _collect_calm(store)
    _collect_sick(store, procs)
    listed = get_json(store, "/api/v1/nodes")["nodes"]
    assert [n["host"] for n in listed][:1] == [SICK]
    assert listed[0]["status"] == "CRITICAL" and listed[0]["problems"] >= 2
    calm = next(n for n in listed if n["host"] == CALM)
    assert calm["disk_mount"] and calm["memory_percent"] is not None
    code, html = fetch(store, "/nodes")
    assert code == 200
    assert html.index(f'id="node-{SICK}"') < html.index(f'id="node-{CALM}"')
    assert get_json(store, "/nodes.json")["nodes"] == listed


def test_a_hypervisor_not_watched_is_shown_not_404(store: SQLiteStore) -> None:
    store.write(Collection(items=(Item(ItemKind.HYPERVISOR, "hv-1", "hv-only.example", "up",
                                       host="hv-only"),)))
    code, html = fetch(store, "/nodes/hv-only.example")
    assert code == 200, html
    assert "Nothing is watched on hv-only.example" in html
    assert "hv-only.example" in _section(html, "hypervisors")
    assert fetch(store, "/nodes/no-such-host")[0] == 404


def test_an_agents_freshness_and_its_missing_batches(store: SQLiteStore) -> None:
    source = HostSource(NodeConfig(), CALM)
    now = time.time()
    store.write_batches([AgentBatch("agent-7", seq, CALM, source.name, now - 1,
                                    source.collect()) for seq in (1, 2, 4)], now)
    listed = {n["host"]: n for n in get_json(store, "/api/v1/nodes")["nodes"]}
    assert listed[CALM]["pushes"] is True and listed[CALM]["disk_mount"]
    detail = get_json(store, f"/api/v1/nodes/{CALM}")
    [agent] = detail["agents"]
    assert (agent["agent"], agent["last_seq"], agent["missing"]) == ("agent-7", 4, 1)
    code, html = fetch(store, f"/nodes/{CALM}")
    assert code == 200
    assert "agent <code>agent-7</code>: last push" in html
    assert "(seq 4), 1 sequence numbers missing" in html
