"""On the real services, what stackwatch exposes is what is true now (issue 8, items 1-3).

1. ``collect --once --format prometheus`` gives every series once: sql.nova and
   sql.nova_cell0 count their instances apart (``database``), and no source had a
   series left out as a duplicate.
2. While neutron-server is stopped, ``/metrics`` of a running server shows neither
   neutron's resources nor nova's server counts from before the fault beside
   ``openstack_neutron_up 0`` (it did for about three intervals).
3. An operator deletes a dead L3 agent: it leaves the server's health and ``status
   --from-store`` with the next run of the sources that listed it (it stayed CRITICAL,
   then UNKNOWN for good).

Each fault is mended before the next test: neutron-server as its ``up.sh`` stage
starts it, the fake L3 agent by the resources' own set-up (which starts it again and
schedules rc-router1 to it). The agent is stopped already during the neutron test
(what that test reads while neutron is down cannot show it), so that neutron's 30 s to
call it dead pass then.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exposition import Key, exposition
from realcloud.cloud import RealCloud
from realcloud.resources import L3_AGENT_HOST, L3_AGENT_PROCESS, Resources, ensure_resources
from realcloud.truth import Truth
from stackwatch.cli import main as stackwatch_cli
from stackwatch.config import parse_config
from stackwatch.server import Monitor
from stackwatch.sources.registry import build_sources

#: Seconds between runs of the server's API and SQL sources here.
INTERVAL_S = 20.0



def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode())


class Server:
    """``stackwatch server`` on the real cloud (API and SQL sources)."""

    def __init__(self, monitor: Monitor, config_path: Path) -> None:
        self.monitor = monitor
        self.config_path = config_path

    def scrape(self) -> dict[Key, float]:
        return exposition(_get(self.monitor.url + "/metrics"))

    def health(self) -> dict[str, Any]:
        return dict(json.loads(_get(self.monitor.url + "/api/v1/health"))["health"])

    def service(self, name: str) -> dict[str, Any]:
        [found] = [s for s in self.health()["services"] if s["name"] == name]
        return dict(found)

    def sources(self) -> dict[str, dict[str, Any]]:
        return {s["source"]: s for s in json.loads(_get(self.monitor.url + "/api/v1/sources"))}

    def next_run(self, *names: str, timeout: float = 4 * INTERVAL_S + 240) -> None:
        """Until each named source has finished a run that started after now."""
        now = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sources()
            # finished at checked_at after running duration_seconds: started after now?
            if all(n in found and float(found[n].get("checked_at", 0.0))
                   - float(found[n].get("duration_seconds", 0.0)) > now for n in names):
                return
            time.sleep(1.0)
        pytest.fail(f"no new run of {', '.join(names)} within {timeout:.0f}s")


@pytest.fixture(scope="module")
def server(realcloud: RealCloud, resources: Resources,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("realcloud-truth")
    data = realcloud.stackwatch_config(store=workdir / "stackwatch.sqlite")
    # a full listing of the servers every run (one of the servers changed since the last
    # read, when none changed, asks neutron for no port and is answered while it is down)
    data["intervals"] = {"api": INTERVAL_S, "sql": INTERVAL_S, "crosscheck": INTERVAL_S,
                         "api.compute.servers_full": 1.0}
    data["timeouts"] = {"api": 180.0, "sql": 60.0}
    path = workdir / "stackwatch.yaml"
    path.write_text(json.dumps(data))
    config = parse_config(data)
    with Monitor(config, build_sources(config), listen=("127.0.0.1", 0)) as monitor:
        found = Server(monitor, path)
        found.next_run("api.network", "api.compute", "sql.neutron")
        yield found


# ------------------------------------------------------------------ 1. every series once

def test_collect_prints_every_series_once(realcloud: RealCloud, resources: Resources,
                                          truth: Truth, tmp_path: Path) -> None:
    path = realcloud.write_stackwatch_yaml("stackwatch-truth.yaml",
                                           store=tmp_path / "unused.sqlite")
    result = CliRunner().invoke(stackwatch_cli, ["collect", "--once", "--config", str(path),
                                                 "--format", "prometheus"])
    seen = exposition(result.stdout)
    duplicates = {dict(labels)["source"]: value for (name, labels), value in seen.items()
                  if name == "stackwatch_source_duplicate_series" and value}
    assert duplicates == {}
    errors = {dict(labels)["database"]: value for (name, labels), value in seen.items()
              if name == "openstack_nova_db_instances_error"}
    rows = {db: truth.sql(db, "select count(*) as n from instances "
                              "where deleted = 0 and vm_state = 'error'")[0]["n"]
            for db in ("nova", "nova_cell0")}
    assert errors == {db: float(n) for db, n in rows.items()}
    api = sum(v for (name, labels), v in seen.items()
              if name == "openstack_nova_servers" and ("status", "ERROR") in labels)
    assert sum(errors.values()) == api


# ------------------------------------------------------------------ 2. neutron stopped

def _neutron_api_series(seen: dict[Key, float]) -> dict[Key, float]:
    """What api.network reports about neutron's resources (not its database's view)."""
    return {k: v for k, v in seen.items() if k[0].startswith("openstack_neutron_")
            and not k[0].startswith("openstack_neutron_db_")}


@pytest.fixture(scope="module")
def stopped_l3_agent(realcloud: RealCloud) -> Iterator[None]:
    """The fake L3 agent stopped from the neutron test on (neutron's 30 s to call it dead,
    which the last test waits for, run while that one does), started again after the
    module's last test."""
    argv = realcloud.command_line(L3_AGENT_PROCESS)
    realcloud.stop(L3_AGENT_PROCESS)
    try:
        yield
    finally:
        if realcloud.pid(L3_AGENT_PROCESS) is None:
            realcloud.start_bg(L3_AGENT_PROCESS, argv)
        ensure_resources(realcloud)  # the agent registers again; rc-router1 back on it


def test_server_shows_no_neutron_values_from_before_while_it_is_down(
        server: Server, stopped_l3_agent: None, stopped_neutron: None) -> None:
    before = server.scrape()
    assert len(_neutron_api_series(before)) > 1  # networks, agents, routers... from before
    server.next_run("api.network", "api.compute")
    seen = server.scrape()
    neutron = _neutron_api_series(seen)
    assert ([k[0] for k in neutron], list(neutron.values())) == (["openstack_neutron_up"],
                                                                [0.0]), neutron
    assert not [k for k in seen if k[0] == "openstack_api_endpoint_status_code"
                and ("service", "neutron") in k[1]]
    # nova answers 500 to a listing of servers while neutron is down: no count from before
    assert not [k for k in seen if k[0] == "openstack_nova_total_vms"], seen
    network = server.service("neutron-server")
    assert network["status"] == "CRITICAL", network


# ------------------------------------------------------------------ 3. dead agent deleted

@pytest.fixture
def deleted_dead_agent(truth: Truth, stopped_l3_agent: None) -> str:
    """The fake L3 agent stopped until neutron says it is dead; the test deletes it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        rows = truth.cli("network", "agent", "list", "--host", L3_AGENT_HOST)
        if rows and all(r["Alive"] is False for r in rows):
            break
        time.sleep(5)
    [row] = truth.cli("network", "agent", "list", "--host", L3_AGENT_HOST)
    assert row["Alive"] is False, row
    return str(row["ID"])


def test_deleted_dead_agent_leaves_health_within_one_interval(
        server: Server, truth: Truth, deleted_dead_agent: str) -> None:
    server.next_run("api.network", "sql.neutron")
    l3 = server.service("neutron-l3-agent")
    dead = [m for m in l3["members"] if m["host"] == L3_AGENT_HOST]
    assert [m["status"] for m in dead] == ["CRITICAL"], l3
    truth.run("network", "agent", "delete", deleted_dead_agent)
    deleted = time.monotonic()
    durations = server.sources()
    longest_run = max(float(durations[n].get("duration_seconds", 0.0))
                      for n in ("api.network", "sql.neutron"))
    while time.monotonic() - deleted < INTERVAL_S + 4 * longest_run + 60:
        members = [m["host"] for m in server.service("neutron-l3-agent")["members"]]
        if L3_AGENT_HOST not in members:
            break
        time.sleep(1.0)
    gone_after = time.monotonic() - deleted
    print(f"{L3_AGENT_HOST} left health {gone_after:.1f} s after its deletion "
          f"(interval {INTERVAL_S:g} s, longest run {longest_run:.1f} s)")
    assert L3_AGENT_HOST not in members, members
    # the next run of each source that listed it: one interval, plus the runs themselves
    assert gone_after <= INTERVAL_S + 2 * longest_run + 2, (gone_after, longest_run)
    # /metrics too, once the alarm engine has evaluated after those runs (its
    # stackwatch_check_status series follow the checks by one of its cycles)
    def left() -> list[Any]:
        return [k for k in server.scrape() if ("hostname", L3_AGENT_HOST) in k[1]
                or ("host", L3_AGENT_HOST) in k[1]]

    deadline = time.monotonic() + INTERVAL_S
    while left() and time.monotonic() < deadline:
        time.sleep(1.0)
    assert not left()
    result = CliRunner().invoke(stackwatch_cli, ["status", "--from-store", "--members",
                                                 "--format", "json", "--config",
                                                 str(server.config_path)])
    health = json.loads(result.stdout)
    hosts = [m["host"] for s in health["services"] for m in s.get("members", ())]
    assert L3_AGENT_HOST not in hosts, health
