"""Real faults made on the real services, and what stackwatch says about each.

In file order (each fault is mended before the next one, so a failure leaves the
cloud usable for what follows):

1. a nova-compute service disabled with a reason;
2. a server that goes to ERROR through NoValidHost (it lands in cell0), its fault
   and its failed ``create`` action;
3. a wrong-password storm from one source address (127.0.0.2); the fake L3 agent
   killed with its router on it (dead 30 s after its last report, neutron's
   ``agent_down_time`` in up.sh);
4. a nova-compute process stopped: its service goes down after nova's
   ``service_down_time`` (60 s, nova's default; up.sh does not change it);
5. an API process stopped (neutron-server): the endpoint check fails, and nova-api,
   which needs neutron to list servers, answers 500s that the logs count.

Processes are stopped by their pid file's process group (as down.sh does) and
started again with their own command line through lib.sh's ``start_bg``, or
(neutron-server) as its ``up.sh`` stage starts it (lib.sh's ``gunicorn_up``).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from realcloud.cloud import RealCloud, wait_for
from realcloud.expected import key, sample_map
from realcloud.resources import L3_AGENT_HOST, L3_AGENT_PROCESS, Resources
from realcloud.truth import Truth
from stackwatch.cli import main as stackwatch_cli
from stackwatch.config import parse_config
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.runner import collect_once
from stackwatch.sources.base import Source
from stackwatch.sources.registry import build_sources

DISABLED_HOST = "fake-compute-1"
STOPPED_HOST, STOPPED_PROCESS = "fake-compute-2", "nova-compute-2"
REASON = "realcloud test: maintenance"
STORM_ADDRESS, STORM_SIZE = "127.0.0.2", 25
SERVICE_DOWN_TIME_S = 60  # nova's default; up.sh sets no service_down_time
NOVA_REPORT_INTERVAL_S = 10  # nova's default [DEFAULT]report_interval; up.sh sets none
CHAIN_500S = 3


class Watcher:
    """stackwatch pointed at the real cloud: fresh API/SQL sources per look, one set of
    log sources for the whole module (they keep their place in the files)."""

    def __init__(self, cloud: RealCloud, workdir: Path) -> None:
        self.cloud = cloud
        store = workdir / "stackwatch.sqlite"
        self.config_path = workdir / "stackwatch.yaml"
        self.config_path.write_text(json.dumps(cloud.stackwatch_config(logs=True, store=store)))
        self.config = parse_config(cloud.stackwatch_config(store=store))
        logs_config = parse_config(cloud.stackwatch_config(logs=True, databases=(), store=store))
        self.logs = [s for s in build_sources(logs_config) if s.name.startswith("logs.")]

    def look(self) -> dict[str, Collection]:
        """One run of every API and SQL source, then the cross-checks, as
        ``stackwatch collect --once`` does (a source that cannot look is UNKNOWN)."""
        sources: list[Source] = build_sources(self.config)
        try:
            return {run.source: run.collection for run in collect_once(sources, timeout=180)}
        finally:  # the SQL sources' pooled connections: not left to the garbage collector
            for source in sources:
                close = getattr(source, "close", None)
                if close is not None:
                    close()

    def read_logs(self) -> dict[str, Collection]:
        return {s.name: s.collect() for s in self.logs}


@pytest.fixture(scope="module")
def watcher(realcloud: RealCloud, resources: Resources,
            tmp_path_factory: pytest.TempPathFactory) -> Watcher:
    found = Watcher(realcloud, tmp_path_factory.mktemp("realcloud-faults"))
    found.read_logs()  # everything written so far; the tests look at what comes next
    return found


def _checks(collections: dict[str, Collection], name: str) -> list[CheckResult]:
    return [c for col in collections.values() for c in col.checks if c.name == name]


def _service_check(collections: dict[str, Collection], binary: str, host: str) -> CheckResult:
    found = [c for c in _checks(collections, "nova.service")
             if c.labels and dict(c.labels).get("host") == host
             and dict(c.labels).get("binary") == binary]
    assert len(found) == 1, _checks(collections, "nova.service")
    return found[0]


def _value(collection: Collection, name: str, **labels: str) -> float:
    found = [s.value for s in collection.samples if s.name == name
             and all(s.label(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def _counter(collections: dict[str, Collection], name: str, **labels: str) -> float:
    return sum(s.value for c in collections.values() for s in c.samples
               if s.name == name and all(s.label(k) == v for k, v in labels.items()))


def _logs_until(watcher: Watcher, name: str, wanted: float, timeout: float = 20.0,
                **labels: str) -> dict[str, Collection]:
    """Read the logs until a counter reaches ``wanted`` (gunicorn writes an access line
    just after it has sent the answer, so the last one may not be there yet)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = watcher.read_logs()
        if _counter(seen, name, **labels) >= wanted or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def _compute_state(truth: Truth, host: str) -> dict[str, object]:
    rows = [s for s in truth.cli("compute", "service", "list", "--long")
            if s["Host"] == host and s["Binary"] == "nova-compute"]
    assert len(rows) == 1, rows
    return dict(rows[0])


# ------------------------------------------------------------------ 1. disabled service

@pytest.fixture
def disabled_service(truth: Truth) -> Iterator[None]:
    truth.run("compute", "service", "set", "--disable", "--disable-reason", REASON,
              DISABLED_HOST, "nova-compute")
    try:
        yield
    finally:
        truth.run("compute", "service", "set", "--enable", DISABLED_HOST, "nova-compute")


def test_disabled_service_with_its_reason(watcher: Watcher, truth: Truth,
                                          disabled_service: None) -> None:
    cli = _compute_state(truth, DISABLED_HOST)
    assert (cli["Status"], cli["Disabled Reason"]) == ("disabled", REASON)
    seen = watcher.look()
    compute = seen["api.compute"]
    states = sample_map(compute.samples, {"openstack_nova_agent_state"})
    assert states[key("openstack_nova_agent_state", id=cli["ID"], hostname=DISABLED_HOST,
                      service="nova-compute", adminState="disabled", zone=cli["Zone"],
                      disabledReason=REASON)] == 1.0
    check = _service_check(seen, "nova-compute", DISABLED_HOST)
    assert check.status is Status.WARNING and REASON in check.message, check
    assert _value(seen["sql.nova"], "openstack_nova_db_services_disabled",
                  binary="nova-compute") == 1


# ------------------------------------------------------------------ 2. NoValidHost

@pytest.fixture
def failed_server(realcloud: RealCloud, truth: Truth) -> Iterator[dict[str, object]]:
    """A server whose flavor wants more disk (700,000 GB) than any host has (600,000)."""
    truth.run("flavor", "create", "--vcpus", "1", "--ram", "64", "--disk", "700000", "rc.huge")
    try:
        server = truth.cli("server", "create", "--flavor", "rc.huge", "--image", "fake-cirros",
                           "--nic", "none", "rc-vm-novalidhost")
        wait_for("rc-vm-novalidhost in ERROR",
                 lambda: truth.cli("server", "show", server["id"])["status"] == "ERROR", 180,
                 every=3)
        yield server
    finally:
        truth.run("server", "delete", "--wait", "rc-vm-novalidhost")
        truth.run("flavor", "delete", "rc.huge")


def test_server_in_error_through_novalidhost(watcher: Watcher, truth: Truth,
                                             failed_server: dict[str, object]) -> None:
    server_id = str(failed_server["id"])
    shown = truth.cli("server", "show", server_id)
    assert shown["status"] == "ERROR"
    assert "No valid host was found" in shown["fault"]["message"]
    actions = truth.cli("server", "event", "list", server_id)
    assert [a["Action"] for a in actions] == ["create"]
    request_id = actions[0]["Request ID"]
    assert truth.sql("nova_cell0", "select vm_state from instances where uuid = :u",
                     u=server_id) == [{"vm_state": "error"}]
    servers = truth.cli("server", "list", "--all-projects")
    seen = watcher.look()
    errors = sum(s["Status"] == "ERROR" for s in servers)
    assert _value(seen["api.compute"], "openstack_nova_servers", status="ERROR") == errors
    assert _value(seen["sql.nova_cell0"], "openstack_nova_db_instances_error") == 1
    crosscheck = [c for c in _checks(seen, "crosscheck") if dict(c.labels)["what"] == "error_vms"]
    assert [c.status for c in crosscheck] == [Status.OK], crosscheck
    # The fault and the failed action, as an operator finds them: the request story of
    # the failed create (nova-conductor set the instance to ERROR with NoValidHost).
    watcher.read_logs()
    for wanted in (request_id, server_id):
        result = CliRunner().invoke(stackwatch_cli, ["trace", wanted, "--config",
                                                     str(watcher.config_path)])
        assert result.exit_code == 0, result.output
        story = [line for line in result.output.splitlines() if request_id in line]
        assert any("POST /v2.1/servers" in line for line in story), result.output
        assert any("NoValidHost" in line and "ERROR state" in line for line in story), \
            result.output


# ------------------------------------------------------------------ 3. wrong passwords

def _wrong_password(source: str) -> int:
    body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "not-the-password"}}}}})
    conn = http.client.HTTPConnection("127.0.0.1", 5000, timeout=60, source_address=(source, 0))
    try:
        conn.request("POST", "/v3/auth/tokens", body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_wrong_password_storm_is_counted_and_its_source_named(watcher: Watcher) -> None:
    before = watcher.read_logs()
    failures = _counter(before, "openstack_log_identity_auth_failures_total")
    statuses = [_wrong_password(STORM_ADDRESS) for _ in range(STORM_SIZE)]
    assert statuses == [401] * STORM_SIZE
    after = _logs_until(watcher, "openstack_log_identity_auth_failures_total",
                        failures + STORM_SIZE)
    assert _counter(after, "openstack_log_identity_auth_failures_total") - failures == STORM_SIZE
    check = _checks(after, "logs.auth_bruteforce")
    assert len(check) == 1, check
    assert check[0].status in (Status.WARNING, Status.CRITICAL), check[0]
    assert f"{STORM_ADDRESS} ({STORM_SIZE})" in check[0].message, check[0].message


# ------------------------------------------------------------------ 3b. L3 agent dead

@pytest.fixture
def dead_l3_agent(realcloud: RealCloud) -> Iterator[None]:
    argv = realcloud.command_line(L3_AGENT_PROCESS)
    realcloud.stop(L3_AGENT_PROCESS)
    try:
        yield
    finally:
        realcloud.start_bg(L3_AGENT_PROCESS, argv)


def test_dead_l3_agent_with_its_router(watcher: Watcher, truth: Truth,
                                       dead_l3_agent: None) -> None:
    """neutron says an agent is dead 30 s (agent_down_time) after its last report."""
    def agent() -> dict[str, object]:
        rows = [a for a in truth.cli("network", "agent", "list", "--host", L3_AGENT_HOST)]
        assert len(rows) == 1, rows
        return dict(rows[0])

    wait_for("the L3 agent dead in the CLI", lambda: agent()["Alive"] is False, 120, every=5)
    cli = agent()
    routers = truth.cli("router", "list", "--agent", str(cli["ID"]))
    seen = watcher.look()
    network = seen["api.network"]
    assert _value(network, "openstack_neutron_agent_state", hostname=L3_AGENT_HOST) == 0
    assert _value(network, "openstack_neutron_l3_agent_routers", l3_agent_id=str(cli["ID"]),
                  agent_alive="false") == len(routers) == 1
    checks = [c for c in network.checks if c.name == "neutron.agent"
              and dict(c.labels).get("host") == L3_AGENT_HOST]
    assert [c.status for c in checks] == [Status.CRITICAL], checks


# ------------------------------------------------------------------ 4. nova-compute stopped

@pytest.fixture
def stopped_compute(realcloud: RealCloud, truth: Truth) -> Iterator[float]:
    conf = (realcloud.root / "etc" / "nova" / "nova.conf").read_text()
    assert "service_down_time" not in conf, "up.sh now sets service_down_time: update the test"
    # Started again with its own command line through lib.sh's start_bg: re-running
    # `up.sh nova` also re-runs `cell_v2 list_cells | grep -q` under pipefail, which
    # fails now and then (grep exits early, SIGPIPE) and then tries to re-create cell1.
    argv = realcloud.command_line(STOPPED_PROCESS)
    realcloud.stop(STOPPED_PROCESS)
    stopped = time.monotonic()
    try:
        yield stopped
    finally:
        realcloud.start_bg(STOPPED_PROCESS, argv)
        wait_for("nova-compute back up",
                 lambda: _compute_state(truth, STOPPED_HOST)["State"] == "up", 180, every=3)


def test_stopped_nova_compute_goes_down(watcher: Watcher, truth: Truth,
                                        stopped_compute: float) -> None:
    assert _compute_state(truth, STOPPED_HOST)["State"] == "up"  # not yet: it was just stopped
    wait_for(f"{STOPPED_HOST} down in the CLI",
             lambda: _compute_state(truth, STOPPED_HOST)["State"] == "down", 240, every=5)
    # nova counts service_down_time from the last heartbeat, which came up to one report
    # interval before the stop, and stores it to the second (MariaDB DATETIME): the
    # earliest nova may say down is that much before SERVICE_DOWN_TIME_S after the stop.
    earliest = SERVICE_DOWN_TIME_S - NOVA_REPORT_INTERVAL_S - 1
    assert time.monotonic() - stopped_compute >= earliest - 1  # 1 s for the CLI's own clock
    seen = watcher.look()
    cli = _compute_state(truth, STOPPED_HOST)
    assert _value(seen["api.compute"], "openstack_nova_agent_state", hostname=STOPPED_HOST,
                  service="nova-compute") == 0
    check = _service_check(seen, "nova-compute", STOPPED_HOST)
    assert check.status is Status.CRITICAL and "down" in check.message, check
    assert cli["State"] == "down"
    assert _value(seen["sql.nova"], "openstack_nova_db_service_up", host=STOPPED_HOST,
                  binary="nova-compute") == 0
    assert _value(seen["sql.nova"], "openstack_nova_db_services_down", binary="nova-compute") == 1
    assert _value(seen["sql.nova"], "openstack_nova_db_compute_nodes_stale") == 1
    crosscheck = [c for c in _checks(seen, "crosscheck")
                  if dict(c.labels)["what"] == "nova_services_down"]
    assert [c.status for c in crosscheck] == [Status.OK], crosscheck


# ------------------------------------------------------------------ 5. API process stopped

def test_stopped_api_fails_its_endpoint_check_and_its_dependants_answer_5xx(
        realcloud: RealCloud, watcher: Watcher, stopped_neutron: None) -> None:
    before = watcher.read_logs()
    errors = _counter(before, "openstack_log_http_server_errors_total", service="nova")
    token = requests.post(f"{realcloud.auth_url}/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": realcloud.username, "password": realcloud.password,
            "domain": {"name": realcloud.domain}}}},
        "scope": {"project": {"name": realcloud.project_name,
                              "domain": {"name": realcloud.domain}}}}}).headers["X-Subject-Token"]
    for _ in range(CHAIN_500S):
        answer = requests.get("http://127.0.0.1:8774/v2.1/servers/detail", timeout=120,
                              headers={"X-Auth-Token": token})
        assert answer.status_code == 500, answer.text[:300]
    after = _logs_until(watcher, "openstack_log_http_server_errors_total",
                        errors + CHAIN_500S, service="nova")
    assert _counter(after, "openstack_log_http_server_errors_total",
                    service="nova") - errors == CHAIN_500S
    seen = watcher.look()
    network = seen["api.network"]
    assert _value(network, "openstack_neutron_up") == 0
    endpoint = [c for c in network.checks if c.name == "api.endpoint"]
    assert [c.status for c in endpoint] == [Status.CRITICAL], endpoint
    # nova's own listing of servers fails the same way: stackwatch says it could not look
    compute = seen["api.compute"]
    unknown = [c for c in compute.checks if c.status is Status.UNKNOWN]
    assert any("servers" in c.message for c in unknown), compute.checks
