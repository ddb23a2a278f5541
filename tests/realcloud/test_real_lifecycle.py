"""The life of real instances, read by stackwatch from the real nova's API and databases.

A server is booted, cold migrated (fake driver, two computes: fake-compute-1 and -2),
its resize confirmed, stopped and deleted; another one fails to boot (NoValidHost: a
flavor wanting more disk than any host has; it lands in cell0). ``api.compute`` and
``sql.nova``/``sql.nova_cell0`` must give the right actions with their results, the
fault, the migration with its duration, and the trace of each instance must tell it.
Everything made here is deleted at the end.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openstack.warnings import OpenStackDeprecationWarning

from realcloud.cloud import RealCloud
from realcloud.resources import Resources
from stackwatch.config import LifecycleConfig, load_config
from stackwatch.model import Collection, Event, Status
from stackwatch.query.trace import timeline
from stackwatch.sources.openstack_api import client_for
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.sql import sql_sources
from stackwatch.sources.sql.nova import NovaSql
from stackwatch.store.sqlite import SQLiteStore

WAIT_S = 180.0
VM, FAILED, HUGE = "rc-lc-vm", "rc-lc-novalidhost", "rc-lc-huge"
#: the resources of the sources this module is about
LIFE = ("instance_actions", "instance_faults", "migrations")


def wait(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(2.0)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


class Watch:
    """The lifecycle sources on the real cloud, their events gathered across runs."""

    def __init__(self, cloud: RealCloud, workdir: Path) -> None:
        config = load_config(cloud.write_stackwatch_yaml("lifecycle.yaml"))
        watched = config.clouds[0].model_copy(update={"lifecycle": LifecycleConfig(
            lookback=900, migration_stuck_after=600)})
        self.client = client_for(watched)
        self.api = ComputeSource(self.client, config.intervals, watched.latency,
                                 watched.lifecycle)
        self.sql = {s.database: s for s in sql_sources(watched, config.intervals)
                    if isinstance(s, NovaSql)}
        self.store = SQLiteStore(workdir / "lifecycle.sqlite")
        self.events: dict[str, list[Event]] = {"api": [], **{db: [] for db in self.sql}}
        self.last: dict[str, Collection] = {}

    def collect(self) -> None:
        for name, source in (("api", self.api), *self.sql.items()):
            out = source.collect()
            bad = [c.message for c in out.checks if c.name == "stackwatch.resource"
                   and c.status is not Status.OK and dict(c.labels)["resource"] in LIFE]
            assert not bad, (name, bad)
            self.store.write(out, f"lifecycle.{name}")
            self.events[name] += out.events
            self.last[name] = out

    def of(self, instance: str, kind: str = "instance_action",
           source: str = "api") -> list[Event]:
        return [e for e in self.events[source]
                if e.kind == kind and instance in e.resource_ids]

    def settled(self, instance: str, source: str = "api") -> dict[str, str]:
        """action -> result of the settled actions of ``instance`` seen so far."""
        return {e.event_type: dict(e.attributes)["result"]
                for e in self.of(instance, source=source) if "/" not in e.event_type}

    def total(self, source: str, name: str, **labels: str) -> float:
        return sum(s.value for s in self.last[source].samples if s.name == name
                   and all(s.label(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def conn(realcloud: RealCloud) -> Iterator[Any]:
    connection: Any = realcloud.connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def watch(realcloud: RealCloud, resources: Resources,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watch]:
    found = Watch(realcloud, tmp_path_factory.mktemp("lifecycle"))
    found.collect()  # what happened before this module: its baseline
    yield found
    found.store.close()


@pytest.fixture(scope="module")
def lived(conn: Any, watch: Watch, resources: Resources) -> Iterator[dict[str, str]]:
    """Boot, migrate, confirm, stop, delete one server; fail to boot another. The ids."""
    compute = conn.compute
    made: dict[str, str] = {}
    with warnings.catch_warnings():
        _ignore_sdk_warnings()  # pytest resets the filters at teardown: _clean sets its own
        yield from _live(compute, resources, watch, made)


def _ignore_sdk_warnings() -> None:
    """openstacksdk 4.x deprecates find_*(ignore_missing=True) (resources.py says why)."""
    warnings.simplefilter("ignore", OpenStackDeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)


def _clean(compute: Any) -> None:
    """Delete what this module makes (left over by an interrupted run, or made now)."""
    with warnings.catch_warnings():
        _ignore_sdk_warnings()
        for server in list(compute.servers(all_projects=True)):
            if server.name in (VM, FAILED):
                compute.delete_server(server, force=True)
                gone: str = server.id
                wait(f"{server.name} deleted",
                     lambda: compute.find_server(gone) is None)  # noqa: B023 - waited here
        huge = compute.find_flavor(HUGE)
        if huge is not None:
            compute.delete_flavor(huge)


def _live(compute: Any, resources: Resources, watch: Watch,
          made: dict[str, str]) -> Iterator[dict[str, str]]:
    _clean(compute)
    try:
        server = compute.create_server(name=VM, flavor_id=resources.flavor_id,
                                       image_id=resources.image_id, networks="none")
        made["vm"] = server.id
        wait("ACTIVE", lambda: compute.get_server(server.id).status == "ACTIVE")
        before = compute.get_server(server.id).compute_host
        compute.migrate_server(server)
        wait("VERIFY_RESIZE", lambda: compute.get_server(server.id).status == "VERIFY_RESIZE")
        # the monitor looks while the instance lives: nova soft-deletes an instance's
        # migrations with it, and neither os-migrations nor the table shows them then
        watch.collect()
        compute.confirm_server_resize(server)
        wait("ACTIVE again", lambda: compute.get_server(server.id).status == "ACTIVE")
        watch.collect()
        assert compute.get_server(server.id).compute_host != before
        made["source_host"] = before or ""
        compute.stop_server(server)
        wait("SHUTOFF", lambda: compute.get_server(server.id).status == "SHUTOFF")
        compute.delete_server(server)
        wait("deleted", lambda: compute.find_server(server.id) is None)
        huge = compute.create_flavor(name=HUGE, vcpus=1, ram=64, disk=700000)
        failed = compute.create_server(name=FAILED, flavor_id=huge.id,
                                       image_id=resources.image_id, networks="none")
        made["failed"] = failed.id
        wait("ERROR", lambda: compute.get_server(failed.id).status == "ERROR")
        made["fault"] = compute.get_server(failed.id).fault["message"]
        yield made
    finally:
        _clean(compute)


def test_boot_migrate_stop_delete_give_their_actions(lived: dict[str, str],
                                                      watch: Watch) -> None:
    vm = lived["vm"]
    wanted = {"create", "migrate", "confirmResize", "stop", "delete"}

    def all_settled() -> bool:
        watch.collect()
        return wanted <= set(watch.settled(vm)) and wanted <= set(watch.settled(vm, "nova"))
    wait(f"the actions of {vm}", all_settled, timeout=120)
    assert {a: r for a, r in watch.settled(vm).items() if a in wanted} == dict.fromkeys(
        wanted, "success")
    # each once, however many runs read them; the action's request id on each
    creates = [e for e in watch.of(vm) if e.event_type == "create"]
    assert len(creates) == 1 and creates[0].request_id.startswith("req-")
    steps = [e for e in watch.of(vm) if e.event_type.startswith("create/")]
    assert steps and all(e.request_id == creates[0].request_id for e in steps)
    assert any(e.event_type == "migrate/compute_finish_resize" for e in watch.of(vm))
    # the migration: seen done, with its duration, counted once in the histogram
    migrations = watch.of(vm, "migration")
    statuses = [dict(e.attributes)["status"] for e in migrations]
    assert statuses == ["finished", "confirmed"], migrations
    done = migrations[:1]
    duration = float(dict(done[0].attributes)["duration"])
    assert 0 < duration < WAIT_S
    assert dict(done[0].attributes)["source_compute"] == lived["source_host"]
    assert watch.total("api", "openstack_nova_migration_duration_seconds_count",
                       migration_type="migration") >= 1
    assert watch.total("api", "openstack_nova_migrations_in_progress") == 0
    [check] = [c for c in watch.last["api"].checks if c.name == "nova.migrations"]
    assert check.status is Status.OK
    # the database saw the same actions (the cell database: the server was placed)
    assert {a: r for a, r in watch.settled(vm, "nova").items() if a in wanted} == \
        dict.fromkeys(wanted, "success")
    assert watch.total("nova", "openstack_nova_db_instance_actions_total", action="migrate",
                       result="success") >= 1
    # one token for every run of the API source
    assert watch.client.tokens_issued == 1
    # the trace: every action, the migration, each once although API and SQL read them
    story = timeline(watch.store, vm, time.time())
    assert story.kind == "instance"
    actions = [s.origin for s in story.steps if s.kind == "instance_action"
               and "/" not in s.origin]
    assert sorted(actions) == sorted(set(actions)) and wanted <= set(actions)
    assert actions.index("create") < actions.index("migrate") < actions.index("delete")
    assert any(s.kind == "migration" for s in story.steps)


def test_a_failed_boot_gives_a_failed_create_and_its_fault(lived: dict[str, str],
                                                            watch: Watch) -> None:
    failed = lived["failed"]

    def told() -> bool:
        watch.collect()
        return (watch.settled(failed).get("create") == "error"
                and watch.settled(failed, "nova_cell0").get("create") == "error"
                and bool(watch.of(failed, "fault")) and bool(
                    watch.of(failed, "fault", "nova_cell0")))
    wait(f"the failed create of {failed}", told, timeout=120)
    faults = watch.of(failed, "fault") + watch.of(failed, "fault", "nova_cell0")
    # the message as nova wrote it, spaces folded (a fault may end in one, or hold a newline)
    assert len(faults) == 2 and {f.message for f in faults} == {" ".join(lived["fault"].split())}
    assert "No valid host" in lived["fault"]
    assert all(dict(f.attributes)["code"] == "500" for f in faults)
    steps = [e for e in watch.of(failed) if e.event_type.startswith("create/")]
    assert any(e.event_type == "create/conductor_schedule_and_build_instances"
               and dict(e.attributes)["result"] == "Error" for e in steps)
    # cell0 has it too
    assert watch.total("nova_cell0", "openstack_nova_db_instance_faults_total", code="500") >= 1
    assert watch.total("api", "openstack_nova_instance_actions_failed_total") >= 1
    story = timeline(watch.store, failed, time.time())
    kinds = [(s.kind, s.origin) for s in story.steps]
    assert ("fault", "fault/500") in kinds and ("instance_action", "create") in kinds
    assert len([k for k in kinds if k == ("fault", "fault/500")]) == 1
    assert story.errors >= 3
