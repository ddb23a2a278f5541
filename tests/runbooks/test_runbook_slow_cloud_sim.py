"""The slow-cloud checklist against the simulator's slow-API and queue-without-consumers
scenarios (a real RabbitMQ under the simulated cloud): the item that is the cause is
the one flagged, with its evidence; the others stay OK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import load_config
from stackwatch.infra_config import RabbitMQConfig
from stackwatch.model import Status
from stackwatch.runbooks import fixer, registry
from stackwatch.runbooks.books import slow_cloud
from stackwatch.runbooks.context import Actor, RunbookContext
from stackwatch.runner import collect_once
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.infra.rabbitmq import RabbitMQSource
from stackwatch.sources.openstack_api import client_for
from stackwatch.sources.registry import build_sources
from stackwatch.store.base import Role
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, rabbitmq: Any) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("slowcloud"), size="small",
                        amqp_url=rabbitmq.url, life=False) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def broker(rabbitmq: Any) -> RabbitMQSource:
    return RabbitMQSource(RabbitMQConfig(url=f"http://127.0.0.1:{rabbitmq.mgmt_port}",
                                         user="guest", password="guest"))


def collect(cloud: SimulatedCloud, rabbitmq: Any, store: SQLiteStore) -> None:
    """What the server would have stored: the API and SQL sources and infra.rabbitmq."""
    config = load_config(cloud.config_path)
    sources = [s for s in build_sources(config) if s.name.startswith(("api.", "sql."))]
    for run in collect_once([*sources, broker(rabbitmq)], 60.0):
        store.write(run.collection, run.source)


def wait_for_idle_queue(rabbitmq: Any, queue: str) -> None:
    """Until the management API's statistics (refreshed every few seconds) show it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = broker(rabbitmq).collect().samples
        if any(s.name == "rabbitmq_queue_messages_without_consumers"
               and s.label("queue") == queue and s.value > 0 for s in seen):
            return
        time.sleep(1)
    raise AssertionError(f"{queue} never showed messages without a consumer")


def checklist(cloud: SimulatedCloud, store: SQLiteStore) -> dict[str, slow_cloud.Verdict]:
    client = client_for(load_config(cloud.config_path).clouds[0])
    try:
        probes = slow_cloud.probe(client, tries=2)
    finally:
        client.close()
    return {v.item: v for v in slow_cloud.run(slow_cloud.observe(store, probes))}


def test_a_slow_keystone_is_the_item_flagged(cloud: SimulatedCloud, rabbitmq: Any,
                                            store: SQLiteStore) -> None:
    collect(cloud, rabbitmq, store)
    calm = checklist(cloud, store)
    assert not [v.item for v in calm.values() if v.cause], calm
    cloud.inject("api-slow", service="identity", delay="2.5")
    try:
        found = checklist(cloud, store)
        config = load_config(cloud.config_path)
        ctx = RunbookContext(config, config.clouds[0], default_catalog(),
                             Actor("a", Role.READ, "cli"), store)
        try:
            said = fixer.diagnose(registry.runbook("slow-cloud"), ctx)
        finally:
            ctx.close()
    finally:
        cloud.clear("api-slow")
    assert said.verdict == "WARNING"
    assert said.summary.startswith("identity is the first item off: keystone API slow: ")
    assert said.evidence[0].label == "1. identity <- cause"
    causes = [v for v in found.values() if v.cause]
    assert [v.item for v in causes] == ["identity"]
    assert causes[0].status is Status.WARNING
    assert causes[0].evidence[0].startswith("keystone API slow: 2")
    # no MySQL is watched here: the database item says it could not look
    assert {k: v.status for k, v in found.items() if v.status is not Status.OK} == {
        "identity": Status.WARNING, "database": Status.UNKNOWN}


def test_a_queue_without_consumers_is_the_item_flagged(cloud: SimulatedCloud, rabbitmq: Any,
                                                      store: SQLiteStore) -> None:
    cloud.inject("queue-no-consumers", queue="notifications.info")
    try:
        cloud.inject("servers-error", count="2")  # notifications to fill it
        cloud.flush()
        wait_for_idle_queue(rabbitmq, "notifications.info")
        collect(cloud, rabbitmq, store)
        found = checklist(cloud, store)
    finally:
        cloud.clear("servers-error")
        cloud.clear("queue-no-consumers")
    causes = [v for v in found.values() if v.cause]
    assert [v.item for v in causes] == ["message bus"], found
    assert "notifications.info (" in causes[0].evidence[0]
    assert "no consumer" in causes[0].evidence[0]
    assert found["identity"].status is Status.OK
