"""infra.ovs against a real Open vSwitch database (ovsdb-server started by the tests, the
node's bridges made with ovs-vsctl): bridges present and missing, an interface in error,
ovs-vswitchd not applying the configuration, the database down; ovs-vsctl stand-ins."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.faulty import fake_program
from servers import OVSDB, start_ovsdb
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceTimeout
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import OVSConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.base import Context
from stackwatch.sources.infra.ovs import OVSSource, build, parse_vsctl

pytestmark = pytest.mark.integration

VSCTL = shutil.which("ovs-vsctl") or "ovs-vsctl"


@pytest.fixture
def ovsdb(tmp_path: Path) -> Iterator[OVSDB]:
    """A network node's switch as neutron's OVS agent leaves it: br-int with two VM ports
    and the patch to br-tun, br-tun with a VXLAN tunnel, br-ex with the uplink."""
    with start_ovsdb(tmp_path / "ovs") as server:
        server.vsctl("add-br", "br-int")
        for port in ("tap3f1c2a9b-1e", "qr-7d2e44c1-0a"):
            server.vsctl("add-port", "br-int", port, "--", "set", "Interface", port,
                         "type=internal")
        server.vsctl("add-port", "br-int", "patch-tun", "--", "set", "Interface", "patch-tun",
                     "type=patch", "options:peer=patch-int")
        server.vsctl("add-br", "br-tun")
        server.vsctl("add-port", "br-tun", "patch-int", "--", "set", "Interface", "patch-int",
                     "type=patch", "options:peer=patch-tun")
        server.vsctl("add-port", "br-tun", "vxlan-0a000b0c", "--", "set", "Interface",
                     "vxlan-0a000b0c", "type=vxlan", "options:remote_ip=10.0.11.12")
        server.vsctl("add-br", "br-ex")
        server.vsctl("add-port", "br-ex", "eth1")
        yield server


def source_for(ovsdb: OVSDB, bridges: tuple[str, ...] = ("br-int", "br-tun", "br-ex")
               ) -> OVSSource:
    return OVSSource([VSCTL, f"--db={ovsdb.remote}"], "net1", 10, bridges)


def only(out: Collection, name: str) -> CheckResult:
    [found] = [c for c in out.checks if c.name == name]
    return found


def test_a_network_nodes_switch(ovsdb: OVSDB) -> None:
    out = source_for(ovsdb).collect()
    assert_declared(out, source="infra")
    assert_covered(out, "infra.ovs")
    for name in ("ovs.db", "ovs.bridges", "ovs.vswitchd", "ovs.interfaces"):
        assert only(out, name).status is Status.OK, only(out, name)
    ports = {s.label("bridge"): s.value for s in out.samples if s.name == "ovs_bridge_ports"}
    assert ports == {"br-int": 4, "br-tun": 3, "br-ex": 2}   # each bridge's own port too
    bridges = only(out, "ovs.bridges")
    assert dict(bridges.labels) == {"service": "ovs-vswitchd", "host": "net1"}


def test_a_missing_bridge_is_critical(ovsdb: OVSDB) -> None:
    ovsdb.vsctl("del-br", "br-tun")
    out = source_for(ovsdb).collect()
    bridges = only(out, "ovs.bridges")
    assert bridges.status is Status.CRITICAL and "bridge br-tun missing" in bridges.message
    vswitchd = evaluate(default_catalog(), out.checks).service("ovs-vswitchd")
    assert vswitchd is not None and vswitchd.status is Status.CRITICAL


def test_an_interface_in_error(ovsdb: OVSDB) -> None:
    # what ovs-vswitchd writes when a VM's tap device is gone
    ovsdb.transact({"op": "update", "table": "Interface",
                    "where": [["name", "==", "tap3f1c2a9b-1e"]],
                    "row": {"error": "could not open network device tap3f1c2a9b-1e "
                                     "(No such device)", "ofport": -1}})
    out = source_for(ovsdb).collect()
    interfaces = only(out, "ovs.interfaces")
    assert interfaces.status is Status.WARNING
    assert "tap3f1c2a9b-1e (could not open network device" in interfaces.message
    assert "service" not in dict(interfaces.labels)   # a port's problem, not the daemon's


def test_vswitchd_not_applying_the_configuration_twice_is_critical(ovsdb: OVSDB) -> None:
    source = source_for(ovsdb)
    assert only(source.collect(), "ovs.vswitchd").status is Status.OK
    # ovs-vsctl asks for a new configuration (next_cfg); no ovs-vswitchd applies it here
    ovsdb.transact({"op": "mutate", "table": "Open_vSwitch", "where": [],
                    "mutations": [["next_cfg", "+=", 1]]})
    assert only(source.collect(), "ovs.vswitchd").status is Status.OK   # may be under way
    stuck = only(source.collect(), "ovs.vswitchd")
    assert stuck.status is Status.CRITICAL and "down or stuck" in stuck.message
    ovsdb.transact({"op": "mutate", "table": "Open_vSwitch", "where": [],
                    "mutations": [["cur_cfg", "+=", 1]]})   # it caught up
    assert only(source.collect(), "ovs.vswitchd").status is Status.OK


def test_the_database_down_is_critical(tmp_path: Path) -> None:
    source = OVSSource([VSCTL, f"--db=unix:{tmp_path / 'nothing.sock'}"], "net1", 5,
                       ("br-int",))
    out = source.collect()
    db = only(out, "ovs.db")
    assert db.status is Status.CRITICAL and "database connection failed" in db.message
    ovsdb = evaluate(default_catalog(), out.checks).service("ovsdb-server")
    assert ovsdb is not None and ovsdb.status is Status.CRITICAL


def test_default_bridges_follow_the_network_backend() -> None:
    assert build(OVSConfig(), Context(10, "cmp1", "ovs")).bridges == ("br-int", "br-tun")
    assert build(OVSConfig(), Context(10, "cmp1", "ovn")).bridges == ("br-int",)
    assert build(OVSConfig(bridges=["br-int", "br-ex"]), Context(10, "n", "ovn")).bridges == (
        "br-int", "br-ex")


@pytest.mark.parametrize(("script", "error", "words"), [
    ("sleep 30", SourceTimeout, "no answer within 1s"),
    ("echo 'ovs-vsctl: unknown option'; exit 1", InvalidResponse, "exit status 1"),
    ("echo '{\"data\": []}'", InvalidResponse, "1 tables printed, 4 asked"),
    ("echo 'br-int'; echo 'br-tun'", InvalidResponse, "not JSON"),
])
def test_stand_ins(tmp_path: Path, script: str, error: type[Exception], words: str) -> None:
    program = fake_program(tmp_path, "ovs-vsctl", script)
    with pytest.raises(error, match=words):
        OVSSource([str(program)], "net1", 1, ("br-int",)).collect()


@pytest.mark.unit
def test_one_port_is_printed_bare_several_as_a_set() -> None:
    one = ('{"data":[["br-ex",["uuid","u1"]]],"headings":["name","ports"]}\n'
           '{"data":[[["uuid","u1"],"br-ex",["uuid","i1"]]],"headings":["_uuid","name",'
           '"interfaces"]}\n'
           '{"data":[[["uuid","i1"],"br-ex","internal",1,["set",[]]]],"headings":["_uuid",'
           '"name","type","ofport","error"]}\n'
           '{"data":[[4,4]],"headings":["cur_cfg","next_cfg"]}\n')
    switch = parse_vsctl(one)
    assert switch.bridges == {"br-ex": ("br-ex",)} and switch.broken == ()
    assert (switch.cur_cfg, switch.next_cfg) == (4, 4)
