"""The node and infrastructure checks against the real control plane (issue 11).

Every real OpenStack process of the control plane is found with its ports, whatever
runs it (gunicorn for the APIs, oslo.service/eventlet for the rest); a stopped one is
CRITICAL under its own service in health; RabbitMQ's real queues show each
nova-compute's consumer, and a stopped nova-compute leaves its ``compute.<host>``
queue without one. Each fault is mended before the test ends (the process started
again with its own command line, as ``up.sh`` started it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from realcloud.cloud import RUNS, RealCloud, wait_for
from stackwatch.catalog.loader import Catalog, default_catalog
from stackwatch.config import NodeConfig
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import InfraConfig, RabbitMQConfig
from stackwatch.model import CheckResult, Status
from stackwatch.sources.base import Source
from stackwatch.sources.infra import build_infra
from stackwatch.sources.infra.base import Context as InfraContext
from stackwatch.sources.node import build_node_sources

NODE = "realnode"
PORTS = {"keystone": 5000, "nova-api": 8774, "placement": 8778, "glance-api": 9292,
         "neutron-server": 9696, "cinder-api": 8776, "rabbitmq": 5672, "mysql": 3306}
#: stopped and started again here: nothing later in the run needs it within seconds
STOPPED = "cinder-scheduler"
COMPUTE_PROCESS, COMPUTE_HOST = "nova-compute-1", "fake-compute-1"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog().deployed(["ovs"])


def _node_sources(catalog: Catalog) -> list[Source]:
    node = NodeConfig(roles=["controller", "compute"], parts=["processes", "ports"],
                      host=NODE)
    return build_node_sources(node, catalog)


def _checks(sources: list[Source]) -> list[CheckResult]:
    return [c for s in sources for c in s.collect().checks]


def _one(checks: list[CheckResult], name: str, **labels: str) -> CheckResult:
    found = [c for c in checks if c.name == name
             and all(dict(c.labels).get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_every_real_process_is_found_with_its_ports(catalog: Catalog) -> None:
    checks = _checks(_node_sources(catalog))
    for service, runner in RUNS.items():
        check = _one(checks, "node.process", service=service)
        assert check.status is Status.OK, check
        if runner:
            assert "master" in check.message and "worker" in check.message, check
    for service, port in PORTS.items():
        check = _one(checks, "node.port", service=service, port=str(port))
        assert check.status is Status.OK, check
        assert "held by" in check.message, check
        if RUNS[service]:
            assert f"held by {RUNS[service]}: master [" in check.message, check


@pytest.fixture
def stopped_scheduler(realcloud: RealCloud, catalog: Catalog) -> Iterator[None]:
    argv = realcloud.command_line(STOPPED)
    realcloud.stop(STOPPED)
    try:
        yield
    finally:
        realcloud.start_bg(STOPPED, argv)
        sources = _node_sources(catalog)
        wait_for(f"{STOPPED} running again", lambda: _one(
            _checks(sources), "node.process", service=STOPPED).status is Status.OK, 60)


def test_a_stopped_process_is_critical_under_its_service(catalog: Catalog,
                                                          stopped_scheduler: None) -> None:
    checks = _checks(_node_sources(catalog))
    check = _one(checks, "node.process", service=STOPPED)
    assert check.status is Status.CRITICAL and "not running" in check.message, check
    health = evaluate(catalog, checks)
    service = health.service(STOPPED)
    assert service is not None and service.status is Status.CRITICAL, service
    [member] = [m for m in service.members if m.host == NODE]
    assert member.status is Status.CRITICAL and "not running" in member.message
    # what still runs stays OK: the stop named one service, not its neighbours
    assert _one(checks, "node.process", service="cinder-volume").status is Status.OK


def _rabbit(realcloud: RealCloud) -> Source:
    config = InfraConfig(rabbitmq=RabbitMQConfig(
        url=realcloud.rabbit_mgmt_url.removesuffix("/api"), user="openstack",
        password=realcloud.password))
    [source] = build_infra(config, InfraContext(10.0, NODE, "ovs"))
    return source


def _consumer(source: Source, host: str) -> CheckResult:
    return _one(list(source.collect().checks), "rabbitmq.compute_consumer", host=host)


@pytest.fixture
def stopped_compute_process(realcloud: RealCloud) -> Iterator[float]:
    argv = realcloud.command_line(COMPUTE_PROCESS)
    realcloud.stop(COMPUTE_PROCESS)
    stopped = time.monotonic()
    try:
        yield stopped
    finally:
        realcloud.start_bg(COMPUTE_PROCESS, argv)
        source = _rabbit(realcloud)
        wait_for(f"{COMPUTE_HOST}'s consumer back", lambda: _consumer(
            source, COMPUTE_HOST).status is Status.OK, 120, every=2)


def test_rabbitmq_shows_each_nova_computes_consumer(realcloud: RealCloud) -> None:
    source = _rabbit(realcloud)
    for host in ("fake-compute-1", "fake-compute-2"):
        check = _consumer(source, host)
        assert check.status is Status.OK, check
        assert dict(check.labels)["service"] == "nova-compute"
    run = source.collect()
    nodes = [c for c in run.checks if c.name == "rabbitmq.node"]
    assert nodes and all(c.status is Status.OK for c in nodes), nodes


def test_a_stopped_nova_compute_leaves_its_queue_without_consumer(
        realcloud: RealCloud, catalog: Catalog, stopped_compute_process: float) -> None:
    source = _rabbit(realcloud)
    # the management API's consumer counts follow within its statistics interval (5 s)
    wait_for(f"compute.{COMPUTE_HOST} without consumer", lambda: _consumer(
        source, COMPUTE_HOST).status is Status.CRITICAL, 30)
    seen = time.monotonic() - stopped_compute_process
    checks = list(source.collect().checks)
    check = _one(checks, "rabbitmq.compute_consumer", host=COMPUTE_HOST)
    assert f"compute.{COMPUTE_HOST}" in check.message, check
    assert _one(checks, "rabbitmq.compute_consumer", host="fake-compute-2").status is Status.OK
    # health puts it on nova-compute's member on that host, long before nova says down
    service = evaluate(catalog, checks).service("nova-compute")
    assert service is not None
    [member] = [m for m in service.members if m.host == COMPUTE_HOST]
    assert member.status is Status.CRITICAL
    assert seen < 30, seen
