"""Instance actions, faults and migrations against the simulated cloud, from the API and
from the databases: failed boots become failed actions with their fault, in the trace and
as metrics; a migration shows in progress then done with its duration; a stuck one is
named; bad answers and an older schema are counted and never stop the rest."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackwatch.catalog.testing import assert_declared
from stackwatch.config import LifecycleConfig, load_config
from stackwatch.logcli import trace as trace_command
from stackwatch.model import Collection, Event, Status
from stackwatch.query.trace import timeline
from stackwatch.sim import ops
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.resources import RESOURCE_CHECK
from stackwatch.sources.sql import sql_sources
from stackwatch.sources.sql.nova import NovaSql
from stackwatch.store.sqlite import SQLiteStore
from stores import Stores

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False) as sim:
        yield sim


def api(cloud: SimulatedCloud, **config: int) -> ComputeSource:
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5)
    return ComputeSource(client, lifecycle=LifecycleConfig(**config))


def sql(cloud: SimulatedCloud, **config: int) -> dict[str, NovaSql]:
    loaded = load_config(cloud.config_path)
    watched = loaded.clouds[0].model_copy(update={"lifecycle": LifecycleConfig(**config)})
    return {s.database: s for s in sql_sources(watched, loaded.intervals)
            if isinstance(s, NovaSql)}


def total(collection: Collection, name: str, **labels: str) -> float:
    return sum(s.value for s in collection.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items()))


def resource(collection: Collection, name: str) -> Status:
    [check] = [c for c in collection.checks if c.name == RESOURCE_CHECK
               and dict(c.labels)["resource"] == name]
    return check.status


def of(events: tuple[Event, ...], kind: str, instance: str) -> list[Event]:
    return [e for e in events if e.kind == kind and instance in e.resource_ids]


def test_failed_boots_are_failed_actions_with_their_fault(cloud: SimulatedCloud,
                                                          tmp_path: Path) -> None:
    source = api(cloud)
    databases = sql(cloud)
    source.collect()  # what happened before: read once, not the subject here
    before = {db: s.collect() for db, s in databases.items()}
    cloud.inject("boots-fail", count=2, reason="novalidhost")
    cloud.inject("boots-fail", count=1, reason="spawn")  # replaces the record of the first
    cloud.flush()
    failed = [s for s in cloud.state.servers if s.name.startswith("failed-boot-")]
    assert len(failed) == 3 and all(s.vm_state == "error" for s in failed)
    out = source.collect()
    assert resource(out, "instance_actions") is Status.OK
    assert_declared(out)
    for server in failed:
        assert server.fault is not None
        [create] = [e for e in of(out.events, "instance_action", server.id)
                    if e.event_type == "create"]
        truth = next(a for a in cloud.state.instance_actions.by("server_id", server.id)
                     if a.action == "create")
        assert create.request_id == truth.id
        assert dict(create.attributes)["result"] == "error" and create.severity >= 40
        [step] = [e for e in of(out.events, "instance_action", server.id)
                  if e.event_type.startswith("create/")]
        assert step.event_type == f"create/{truth.events[-1].event}"
        [fault] = of(out.events, "fault", server.id)
        assert fault.message == server.fault.message
        assert dict(fault.attributes)["code"] == str(server.fault.code)
    assert total(out, "openstack_nova_instance_actions_total", action="create",
                 result="error") == 3
    assert total(out, "openstack_nova_instance_actions_failed_total") == 3
    assert total(out, "openstack_nova_instance_faults_total", code="500") == 3
    # read again: nothing is emitted twice, the counters stay
    again = source.collect()
    assert again.events == ()
    assert total(again, "openstack_nova_instance_actions_failed_total") == 3

    # the databases: NoValidHost instances live in cell0, the spawn failure in the cell
    after = {db: s.collect() for db, s in databases.items()}
    for collection in after.values():
        assert resource(collection, "instance_actions") is Status.OK, collection.checks
        assert_declared(collection)
    cell0 = after["nova_cell0"]
    grown = {db: total(after[db], "openstack_nova_db_instance_actions_failed_total")
             - total(before[db], "openstack_nova_db_instance_actions_failed_total")
             for db in after}
    assert grown == {"nova": 1, "nova_cell0": 2}
    for server in failed:
        db = "nova_cell0" if server.cell == "cell0" else "nova"
        [fault] = of(after[db].events, "fault", server.id)
        assert fault.message == server.fault.message  # type: ignore[union-attr]
    assert total(cell0, "openstack_nova_db_instance_faults_total", code="500") == 2

    # into the store, and the trace of one: the action, its failed step and the fault,
    # once each although both the API and the database read them
    store = SQLiteStore(tmp_path / "store.sqlite")
    try:
        store.write(out, "api.compute")
        for db, collection in after.items():
            store.write(collection, f"sql.{db}")
        victim = next(s for s in failed if s.cell == "cell0")
        story = timeline(store, victim.id, time.time())
        assert story.kind == "instance"
        kinds = sorted((s.kind, s.origin) for s in story.steps)
        assert kinds == sorted([("instance_action", "create"), ("fault", "fault/500"),
                                ("instance_action",
                                 "create/conductor_schedule_and_build_instances")])
        assert story.errors == 3
        # the same from the command line, as JSON
    finally:
        store.close()
    result = CliRunner().invoke(trace_command, [victim.id, "--store", str(tmp_path /
                                                                          "store.sqlite"),
                                                "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert [s["kind"] for s in printed["steps"]] == [s.kind for s in story.steps]
    assert printed["id"] == victim.id and printed["errors"] == 3


def test_a_migration_shows_in_progress_then_done_with_its_duration(
        cloud: SimulatedCloud) -> None:
    source = api(cloud)
    databases = sql(cloud)
    first = source.collect()
    nova = databases["nova"]
    nova.collect()
    server = next(s for s in cloud.state.servers if s.vm_state == "active" and s.host)
    began = 90.0
    migration = cloud.call(ops.begin_migration, cloud.state, server.id, ops.new_request_id(),
                           random.Random(3), "live-migration", began)
    assert migration is not None
    cloud.flush()
    moving = source.collect()
    db_moving = nova.collect()
    for out, prefix in ((moving, "openstack_nova"), (db_moving, "openstack_nova_db")):
        assert total(out, f"{prefix}_migrations_in_progress",
                     migration_type="live-migration") == 1
        assert total(out, f"{prefix}_host_migrations", host=migration.source_compute,
                     direction="out") == 1
        assert total(out, f"{prefix}_host_migrations", host=migration.dest_compute,
                     direction="in") == 1
        [event] = of(out.events, "migration", server.id)
        assert event.event_type == "live-migration/running"
        assert dict(event.attributes)["uuid"] == migration.uuid
        [check] = [c for c in out.checks if c.name == "nova.migrations"]
        assert check.status is Status.OK  # 90 s is not stuck
    count_before = total(first, "openstack_nova_migration_duration_seconds_count",
                         migration_type="live-migration")
    cloud.call(ops.end_migration, cloud.state, migration.id)
    cloud.flush()
    done = source.collect()
    db_done = nova.collect()
    for out, prefix in ((done, "openstack_nova"), (db_done, "openstack_nova_db")):
        assert total(out, f"{prefix}_migrations_in_progress",
                     migration_type="live-migration") == 0
        [event] = of(out.events, "migration", server.id)
        assert event.event_type == "live-migration/completed"
        took = float(dict(event.attributes)["duration"])
        assert began <= took < began + 60
        assert total(out, f"{prefix}_migration_duration_seconds_count",
                     migration_type="live-migration") == count_before + 1
        assert total(out, f"{prefix}_migration_duration_seconds_sum",
                     migration_type="live-migration") >= took
        assert total(out, f"{prefix}_migration_duration_seconds_bucket",
                     migration_type="live-migration", le="60") == count_before
        assert total(out, f"{prefix}_migration_duration_seconds_bucket",
                     migration_type="live-migration", le="120") == count_before + 1
    # the action: its steps finished, the action settled once
    [action] = [e for e in done.events if e.kind == "instance_action"
                and e.event_type == "live-migration"]
    assert server.id in action.resource_ids and dict(action.attributes)["result"] == "success"


def test_a_stuck_migration_is_named(cloud: SimulatedCloud) -> None:
    source = api(cloud, migration_stuck_after=1800)
    databases = sql(cloud, migration_stuck_after=1800)
    said = cloud.inject("migration-stuck", type="migration", minutes=45)
    cloud.flush()
    [stuck] = [m for m in cloud.state.migrations if m.status == "migrating"]
    assert stuck.uuid in said
    for out, prefix in ((source.collect(), "openstack_nova"),
                        (databases["nova"].collect(), "openstack_nova_db")):
        [check] = [c for c in out.checks if c.name == "nova.migrations"]
        assert check.status is Status.WARNING
        assert stuck.uuid in check.message and stuck.source_compute in check.message
        assert total(out, f"{prefix}_migrations_stuck") == 1
        assert total(out, f"{prefix}_migrations_in_progress", migration_type="migration") == 1
    # cleared: it ended in error, counted as a failed migration
    cloud.clear("migration-stuck")
    cloud.flush()
    out = source.collect()
    [check] = [c for c in out.checks if c.name == "nova.migrations"]
    assert check.status is Status.OK
    assert total(out, "openstack_nova_migrations_failed_total", migration_type="migration") == 1
    assert [e.event_type for e in of(out.events, "migration", stuck.server_id)] == [
        "migration/error"]


def test_bad_answers_are_counted_and_the_rest_read(cloud: SimulatedCloud) -> None:
    source = api(cloud)
    source.collect()
    known: set[str] = set()

    def failed_boots() -> list[str]:
        cloud.inject("boots-fail", count=2)
        cloud.flush()
        new = sorted(s.id for s in cloud.state.servers
                     if s.name.startswith("failed-boot-") and s.id not in known)
        known.update(new)
        return new

    # one instance deleted between the list and its actions: 404
    gone, fine = failed_boots()
    cloud.inject("api-500", status=404, path=f"/servers/{gone}/os-instance-actions")
    out = source.collect()
    cloud.clear("api-500")
    assert resource(out, "instance_actions") is Status.OK
    assert total(out, "openstack_nova_instance_actions_skipped_total", reason="gone") == 1
    assert of(out.events, "instance_action", fine)  # the other one is read
    assert not of(out.events, "instance_action", gone)
    assert len(of(out.events, "fault", gone)) == 1  # its fault came with the list
    # one instance whose actions answer is not JSON (cut short)
    garbled, fine = failed_boots()
    cloud.inject("api-truncated", path=f"/servers/{garbled}/os-instance-actions")
    out = source.collect()
    assert resource(out, "instance_actions") is Status.OK
    assert total(out, "openstack_nova_instance_actions_skipped_total", reason="invalid") == 1
    assert total(out, "openstack_nova_instance_actions_skipped_total", reason="gone") == 1
    assert of(out.events, "instance_action", fine)
    assert not of(out.events, "instance_action", garbled)


def test_backlog_is_bounded_newest_first_and_read_later(cloud: SimulatedCloud) -> None:
    source = api(cloud, max_instances=2)
    source.collect()
    while total(source.collect(), "openstack_nova_instance_actions_backlog"):
        pass  # what the generated cloud changed lately, read two at a time
    cloud.inject("boots-fail", count=5)
    cloud.flush()
    failed = sorted((s for s in cloud.state.servers if s.name.startswith("failed-boot-")),
                    key=lambda s: s.updated_at, reverse=True)
    seen: list[str] = []
    backlogs = []
    for _ in range(3):
        out = source.collect()
        backlogs.append(total(out, "openstack_nova_instance_actions_backlog"))
        seen += [e.resource_ids[0] for e in out.events
                 if e.kind == "instance_action" and e.event_type == "create"]
    assert backlogs == [3, 1, 0]
    assert sorted(seen) == sorted(s.id for s in failed)


def test_a_table_missing_in_an_older_schema(cloud: SimulatedCloud, tmp_path: Path) -> None:
    cloud.inject("boots-fail", count=1, reason="spawn")
    cloud.inject("migration-stuck")
    cloud.flush()
    nova_url = sql(cloud)["nova"].url
    original = Path(nova_url.removeprefix("sqlite:///"))
    old = tmp_path / "nova-old.sqlite"
    with sqlite3.connect(original) as live, sqlite3.connect(old) as copy:
        live.backup(copy)  # the write-ahead log's pages too
        copy.execute("DROP TABLE instance_actions_events")
    source = NovaSql(f"sqlite:///{old}")
    out = source.collect()
    assert resource(out, "instance_actions") is Status.UNKNOWN
    [check] = [c for c in out.checks if c.name == RESOURCE_CHECK
               and dict(c.labels)["resource"] == "instance_actions"]
    assert "instance_actions_events" in check.message and "missing" in check.message
    # the rest goes on: faults, migrations, instances
    for name in ("instance_faults", "migrations", "instances", "services"):
        assert resource(out, name) is Status.OK, name
    assert [c.status for c in out.checks if c.name == "nova.migrations"] == [Status.WARNING]
    assert any(e.kind == "fault" for e in out.events)


def test_a_restarted_source_stores_nothing_twice(cloud: SimulatedCloud, stores: Stores
                                                 ) -> None:
    """A server restart empties the sources' memory; the lookback read again (actions,
    their events, faults, migrations, from the API and the database) is kept once."""
    cloud.inject("boots-fail", count=2, reason="novalidhost")
    cloud.inject("migration-stuck")
    cloud.flush()
    store = stores.open()
    try:
        for run in range(2):  # the second run: new sources, as after a restart
            out = api(cloud).collect()
            store.write(out, "api.compute")
            for db, source in sql(cloud).items():
                store.write(source.collect(), f"sql.{db}")
            emitted = {e.key for e in out.events}
            assert {"instance_action", "fault", "migration"} <= {e.kind for e in out.events}
            assert "" not in emitted and len(emitted) == len(out.events)
            stored = store.events(0.0, time.time() + 60, limit=100_000)
            if run == 0:
                first = sorted((e.kind, e.event_type, e.request_id, e.resource_ids,
                                e.timestamp) for e in stored)
        again = sorted((e.kind, e.event_type, e.request_id, e.resource_ids, e.timestamp)
                       for e in stored)
        assert again == first  # the restarted sources emitted them all again: none stored
        for failed in (s for s in cloud.state.servers if s.name.startswith("failed-boot-")):
            assert len(store.events(0.0, time.time() + 60, kinds=("fault",),
                                    resource_id=failed.id)) == 2  # the API's, the cell's
    finally:
        store.close()
