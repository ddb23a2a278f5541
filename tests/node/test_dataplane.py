"""``node.dataplane`` with real network namespaces, real dnsmasq and the simulator's neutron.

The tests run as root: they make ``qrouter-``/``qdhcp-`` namespaces with ``ip netns add``
and start dnsmasq inside the ``qdhcp-`` ones with state paths shaped as neutron's Dnsmasq
driver gives them, and delete both after. What neutron places on a node is the
simulator's (``/v2.0/agents?host=``, ``/l3-routers``, ``/dhcp-networks``); the expected
sets are read from its state, not from the answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import parse_config
from stackwatch.errors import ConfigError
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.state import CloudState
from stackwatch.sources.node import DataplaneSource, node_sources
from stackwatch.sources.node.dataplane import (
    Hosted,
    Running,
    dnsmasq_network,
    judge,
    parse_netns,
)
from stackwatch.sources.node.table import ProcessInfo
from stackwatch.sources.openstack_api import ApiClient

NEEDS = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip")
                           or not shutil.which("dnsmasq"),
                           reason="needs root, iproute2 and dnsmasq (scripts/test installs them)")


# ------------------------------------------------------------------ pure parsers
@pytest.mark.unit
def test_parse_netns_takes_the_name_before_the_id() -> None:
    text = "qrouter-1f2e (id: 3)\nqdhcp-77ab\n\nfip-9c (id: 0)\n"
    assert parse_netns(text) == {"qrouter-1f2e", "qdhcp-77ab", "fip-9c"}


@pytest.mark.unit
def test_dnsmasq_network_reads_neutrons_state_path() -> None:
    net = str(uuid.uuid4())
    state = f"/var/lib/neutron/dhcp/{net}"
    neutron = ProcessInfo(1, 0, "dnsmasq", ("dnsmasq", "--no-hosts", "--bind-interfaces",
                                            "--interface=tap0", f"--pid-file={state}/pid",
                                            f"--dhcp-hostsfile={state}/host", "--conf-file="))
    libvirt = ProcessInfo(2, 0, "dnsmasq", ("/usr/sbin/dnsmasq",
                                            "--conf-file=/var/lib/libvirt/dnsmasq/default.conf"))
    other = ProcessInfo(3, 0, "vim", ("vim", f"{state}/host"))
    assert dnsmasq_network(neutron) == net
    assert dnsmasq_network(libvirt) is None          # libvirt's own: not neutron's
    assert dnsmasq_network(other) is None


# ------------------------------------------------------------------ the real thing
@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small",
                        life=False) as sim:
        yield sim


def _hosted(state: CloudState, agent_type: str) -> tuple[str, set[str]]:
    """A host with an agent of that type hosting something, and what it hosts."""
    for agent in state.agents.by("agent_type", agent_type):
        if agent_type == "L3 agent":
            found = {b.router_id for b in state.router_bindings.by("l3_agent_id", agent.id)}
        else:
            found = {p.network_id for p in state.ports.by("binding_host_id", agent.host)
                     if p.device_owner == "network:dhcp"}
        if found:
            return agent.host, found
    raise AssertionError(f"the simulator has no {agent_type} hosting anything")


class DataPlane:
    """Namespaces and dnsmasq processes made by a test, removed after it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.namespaces: list[str] = []
        self.dnsmasq: dict[str, subprocess.Popen[bytes]] = {}

    def add_namespace(self, name: str) -> None:
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.namespaces.append(name)
        # as neutron's agents do: the namespace's loopback up (dnsmasq binds to it here)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)

    def delete_namespace(self, name: str) -> None:
        subprocess.run(["ip", "netns", "delete", name], check=True)
        self.namespaces.remove(name)

    def start_dnsmasq(self, network: str) -> int:
        """dnsmasq in ``qdhcp-<network>``, its state under ``<root>/dhcp/<network>/``."""
        state = self.root / "dhcp" / network
        state.mkdir(parents=True, exist_ok=True)
        (state / "host").write_text("")
        (state / "pid").unlink(missing_ok=True)   # a killed one's
        proc = subprocess.Popen(
            ["ip", "netns", "exec", f"qdhcp-{network}", "dnsmasq", "--keep-in-foreground",
             "--no-hosts", "--no-resolv", "--port=0", "--interface=lo", "--bind-interfaces",
             "--user=root", f"--pid-file={state}/pid", f"--dhcp-hostsfile={state}/host",
             "--conf-file="], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.dnsmasq[network] = proc
        deadline = time.monotonic() + 10
        while not (state / "pid").exists():   # up: it wrote its pid file
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, "dnsmasq did not start"
            time.sleep(0.02)
        return proc.pid

    def kill_dnsmasq(self, network: str) -> None:
        proc = self.dnsmasq.pop(network)
        proc.kill()
        proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()

    def close(self) -> None:
        for network in list(self.dnsmasq):
            self.kill_dnsmasq(network)
        for name in list(self.namespaces):
            self.delete_namespace(name)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    made = DataPlane(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _client(cloud: SimulatedCloud) -> ApiClient:
    return ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=10)


def _check(out: Collection, name: str) -> CheckResult:
    found = [c for c in out.checks if c.name == name]
    assert len(found) == 1, [c.name for c in out.checks]
    return found[0]


def _value(out: Collection, name: str, **labels: str) -> float:
    found = [s.value for s in out.samples if s.name == name
             and all(dict(s.labels).get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels)
    return found[0]


@pytest.mark.integration
@NEEDS
def test_routers_consistent_then_missing_then_left_over(cloud: SimulatedCloud,
                                                        plane: DataPlane) -> None:
    host, routers = cloud.call(_hosted, cloud.state, "L3 agent")
    for router in sorted(routers):
        plane.add_namespace(f"qrouter-{router}")
    source = DataplaneSource(host, _client(cloud))

    out = source.collect()
    assert_declared(out)
    assert_covered(out, "node.dataplane")
    routers_check = _check(out, "node.dataplane.routers")
    assert routers_check.status is Status.OK, routers_check.message
    assert dict(routers_check.labels) == {"service": "neutron-l3-agent", "host": host}
    assert _value(out, "stackwatch_dataplane_expected", kind="router") == len(routers)
    assert _value(out, "stackwatch_dataplane_missing", kind="router") == 0
    # the same from the directory iproute2 keeps them in (an agent in a container)
    from_dir = DataplaneSource(host, _client(cloud), netns_root=Path("/run/netns")).collect()
    assert _check(from_dir, "node.dataplane.routers").status is Status.OK

    gone = sorted(routers)[0]
    plane.delete_namespace(f"qrouter-{gone}")
    out = source.collect()
    routers_check = _check(out, "node.dataplane.routers")
    assert routers_check.status is Status.CRITICAL
    assert gone in routers_check.message and "no namespace" in routers_check.message
    assert _value(out, "stackwatch_dataplane_missing", kind="router") == 1

    plane.add_namespace(f"qrouter-{gone}")
    stray = str(uuid.uuid4())
    plane.add_namespace(f"qrouter-{stray}")
    out = source.collect()
    routers_check = _check(out, "node.dataplane.routers")
    assert routers_check.status is Status.WARNING
    assert f"qrouter-{stray}" in routers_check.message and "left over" in routers_check.message
    assert _value(out, "stackwatch_dataplane_leftover", kind="router") == 1


@pytest.mark.integration
@NEEDS
def test_dhcp_namespaces_and_dnsmasq_against_neutron(cloud: SimulatedCloud,
                                                     plane: DataPlane) -> None:
    host, networks = cloud.call(_hosted, cloud.state, "DHCP agent")
    for network in sorted(networks):
        plane.add_namespace(f"qdhcp-{network}")
        plane.start_dnsmasq(network)
    source = DataplaneSource(host, _client(cloud))

    out = source.collect()
    assert_declared(out)
    dhcp = _check(out, "node.dataplane.dhcp")
    assert dhcp.status is Status.OK, dhcp.message
    assert dict(dhcp.labels) == {"service": "neutron-dhcp-agent", "host": host}
    assert _value(out, "stackwatch_dataplane_expected", kind="network") == len(networks)
    assert _value(out, "stackwatch_dataplane_dnsmasq") >= len(networks)

    victim = sorted(networks)[0]
    plane.kill_dnsmasq(victim)
    out = source.collect()
    dhcp = _check(out, "node.dataplane.dhcp")
    assert dhcp.status is Status.CRITICAL
    assert f"no dnsmasq: {victim}" in dhcp.message and "no namespace" not in dhcp.message

    # a network neutron does not place here: namespace and dnsmasq left over
    plane.start_dnsmasq(victim)
    stray = str(uuid.uuid4())
    plane.add_namespace(f"qdhcp-{stray}")
    pid = plane.start_dnsmasq(stray)
    out = source.collect()
    dhcp = _check(out, "node.dataplane.dhcp")
    assert dhcp.status is Status.WARNING, dhcp.message
    assert f"qdhcp-{stray}" in dhcp.message and f"pid {pid} (network {stray})" in dhcp.message
    assert psutil.pid_exists(pid)

    plane.delete_namespace(f"qdhcp-{victim}")
    dhcp = _check(source.collect(), "node.dataplane.dhcp")
    assert dhcp.status is Status.CRITICAL and f"no namespace: {victim}" in dhcp.message


@pytest.mark.integration
@NEEDS
def test_ip_missing_or_hanging_is_unknown_with_the_reason(cloud: SimulatedCloud,
                                                          tmp_path: Path) -> None:
    host, _ = cloud.call(_hosted, cloud.state, "L3 agent")
    missing = DataplaneSource(host, _client(cloud), ip_command=[str(tmp_path / "no-ip")])
    out = missing.collect()
    assert {c.status for c in out.checks} == {Status.UNKNOWN}
    assert {dict(c.labels)["service"] for c in out.checks} == {"neutron-l3-agent",
                                                                "neutron-dhcp-agent"}
    assert all("not found" in c.message for c in out.checks), out.checks

    hanging = tmp_path / "ip"
    hanging.write_text("#!/bin/sh\nsleep 60\n")
    hanging.chmod(0o755)
    started = time.monotonic()
    out = DataplaneSource(host, _client(cloud), ip_command=[str(hanging)],
                          timeout=0.5).collect()
    assert time.monotonic() - started < 10
    assert {c.status for c in out.checks} == {Status.UNKNOWN}
    assert all("no answer within 0.5s" in c.message for c in out.checks), out.checks


@pytest.mark.integration
@NEEDS
def test_neutron_not_answering_is_unknown(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  gone:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "      username: u\n      password: s3cret-dp\n      project_name: p\n"
                      "      user_domain_name: Default\n      project_domain_name: Default\n")
    out = DataplaneSource("net1", ApiClient("gone", clouds_yaml=clouds, timeout=2)).collect()
    assert {c.status for c in out.checks} == {Status.UNKNOWN}
    assert all("neutron" in c.message for c in out.checks), out.checks
    assert not any("s3cret-dp" in c.message for c in out.checks)


@pytest.mark.unit
def test_config_enables_dataplane_on_network_nodes(tmp_path: Path) -> None:
    clouds = [{"name": "east"}]
    network = parse_config({"clouds": clouds, "node": {"roles": ["network"],
                                                       "neutron": {"cloud": "east"}}})
    assert "node.dataplane" in [s.name for s in node_sources(network)]
    compute = parse_config({"clouds": clouds, "node": {"roles": ["compute"],
                                                       "neutron": {"cloud": "east"}}})
    assert "node.dataplane" not in [s.name for s in node_sources(compute)]
    with pytest.raises(ConfigError, match=r"node\.neutron"):
        parse_config({"clouds": clouds, "node": {"parts": ["dataplane"]}})
    with pytest.raises(ConfigError, match="'west' is not one of clouds"):
        parse_config({"clouds": clouds, "node": {"neutron": {"cloud": "west"}}})


@pytest.mark.unit
def test_health_makes_the_checks_the_agents_members_on_the_node() -> None:
    router, network = str(uuid.uuid4()), str(uuid.uuid4())
    hosted = Hosted(routers=frozenset({router}), networks=frozenset({network}))
    running = Running(frozenset({f"qdhcp-{network}"}), {})   # no qrouter-, no dnsmasq
    out = judge("net1", hosted, running)
    health = evaluate(default_catalog().deployed(frozenset({"ovs"})), out.checks)
    for name in ("neutron-l3-agent", "neutron-dhcp-agent"):
        service = health.service(name)
        assert service is not None
        members = {(m.host, m.status) for m in service.members}
        assert members == {("net1", Status.CRITICAL)}, (name, members)
