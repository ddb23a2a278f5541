"""The capacity, compute, network and storage pages and the inventory API, against the
simulated cloud collected by the real API sources into a real store: each injected
fault shows as the failing item with its reason, and a blind source says so."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from stackwatch.catalog.loader import load_catalog
from stackwatch.runner import Runner
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app

pytestmark = pytest.mark.integration

FAULT = "internal error: process exited while connecting to monitor"


@dataclass
class Watched:
    """A simulated cloud, its API sources run by the runner, and the store they fill."""

    cloud: SimulatedCloud
    store: SQLiteStore
    collect: Callable[[], None]

    def get(self, path: str, status: int = 200) -> str:
        async def go() -> tuple[int, str]:
            app = make_app(self.store, load_catalog(), max_age=600)
            async with TestClient(TestServer(app)) as client:
                response = await client.get(path)
                return response.status, await response.text()
        code, body = asyncio.run(go())
        assert code == status, body[:2000]
        return body

    def json(self, path: str, status: int = 200) -> Any:
        return json.loads(self.get(path, status))


def watch(cloud: SimulatedCloud, root: Path) -> Watched:
    store = SQLiteStore(root / "store.sqlite")
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5)
    runner = Runner([cls(client) for cls in SOURCE_CLASSES], timeout=30,
                    catalog=load_catalog())

    def collect() -> None:
        cloud.flush()
        for run in runner.run_once():
            store.write(run.collection, run.source)

    collect()
    return Watched(cloud, store, collect)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """The small cloud collected healthy, then with a fault of each kind injected."""
    root = tmp_path_factory.mktemp("inventory")
    with SimulatedCloud(workdir=root / "sim", size="small", life=False) as cloud:
        watched = watch(cloud, root)
        cloud.inject("servers-error", count="2", message=FAULT)
        cloud.inject("compute-down")
        cloud.inject("volume-stuck-deleting", count="1", minutes="120")
        cloud.inject("snapshot-stuck", count="1", minutes="90")
        cloud.inject("cinder-volume-down")
        cloud.inject("l3-agent-dead")
        watched.collect()
        yield watched
        watched.store.close()


def truth(watched: Watched, fn: Callable[[Any], Any]) -> Any:
    return watched.cloud.call(fn, watched.cloud.state)


def rows(html: str, table: str) -> list[str]:
    """The rows of one table of a page, as text without tags."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "<tr" + row)).strip()
            for row in body.split("<tr")[2:]]


def test_compute_names_each_server_in_error_with_its_fault(broken: Watched) -> None:
    errors = truth(broken, lambda s: {v.id: (v.name, v.fault.message, v.project_id)
                                      for v in s.servers if v.vm_state == "error"})
    injected = {i for i, (_, message, _) in errors.items() if message == FAULT}
    assert len(injected) == 2
    page = broken.json("/compute.json")
    assert {e["id"]: (e["name"], e["message"], e["project"]) for e in page["errors"]} == errors
    assert page["errors_counted"] == page["errors_listed"] == len(errors)
    assert page["servers_by_status"]["ERROR"] == len(errors)
    html = broken.get("/compute")
    listed = rows(html, "errors")
    for server_id in injected:
        name = errors[server_id][0]
        assert f'href="/trace/{server_id}"' in html  # the server's story, one click away
        [row] = [r for r in listed if r.startswith(name + " ")]
        assert FAULT in row and "500" in row
    # the newest fault first: the injected ones before those the cloud was born with
    assert {r.split()[0] for r in listed[:2]} == {errors[i][0] for i in injected}
    assert set(broken.json("/api/v1/inventory/servers?status=ERROR")["items"][0]) >= {
        "id", "message", "since", "since_time", "age_seconds", "host", "project_name"}


def test_compute_shows_the_down_service_and_its_hypervisor_first(broken: Watched) -> None:
    host = truth(broken, lambda s: next(c.host for c in s.compute_services
                                        if c.id in s.silent_services))
    page = broken.json("/compute.json")
    first = page["services"][0]
    assert (first["binary"], first["host"], first["state"], first["status"]) == (
        "nova-compute", host, "down", "CRITICAL")
    assert page["services_down"] == 1
    hypervisor = page["hypervisors"][0]
    assert (hypervisor["host"], hypervisor["state"], hypervisor["status"]) == (
        host, "down", "CRITICAL")
    assert rows(broken.get("/compute"), "services")[0].startswith(f"nova-compute {host} ")
    api = broken.json("/api/v1/inventory/hypervisors?state=down")
    assert [h["host"] for h in api["items"]] == [host]
    assert broken.json(f"/api/v1/inventory/services?host={host}&service=nova&state=down")[
        "total"] == 1


def test_network_lists_the_stranded_routers_first_with_their_dead_agent(
        broken: Watched) -> None:
    agent_id, agent_host, bound = truth(broken, lambda s: next(
        (a.id, a.host, {b.router_id for b in s.router_bindings.by("l3_agent_id", a.id)})
        for a in s.agents if a.agent_type == "L3 agent" and a.id in s.silent_services))
    names = truth(broken, lambda s: {r.id: r.name for r in s.routers})
    page = broken.json("/network.json")
    assert page["stranded"] == len(bound) > 0
    assert {r["id"] for r in page["routers"][:len(bound)]} == bound
    assert all(r["stranded"] and r["agent_host"] == agent_host
               for r in page["routers"][:len(bound)])
    assert page["l3_agents"][0] == {"id": agent_id, "host": agent_host, "alive": False,
                                    "routers": len(bound), "stranded": len(bound)}
    assert page["agents"][0]["host"] == agent_host and not page["agents"][0]["alive"]
    html = broken.get("/network")
    for row in rows(html, "routers")[:len(bound)]:
        assert row.split()[0] in {names[r] for r in bound}
        assert f"stranded no L3 agent alive: {agent_host} dead" in row
    api = broken.json("/api/v1/inventory/routers?stranded=true")
    assert {r["id"] for r in api["items"]} == bound
    assert broken.json("/api/v1/inventory/routers?stranded=false")["total"] == (
        page["routers_listed"] - len(bound))
    assert [a["id"] for a in broken.json("/api/v1/inventory/agents?alive=false")["items"]] == [
        agent_id]
    assert page["networks"] and all(0 < n["used"] <= n["total"] for n in page["networks"])


def test_storage_lists_the_stuck_volume_and_snapshot_with_their_age(broken: Watched) -> None:
    volume, snapshot, service = truth(broken, lambda s: (
        next(v for v in s.volumes if v.status == "deleting"),
        next(v for v in s.snapshots if v.status == "creating" and v.progress == "37%"),
        next(v.host for v in s.volume_services if v.id in s.silent_services)))
    page = broken.json("/storage.json")
    stuck = {v["id"]: v for v in page["stuck"]}
    assert stuck[volume.id]["status"] == "deleting"
    assert stuck[volume.id]["age_seconds"] == pytest.approx(7200, abs=300)
    assert stuck[volume.id]["project"] == volume.project_id
    assert stuck[snapshot.id]["kind"] == "snapshot"
    assert stuck[snapshot.id]["age_seconds"] == pytest.approx(5400, abs=300)
    row = next(r for r in rows(broken.get("/storage"), "stuck") if volume.id in r)
    assert row.startswith(f"volume {volume.name} {volume.id} deleting 2 h")
    # a longer threshold: the two-hour-old delete is stuck, the 90-minute snapshot not yet
    longer = broken.json("/storage.json?stuck=100m")
    assert volume.id in {v["id"] for v in longer["stuck"]}
    assert snapshot.id not in {v["id"] for v in longer["stuck"]}
    api = broken.json("/api/v1/inventory/volumes?stuck=true&kind=volume&status=deleting")
    assert [v["id"] for v in api["items"]] == [volume.id]
    assert page["services"][0]["host"] == service and page["services"][0]["state"] == "down"
    assert page["services_down"] == 1
    assert page["volumes_by_status"]["deleting"] == 1
    assert page["pools"] and page["pools"][0]["total_gb"] > page["pools"][0]["free_gb"]


def test_capacity_adds_up_placement_per_host_zone_and_cloud(broken: Watched) -> None:
    inventories = truth(broken, lambda s: {
        h.hypervisor_hostname: h for h in s.hypervisors})
    page = broken.json("/capacity.json")
    assert page["hosts_total"] == len(inventories)
    hosts = {h["hostname"]: h for h in page["hosts"]}
    assert set(hosts) == set(inventories)
    cloud = page["cloud"]
    assert cloud["vcpu"]["used"] == sum(h["vcpu"]["used"] for h in hosts.values())
    assert cloud["vcpu"]["free"] == pytest.approx(cloud["vcpu"]["capacity"] -
                                                  cloud["vcpu"]["used"])
    assert cloud["vms"] == truth(broken, lambda s: sum(h.running_vms for h in s.hypervisors))
    assert sum(z["hosts"] for z in page["zones"]) == len(hosts)
    shares = [max(h[r]["share"] for r in ("vcpu", "ram", "disk")) for h in page["hosts"]]
    assert shares == sorted(shares, reverse=True)  # the fullest first
    assert all(h["allocation_ratio"].keys() == {"VCPU", "MEMORY_MB", "DISK_GB"}
               for h in page["hosts"])
    quota_shares = [q["share"] for q in page["quotas"]]
    assert quota_shares and quota_shares == sorted(quota_shares, reverse=True)
    trend = page["trends"]["vcpu"]["series"][0]
    assert trend["labels"] == {"zone": "cloud"}
    assert trend["points"][-1]["v"] == pytest.approx(cloud["vcpu"]["free"])
    html = broken.get("/capacity")
    assert f'id="host-{page["hosts"][0]["hostname"]}"' in html
    assert "Free vCPU" in html and "<svg" in html
    demo = broken.json("/api/v1/quotas?project=demo&service=nova")
    assert demo["total"] == 3 and {q["project"] for q in demo["items"]} == {"demo"}
    assert [q["share"] for q in demo["items"]] == sorted(
        (q["share"] for q in demo["items"]), reverse=True)


def test_inventory_api_pages_filters_and_refuses_bad_values(broken: Watched) -> None:
    every = broken.json("/api/v1/inventory/agents")
    page = broken.json("/api/v1/inventory/agents?limit=2&offset=1")
    assert page["items"] == every["items"][1:3] and page["total"] == every["total"]
    assert page["next_offset"] == 3
    quotas = broken.json("/api/v1/quotas?limit=10000")
    assert quotas["total"] == len(quotas["items"]) > 10
    assert broken.json("/api/v1/quotas?limit=5&offset=5")["items"] == quotas["items"][5:10]
    for path, word in (("/api/v1/inventory/hypervisors?state=sideways", "state:"),
                       ("/api/v1/inventory/servers?status=ACTIVE", "status:"),
                       ("/api/v1/inventory/volumes?stuck_after=-1", "stuck_after:"),
                       ("/api/v1/inventory/routers?stranded=maybe", "stranded:"),
                       ("/api/v1/quotas?service=swift", "service:"),
                       ("/api/v1/inventory/agents?bogus=1", "bogus:")):
        error = broken.json(path, 400)["error"]
        assert error["status"] == 400 and error["message"].startswith(word), error
    spec = broken.json("/api/v1/openapi.json")
    assert {"/api/v1/inventory/hypervisors", "/api/v1/inventory/services",
            "/api/v1/inventory/agents", "/api/v1/inventory/routers",
            "/api/v1/inventory/servers", "/api/v1/inventory/volumes",
            "/api/v1/quotas"} <= set(spec["paths"])
    for path in ("/capacity", "/compute", "/network", "/storage"):
        html = broken.get(path)
        assert 'aria-current="page"' in html and "Traceback" not in html
    assert "time range" in broken.get("/compute?range=forever", 400)


def test_a_blind_source_says_so_and_a_cleared_fault_leaves(tmp_path: Path) -> None:
    """The compute API failing: the page says it cannot look, and does not claim
    "no server in ERROR"; the fault cleared, its servers leave the page."""
    with SimulatedCloud(workdir=tmp_path / "sim", size="small", life=False) as cloud:
        watched = watch(cloud, tmp_path)
        cloud.inject("servers-error", count="1", message=FAULT)
        watched.collect()
        assert FAULT in watched.get("/compute")
        cloud.inject("api-500", service="compute")
        watched.collect()
        html = watched.get("/compute")
        blind = html.split('class="blind"', 1)[1].split("</ul>", 1)[0]
        assert "api.compute servers" in blind and "HTTP 500" in blind
        assert "No server in ERROR" not in html
        assert '<div class="tile st-unknown"><span class="tile-label">in ERROR' in html
        cloud.clear("api-500")
        cloud.clear("servers-error")
        watched.collect()
        html = watched.get("/compute")
        assert 'class="blind"' not in html and FAULT not in html
        assert watched.json("/compute.json")["errors_counted"] == watched.json(
            "/compute.json")["errors_listed"]
        watched.store.close()
