"""node.processes on recorded real process tables: counts, absence, restarts, zombies, HA."""

from __future__ import annotations

from dataclasses import replace

import pytest
from node_data import Table, realcloud, table

from stackwatch.catalog.loader import load_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import NodeConfig
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status, make_labels
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.processes import PROCESS_CHECK, Minimum, ProcessesSource
from stackwatch.sources.node.table import ProcessInfo

pytestmark = pytest.mark.unit

CATALOG = load_catalog().deployed(["ovs"])
HOST = "ctl1"


def _source(rows: list[ProcessInfo], recorded: Table, **node: object) -> ProcessesSource:
    config = NodeConfig.model_validate({"host": HOST, **node})
    return ProcessesSource(NodePlan(CATALOG, config), lambda: rows, recorded.clock())


def _by_service(collection: Collection) -> dict[str, CheckResult]:
    return {dict(c.labels)["service"]: c for c in collection.checks}


def test_the_realcloud_control_plane_every_service_found_the_missing_ones_critical() -> None:
    recorded = realcloud()
    roles = ["controller", "compute", "storage"]
    found = _by_service(_source(recorded.rows(), recorded, roles=roles).collect())
    expected = {s.name for s in CATALOG.services
                if set(roles) & set(s.roles) and CATALOG.expects(s)}
    assert set(found) == expected
    running = {"keystone", "nova-api", "nova-scheduler", "nova-conductor", "nova-compute",
               "placement", "neutron-server", "glance-api", "cinder-api", "cinder-scheduler",
               "cinder-volume", "rabbitmq", "mysql"}
    assert {s for s, c in found.items() if c.status == Status.OK} == running
    for service in expected - running:  # not on this control plane: haproxy, libvirtd...
        assert found[service].status == Status.CRITICAL
        assert "not running" in found[service].message
    keystone = found["keystone"]
    assert keystone.message.startswith("keystone: 3 processes (1 master, 2 workers), pid ")
    assert {p.label: p.value for p in keystone.perfdata}["workers"] == 2
    assert all(c.name == PROCESS_CHECK and dict(c.labels)["host"] == HOST
               for c in found.values())


def test_a_killed_process_is_critical_under_its_service_and_host_in_health() -> None:
    recorded = realcloud()
    rows = [p for p in recorded.rows() if "nova-compute" not in p.command]
    collection = _source(rows, recorded, roles=["compute"]).collect()
    check = _by_service(collection)["nova-compute"]
    assert check.status == Status.CRITICAL
    assert check.message == "nova-compute: not running (expected on compute nodes)"
    # the API's view says another compute host is up: one member down of two
    api = CheckResult("nova.service", Status.OK, "up", make_labels(binary="nova-compute",
                                                                   host="cmp2"))
    health = evaluate(CATALOG, [*collection.checks, api])
    nova_compute = health.service("nova-compute")
    assert nova_compute is not None
    assert {(m.host, m.status) for m in nova_compute.members} == {
        (HOST, Status.CRITICAL), ("cmp2", Status.OK)}
    assert nova_compute.status == Status.WARNING and "down: ctl1" in nova_compute.message
    node = next(n for n in health.nodes if n.host == HOST)
    assert node.status == Status.CRITICAL


def test_a_restart_warns_for_that_run_and_is_counted() -> None:
    recorded = realcloud()
    rows = recorded.rows()
    source = _source(rows, recorded, roles=["controller"])
    first = _by_service(source.collect())["nova-conductor"]
    assert first.status == Status.OK
    old = next(p for p in rows if "bin/nova-conductor" in p.command)
    new = replace(old, pid=old.pid + 50000, create_time=recorded.now - 12)
    rows[rows.index(old)] = new
    second = source.collect()
    check = _by_service(second)["nova-conductor"]
    assert check.status == Status.WARNING
    assert f"restarted: pid {new.pid} up 12 s" in check.message
    restarts = {s.label("service"): s.value for s in second.samples
                if s.name == "stackwatch_process_restarts_total"}
    assert restarts["nova-conductor"] == 1 and restarts["keystone"] == 0
    third = source.collect()  # nothing new: OK again, the counter stays
    assert _by_service(third)["nova-conductor"].status == Status.OK
    assert {s.label("service"): s.value for s in third.samples
            if s.name == "stackwatch_process_restarts_total"}["nova-conductor"] == 1


def test_a_worker_respawned_by_its_master_is_not_a_restart() -> None:
    recorded = realcloud()
    rows = recorded.rows()
    source = _source(rows, recorded, roles=["controller"])
    source.collect()
    worker = next(p for p in rows if p.command == "gunicorn: worker [nova-api]")
    rows[rows.index(worker)] = replace(worker, pid=worker.pid + 50000,
                                       create_time=recorded.now - 5)
    assert _by_service(source.collect())["nova-api"].status == Status.OK


def test_a_zombie_left_unreaped_until_the_next_run_warns_naming_its_pid() -> None:
    recorded = realcloud()
    master = next(p for p in recorded.rows() if "nova-scheduler: master" in p.command)
    rows = recorded.rows()
    source = _source(rows, recorded, roles=["controller"])
    source.collect()
    rows.append(ProcessInfo(77001, master.pid, "nova-scheduler:", (), "zombie"))
    rows.append(ProcessInfo(77003, master.pid, "nova-scheduler:", (), "zombie"))
    collection = source.collect()  # just exited: a zombie for an instant is no fault
    assert _by_service(collection)["nova-scheduler"].status == Status.OK
    zombies = {s.label("service"): s.value for s in collection.samples
               if s.name == "stackwatch_process_zombies"}
    assert zombies["nova-scheduler"] == 2 and zombies["nova-conductor"] == 0
    rows.pop()  # 77003 reaped; 77001 still there a run later: its parent does not reap it
    check = _by_service(source.collect())["nova-scheduler"]
    assert check.status == Status.WARNING
    assert "1 zombie not reaped (pid 77001)" in check.message


def test_active_passive_two_instances_on_one_node_warn() -> None:
    recorded = realcloud()
    volume = next(p for p in recorded.rows() if "bin/cinder-volume" in p.command
                  and p.ppid == 1)
    rows = [*recorded.rows(), replace(volume, pid=77002)]
    check = _by_service(_source(rows, recorded, roles=["storage"]).collect())["cinder-volume"]
    assert check.status == Status.WARNING
    assert "2 instances here; active/passive runs one" in check.message
    gone = [p for p in recorded.rows() if "cinder-volume" not in p.command]
    absent = _by_service(_source(gone, recorded, roles=["storage"]).collect())["cinder-volume"]
    assert absent.status == Status.CRITICAL and "active/passive" in absent.message


def test_services_seen_but_not_of_the_roles_count_and_ignored_ones_do_not() -> None:
    recorded = realcloud()
    found = _by_service(_source(recorded.rows(), recorded, roles=["compute"],
                                ignore=["libvirtd"]).collect())
    assert found["keystone"].status == Status.OK  # seen running: reported
    assert "libvirtd" not in found
    assert "haproxy" not in found  # a controller service, neither expected nor seen
    assert found["ovsdb-server"].status == Status.CRITICAL  # compute nodes run Open vSwitch


def test_roles_detected_when_not_configured() -> None:
    recorded = table("uwsgi-devstack")
    collection = _source(recorded.rows(), recorded).collect()
    assert {s.label("role") for s in collection.samples
            if s.name == "stackwatch_node_role"} == {"controller"}
    found = _by_service(collection)
    assert found["keystone"].status == Status.OK and found["placement"].status == Status.OK
    assert found["nova-api"].status == Status.CRITICAL


def test_samples_are_declared_and_add_up() -> None:
    recorded = realcloud()
    collection = _source(recorded.rows(), recorded, roles=["controller", "compute"]).collect()
    assert_declared(collection, source="node.processes")
    assert_covered(collection, source="node.processes")
    keystone = [p for p in recorded.rows() if "[keystone]" in p.command]
    samples = {(s.name, s.label("service"), s.label("process")): s.value
               for s in collection.samples}
    assert samples[("stackwatch_process_count", "keystone", "gunicorn")] == len(keystone)
    assert samples[("stackwatch_process_cpu_seconds_total", "keystone", "")] == pytest.approx(
        sum(p.cpu_seconds for p in keystone))
    assert samples[("stackwatch_process_resident_memory_bytes", "keystone", "")] == sum(
        p.rss_bytes for p in keystone)
    assert samples[("stackwatch_process_count", "haproxy", "")] == 0
    rabbit = {k[2] for k in samples if k[0] == "stackwatch_process_count" and k[1] == "rabbitmq"}
    assert {"beam.smp", "epmd", "runuser", "inet_gethost"} <= rabbit


def test_nagios_minimums_of_one_service() -> None:
    recorded = realcloud()
    source = _source(recorded.rows(), recorded)
    assert source.check("keystone", Minimum(warning=3, critical=2)).checks[0].status == Status.OK
    assert source.check("keystone", Minimum(warning=4, critical=2)).checks[0].status \
        == Status.WARNING
    low = source.check("keystone", Minimum(warning=5, critical=4)).checks[0]
    assert low.status == Status.CRITICAL and "fewer than 4 processes" in low.message
    # asked for by name: expected here whatever the roles
    absent = source.check("libvirtd").checks[0]
    assert absent.status == Status.CRITICAL
    allowed = source.check("libvirtd", Minimum(warning=0, critical=0)).checks[0]
    assert (allowed.status, allowed.message) == (Status.OK,
                                                 "libvirtd: no process (none required)")
    with pytest.raises(KeyError):
        source.check("nova-bogus")


def test_a_nodes_process_counts_for_its_backend_members_not_as_one_more() -> None:
    """cinder-volume reports itself per backend (``stor1@lvm``); the node's process check
    (``host=stor1``) is about those members, not a second active one."""
    recorded = realcloud()
    api = [CheckResult("cinder.service", Status.OK, "up",
                       make_labels(binary="cinder-volume", host="ctl1@lvm")),
           CheckResult("cinder.service", Status.CRITICAL, "down",
                       make_labels(binary="cinder-volume", host="stor2@lvm"))]
    running = _source(recorded.rows(), recorded, roles=["storage"]).collect()
    service = evaluate(CATALOG, [*running.checks, *api]).service("cinder-volume")
    assert service is not None and service.status == Status.OK
    assert [m.host for m in service.members] == ["ctl1@lvm", "stor2@lvm"]
    gone = [p for p in recorded.rows() if "cinder-volume" not in p.command]
    killed = _source(gone, recorded, roles=["storage"]).collect()
    service = evaluate(CATALOG, [*killed.checks, *api]).service("cinder-volume")
    assert service is not None and service.status == Status.CRITICAL
    member = next(m for m in service.members if m.host == "ctl1@lvm")
    assert member.status == Status.CRITICAL and "not running here" in member.message
