"""Real heat and swift beside the real control plane, watched by stackwatch (issue 16).

``extra/heat_swift.sh`` (the project's own script) installs openstack-heat 26.x and
swift 2.37.x (series 2026.1, the realcloud's upper-constraints) into the realcloud venv,
brings up a one-node swift (rings, account/container/object servers with recon, a proxy
with keystoneauth) and heat (heat-api under gunicorn, heat-engine, database ``heat``),
registers both in keystone, and makes two containers with three objects and three stacks
(CREATE_COMPLETE and CREATE_FAILED in project admin, CREATE_COMPLETE in project demo).
Idempotent: a second run skips what is there.

Then stackwatch's ``api.orchestration`` and ``api.object_store`` sources, found through
the catalog as on any cloud, must equal the stock CLI (``openstack stack list``,
``openstack container list --long``, ``openstack object store account show``), and
their services must be healthy: endpoints, processes and ports. The script's heat policy
lets admin list every project's stacks (``global_tenant``); with heat's own policy
(nobody may), stackwatch lists the stacks heat shows its token plainly, as ``openstack
stack list`` does (for an admin, heat scopes that listing to no project either).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from realcloud.cloud import RealCloud
from realcloud.expected import Key, key, sample_map
from realcloud.extras import bring_up, stock_policy
from realcloud.healthy import assert_services_healthy
from realcloud.truth import Truth
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import parse_config
from stackwatch.model import Collection, Status
from stackwatch.sources.registry import build_sources

BRING_UP_TIMEOUT_S = 900.0
SOURCES = {"api.orchestration": "heat", "api.object_store": "object_store"}
#: openstack-exporter's stack statuses in its order (a stack_status gauge is the position)
STACK_STATUSES = tuple(f"{action}_{state}" for action in (
    "INIT", "CREATE", "DELETE", "UPDATE", "ROLLBACK", "SUSPEND", "RESUME", "ADOPT",
    "SNAPSHOT", "CHECK") for state in ("IN_PROGRESS", "FAILED", "COMPLETE"))
#: what the script runs here, and the ports each listens on
PROCESSES = {"heat-api": (8004,), "heat-engine": (), "swift-proxy-server": (8080,),
             "swift-account-server": (6202,), "swift-container-server": (6201,),
             "swift-object-server": (6200,)}


@pytest.fixture(scope="module")
def heat_swift(realcloud: RealCloud) -> RealCloud:
    """The real cloud with heat and swift up and their resources made (once)."""
    return bring_up(realcloud, "heat_swift.sh", timeout=BRING_UP_TIMEOUT_S, timing="heat+swift")


@pytest.fixture(scope="module")
def collected(heat_swift: RealCloud) -> dict[str, Collection]:
    """One collection of heat's and swift's sources, built as ``stackwatch collect`` does."""
    config = parse_config(heat_swift.stackwatch_config(databases=()))
    sources = [s for s in build_sources(config) if s.name in SOURCES]
    assert sorted(s.name for s in sources) == sorted(SOURCES)
    return {s.name: s.collect() for s in sources}


@pytest.fixture(scope="module")
def answers(heat_swift: RealCloud, truth: Truth) -> dict[str, Any]:
    """The stock CLI's answers, in two CLI processes."""
    return truth.cli_many({
        "stacks": ("stack", "list", "--all-projects"),
        "containers": ("container", "list", "--long"),
        "account": ("object", "store", "account", "show"),
    })


def _diff(expected: dict[Key, float], got: dict[Key, float]) -> str:
    return "\n".join(sorted(
        [f"missing {k}: want {v}" for k, v in expected.items() if k not in got]
        + [f"extra   {k}: got {v}" for k, v in got.items() if k not in expected]
        + [f"wrong   {k}: want {expected[k]}, got {v}" for k, v in got.items()
           if k in expected and expected[k] != v]))


def test_both_sources_watch_their_real_service(collected: dict[str, Collection]) -> None:
    for name, codename in SOURCES.items():
        collection = collected[name]
        assert_declared(collection)
        bad = [c.message for c in collection.checks if c.status is not Status.OK]
        assert not bad, f"{name}: {bad}"
        assert [c.status for c in collection.checks if c.name == "api.endpoint"] == [Status.OK]
        assert sample_map(collection.samples, {f"openstack_{codename}_up"}) == {
            key(f"openstack_{codename}_up"): 1.0}
        assert sample_map(collection.samples, {"stackwatch_resource_up"}), name
        assert all(v == 1 for v in sample_map(collection.samples,
                                              {"stackwatch_resource_up"}).values())


def _stacks_equal(collection: Collection, stacks: list[dict[str, Any]]) -> None:
    """Every stack's status gauge and every status's count equal the CLI's rows."""
    statuses = Counter(s["Stack Status"] for s in stacks)
    expected = {key("openstack_heat_stack_status", id=s["ID"], name=s["Stack Name"],
                    project_id=s["Project"], status=s["Stack Status"]):
                float(STACK_STATUSES.index(s["Stack Status"])) for s in stacks}
    expected |= {key("openstack_heat_stack_status_counter", status=status):
                 float(statuses[status]) for status in STACK_STATUSES}
    got = sample_map(collection.samples,
                     {"openstack_heat_stack_status", "openstack_heat_stack_status_counter"})
    assert got == expected, _diff(expected, got)


def test_stacks_of_every_project_equal_cli(collected: dict[str, Collection],
                                           answers: dict[str, Any]) -> None:
    stacks = answers["stacks"]
    status = {s["Stack Name"]: s["Stack Status"] for s in stacks}
    assert {"hs-ok": "CREATE_COMPLETE", "hs-failed": "CREATE_FAILED",
            "hs-demo": "CREATE_COMPLETE"}.items() <= status.items(), stacks
    _stacks_equal(collected["api.orchestration"], stacks)


@pytest.fixture
def stock_heat_policy(heat_swift: RealCloud) -> Iterator[None]:
    """heat's own policy for the test (``stacks:global_index``: nobody), the script's after
    (heat-api re-reads the file when it changes)."""
    with stock_policy(heat_swift, "heat"):
        yield


def test_a_stock_heat_policy_counts_the_monitor_projects_stacks(
        heat_swift: RealCloud, truth: Truth, stock_heat_policy: None) -> None:
    config = parse_config(heat_swift.stackwatch_config(databases=()))
    [source] = [s for s in build_sources(config) if s.name == "api.orchestration"]
    collection = source.collect()
    assert not [c.message for c in collection.checks if c.status is not Status.OK]
    assert source.every_project is False
    stacks = truth.cli("stack", "list")
    assert {s["Stack Name"] for s in stacks} >= {"hs-ok", "hs-failed"}
    _stacks_equal(collection, stacks)


def test_swift_account_equals_cli(collected: dict[str, Collection],
                                  answers: dict[str, Any]) -> None:
    containers, account = answers["containers"], answers["account"]
    by_name = {c["Name"]: c for c in containers}
    assert by_name["hs-full"]["Count"] == 3 and by_name["hs-full"]["Bytes"] == 111
    assert by_name["hs-empty"]["Count"] == 0
    expected = {}
    for c in containers:
        expected[key("openstack_object_store_objects", container_name=c["Name"])] = \
            float(c["Count"])
        expected[key("openstack_object_store_bytes", container_name=c["Name"])] = \
            float(c["Bytes"])
    expected |= {key("openstack_swift_account_containers"): float(account["Containers"]),
                 key("openstack_swift_account_objects"): float(account["Objects"]),
                 key("openstack_swift_account_bytes"): float(account["Bytes"])}
    got = sample_map(collected["api.object_store"].samples, {name for name, _ in expected})
    assert got == expected, _diff(expected, got)


def test_services_are_healthy(collected: dict[str, Collection]) -> None:
    """Endpoints (the API sources) and processes with their ports (the node checks): each
    of heat's and swift's services is seen running, OK, and OK in health."""
    assert_services_healthy(PROCESSES, [c for col in collected.values() for c in col.checks],
                            roles=("controller", "storage"))
