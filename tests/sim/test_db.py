"""The simulator's service databases: real tables, loaded from the state, written through.

Each behaviour runs on SQLite and on a real MariaDB (``mariadb`` fixture): the same
row counts, soft-delete conventions and scenario effects an operator's SQL would see.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.db import schema
from stackwatch.sim.db.sync import ServiceDatabases
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.state import CloudState

# SHOW CREATE TABLE of the real 2026.1 databases (scripts/record_db.py).
REFERENCE_SQL = Path(__file__).parent.parent / "data" / "recorded" / "db"
_prefixes = itertools.count(1)


def reference_columns(database: str) -> dict[str, list[tuple[str, str]]]:
    """``{table: [(column, mariadb type), ...]}`` from the recorded SHOW CREATE TABLE."""
    text = (REFERENCE_SQL / f"{database}.sql").read_text()
    tables: dict[str, list[tuple[str, str]]] = {}
    for name, body in re.findall(r"CREATE TABLE `(\w+)` \((.*?)\n\) ENGINE", text, re.S):
        tables[name] = re.findall(r"^  `(\w+)` (\w+(?:\(\d+\))?)", body, re.M)
    return tables


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.integration)]
)
def backend(request: pytest.FixtureRequest) -> str | None:
    """``None`` for SQLite files, else a MariaDB server URL with a fresh prefix."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("mariadb")
    return str(server.url(f"t{next(_prefixes)}_"))


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, backend: str | None
) -> Iterator[tuple[CloudState, ServiceDatabases]]:
    """One loaded cloud per backend for this module; tests check DB == state after their
    own changes, so they do not depend on each other's."""
    tmp_path = tmp_path_factory.mktemp("world")
    state = CloudState()
    generate(
        state, Sizing.for_size("small"), seed=3, base_url="http://127.0.0.1:9", admin_password="pw"
    )
    dbs = ServiceDatabases(tmp_path, backend)
    dbs.create()
    dbs.attach(state)
    yield state, dbs
    dbs.close()


def rows(dbs: ServiceDatabases, database: str, sql: str, **params: Any) -> list[Any]:
    with dbs.engine(database).connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def scalar(dbs: ServiceDatabases, database: str, sql: str, **params: Any) -> Any:
    return rows(dbs, database, sql, **params)[0][0]


# ---------------------------------------------------------------------------- schema


@pytest.mark.unit
@pytest.mark.parametrize("database", schema.DATABASES)
def test_tables_have_the_real_columns_in_the_real_order(database: str) -> None:
    recorded = reference_columns(database)
    ours = schema.metadata(database).tables
    assert set(ours) == set(recorded)
    for name, columns in recorded.items():
        assert [c.name for c in ours[name].columns] == [c for c, _ in columns], name


@pytest.mark.integration
def test_mariadb_column_types_equal_the_recorded_ones(mariadb: Any, tmp_path: Path) -> None:
    dbs = ServiceDatabases(tmp_path, mariadb.url(f"types{next(_prefixes)}_"))
    dbs.create()
    try:
        for database in schema.DATABASES:
            for name, columns in reference_columns(database).items():
                shown = rows(dbs, database, f"SHOW CREATE TABLE `{name}`")[0][1]
                ours = dict(re.findall(r"^  `(\w+)` (\w+(?:\(\d+\))?)", shown, re.M))
                for column, sqltype in columns:
                    assert ours[column] == sqltype, f"{database}.{name}.{column}"
    finally:
        dbs.close()


@pytest.mark.unit
@pytest.mark.parametrize("database", schema.DATABASES)
def test_ddl_compiles_for_postgresql_and_names_are_unique(database: str) -> None:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    md = schema.metadata(database)
    index_names = [i.name for t in md.tables.values() for i in t.indexes]
    assert len(index_names) == len(set(index_names))  # one namespace per database
    assert not set(index_names) & set(md.tables)  # PostgreSQL: relations share it too
    for t in md.tables.values():
        assert "CREATE TABLE" in str(CreateTable(t).compile(dialect=postgresql.dialect()))
        for index in t.indexes:
            str(CreateIndex(index).compile(dialect=postgresql.dialect()))


# ---------------------------------------------------------------------------- load


def test_bulk_load_matches_the_state(world: tuple[CloudState, ServiceDatabases]) -> None:
    state, dbs = world
    live = [s for s in state.servers if s.cell == "cell1" and s.vm_state != "building"]
    by_state = Counter(s.vm_state for s in live)
    got = rows(
        dbs, "nova", "SELECT vm_state, COUNT(*) FROM instances WHERE deleted = 0 GROUP BY vm_state"
    )
    assert dict(got) == dict(by_state)
    assert scalar(dbs, "nova", "SELECT COUNT(*) FROM services WHERE deleted = 0") == len(
        state.compute_services
    )
    assert scalar(dbs, "nova", "SELECT SUM(vcpus_used) FROM compute_nodes") == sum(
        h.vcpus_used for h in state.hypervisors
    )
    assert scalar(dbs, "cinder", "SELECT COUNT(*) FROM volumes WHERE deleted = 0") == len(
        state.volumes
    )
    assert scalar(dbs, "neutron", "SELECT COUNT(*) FROM ports") == len(state.ports)
    assert scalar(dbs, "neutron", "SELECT COUNT(*) FROM routerl3agentbindings") == len(
        state.router_bindings
    )
    assert scalar(dbs, "keystone", "SELECT COUNT(*) FROM project WHERE is_domain = 0") == len(
        state.projects
    )
    used = sum(v for a in state.allocations for res in a.resources.values() for v in res.values())
    assert scalar(dbs, "placement", "SELECT SUM(used) FROM allocations") == used
    # cinder's own usage bookkeeping agrees: snapshots count against gigabytes too
    gigabytes = sum(v.size for v in state.volumes) + sum(s.size for s in state.snapshots)
    assert (
        scalar(dbs, "cinder", "SELECT SUM(in_use) FROM quota_usages WHERE resource = 'gigabytes'")
        == gigabytes
    )


# ---------------------------------------------------------------------------- write-through


def test_server_lifecycle_is_written_through(world: tuple[CloudState, ServiceDatabases]) -> None:
    state, dbs = world
    rng = random.Random(4)
    project = next(iter(state.projects))
    user = next(iter(state.users))
    flavor = next(iter(state.flavors))
    image = next(iter(state.images))
    booted = ops.create_server(
        state,
        name="db-test-vm",
        project_id=project.id,
        user_id=user.id,
        flavor=flavor,
        image_id=image.id,
        request_id="req-db-1",
        rng=rng,
    )
    dbs.flush()
    # scheduling: only a build request exists, no cell has the instance yet
    assert scalar(dbs, "nova", "SELECT COUNT(*) FROM instances WHERE uuid = :u", u=booted.id) == 0
    active = ops.finish_build(state, booted.id, rng)
    assert active is not None and active.vm_state == "active"
    broken = next(s for s in state.servers if s.vm_state == "active" and s.id != booted.id)
    ops.set_error(state, broken.id, "internal error: process exited while connecting to monitor")
    ops.delete_server(state, booted.id, "req-db-2")
    dbs.flush()

    row = rows(
        dbs,
        "nova",
        "SELECT id, deleted, vm_state, deleted_at FROM instances WHERE uuid = :u",
        u=booted.id,
    )[0]
    assert row[1] == row[0] and row[2] == "deleted" and row[3] is not None  # nova: deleted = id
    assert (
        scalar(dbs, "nova", "SELECT vm_state FROM instances WHERE uuid = :u", u=broken.id)
        == "error"
    )
    fault = rows(
        dbs,
        "nova",
        "SELECT code, message FROM instance_faults WHERE instance_uuid = :u",
        u=broken.id,
    )
    assert fault == [(500, "internal error: process exited while connecting to monitor")]
    actions = rows(
        dbs,
        "nova",
        "SELECT a.action, a.message, e.event, e.result FROM "
        "instance_actions a JOIN instance_actions_events e ON e.action_id = a.id "
        "WHERE a.instance_uuid = :u ORDER BY a.id",
        u=booted.id,
    )
    assert actions == [
        ("create", None, "compute__do_build_and_run_instance", "Success"),
        ("delete", None, "compute_terminate_instance", "Success"),
    ]
    # the API's view and the DB's agree on every vm_state
    live = Counter(s.vm_state for s in state.servers if s.cell == "cell1")
    got = rows(
        dbs, "nova", "SELECT vm_state, COUNT(*) FROM instances WHERE deleted = 0 GROUP BY vm_state"
    )
    assert dict(got) == dict(live)


def test_failed_scheduling_lands_in_cell0(world: tuple[CloudState, ServiceDatabases]) -> None:
    state, dbs = world
    project, user = next(iter(state.projects)), next(iter(state.users))
    server = ops.create_server(
        state,
        name="no-host",
        project_id=project.id,
        user_id=user.id,
        flavor=next(iter(state.flavors)),
        image_id=next(iter(state.images)).id,
        request_id="req-db-3",
        rng=random.Random(1),
    )
    ops.fail_build(state, server.id, no_valid_host=True)
    dbs.flush()
    assert scalar(dbs, "nova", "SELECT COUNT(*) FROM instances WHERE uuid = :u", u=server.id) == 0
    assert rows(
        dbs, "nova_cell0", "SELECT vm_state FROM instances WHERE uuid = :u", u=server.id
    ) == [("error",)]
    got = rows(
        dbs,
        "nova_cell0",
        "SELECT a.message, e.event, e.result FROM instance_actions a "
        "JOIN instance_actions_events e ON e.action_id = a.id WHERE a.instance_uuid = :u",
        u=server.id,
    )
    assert got == [("Error", "conductor_schedule_and_build_instances", "Error")]


def test_heartbeats_volumes_tokens_and_agents(world: tuple[CloudState, ServiceDatabases]) -> None:
    state, dbs = world
    service = next(s for s in state.compute_services if s.binary == "nova-compute")
    before = scalar(
        dbs, "nova", "SELECT updated_at FROM services WHERE id = :i", i=service.legacy_id
    )
    later = service.updated_at + timedelta(seconds=10)
    state.update(
        "compute_service", service.id, updated_at=later, report_count=service.report_count + 1
    )

    volume = next(v for v in state.volumes if v.status == "available")
    state.update("volume", volume.id, status="error_deleting")
    gone = next(v for v in state.volumes if v.status == "available" and v.id != volume.id)
    state.delete("volume", gone.id)

    now = state.now()
    token = state.add(
        r.Token(
            id="tok-1",
            user_id=next(iter(state.users)).id,
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            audit_id="WPGfvggOQVimAG-6U1ECng",
        )
    )
    revoked_before = scalar(dbs, "keystone", "SELECT COUNT(*) FROM revocation_event")
    state.update("token", token.id, revoked=True)

    binding = next(iter(state.router_bindings))
    state.delete("router_binding", binding.id)
    dbs.flush()

    after = scalar(
        dbs, "nova", "SELECT updated_at FROM services WHERE id = :i", i=service.legacy_id
    )
    assert str(after) > str(before)
    assert (
        scalar(dbs, "cinder", "SELECT status FROM volumes WHERE id = :i", i=volume.id)
        == "error_deleting"
    )
    deleted = rows(dbs, "cinder", "SELECT deleted, status FROM volumes WHERE id = :i", i=gone.id)
    assert [(bool(d), s) for d, s in deleted] == [(True, "deleted")]  # cinder: boolean deleted
    by_status = Counter(v.status for v in state.volumes)
    got = rows(
        dbs,
        "cinder",
        "SELECT status, COUNT(*) FROM volumes WHERE deleted = :f GROUP BY status",
        f=False,
    )
    assert dict(got) == dict(by_status)
    assert scalar(dbs, "keystone", "SELECT COUNT(*) FROM revocation_event") == revoked_before + 1
    assert rows(
        dbs,
        "keystone",
        "SELECT audit_id FROM revocation_event WHERE audit_id = :a",
        a="WPGfvggOQVimAG-6U1ECng",
    ) == [("WPGfvggOQVimAG-6U1ECng",)]
    assert (
        scalar(
            dbs,
            "neutron",
            "SELECT COUNT(*) FROM routerl3agentbindings WHERE router_id = :r",
            r=binding.router_id,
        )
        == 0
    )


# ---------------------------------------------------------------------------- scenarios


def test_token_bloat_and_revocation_growth(world: tuple[CloudState, ServiceDatabases]) -> None:
    state, dbs = world
    said = dbs.inject("token-bloat", {"rows": "20000", "user": "nova"})
    assert "20000" in said
    events_before = scalar(dbs, "keystone", "SELECT COUNT(*) FROM revocation_event")
    dbs.inject("revocation-growth", {"rows": "3000"})
    dbs.flush()
    nova = next(u for u in state.users if u.name == "nova")
    per_user = dict(rows(dbs, "keystone", "SELECT user_id, COUNT(*) FROM token GROUP BY user_id"))
    assert sum(per_user.values()) == 20000
    assert max(per_user, key=lambda u: per_user[u]) == nova.id
    assert per_user[nova.id] > 0.8 * 20000
    now = state.now().replace(tzinfo=None)
    expired = scalar(dbs, "keystone", "SELECT COUNT(*) FROM token WHERE expires < :n", n=now)
    assert 0.5 * 20000 < expired < 0.7 * 20000
    assert scalar(dbs, "keystone", "SELECT COUNT(*) FROM revocation_event") == events_before + 3000

    dbs.clear("token-bloat")
    dbs.clear("revocation-growth")
    dbs.flush()
    assert scalar(dbs, "keystone", "SELECT COUNT(*) FROM token") == 0
    assert scalar(dbs, "keystone", "SELECT COUNT(*) FROM revocation_event") == 0


@pytest.mark.unit
def test_unknown_scenario_and_user_are_clear_errors(tmp_path: Path) -> None:
    from stackwatch.errors import SimulatorError

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=1, base_url="http://x", admin_password="p")
    dbs = ServiceDatabases(tmp_path)
    dbs.create()
    dbs.attach(state)
    try:
        with pytest.raises(SimulatorError, match="no user named 'nobody'"):
            dbs.inject("token-bloat", {"user": "nobody"})
        with pytest.raises(SimulatorError, match="no scenario"):
            dbs.inject("disk-full", {})
    finally:
        dbs.close()


@pytest.mark.unit
def test_bad_db_url_is_a_clear_error(tmp_path: Path) -> None:
    from stackwatch.errors import SimulatorError

    dbs = ServiceDatabases(tmp_path, "mysql+pymysql://root@127.0.0.1:1/")
    with pytest.raises(SimulatorError, match="cannot create the service databases"):
        dbs.create()


@pytest.mark.integration
def test_databases_follow_a_churning_cloud(tmp_path: Path) -> None:
    """Boots, failures, deletes, power changes and heartbeats at a high rate: once the
    writer caught up, the DB says what the API's state says."""
    import time

    from stackwatch.sim.cloud import SimulatedCloud

    with SimulatedCloud(workdir=tmp_path, size="small", churn_rate=40.0, seed=5) as cloud:
        time.sleep(3)
        assert cloud.life is not None
        cloud.call(setattr, cloud.life, "churn_rate", 0.0)
        time.sleep(cloud.life.build_seconds + 1.5)  # let the last boots finish

        def snapshot() -> tuple[dict[str, int], dict[int, str]]:
            placed = [
                s
                for s in cloud.state.servers
                if not (s.vm_state == "building" and s.host is None and s.cell != "cell0")
            ]
            services = {
                s.legacy_id: s.updated_at.strftime("%Y-%m-%d %H:%M:%S")
                for s in cloud.state.compute_services
            }
            return dict(Counter(s.vm_state for s in placed)), services

        by_state, services = cloud.call(snapshot)
        cloud.flush()
        assert cloud.life.churned > 50
        got: Counter[str] = Counter()
        for database in ("nova", "nova_cell0"):
            engine = sa.create_engine(cloud.db_urls[database])
            with engine.connect() as conn:
                got.update(
                    dict(
                        conn.execute(
                            sa.text(
                                "SELECT vm_state, COUNT(*) FROM instances WHERE deleted = 0 "
                                "GROUP BY vm_state"
                            )
                        ).all()
                    )
                )
                if database == "nova":
                    in_db = {
                        i: str(t)[:19]
                        for i, t in conn.execute(
                            sa.text("SELECT id, updated_at FROM services WHERE deleted = 0")
                        ).all()
                    }
            engine.dispose()
        _, later = cloud.call(snapshot)
        assert dict(got) == by_state
        # heartbeats go on meanwhile: each row is at least as new as the state was at the
        # snapshot, and no newer than the state now
        assert in_db.keys() == services.keys()
        assert all(services[i] <= in_db[i] <= later[i] for i in in_db)


@pytest.mark.unit
def test_a_bad_row_costs_one_row_not_the_batch(tmp_path: Path) -> None:
    from stackwatch.sim.db.rows import Insert
    from stackwatch.sim.db.sync import count_rows

    dbs = ServiceDatabases(tmp_path)
    dbs.create()
    dbs.attach(CloudState())

    def token(i: int) -> Insert:
        return Insert("keystone", "token", {"id": f"t{i}", "expires": None, "extra": None,
                                            "valid": True, "trust_id": None, "user_id": "u"})

    try:
        dbs._write([token(1), token(1), token(2)])  # the duplicate fails, the others land
        assert count_rows(dbs.engine("keystone"), "token") == 2
        assert dbs.errors == 1
    finally:
        dbs.close()


@pytest.mark.unit
def test_every_inserted_row_names_every_column() -> None:
    """No column is left to a default by accident (bulk paths bind every column)."""
    from datetime import UTC, datetime

    from stackwatch.sim.db.rows import Insert, RowMapper
    from stackwatch.sim.db.sync import LOAD_ORDER

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=2, base_url="http://x", admin_password="p")
    tables = state.tables()
    records = [r for kind in LOAD_ORDER if kind in tables for r in tables[kind]]
    ops = RowMapper.initial_rows() + RowMapper().load(records, datetime.now(UTC))
    inserts = [op for op in ops if isinstance(op, Insert)]
    assert len({(op.database, op.table) for op in inserts}) >= 25
    for op in inserts:
        columns = [c.name for c in schema.table(op.database, op.table).columns]
        assert sorted(op.row) == sorted(columns), f"{op.database}.{op.table}"


@pytest.mark.integration
def test_a_failed_bulk_load_is_a_clear_error(mariadb: Any, tmp_path: Path) -> None:
    from stackwatch.errors import SimulatorError

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=2, base_url="http://x", admin_password="p")
    dbs = ServiceDatabases(tmp_path, mariadb.url(f"broken{next(_prefixes)}_"))
    dbs.create()
    prefix = dbs.url("nova").database
    mariadb.execute(f"DROP TABLE `{prefix}`.`instances`")  # an operator's mistake, say
    try:
        with pytest.raises(SimulatorError, match="loading the service databases failed"):
            dbs.attach(state)
    finally:
        dbs.close()


def test_bulk_tuples_store_exactly_what_sqlalchemy_stores(
    tmp_path: Path, backend: str | None
) -> None:
    """The bulk load and the write-through's updates bind tuples through the driver
    (SQLite dates as SQLAlchemy's text); every table must hold byte for byte what
    SQLAlchemy's ``insert()`` and ``update()`` write."""
    from datetime import UTC, datetime

    from stackwatch.sim.db.rows import Insert, RowMapper, Update
    from stackwatch.sim.db.sync import LOAD_ORDER, _insert_tuples, _update_tuples
    from stackwatch.sim.events import Change

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=5, base_url="http://x", admin_password="p")
    tables = state.tables()
    records = [rec for kind in LOAD_ORDER if kind in tables for rec in tables[kind]]
    at = datetime(2026, 11, 21, 6, 12, 23, tzinfo=UTC)
    mapper = RowMapper()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for op in mapper.load(records, at):
        if isinstance(op, Insert):
            grouped.setdefault((op.database, op.table), []).append(op.row)
    # what heartbeats, a disabled service and a power-off write through
    changes: list[Change] = []
    state.subscribe(changes.append)
    later = at + timedelta(seconds=37)
    for svc in state.compute_services:
        state.update("compute_service", svc.id, updated_at=later,
                     report_count=svc.report_count + 1)
    svc = next(iter(state.compute_services))
    state.update("compute_service", svc.id, disabled=True, disabled_reason="maintenance")
    for agent in state.agents:
        state.update("agent", agent.id, heartbeat_timestamp=later)
    for hyp in state.hypervisors:
        state.update("hypervisor", hyp.id, updated_at=later)
    server = next(s for s in state.servers if s.vm_state == "active")
    ops.power(state, server.id, False, "req-1")
    updates = [op for c in changes if mapper.handles(c.resource) for op in mapper.ops(c)
               if isinstance(op, Update)]
    assert len(updates) > len(state.compute_services) + len(state.agents)
    dumps = []
    for path in ("sqlalchemy", "tuples"):
        url = None
        if backend is not None:
            server = sa.make_url(backend)
            url = server.set(database=f"{server.database}{path}_").render_as_string(
                hide_password=False)
        dbs = ServiceDatabases(tmp_path / path, url)
        dbs.create()
        try:
            dump: dict[tuple[str, str], list[str]] = {}
            for (database, name), table_rows in grouped.items():
                table = schema.table(database, name)
                with dbs.engine(database).begin() as conn:
                    conn.execute(table.delete())  # the start-up rows
                    if path == "sqlalchemy":
                        conn.execute(table.insert(), table_rows)
                    else:
                        _insert_tuples(conn, table, table_rows)
            for op in updates:
                with dbs.engine(op.database).begin() as conn:
                    if path == "sqlalchemy":
                        ServiceDatabases._apply_one(conn, op)
                    else:
                        _update_tuples(conn, schema.table(op.database, op.table), [op])
            for database, name in grouped:
                with dbs.engine(database).connect() as conn:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    raw = conn.exec_driver_sql(f"SELECT * FROM {quoted}").fetchall()
                dump[(database, name)] = sorted(repr(tuple(row)) for row in raw)
            dumps.append(dump)
        finally:
            dbs.close()
    assert len(dumps[0]) >= 25 and sum(len(v) for v in dumps[0].values()) > 300
    assert dumps[0] == dumps[1]
