"""Real octavia with its no-op drivers beside the real control plane, watched by
stackwatch (issue 16).

``extra/octavia.sh`` (the project's own script) installs octavia 18.x (series 2026.1, the
realcloud's upper-constraints) and python-octaviaclient into the realcloud venv, brings
up octavia-api (gunicorn, 9876) and octavia-worker with the no-op amphora, compute,
network, image and volume drivers on database ``octavia``, registers the
``load-balancer`` service in keystone, and makes ``lb-ok`` (ACTIVE, with a listener and a
pool) and ``lb-error`` (ERROR: its amphora's build failed, the worker's client CA file
being away). Idempotent: a second run skips what is there.

Then stackwatch's ``api.load_balancer``, found through the catalog as on any cloud, must
equal the stock CLI (``openstack loadbalancer list``, ``loadbalancer amphora list`` and
``show``, ``loadbalancer pool list`` and ``show``, ``loadbalancer listener list`` and
``show``), series by series with their labels,
and octavia-api and octavia-worker must be healthy: endpoint, processes and port.
"""

from __future__ import annotations

from typing import Any

import pytest

from realcloud.cloud import RealCloud
from realcloud.expected import Key, key, sample_map
from realcloud.extras import bring_up
from realcloud.healthy import assert_services_healthy
from realcloud.truth import Truth
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import parse_config
from stackwatch.model import Collection, Status
from stackwatch.sources.registry import build_sources

BRING_UP_TIMEOUT_S = 900.0
SOURCE = "api.load_balancer"
#: openstack-exporter's tables (exporters/loadbalancer.go): a status gauge's value is the
#: status's position, -1 for one the table does not know
OPERATING_STATUSES = ("ONLINE", "DRAINING", "OFFLINE", "ERROR", "NO_MONITOR")
AMPHORA_STATUSES = ("BOOTING", "ALLOCATED", "READY", "PENDING_CREATE", "PENDING_DELETE",
                    "DELETED", "ERROR")
POOL_STATUSES = ("ACTIVE", "DELETED", "ERROR", "PENDING_CREATE", "PENDING_UPDATE",
                 "PENDING_DELETE")
#: what the script runs here, and the ports each listens on
PROCESSES = {"octavia-api": (9876,), "octavia-worker": ()}


@pytest.fixture(scope="module")
def octavia(realcloud: RealCloud) -> RealCloud:
    """The real cloud with octavia up and its load balancers made (once)."""
    return bring_up(realcloud, "octavia.sh", timeout=BRING_UP_TIMEOUT_S, timing="octavia")


@pytest.fixture(scope="module")
def collected(octavia: RealCloud) -> Collection:
    """One collection of the load-balancer source, built as ``stackwatch collect`` does."""
    config = parse_config(octavia.stackwatch_config(databases=()))
    [source] = [s for s in build_sources(config) if s.name == SOURCE]
    return source.collect()


@pytest.fixture(scope="module")
def answers(octavia: RealCloud, truth: Truth) -> dict[str, Any]:
    """The stock CLI's listings, then each amphora, pool and listener shown (two CLI
    rounds)."""
    lists = truth.cli_many({
        "lbs": ("loadbalancer", "list"),
        "amphorae": ("loadbalancer", "amphora", "list"),
        "pools": ("loadbalancer", "pool", "list"),
        "listeners": ("loadbalancer", "listener", "list"),
    })
    shown = truth.cli_many(
        {f"amphora {a['id']}": ("loadbalancer", "amphora", "show", a["id"])
         for a in lists["amphorae"]}
        | {f"pool {p['id']}": ("loadbalancer", "pool", "show", p["id"])
           for p in lists["pools"]}
        | {f"listener {x['id']}": ("loadbalancer", "listener", "show", x["id"])
           for x in lists["listeners"]})
    return lists | shown


def _index(table: tuple[str, ...], status: str) -> float:
    return float(table.index(status)) if status in table else -1.0


def _diff(expected: dict[Key, float], got: dict[Key, float]) -> str:
    return "\n".join(sorted(
        [f"missing {k}: want {v}" for k, v in expected.items() if k not in got]
        + [f"extra   {k}: got {v}" for k, v in got.items() if k not in expected]
        + [f"wrong   {k}: want {expected[k]}, got {v}" for k, v in got.items()
           if k in expected and expected[k] != v]))


def _assert_series(collection: Collection, expected: dict[Key, float]) -> None:
    got = sample_map(collection.samples, {name for name, _ in expected})
    assert got == expected, _diff(expected, got)


def test_the_source_watches_real_octavia(collected: Collection) -> None:
    assert_declared(collected)
    assert not [c.message for c in collected.checks if c.status is not Status.OK]
    assert [c.status for c in collected.checks if c.name == "api.endpoint"] == [Status.OK]
    assert sample_map(collected.samples, {"openstack_loadbalancer_up"}) == {
        key("openstack_loadbalancer_up"): 1.0}
    resources = sample_map(collected.samples, {"stackwatch_resource_up"})
    assert len(resources) == 4 and set(resources.values()) == {1.0}, resources


def test_load_balancers_equal_cli(collected: Collection, answers: dict[str, Any]) -> None:
    lbs = answers["lbs"]
    status = {lb["name"]: lb["provisioning_status"] for lb in lbs}
    assert {"lb-ok": "ACTIVE", "lb-error": "ERROR"}.items() <= status.items(), lbs
    expected = {key("openstack_loadbalancer_total_loadbalancers"): float(len(lbs))}
    for lb in lbs:
        labels = {k: lb[k] for k in ("id", "name", "project_id", "operating_status",
                                     "provisioning_status", "provider", "vip_address")}
        expected[key("openstack_loadbalancer_loadbalancer_status", **labels)] = \
            _index(OPERATING_STATUSES, lb["operating_status"])
    _assert_series(collected, expected)


def _rfc3339(value: str | None) -> str:
    """The CLI's ``2027-12-05T12:40:00`` (UTC) as openstack-exporter writes it."""
    if not value:
        return "0001-01-01T00:00:00Z"
    return value.replace(" ", "T")[:19] + "Z"


def test_amphorae_equal_cli(collected: Collection, answers: dict[str, Any]) -> None:
    listed = answers["amphorae"]
    by_lb = {lb["id"]: lb["name"] for lb in answers["lbs"]}
    assert [(by_lb.get(a["loadbalancer_id"]), a["status"]) for a in listed
            if by_lb.get(a["loadbalancer_id"]) == "lb-ok"] == [("lb-ok", "ALLOCATED")], listed
    expected = {key("openstack_loadbalancer_total_amphorae"): float(len(listed))}
    for row in listed:
        a = answers[f"amphora {row['id']}"]
        expected[key("openstack_loadbalancer_amphora_status", id=a["id"],
                      loadbalancer_id=a["loadbalancer_id"], compute_id=a["compute_id"],
                      status=a["status"], role=a["role"], lb_network_ip=a["lb_network_ip"],
                      ha_ip=a["ha_ip"], cert_expiration=_rfc3339(a["cert_expiration"]))] = \
            _index(AMPHORA_STATUSES, a["status"])
    _assert_series(collected, expected)


def test_pools_equal_cli(collected: Collection, answers: dict[str, Any]) -> None:
    listed = answers["pools"]
    assert [(p["name"], p["provisioning_status"]) for p in listed] == [("pool-http", "ACTIVE")]
    expected = {key("openstack_loadbalancer_total_pools"): float(len(listed))}
    for row in listed:
        p = answers[f"pool {row['id']}"]
        expected[key("openstack_loadbalancer_pool_status", id=p["id"], name=p["name"],
                      project_id=p["project_id"], protocol=p["protocol"],
                      lb_algorithm=p["lb_algorithm"], operating_status=p["operating_status"],
                      provisioning_status=p["provisioning_status"],
                      loadbalancers=_ids(p["loadbalancers"]))] = \
            _index(POOL_STATUSES, p["provisioning_status"])
    _assert_series(collected, expected)


def _ids(refs: Any) -> str:
    """The CLI's load balancers of a pool or listener (a list of ``{"id": ...}``)."""
    return ",".join(ref["id"] for ref in refs)


def test_listeners_equal_cli(collected: Collection, answers: dict[str, Any]) -> None:
    listed = answers["listeners"]
    assert [x["name"] for x in listed] == ["ls-http"], listed
    expected = {key("openstack_loadbalancer_total_listeners"): float(len(listed))}
    statuses: dict[str, float] = dict.fromkeys(OPERATING_STATUSES, 0.0)
    for row in listed:
        x = answers[f"listener {row['id']}"]
        expected[key("openstack_loadbalancer_listener_status", id=x["id"], name=x["name"],
                      project_id=x["project_id"], protocol=x["protocol"],
                      protocol_port=str(x["protocol_port"]),
                      provisioning_status=x["provisioning_status"],
                      operating_status=x["operating_status"],
                      loadbalancers=_ids(x["loadbalancers"]))] = \
            _index(OPERATING_STATUSES, x["operating_status"])
        statuses[x["operating_status"]] = statuses.get(x["operating_status"], 0.0) + 1
    expected |= {key("openstack_loadbalancer_listener_status_counter", status=status): n
                 for status, n in statuses.items()}
    _assert_series(collected, expected)


def test_services_are_healthy(collected: Collection) -> None:
    """The endpoint (the API source) and the processes with their ports (the node
    checks): octavia-api and octavia-worker are seen running, OK, and OK in health."""
    assert_services_healthy(PROCESSES, collected.checks)
