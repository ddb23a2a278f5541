"""Processes to services by name AND command line, on recorded real process tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from node_data import realcloud, table

from stackwatch.catalog.loader import Role, load_catalog
from stackwatch.sources.node.match import ProcessMatcher, detect_roles, group
from stackwatch.sources.node.table import ProcessInfo

pytestmark = pytest.mark.unit

CATALOG = load_catalog()
# What each recorded realcloud process is, by a marker its command line carries.
EXPECTED_BY_MARKER = {
    "[placement-api]": "placement", "[glance-api]": "glance-api",
    "[nova-api]": "nova-api", "[cinder-api]": "cinder-api", "[keystone]": "keystone",
    "[neutron-server]": "neutron-server", "neutron-rpc-server": "neutron-server",
    "nova-conductor": "nova-conductor", "nova-scheduler": "nova-scheduler",
    "cinder-scheduler": "cinder-scheduler", "cinder-volume": "cinder-volume",
    "nova-compute": "nova-compute", "mariadbd": "mysql", "rabbit": "rabbitmq",
    "erl": "rabbitmq", "epmd": "rabbitmq", "inet_gethost": "rabbitmq",
}


def _marked(proc: ProcessInfo) -> str:
    return next(EXPECTED_BY_MARKER[m] for m in EXPECTED_BY_MARKER if m in proc.command)


def test_every_realcloud_process_belongs_to_its_service() -> None:
    matcher = ProcessMatcher(CATALOG)
    recorded = realcloud().rows()
    assert len(recorded) >= 30
    for proc in recorded:
        spec = matcher.service_of(proc.name, proc.cmdline)
        assert spec is not None and spec.name == _marked(proc), (proc.name, proc.command)


def test_in_a_virtualenv_too() -> None:
    """kolla and OpenStack-Ansible run the services from a virtualenv's bin/."""
    matcher = ProcessMatcher(CATALOG)
    for proc in realcloud().rows():
        moved = tuple(a.replace("/usr/bin/", "/var/lib/kolla/venv/bin/") for a in proc.cmdline)
        spec = matcher.service_of(proc.name, moved)
        assert spec is not None and spec.name == _marked(proc), moved


def test_gunicorn_masters_and_workers_by_their_titles() -> None:
    groups = group(ProcessMatcher(CATALOG), realcloud().rows())
    for service in ("keystone", "nova-api", "placement", "glance-api", "cinder-api"):
        found = groups[service]
        assert {p.pid for p in found.masters} == {
            p.pid for p in found.running if "gunicorn: master" in p.command}
        assert found.workers == sum(1 for p in found.running if "gunicorn: worker" in p.command)
        assert found.workers >= 1
    # oslo.service: the scheduler's master and its ServiceWrapper worker
    scheduler = groups["nova-scheduler"]
    assert [p.command.split(":")[0] for p in scheduler.masters] == ["nova-scheduler"]
    assert "master process" in scheduler.masters[0].command
    assert scheduler.workers == 1
    # two nova-compute processes (two hosts on one machine), each its own master
    assert len(groups["nova-compute"].masters) == 2


def test_uwsgi_as_devstack_runs_it() -> None:
    recorded = table("uwsgi-devstack")
    groups = group(ProcessMatcher(CATALOG), recorded.rows())
    keystone = groups["keystone"]
    assert [p.command for p in keystone.masters] == ["keystoneuWSGI master"]
    assert keystone.workers == sum(1 for p in recorded.rows()
                                   if p.command.startswith("keystoneuWSGI worker"))
    placement = groups["placement"]  # no --procname-prefix: its command line stays
    assert all("placement-uwsgi.ini" in p.command for p in placement.running)
    assert len(placement.masters) == 1 and placement.workers == 2
    assert set(groups) == {"keystone", "placement"}


def test_apache_mod_wsgi_daemons_are_the_service_and_apache_is_not() -> None:
    recorded = table("apache-mod-wsgi")
    groups = group(ProcessMatcher(CATALOG), recorded.rows())
    assert set(groups) == {"keystone"}
    daemons = {p.pid for p in recorded.rows() if p.cmdline[0].startswith("(wsgi:keystone")}
    assert len(daemons) == 2
    assert {p.pid for p in groups["keystone"].running} == daemons
    assert {p.pid for p in groups["keystone"].masters} == daemons  # Apache is their parent


@pytest.mark.parametrize(("name", "cmdline"), [
    # as ironic 35 runs under test_real_ironic: the title names the process (16 characters
    # before its colon), the worker's holds no path
    ("ironic-conductor:", ["ironic-conductor:", "master", "process",
                           "[/venv/bin/ironic-conductor", "--config-file", "ironic.conf]"]),
    ("ironic-conductor:", ["ironic-conductor: ServiceWrapper worker(0)"]),
    # untitled: the kernel's 15-character cut of the script's name
    ("ironic-conducto", ["/usr/bin/python3", "/usr/bin/ironic-conductor"]),
])
def test_ironic_conductor_titled_or_not(name: str, cmdline: list[str]) -> None:
    spec = ProcessMatcher(CATALOG).service_of(name, cmdline)
    assert spec is not None and spec.name == "ironic-conductor"


@pytest.mark.parametrize(("name", "cmdline"), [
    ("vim", ["vim", "/usr/bin/nova-compute"]),
    ("tail", ["tail", "-F", "/var/log/nova/nova-compute.log"]),
    ("python3", ["/usr/bin/python3", "-m", "http.server", "8774"]),
    ("grep", ["grep", "[nova-api]", "/var/log/nova/nova-api.log"]),
    ("apache2", ["/usr/sbin/apache2", "-k", "start"]),
    ("kworker/0:1", []),
])
def test_a_name_or_a_pattern_alone_is_not_enough(name: str, cmdline: list[str]) -> None:
    assert ProcessMatcher(CATALOG).service_of(name, cmdline) is None


def test_zombies_go_to_their_parents_service_else_to_a_name_only_one_service_has() -> None:
    rows = realcloud().rows()
    scheduler = next(p for p in rows if "nova-scheduler: master" in p.command)
    zombies = [
        ProcessInfo(90001, scheduler.pid, "nova-scheduler:", (), "zombie"),
        ProcessInfo(90002, 1, "nova-compute", (), "zombie"),
        ProcessInfo(90003, 1, "ovsdb-server", (), "zombie"),  # three services' name
        ProcessInfo(90004, 1, "python3", (), "zombie"),
    ]
    groups = group(ProcessMatcher(CATALOG), rows + zombies)
    assert [p.pid for p in groups["nova-scheduler"].zombies] == [90001]
    assert [p.pid for p in groups["nova-compute"].zombies] == [90002]
    assert all(p.pid not in (90003, 90004) for g in groups.values() for p in g.zombies)
    # a zombie is not running
    assert 90001 not in {p.pid for p in groups["nova-scheduler"].running}


def test_roles_detected_from_the_services_of_one_role() -> None:
    rows = realcloud().rows()
    matcher = ProcessMatcher(CATALOG)
    assert detect_roles(CATALOG, group(matcher, rows)) == (
        Role.CONTROLLER, Role.COMPUTE, Role.STORAGE)
    compute_only = [p for p in rows if "nova-compute" in p.command]
    assert detect_roles(CATALOG, group(matcher, compute_only)) == (Role.COMPUTE,)
    # Open vSwitch runs on network and compute nodes alike: it says neither
    ovs = [ProcessInfo(1, 0, "ovs-vswitchd", ("ovs-vswitchd", "unix:/run/openvswitch/db.sock"))]
    assert detect_roles(CATALOG, group(matcher, ovs)) == ()
    assert replace(ovs[0], status="zombie").zombie


def test_a_shared_read_is_grouped_once_and_a_list_anew() -> None:
    matcher = ProcessMatcher(CATALOG)
    rows = tuple(realcloud().rows())
    first = group(matcher, rows)
    assert group(matcher, rows) is first  # the other node source of the run
    assert group(matcher, tuple(rows)) is first
    assert group(matcher, list(rows)) == first and group(matcher, list(rows)) is not first
    fewer = tuple(p for p in rows if "[nova-api]" not in p.command)
    assert "nova-api" in first and "nova-api" not in group(matcher, fewer)
    # and what may be a service's: a name a service has, or one that says nothing
    assert matcher.may_be_ours("nova-compute") and matcher.may_be_ours("python3.11")
    assert matcher.may_be_ours("neutron-dhcp-ag") and not matcher.may_be_ours("vim")
