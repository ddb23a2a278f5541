"""node.ports on recorded real tables: held by the right process, by another, by nobody."""

from __future__ import annotations

from dataclasses import replace

import pytest
from node_data import Table, realcloud, table

from stackwatch.catalog.loader import load_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import NodeConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PORT_CHECK, PortsSource
from stackwatch.sources.node.table import Listener, ProcessInfo

pytestmark = pytest.mark.unit

CATALOG = load_catalog().deployed(["ovs"])


def _source(rows: list[ProcessInfo], sockets: list[Listener], recorded: Table,
            **node: object) -> PortsSource:
    config = NodeConfig.model_validate({"host": "ctl1", **node})
    return PortsSource(NodePlan(CATALOG, config), lambda: rows, lambda: sockets,
                       recorded.clock(), uid=lambda: 1000)


def _by_port(collection: Collection) -> dict[tuple[str, int], CheckResult]:
    return {(dict(c.labels)["service"], int(dict(c.labels)["port"])): c
            for c in collection.checks}


def test_every_realcloud_port_is_held_by_its_service() -> None:
    recorded = realcloud()
    found = _by_port(_source(recorded.rows(), recorded.sockets(), recorded,
                             roles=["controller"]).collect())
    listening = {s.port for s in recorded.sockets()}
    ok = {key for key, check in found.items() if check.status == Status.OK}
    # each required catalog port the control plane listens on is OK, and only those
    assert {port for _, port in ok} == listening - {15672}  # management: optional
    assert ("keystone", 5000) in ok and ("rabbitmq", 4369) in ok and ("mysql", 3306) in ok
    for key, check in found.items():
        if key not in ok:  # memcached, novncproxy, haproxy...: not on this control plane
            assert check.status == Status.CRITICAL and "is not listening" in check.message
    assert all(c.name == PORT_CHECK for c in found.values())
    nova = found[("nova-api", 8774)].message
    assert nova.startswith("nova-api: port 8774/tcp listening on 127.0.0.1, held by gunicorn: ")


def test_a_port_held_by_another_process_names_both() -> None:
    recorded = realcloud()
    nova = {p.pid for p in recorded.rows() if "[nova-api]" in p.command}
    squatter = ProcessInfo(4242, 1, "python3", ("python3", "-c", "nc -l 8774"))
    rows = [p for p in recorded.rows() if p.pid not in nova] + [squatter]
    sockets = [s for s in recorded.sockets() if s.pid not in nova]
    sockets.append(Listener(8774, "0.0.0.0", "tcp", 4242))
    collection = _source(rows, sockets, recorded, roles=["controller"]).collect()
    check = _by_port(collection)[("nova-api", 8774)]
    assert check.status == Status.CRITICAL
    assert check.message == ("nova-api: port 8774/tcp is held by python3 (pid 4242, "
                             "'python3 -c nc -l 8774'), not nova-api")
    sample = next(s for s in collection.samples if s.name == "stackwatch_port_listening"
                  and s.label("port") == "8774")
    assert sample.value == 0


def test_another_service_on_the_port_is_named_too() -> None:
    recorded = realcloud()
    keystone = {p.pid for p in recorded.rows() if "[keystone]" in p.command}
    glance = next(p for p in recorded.rows() if p.command == "gunicorn: worker [glance-api]")
    sockets = [s for s in recorded.sockets() if s.pid not in keystone]
    sockets.append(Listener(5000, "127.0.0.1", "tcp", glance.pid))
    rows = [p for p in recorded.rows() if p.pid not in keystone]
    check = _by_port(_source(rows, sockets, recorded, roles=["controller"]).collect())[
        ("keystone", 5000)]
    assert check.status == Status.CRITICAL
    assert f"held by gunicorn: worker [glance-api] (pid {glance.pid}), not keystone" \
        in check.message


def test_a_holder_stackwatch_may_not_see_is_unknown_not_guessed() -> None:
    recorded = realcloud()
    sockets = [replace(s, pid=None) if s.port == 9696 else s for s in recorded.sockets()]
    collection = _source(recorded.rows(), sockets, recorded, roles=["controller"]).collect()
    check = _by_port(collection)[("neutron-server", 9696)]
    assert check.status == Status.UNKNOWN
    assert "stackwatch (uid 1000) may not see which process holds it" in check.message
    assert not any(s.label("port") == "9696" for s in collection.samples)


def test_apache_holds_the_port_of_its_mod_wsgi_daemons() -> None:
    recorded = table("apache-mod-wsgi")
    found = _by_port(_source(recorded.rows(), recorded.sockets(), recorded).collect())
    check = found[("keystone", 5000)]
    holder = recorded.sockets()[0].pid
    assert check.status == Status.OK
    assert f"held by apache2 (pid {holder}," in check.message
    # an Apache that runs no keystone daemon is not keystone's front
    alone = [p for p in recorded.rows() if not p.cmdline[0].startswith("(wsgi:")]
    lone = _by_port(_source(alone, recorded.sockets(), recorded,
                            roles=["controller"]).collect())[("keystone", 5000)]
    assert lone.status == Status.CRITICAL and "not keystone" in lone.message


def test_uwsgi_workers_hold_their_ports() -> None:
    recorded = table("uwsgi-devstack")
    found = _by_port(_source(recorded.rows(), recorded.sockets(), recorded).collect())
    assert found[("keystone", 5000)].status == Status.OK
    assert found[("placement", 8778)].status == Status.OK


def test_haproxy_on_the_same_port_beside_the_service_is_fine() -> None:
    recorded = realcloud()
    haproxy = ProcessInfo(5151, 1, "haproxy", ("/usr/sbin/haproxy", "-Ws", "-f",
                                                "/etc/haproxy/haproxy.cfg"))
    sockets = [*recorded.sockets(), Listener(8774, "10.0.0.10", "tcp", 5151)]
    check = _by_port(_source([*recorded.rows(), haproxy], sockets, recorded,
                             roles=["controller"]).collect())[("nova-api", 8774)]
    assert check.status == Status.OK
    assert "also haproxy (pid 5151, '/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg') " \
           "on 10.0.0.10" in check.message


def test_configured_ports_replace_the_catalogs() -> None:
    recorded = realcloud()
    found = _by_port(_source(recorded.rows(), recorded.sockets(), recorded,
                             roles=["controller"], ports={"nova-api": [18774]}).collect())
    assert ("nova-api", 8774) not in found
    assert found[("nova-api", 18774)].status == Status.CRITICAL


def test_nagios_one_port() -> None:
    recorded = realcloud()
    source = _source(recorded.rows(), recorded.sockets(), recorded)
    [check] = source.check(8774).checks
    assert check.status == Status.OK and dict(check.labels)["service"] == "nova-api"
    [other] = source.check(15672).checks  # an optional port: still judged for its service
    assert other.status == Status.OK and "held by beam.smp" in other.message
    sockets = [*recorded.sockets(), Listener(12345, "0.0.0.0", "tcp", None)]
    [nobody] = _source(recorded.rows(), sockets, recorded).check(12345).checks
    assert nobody.status == Status.OK and "a process stackwatch may not see" in nobody.message
    [closed] = source.check(12346).checks
    assert closed.status == Status.CRITICAL and "not listening" in closed.message


def test_samples_are_declared() -> None:
    recorded = realcloud()
    collection = _source(recorded.rows(), recorded.sockets(), recorded,
                         roles=["controller"]).collect()
    assert_declared(collection, source="node.ports")
    assert_covered(collection, source="node.ports")
