"""The monitor end to end on 127.0.0.1: loop → store → web, with real sources and HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.cli import main
from stackwatch.config import parse_config
from stackwatch.errors import SourceUnavailable, StackwatchError
from stackwatch.model import Collection, Sample, Status
from stackwatch.server import Monitor
from stackwatch.store.opening import open_store
from stores import Stores

from .conftest import ConstantSource, DownSource, SlowSource, member_check

pytestmark = pytest.mark.integration


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_monitor_collects_stores_and_serves(server_stores: Stores) -> None:
    store = server_stores.settings()
    config = parse_config({"clouds": [{"name": "x"}], "store": store,
                           "intervals": {"api": 0.2, "sql": 0.2}, "timeouts": {"sql": 0.3}})
    slow = SlowSource("sql.nova", seconds=30)
    sources = [ConstantSource("api.compute"), DownSource("api.network"), slow]
    try:
        with Monitor(config, sources, listen=("127.0.0.1", 0)) as monitor:
            assert monitor.url.startswith("http://127.0.0.1:")
            assert monitor.wait_for_runs(6, timeout=20)
            families = {f.name: f for f in text_string_to_metric_families(
                get(monitor.url + "/metrics"))}
            up = {s.labels["source"]: s.value for s in families["stackwatch_source_up"].samples}
            assert up == {"api.compute": 1.0, "api.network": 0.0, "sql.nova": 0.0}
            assert families["stackwatch_test_value"].type == "unknown"
            sources_view = {s["source"]: s for s in json.loads(
                get(monitor.url + "/api/v1/sources"))}
            assert "timed out after 0.3 s" in sources_view["sql.nova"]["message"] or (
                "previous run still hung" in sources_view["sql.nova"]["message"])
            assert sources_view["api.network"]["errors_total"] >= 1
    finally:
        slow.release.set()
    reader = open_store(config.store, create=False)  # what `status --from-store` reads
    try:
        assert {dict(c.labels).get("source") for c in reader.latest_checks()
                if c.name == "stackwatch_source"} == {"api.compute", "api.network", "sql.nova"}
    finally:
        reader.close()


def test_server_command_runs_for_a_duration(tmp_path: Path) -> None:
    (tmp_path / "stackwatch.yaml").write_text(
        "clouds: [{name: nowhere, clouds_yaml: clouds.yaml}]\nstore: {path: store.sqlite}\n")
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    result = CliRunner().invoke(main, ["server", "--config", str(tmp_path / "stackwatch.yaml"),
                                       "--listen", "127.0.0.1:0", "--duration", "1.5"])
    assert result.exit_code == 0, result.output
    assert "stackwatch server: 15 sources" in result.output  # six, and nine optional
    assert "serving on http://127.0.0.1:" in result.output
    assert (tmp_path / "store.sqlite").exists()


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s.db")}})
    with Monitor(config, [], listen=("127.0.0.1", 0)) as first:
        port = int(first.url.rpartition(":")[2])
        second = Monitor(config, [], listen=("127.0.0.1", port))
        with pytest.raises(StackwatchError, match=f"cannot listen on 127.0.0.1:{port}"):
            second.start()


def test_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "stackwatch.yaml").write_text(
        "clouds: [{name: nowhere, clouds_yaml: clouds.yaml}]\nstore: {path: store.sqlite}\n"
        "web: {listen: '127.0.0.1:0'}\n")
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    process = subprocess.Popen(
        [sys.executable, "-c", "from stackwatch.cli import main; main()", "server",
         "--config", str(tmp_path / "stackwatch.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        assert get(url + "/api/v1/health")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class Agents:
    """api.network as the test says: each agent alive or dead (or deleted), or down."""

    name = "api.network"

    def __init__(self) -> None:
        self.agents = {"net1": True, "net2": True}
        self.down = False

    def collect(self) -> Collection:
        if self.down:
            raise SourceUnavailable("neutron-server: connection refused")
        samples = [Sample.of("openstack_neutron_networks", 2, region="r")]
        checks = []
        for host, alive in sorted(self.agents.items()):
            samples.append(Sample.of("openstack_neutron_agent_state", 1 if alive else 0,
                                     hostname=host, service="neutron-l3-agent",
                                     adminState="up" if alive else "down", region="r"))
            checks.append(member_check("neutron-l3-agent", host,
                                       Status.OK if alive else Status.CRITICAL))
        return Collection(tuple(samples), tuple(checks))


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(get(url + "/metrics")) for s in f.samples
            if not s.name.startswith("stackwatch_")}


def test_a_scrape_shows_what_the_latest_run_saw_and_no_more(server_stores: Stores) -> None:
    """A label value that changed, an agent deleted, the source down: the next scrape and
    health show exactly that (old series and members stayed for three intervals)."""
    # runs every 0.1 s; a check or series counts as stale after three times the longest
    # interval (here a resource's: 60 s), which is what kept old ones before
    # an ML2/OVS cloud: its L3 agents are expected, so a failed source leaves them UNKNOWN
    config = parse_config({"clouds": [{"name": "x", "network_backend": "ovs"}],
                           "store": server_stores.settings(),
                           "intervals": {"api": 0.1, "api.compute.quotas": 60}})
    agents = Agents()
    with Monitor(config, [agents], listen=("127.0.0.1", 0)) as monitor:

        def after_a_run() -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float],
                                   dict[str, Any]]:
            # a run that started after the change has been written
            assert monitor.wait_for_runs(monitor.runs + 2, timeout=10)
            health = json.loads(get(monitor.url + "/api/v1/health"))["health"]
            [l3] = [s for s in health["services"] if s["name"] == "neutron-l3-agent"]
            return scrape(monitor.url), l3

        seen, l3 = after_a_run()
        state = {k[1]: v for k, v in seen.items() if k[0] == "openstack_neutron_agent_state"}
        assert state == {
            (("adminState", "up"), ("hostname", h), ("region", "r"),
             ("service", "neutron-l3-agent")): 1.0 for h in ("net1", "net2")}
        assert l3["status"] == "OK"

        agents.agents["net2"] = False
        seen, l3 = after_a_run()
        by_host = {dict(k[1])["hostname"]: (dict(k[1])["adminState"], v)
                   for k, v in seen.items() if k[0] == "openstack_neutron_agent_state"}
        assert len([k for k in seen if k[0] == "openstack_neutron_agent_state"]) == 2
        assert by_host == {"net1": ("up", 1.0), "net2": ("down", 0.0)}
        assert l3["status"] == "WARNING" and l3["message"] == "1 of 2 up; down: net2"

        del agents.agents["net2"]  # the operator deletes the dead agent
        seen, l3 = after_a_run()
        assert [dict(k[1])["hostname"] for k in seen
                if k[0] == "openstack_neutron_agent_state"] == ["net1"]
        assert (l3["status"], [m["host"] for m in l3["members"]]) == ("OK", ["net1"])

        agents.down = True
        seen, l3 = after_a_run()
        assert seen == {}  # nothing of before the fault, as if current
        families = {f.name: f for f in text_string_to_metric_families(
            get(monitor.url + "/metrics"))}
        assert [s.value for s in families["stackwatch_source_up"].samples] == [0.0]
        assert l3["status"] == "UNKNOWN"
        assert l3["message"] == "could not look: source api.network failed"
    store = open_store(config.store, create=False)  # what `status --from-store` reads
    try:
        assert [c.name for c in store.latest_checks()] == ["stackwatch_source"]
    finally:
        store.close()


def test_a_source_no_longer_configured_leaves_health(server_stores: Stores) -> None:
    """A store written with api.network, a server started without it: its agents are not
    members any more (they were CRITICAL, then stale UNKNOWN for good)."""
    config = parse_config({"clouds": [{"name": "x"}], "store": server_stores.settings(),
                           "intervals": {"api": 0.2}})
    store = open_store(config.store)  # as the server that ran api.network wrote it
    store.write(Collection((Sample.of("openstack_neutron_networks", 2),),
                           (member_check("neutron-l3-agent", "net1", Status.CRITICAL),)),
                "api.network")
    store.close()
    with Monitor(config, [ConstantSource("api.compute")], listen=("127.0.0.1", 0)) as monitor:
        assert monitor.wait_for_runs(1, timeout=10)
        health = json.loads(get(monitor.url + "/api/v1/health"))["health"]
        assert "openstack_neutron_networks" not in get(monitor.url + "/metrics")
    [l3] = [s for s in health["services"] if s["name"] == "neutron-l3-agent"]
    assert (l3["watched"], l3["members"]) == (False, [])
