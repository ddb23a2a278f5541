"""Real ironic (fake hardware) beside the real control plane, watched by stackwatch
(issue 16).

``extra/ironic.sh`` (the project's own script) installs ironic 35.x (series 2026.1, the
realcloud's upper-constraints) into the realcloud venv, brings up ironic-conductor
(``fake-hardware`` and fake interfaces only, JSON-RPC from the API) and ironic-api under gunicorn
on database ``ironic``, registers it in keystone, and enrolls five nodes driven to
enroll, manageable, available, available in maintenance and active (deployed through
the fake deploy interface). Idempotent: a second run skips what is there.

Then stackwatch's ``api.baremetal`` source, found through the catalog as on any cloud,
must equal the stock CLI (``openstack baremetal node list --long``) node by node, and
ironic's services must be healthy: endpoint, processes and port. The script's policy
lets admin list every node (``baremetal:node:list_all``); with ironic's own (only
system-scoped readers may), a project admin sees the nodes its project owns, and
stackwatch the same ones as the CLI.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
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

BRING_UP_TIMEOUT_S = 600.0
SOURCE = "api.baremetal"
NODE = "openstack_ironic_node"
#: what the script runs here, and the ports each listens on
PROCESSES = {"ironic-api": (6385,), "ironic-conductor": ()}
#: the nodes ironic_setup.py makes: provision state, power state, maintenance
STATES = {"rc-bm-enroll": ("enroll", None, False),
          "rc-bm-manageable": ("manageable", "power off", False),
          "rc-bm-available": ("available", "power off", False),
          "rc-bm-maint": ("available", "power off", True),
          "rc-bm-active": ("active", "power on", False)}
#: labels of ``openstack_ironic_node`` holding a node field of the same name; the CLI's
#: JSON (``-f json``) is keyed by field names too
FIELDS = ("name", "provision_state", "power_state", "maintenance", "maintenance_reason",
          "resource_class", "instance_uuid", "conductor_group", "lessee", "last_error",
          "retired", "retired_reason", "console_enabled", "traits")


@pytest.fixture(scope="module")
def ironic(realcloud: RealCloud) -> RealCloud:
    """The real cloud with ironic up and its nodes made (once)."""
    return bring_up(realcloud, "ironic.sh", timeout=BRING_UP_TIMEOUT_S, timing="ironic")


def _collect(cloud: RealCloud) -> Collection:
    """One collection of ``api.baremetal``, built as ``stackwatch collect`` does."""
    config = parse_config(cloud.stackwatch_config(databases=()))
    [source] = [s for s in build_sources(config) if s.name == SOURCE]
    return source.collect()


@pytest.fixture(scope="module")
def collected(ironic: RealCloud) -> Collection:
    return _collect(ironic)


def _cli_nodes(truth: Truth) -> list[dict[str, Any]]:
    nodes = truth.cli("baremetal", "node", "list", "--long")
    assert isinstance(nodes, list), nodes
    return nodes


def _text(value: object) -> str:
    """A CLI JSON value as stackwatch's label (openstack-exporter's: "" for null, a
    list space-separated)."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _nodes_equal(collection: Collection, nodes: list[dict[str, Any]]) -> None:
    """One ``openstack_ironic_node`` per CLI row, its labels the row's fields."""
    got: dict[str, dict[str, str]] = {}
    for sample in collection.samples:
        if sample.name == NODE:
            assert sample.value == 1, sample
            labels = dict(sample.labels)
            assert labels["id"] not in got, f"node {labels['id']} twice"
            got[labels["id"]] = {field: labels[field] for field in FIELDS}
    want = {n["uuid"]: {field: _text(n[field]) for field in FIELDS} for n in nodes}
    assert got == want
    assert Counter(s["provision_state"] for s in got.values()) == Counter(
        n["provision_state"] for n in nodes)


def test_the_source_watches_real_ironic(collected: Collection) -> None:
    assert_declared(collected)
    assert not [c.message for c in collected.checks if c.status is not Status.OK]
    assert [c.status for c in collected.checks if c.name == "api.endpoint"] == [Status.OK]
    assert sample_map(collected.samples, {"openstack_ironic_up"}) == {
        key("openstack_ironic_up"): 1.0}


def test_every_node_equals_cli(collected: Collection, truth: Truth) -> None:
    nodes = _cli_nodes(truth)
    states = {n["name"]: (n["provision_state"], n["power_state"], n["maintenance"])
              for n in nodes}
    assert STATES.items() <= states.items(), states
    assert [sorted(n["traits"]) for n in nodes if n["name"] == "rc-bm-active"] == [
        ["CUSTOM_RC_GPU", "HW_CPU_X86_VMX"]]
    _nodes_equal(collected, nodes)
    # the two timestamps of every node, as epoch seconds
    stamps: dict[Key, float] = {}
    for n in nodes:
        for field in ("updated_at", "provision_updated_at"):
            if n[field]:
                stamps[key(f"openstack_ironic_node_{field}", id=n["uuid"], name=n["name"],
                           provision_state=n["provision_state"])] = float(int(
                               _epoch(n[field])))
    got = sample_map(collected.samples, {"openstack_ironic_node_updated_at",
                                         "openstack_ironic_node_provision_updated_at"})
    assert stamps and got == stamps


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def stock_ironic_policy(ironic: RealCloud) -> Iterator[None]:
    """ironic's own policy for the test (``baremetal:node:list_all``: system-scoped
    readers), the script's after (ironic-api re-reads the file when it changes)."""
    with stock_policy(ironic, "ironic"):
        yield


def test_a_stock_ironic_policy_shows_the_monitor_projects_nodes(
        ironic: RealCloud, truth: Truth, stock_ironic_policy: None) -> None:
    collection = _collect(ironic)
    assert not [c.message for c in collection.checks if c.status is not Status.OK]
    nodes = _cli_nodes(truth)
    assert [n["name"] for n in nodes] == ["rc-bm-active"], nodes  # owned by project admin
    _nodes_equal(collection, nodes)


def test_services_are_healthy(collected: Collection) -> None:
    """The endpoint (the API source) and the processes with their port (the node checks):
    ironic-api and ironic-conductor are seen running, OK, and OK in health."""
    assert_services_healthy(PROCESSES, collected.checks)
