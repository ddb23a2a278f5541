"""SQL sources on the reference 2026.1 schemas and rows, on SQLite and on a real MariaDB."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from servers import MariaDB, PostgreSQL
from sources.dbload import load, recorded_rows
from sources.test_api_replay import resource_status, value
from stackwatch.catalog.testing import assert_declared
from stackwatch.errors import SourceTimeout
from stackwatch.model import Status
from stackwatch.sources.sql import CinderSql, KeystoneSql, NeutronSql, NovaCell0Sql, NovaSql
from stackwatch.sources.sql.base import build_engine, translate

pytestmark = pytest.mark.integration

_names = itertools.count()
Loader = Callable[..., str]


@pytest.fixture(params=["sqlite", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Loader]:
    """``database("nova", skip=(...))`` -> URL of a fresh database with the reference rows."""

    def make(name: str, skip: tuple[str, ...] = ()) -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}-{next(_names)}.sqlite'}"
        else:
            server: MariaDB = request.getfixturevalue("mariadb")
            url = server.create_database(f"{name}_{next(_names)}")
        load(name, url, skip=skip).dispose()
        return url

    yield make


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def execute(url: str, statement: sa.Executable) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":  # bindings to routers the test does not create
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        conn.execute(statement)
    engine.dispose()


def test_nova_metrics_equal_the_recorded_rows(database: Loader) -> None:
    url = database("nova")
    services = sa.table("services", sa.column("host"), sa.column("binary"),
                        sa.column("last_seen_up"), sa.column("updated_at"))
    # every service reported just now, but fake-compute-2 went silent ten minutes ago
    execute(url, services.update().values(last_seen_up=utcnow(), updated_at=utcnow()))
    execute(url, services.update().where(services.c.host == "fake-compute-2")
            .values(last_seen_up=utcnow() - dt.timedelta(minutes=10)))
    out = NovaSql(url).collect()
    assert set(resource_status(out).values()) == {Status.OK}
    assert_declared(out)
    live = [r for r in recorded_rows("nova", "instances") if r["deleted"] == 0]
    states = Counter(r["vm_state"] for r in live)
    for state, n in states.items():
        assert value(out, "openstack_nova_db_instances", vm_state=state) == n
    assert value(out, "openstack_nova_db_instances_error") == states.get("error", 0)
    nodes = [r for r in recorded_rows("nova", "compute_nodes") if r["deleted"] == 0]
    assert value(out, "openstack_nova_db_vcpus") == sum(r["vcpus"] for r in nodes)
    assert value(out, "openstack_nova_db_vcpus_used") == sum(r["vcpus_used"] for r in nodes)
    assert value(out, "openstack_nova_db_memory_bytes") == sum(
        r["memory_mb"] for r in nodes) * 1024 * 1024
    assert value(out, "openstack_nova_db_compute_nodes") == len(nodes)
    assert value(out, "openstack_nova_db_service_up", host="fake-compute-2") == 0
    assert value(out, "openstack_nova_db_service_up", host="fake-compute-1") == 1
    assert value(out, "openstack_nova_db_services_down", binary="nova-compute") == 1
    assert value(out, "openstack_nova_db_services_down", binary="nova-scheduler") == 0
    # fake-compute-2's nova-compute is silent: its node is not reporting
    assert value(out, "openstack_nova_db_compute_nodes_stale") == 1


def test_cell0_holds_the_instance_that_failed_scheduling(database: Loader) -> None:
    out = NovaCell0Sql(database("nova_cell0")).collect()
    assert value(out, "openstack_nova_db_instances_error") == 1


def test_each_cell_database_counts_in_a_series_of_its_own(database: Loader) -> None:
    """sql.nova and sql.nova_cell0 count instances in different databases: their series
    differ by ``database`` and sum to the cloud's count (they once collided)."""
    out = {"nova": NovaSql(database("nova")).collect(),
           "nova_cell0": NovaCell0Sql(database("nova_cell0")).collect()}
    keys = {db: {(s.name, s.labels) for s in part.samples
                 if s.name.startswith("openstack_nova_db_instances")} for db, part in out.items()}
    assert keys["nova"] and keys["nova_cell0"]
    assert not keys["nova"] & keys["nova_cell0"]
    for db, part in out.items():
        assert_declared(part)
        assert {s.label("database") for s in part.samples
                if s.name.startswith("openstack_nova_db_instances")} == {db}
    errors = {db: sum(1 for r in recorded_rows(db, "instances")
                      if r["deleted"] == 0 and r["vm_state"] == "error") for db in out}
    assert errors["nova_cell0"] == 1
    for db, part in out.items():
        assert value(part, "openstack_nova_db_instances_error", database=db) == errors[db]
    assert sum(s.value for part in out.values() for s in part.samples
               if s.name == "openstack_nova_db_instances_error") == sum(errors.values())


def test_cinder_metrics_equal_the_recorded_rows(database: Loader) -> None:
    url = database("cinder")
    out = CinderSql(url).collect()
    assert set(resource_status(out).values()) == {Status.OK}
    assert_declared(out)
    live = [r for r in recorded_rows("cinder", "volumes") if not r["deleted"]]
    assert value(out, "openstack_cinder_db_volume_count") == len(live)
    assert value(out, "openstack_cinder_db_volume_size_bytes") == sum(
        r["size"] for r in live) * 1024 ** 3
    snaps = [r for r in recorded_rows("cinder", "snapshots") if not r["deleted"]]
    assert value(out, "openstack_cinder_db_snapshot_count") == len(snaps)
    volumes = sa.table("volumes", sa.column("id"), sa.column("status"))
    execute(url, volumes.update().where(volumes.c.id == live[0]["id"]).values(status="error"))
    execute(url, volumes.update().where(volumes.c.id == live[1]["id"])
            .values(status="deleting"))
    again = CinderSql(url).collect()
    assert value(again, "openstack_cinder_db_volumes_error") == 1
    assert value(again, "openstack_cinder_db_volumes_deleting") == 1


def test_keystone_tokens_on_a_fernet_cloud_are_zero_and_count_when_present(
        database: Loader) -> None:
    url = database("keystone")
    out = KeystoneSql(url).collect()
    assert value(out, "openstack_keystone_db_tokens") == 0
    assert value(out, "openstack_keystone_db_revocation_events") == len(
        recorded_rows("keystone", "revocation_event"))
    token = sa.table("token", sa.column("id"), sa.column("expires"), sa.column("valid"),
                     sa.column("user_id"))
    past, future = utcnow() - dt.timedelta(hours=1), utcnow() + dt.timedelta(hours=1)
    execute(url, token.insert().values([
        {"id": "t1", "expires": past, "valid": 1, "user_id": "u1"},
        {"id": "t2", "expires": past, "valid": 1, "user_id": "u1"},
        {"id": "t3", "expires": future, "valid": 1, "user_id": "u2"}]))
    uuid = KeystoneSql(url).collect()
    assert_declared(uuid)
    assert value(uuid, "openstack_keystone_db_tokens") == 3
    assert value(uuid, "openstack_keystone_db_tokens_expired") == 2
    assert value(uuid, "openstack_keystone_db_tokens_per_user", user_id="u1") == 2


def test_neutron_agents_and_routers_per_l3_agent(database: Loader) -> None:
    url = database("neutron")
    agents = sa.table("agents", sa.column("id"), sa.column("agent_type"), sa.column("binary"),
                      sa.column("topic"), sa.column("host"), sa.column("admin_state_up"),
                      sa.column("created_at"), sa.column("started_at"),
                      sa.column("heartbeat_timestamp"), sa.column("configurations"),
                      sa.column("load"))
    now = utcnow()
    base = {"topic": "t", "admin_state_up": 1, "created_at": now, "started_at": now,
            "configurations": "{}", "load": 0}
    execute(url, agents.insert().values([
        {**base, "id": "a1", "agent_type": "L3 agent", "binary": "neutron-l3-agent",
         "host": "net1", "heartbeat_timestamp": now},
        {**base, "id": "a2", "agent_type": "L3 agent", "binary": "neutron-l3-agent",
         "host": "net2", "heartbeat_timestamp": now - dt.timedelta(minutes=5)}]))
    bindings = sa.table("routerl3agentbindings", sa.column("router_id"),
                        sa.column("l3_agent_id"), sa.column("binding_index"))
    execute(url, bindings.insert().values([{"router_id": "r1", "l3_agent_id": "a1",
                                            "binding_index": 1},
                                           {"router_id": "r2", "l3_agent_id": "a1",
                                            "binding_index": 1}]))
    out = NeutronSql(url).collect()
    assert_declared(out)
    assert value(out, "openstack_neutron_db_agent_alive", host="net1") == 1
    assert value(out, "openstack_neutron_db_agent_alive", host="net2") == 0
    assert value(out, "openstack_neutron_db_l3_agent_routers", host="net1") == 2
    assert value(out, "openstack_neutron_db_l3_agent_routers", host="net2") == 0


def test_a_missing_table_is_unknown_for_its_metrics_only(database: Loader) -> None:
    out = KeystoneSql(database("keystone", skip=("token",))).collect()
    states = resource_status(out)
    assert states == {"tokens": Status.UNKNOWN, "revocation_events": Status.OK}
    message = next(c.message for c in out.checks if c.status is Status.UNKNOWN)
    assert "table or column missing" in message and "token" in message
    assert not [s for s in out.samples if s.name == "openstack_keystone_db_tokens"]


def test_an_unreachable_database_is_critical_with_the_reason_and_no_password() -> None:
    """Like an API endpoint that does not answer: the database check is CRITICAL (about
    the catalog's database service on the server's host) and every resource is UNKNOWN
    with the reason, without being tried."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = NovaSql(f"mysql+pymysql://monitor:s3cret@127.0.0.1:{port}/nova", timeout=2)
    out = source.collect()
    database = [c for c in out.checks if c.name == "sql.database"]
    assert [(c.status, dict(c.labels)["service"], dict(c.labels)["host"]) for c in database] \
        == [(Status.CRITICAL, "mysql", "127.0.0.1")]
    unread = [c for c in out.checks if c.name == "stackwatch.resource"]
    # instances, services, nodes, actions, faults, migrations: each tried, each said
    assert {dict(c.labels)["resource"] for c in unread} == {r.name for r in source.resources()}
    for message in [database[0].message] + [c.message for c in unread]:
        assert f"127.0.0.1:{port}" in message and "s3cret" not in message and "***" in message


def test_sqlite_statements_stop_at_the_timeout(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", timeout=0.3)
    slow = sa.text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                   "SELECT count(*) FROM n")
    with pytest.raises(sa.exc.OperationalError) as caught, engine.connect() as conn:
        conn.execute(slow)
    assert isinstance(translate(caught.value, "slow query", "x"), SourceTimeout)


def test_mariadb_statements_stop_at_the_timeout_and_are_read_only(mariadb: MariaDB) -> None:
    url = mariadb.create_database("readonly_check")
    engine = build_engine(url, timeout=1.0)
    with pytest.raises(sa.exc.OperationalError) as caught, engine.connect() as conn:
        conn.execute(sa.text("SELECT SLEEP(5)"))
    assert isinstance(translate(caught.value, "slow query", "x"), SourceTimeout), caught.value
    execute(url, sa.text("CREATE TABLE t (i INTEGER)"))
    with pytest.raises(sa.exc.DBAPIError, match="READ ONLY"), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))


def test_connections_are_read_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ro.sqlite'}"
    load("keystone", url).dispose()
    engine = build_engine(url, timeout=5)
    with pytest.raises(sa.exc.OperationalError, match="readonly"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM revocation_event"))


def test_the_database_answers_with_its_clock(database: Loader) -> None:
    """``sql.database`` OK about the catalog's database service, and the database's own
    time (naive UTC, as OpenStack stores its times) kept for the heartbeat ages."""
    source = NovaSql(database("nova"), timeout=10)
    out = source.collect()
    [check] = [c for c in out.checks if c.name == "sql.database"]
    assert check.status is Status.OK and dict(check.labels)["service"] == "mysql"
    assert dict(check.labels)["database"] == "nova"
    assert source.db_now is not None and source.db_now.tzinfo is None
    assert abs((source.db_now - utcnow()).total_seconds()) < 5
    late = [c for c in out.checks if c.name == "nova.db_heartbeat"]
    assert late and all(dict(c.labels)["host"] for c in late)


def test_postgresql_gives_its_clock_in_utc(postgres: PostgreSQL) -> None:
    source = NovaSql(postgres.url(), timeout=10)
    try:
        assert source.db_now is None
        assert abs((source._clock() - utcnow()).total_seconds()) < 5
    finally:
        source.close()
