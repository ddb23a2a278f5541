"""The server on PostgreSQL against the simulated cloud: the same health and /metrics as
on SQLite, two servers sharing one store, and the commands that read it."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from exposition import Key, exposition
from servers import PostgreSQL
from stackwatch.cli import main
from stackwatch.config import Config, load_config
from stackwatch.runner import Run
from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.registry import build_sources
from stores import Stores

pytestmark = pytest.mark.integration

_NUMBERS = itertools.count(1)
#: Values that are times, and differ between two looks seconds apart.
TIMED = ("openstack_api_endpoint_latency_seconds", "openstack_nova_tenant_usage_",
         # ages of heartbeats: the two servers look at slightly different moments
         "openstack_nova_service_heartbeat_age_seconds",
         "openstack_neutron_agent_heartbeat_age_seconds",
         "openstack_nova_db_service_heartbeat_age_seconds",
         "openstack_neutron_db_agent_heartbeat_age_seconds")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    # life keeps the services heartbeating, without churn: two looks see the same cloud
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim-pg"), size="small", seed=5,
                        life=True, churn_rate=0.0) as sim:
        yield sim


def configured(cloud: SimulatedCloud, store: dict[str, Any]) -> Path:
    """The simulator's stackwatch.yaml with this store, logs left out (two servers would
    read the same files), every source and resource each second; beside the simulator's
    own (its relative paths hold)."""
    config = yaml.safe_load(cloud.config_path.read_text())
    config["clouds"][0]["disable"] = ["logs"]
    config["store"] = store
    config["intervals"] = {"api": 1.0, "sql": 1.0, "crosscheck": 1.0,
                           "api.compute.flavors": 1.0, "api.compute.aggregates": 1.0,
                           "api.compute.quotas": 1.0, "api.compute.usage": 1.0,
                           "api.identity.domains": 1.0, "api.identity.regions": 1.0,
                           "api.network.security_groups": 1.0,
                           "api.network.ip_availability": 1.0, "api.network.quotas": 1.0,
                           "api.block_storage.quotas": 1.0, "api.compute.servers_full": 1.0,
                           "api.network.quota_details": 1.0, "api.network.subnet_pools": 1.0,
                           "api.identity.groups": 1.0, "api.placement.allocations": 1.0}
    config["timeouts"] = {"api": 30.0, "sql": 30.0}
    path = cloud.config_path.with_name(f"stackwatch-store-{next(_NUMBERS)}.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


class Running:
    """A monitor on its config, counting the runs each source finished."""

    def __init__(self, config: Config) -> None:
        self.monitor = Monitor(config, build_sources(config), listen=("127.0.0.1", 0))
        self.finished: dict[str, int] = {}
        self._changed = threading.Condition()
        sink = self.monitor.loop._sink

        def counting(run: Run) -> None:
            sink(run)
            with self._changed:
                self.finished[run.source] = self.finished.get(run.source, 0) + 1
                self._changed.notify_all()

        self.monitor.loop._sink = counting

    def settle(self, timeout: float = 120.0) -> None:
        """Until every source has finished a run that started after now."""
        with self._changed:
            wanted = {s.name: self.finished.get(s.name, 0) + 2
                      for s in self.monitor.runner.sources}
            assert self._changed.wait_for(
                lambda: all(self.finished.get(n, 0) >= w for n, w in wanted.items()),
                timeout), (wanted, self.finished)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.monitor.url + path, timeout=30) as response:
            return str(response.read().decode())

    def metrics(self) -> dict[Key, float | None]:
        return {key: (None if key[0].startswith(TIMED) else value)
                for key, value in exposition(self.get("/metrics")).items()
                if not key[0].startswith("stackwatch_")}

    def items(self) -> list[tuple[Any, ...]]:
        """The inventory, but when each item was seen."""
        return [(i.kind, i.id, i.name, i.status, i.host, i.project, i.message, i.since,
                 i.attributes) for i in self.monitor.store.latest_items()]

    def health(self) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
        services = json.loads(self.get("/api/v1/health"))["health"]["services"]
        return [(s["name"], s["status"], s["message"],
                 sorted((m["host"] or "", m["status"]) for m in s["members"]))
                for s in services]


def test_the_server_on_postgresql_shows_what_it_shows_on_sqlite(
        cloud: SimulatedCloud, postgres_stores: Stores, tmp_path: Path) -> None:
    """Two monitors on the same cloud, one on each store: /metrics series for series,
    health service for service and member for member, the inventory item for item."""
    on_sqlite = load_config(configured(cloud, {"path": str(tmp_path / "lite.sqlite")}))
    on_postgres = load_config(configured(cloud, postgres_stores.settings()))
    lite, post = Running(on_sqlite), Running(on_postgres)
    with lite.monitor, post.monitor:
        lite.settle()
        post.settle()
        cloud.flush()
        lite.settle()
        post.settle()
        metrics, health = post.metrics(), post.health()
        assert len(metrics) > 300 and any(s[1] == "OK" for s in health)
        assert {"openstack_nova_servers", "openstack_nova_db_instances_error"} <= {
            name for name, _ in metrics}
        assert metrics == lite.metrics()
        assert health == lite.health()
        items = post.items()
        assert {i[0] for i in items} >= {"hypervisor", "router"} and items == lite.items()
        cloud.inject("compute-down")
        try:
            cloud.flush()
            lite.settle()
            post.settle()
            broken = post.health()
            assert broken == lite.health()
            [compute] = [s for s in broken if s[0] == "nova-compute"]
            assert compute[1] in ("WARNING", "CRITICAL"), compute
        finally:
            cloud.clear("compute-down")


def test_two_servers_share_one_store(cloud: SimulatedCloud, postgres_stores: Stores,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """An HA pair on one PostgreSQL: both write every source in turn, no write fails,
    each serves what the latest run (of either) saw; one stops, the other goes on
    alone."""
    store = postgres_stores.settings()
    first = load_config(configured(cloud, {**store, "writer": "ctl-1"}))
    second = load_config(configured(cloud, {**store, "writer": "ctl-2"}))
    one, two = Running(first), Running(second)
    with one.monitor:
        with two.monitor:
            one.settle()
            two.settle()
            metrics = one.metrics()
            assert len(metrics) > 300 and metrics == two.metrics()
            assert one.health() == two.health()
        cloud.inject("compute-down")  # the second server is gone; the first sees this
        try:
            cloud.flush()
            one.settle()
            [compute] = [s for s in one.health() if s[0] == "nova-compute"]
            assert compute[1] in ("WARNING", "CRITICAL"), compute
        finally:
            cloud.clear("compute-down")
    failed = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failed == []


def test_server_status_and_tokens_commands_on_postgresql(
        cloud: SimulatedCloud, postgres: PostgreSQL, postgres_stores: Stores) -> None:
    """`stackwatch server` on store.url, then `status --from-store` and `token` on the same
    configuration: they read what the server wrote; the password is printed nowhere."""
    path = configured(cloud, postgres_stores.settings())
    served = CliRunner().invoke(main, ["server", "--config", str(path), "--listen",
                                       "127.0.0.1:0", "--duration", "8"])
    assert served.exit_code == 0, served.output
    assert f"store postgresql+psycopg://stackwatch:***@127.0.0.1:{postgres.port}/" \
        in served.output
    status = CliRunner().invoke(main, ["status", "--config", str(path), "--from-store",
                                       "--format", "json", "--max-age", "3600"])
    health = json.loads(status.stdout)
    assert status.exit_code == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[
        health["status"]], status.output
    watched = [s for s in health["services"] if s["watched"]]
    assert {s["name"] for s in watched} >= {"nova-api", "nova-compute", "keystone"}
    assert all(s["status"] != "UNKNOWN" for s in watched if s["name"] == "nova-compute")
    made = CliRunner().invoke(main, ["token", "create", "--name", "ci", "--role", "read",
                                     "--config", str(path)])
    assert made.exit_code == 0, made.output
    listed = CliRunner().invoke(main, ["token", "list", "--config", str(path)])
    assert listed.stdout.splitlines()[1].split()[:2] == ["ci", "read"]
    for result in (served, status, made, listed):
        assert postgres.password not in result.output
