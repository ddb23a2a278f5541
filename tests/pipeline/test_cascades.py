"""The simulator's cascades, collected and explained (issue 12, "Done when" line 2).

Each of the conductor, keystone, database and neutron-server faults, injected into the
simulated cloud and collected by every source, shows its cause first in the health
problems and the rest as its consequences (``health/cause.py`` through
``query/health.problems``). The faults are injected as having happened 90 s ago, past
nova's ``service_down_time`` (60 s), so that nova's own verdict is in. The node checks
are left out: they look at the whole machine, where other simulators' processes run.

Heartbeat late: a conductor silent for 35 s is late (twice its 10 s report interval)
while nova still calls it up; agents silent for 65 s are late while neutron still calls
them alive (``agent_down_time`` 75 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import load_config
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Status
from stackwatch.query.health import Problem, problems
from stackwatch.query.models import HealthView
from stackwatch.runner import collect_once
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.integration

CATALOG = default_catalog()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("cascades"), size="small", seed=3,
                        life=True, churn_rate=0.0) as sim:
        yield sim


@pytest.fixture(scope="module")
def config(cloud: SimulatedCloud) -> Path:
    data = yaml.safe_load(cloud.config_path.read_text())
    data.pop("node", None)
    path = cloud.config_path.with_name("stackwatch-cascades.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def look(config: Path) -> tuple[list[Problem], list[CheckResult]]:
    runs = collect_once(build_sources(load_config(config)), timeout=60)
    checks = [c for run in runs for c in run.collection.checks]
    return problems(HealthView.of(evaluate(CATALOG, checks)), CATALOG), checks


def known(found: list[Problem]) -> list[Problem]:
    """The problems about a service (cross-checks that could not compare left out)."""
    return [p for p in found if not p.what.startswith("crosscheck")]


def test_healthy_cloud_has_no_problem(config: Path) -> None:
    found, _ = look(config)
    assert [p for p in found if p.status != "UNKNOWN"] == []


#: fault -> (its root problem, problems that must be its consequences)
CASES = {
    "conductor-down": ("service:nova-conductor", ["service:nova-compute"]),
    "keystone-down": ("service:keystone", ["service:nova-api", "service:neutron-server",
                                           "service:glance-api", "service:cinder-api"]),
    "database-down": ("service:mysql", ["service:keystone", "service:nova-conductor",
                                        "service:nova-compute", "service:neutron-l3-agent",
                                        "service:cinder-volume"]),
    "neutron-server-down": ("service:neutron-server", ["blind:api.compute servers",
                                                       "service:neutron-l3-agent",
                                                       "service:neutron-dhcp-agent"]),
}


@pytest.mark.parametrize("fault", list(CASES))
def test_the_cause_comes_first_and_the_rest_follow_from_it(
        cloud: SimulatedCloud, config: Path, fault: str) -> None:
    root, consequences = CASES[fault]
    cloud.inject(fault, seconds="90")
    try:
        cloud.flush()
        found, _ = look(config)
    finally:
        cloud.clear(fault)
    listed = [(p.key, p.status, p.cause) for p in known(found)]
    assert listed[0][0] == root and listed[0][2] is None, listed
    causes = {p.key: p.cause for p in found}
    for key in consequences:
        assert causes.get(key, "missing") == root, (key, listed)
    # nothing about a service is left unexplained: one root
    assert [k for k, _, cause in listed if cause is None] == [root], listed
    # each consequence is listed after its cause and says why
    for p in found:
        if p.cause is not None:
            assert p.because.startswith("because of "), p


def test_the_fault_clears(cloud: SimulatedCloud, config: Path) -> None:
    cloud.inject("database-down", seconds="90")
    cloud.clear("database-down")
    cloud.flush()
    found, _ = look(config)
    assert [p for p in found if p.status != "UNKNOWN"] == []


def statuses(checks: list[CheckResult], name: str, binary: str) -> set[Status]:
    return {c.status for c in checks if c.name == name and dict(c.labels).get("binary") == binary}


def test_a_silent_conductor_is_late_before_nova_says_down(
        cloud: SimulatedCloud, config: Path) -> None:
    cloud.inject("conductor-down", seconds="35")
    try:
        cloud.flush()
        found, checks = look(config)
    finally:
        cloud.clear("conductor-down")
    assert statuses(checks, "nova.service", "nova-conductor") == {Status.OK}
    assert statuses(checks, "nova.heartbeat", "nova-conductor") == {Status.WARNING}
    assert statuses(checks, "nova.heartbeat", "nova-compute") == {Status.WARNING}
    late = next(c for c in checks if c.name == "nova.heartbeat"
                and dict(c.labels).get("binary") == "nova-conductor")
    assert "heartbeat late: last seen 3" in late.message
    assert "report interval 10 s" in late.message
    # the database's view says the same, on the database's clock
    assert statuses(checks, "nova.db_heartbeat", "nova-conductor") == {Status.WARNING}
    causes = {p.key: p.cause for p in known(found)}
    assert causes == {"service:nova-conductor": None,
                      "service:nova-compute": "service:nova-conductor"}


def test_agents_silent_past_twice_their_interval_are_late_while_alive(
        cloud: SimulatedCloud, config: Path) -> None:
    cloud.inject("neutron-server-down", seconds="65")
    try:
        cloud.flush()
        _, checks = look(config)
    finally:
        cloud.clear("neutron-server-down")
    # the API cannot be read; the database's view counts: late, not dead yet
    assert statuses(checks, "neutron.db_agent", "neutron-l3-agent") == {Status.OK}
    assert statuses(checks, "neutron.db_heartbeat", "neutron-l3-agent") == {Status.WARNING}


def test_heartbeat_ages_are_exported(cloud: SimulatedCloud, config: Path) -> None:
    runs = collect_once(build_sources(load_config(config)), timeout=60)
    ages = {s.name: s.value for run in runs for s in run.collection.samples
            if s.name.endswith("heartbeat_age_seconds")}
    assert set(ages) == {"openstack_nova_service_heartbeat_age_seconds",
                         "openstack_neutron_agent_heartbeat_age_seconds",
                         "openstack_nova_db_service_heartbeat_age_seconds",
                         "openstack_neutron_db_agent_heartbeat_age_seconds"}
    # the simulated services report every 10 s, agents every 30 s
    assert all(0 <= age <= 31 for age in ages.values()), ages
