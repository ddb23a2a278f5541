"""The store's contract, each test run on SQLite and on PostgreSQL (``stores``): write/read
round trips, statistics, each source's latest run, retention, reading during a write."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stackwatch.config import StoreConfig
from stackwatch.errors import StoreError
from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    Item,
    ItemKind,
    PerfDatum,
    Sample,
    Severity,
    Status,
    make_labels,
)
from stackwatch.sources.logs import LogsSource
from stackwatch.store.base import Statistics, Store
from stackwatch.store.opening import open_store
from stackwatch.store.request_index import RequestIndex

T0 = 1_700_000_000.0


@pytest.fixture
def store(store_config: StoreConfig) -> Iterator[Store]:
    s = open_store(store_config)
    yield s
    s.close()


def series(name: str, values: list[float], step: float = 60.0, **labels: object) -> Collection:
    return Collection(tuple(Sample.of(name, v, T0 + i * step, **labels)
                            for i, v in enumerate(values)))


def test_latest_range_and_statistics(store: Store) -> None:
    store.write(series("vms", [1, 5, 3], state="error"))
    store.write(series("vms", [10, 20], state="active"))
    store.write(series("free", [7]))
    latest = store.latest_samples("vms")
    assert [(s.label("state"), s.value, s.timestamp) for s in latest] == [
        ("active", 20.0, T0 + 60), ("error", 3.0, T0 + 120)]
    assert {s.name for s in store.latest_samples()} == {"vms", "free"}
    error = make_labels(state="error")
    got = store.sample_range("vms", T0, T0 + 60, error)
    assert [(s.value, s.timestamp) for s in got] == [(1.0, T0), (5.0, T0 + 60)]
    assert len(store.sample_range("vms", T0, T0 + 60)) == 4
    assert store.statistics("vms", T0, T0 + 200, error) == Statistics(3, 1.0, 5.0, 3.0, 9.0, 3.0)
    assert store.statistics("vms", T0 + 1000, T0 + 2000, error) is None
    both = store.statistics("vms", T0, T0 + 200)
    assert both is not None and both.count == 5 and both.total == 39.0


def test_an_older_sample_does_not_replace_the_latest(store: Store) -> None:
    store.write(Collection((Sample.of("x", 2, T0 + 60),)))
    store.write(Collection((Sample.of("x", 1, T0),)))
    assert [(s.value, s.timestamp) for s in store.latest_samples("x")] == [(2.0, T0 + 60)]
    # the same timestamp written again replaces the value, not duplicates it
    store.write(Collection((Sample.of("x", 3, T0 + 60),)))
    assert [s.value for s in store.sample_range("x", 0, T0 * 2)] == [1.0, 3.0]


def test_checks_keep_latest_per_name_and_labels(store: Store) -> None:
    perf = (PerfDatum("latency", 0.25, "s", 2, 10, 0),)
    old = CheckResult("api.endpoint", Status.OK, "fine", make_labels(service="nova"), perf, T0)
    new = CheckResult("api.endpoint", Status.CRITICAL, "down", make_labels(service="nova"),
                      timestamp=T0 + 60)
    other = CheckResult("api.endpoint", Status.OK, "ok", make_labels(service="glance"),
                        timestamp=T0)
    store.write(Collection(checks=(old, other)))
    assert store.latest_checks() == [other, old]
    store.write(Collection(checks=(new,)))
    assert store.latest_checks() == [other, new]
    store.write(Collection(checks=(old,)))  # late arrival does not win
    assert store.latest_checks() == [other, new]


def test_events_by_kind_request_and_resource(store: Store) -> None:
    events = [
        Event("notification", "compute.instance.create.end", T0, Severity.INFO, "nova", "cmp1",
              "created", "req-1", ("vm-1", "port-1"), make_labels(tenant="p1")),
        Event("log", "nova.compute.manager", T0 + 1, Severity.ERROR, "nova", "cmp1",
              "boom", "req-1", ("vm-1",)),
        Event("log", "cinder.volume", T0 + 2, Severity.ERROR, "cinder", "st1", "x", "req-2",
              ("vol-1",)),
    ]
    store.write(Collection(events=tuple(events)))
    assert store.events(T0, T0 + 10) == events
    assert store.events(T0, T0 + 10, kinds=["log"]) == events[1:]
    assert store.events(T0, T0 + 10, request_id="req-1") == events[:2]
    assert store.events(T0, T0 + 10, resource_id="vm-1") == events[:2]
    assert store.events(T0, T0 + 10, resource_id="port-1", kinds=["log"]) == []
    assert store.events(T0, T0 + 10, limit=1) == events[:1]


def test_an_event_with_a_key_is_stored_once(store: Store) -> None:
    keyed = Event("fault", "fault/500", T0, Severity.ERROR, "nova", "", "NoValidHost",
                  resource_ids=("vm-1",), key="openstack_nova|fault|vm-1|1700000000.0|500")
    plain = Event("log", "nova.compute.manager", T0 + 1, message="boom", resource_ids=("vm-1",))
    store.write(Collection(events=(keyed, plain, keyed)))  # twice in one write, too
    store.write(Collection(events=(keyed, plain)), "again")
    found = store.events(T0, T0 + 10, resource_id="vm-1")
    assert [e.kind for e in found] == ["fault", "log", "log"]  # no key: each write kept


def test_an_older_sqlite_store_gets_the_key_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:  # the events table as stores before keys had it
        old.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT "
                    "NOT NULL, event_type TEXT NOT NULL, severity INTEGER NOT NULL, service "
                    "TEXT NOT NULL, host TEXT NOT NULL, message TEXT NOT NULL, request_id TEXT "
                    "NOT NULL, resource_ids TEXT NOT NULL, attributes TEXT NOT NULL)")
        old.execute("INSERT INTO events VALUES (1, ?, 'log', 'x', 20, '', '', 'kept', '', "
                    "'[]', '{}')", (T0,))
    store = open_store(StoreConfig(path=path))
    try:
        keyed = Event("migration", "resize/finished", T0 + 1, key="k")
        store.write(Collection(events=(keyed,)))
        store.write(Collection(events=(keyed,)))
        assert [e.message for e in store.events(T0, T0 + 10)] == ["kept", ""]
    finally:
        store.close()


def test_prune_keeps_what_was_seen_since_and_drops_the_rest(store: Store) -> None:
    store.write(series("x", [1, 2, 3]))                  # T0, T0+60, T0+120
    store.write(Collection((Sample.of("deleted_vm", 1, T0 + 10, id="vm-1"),)))
    store.write(Collection(
        checks=(CheckResult("c", Status.OK, "ok", timestamp=T0),
                CheckResult("c", Status.OK, "ok", timestamp=T0 + 200),
                CheckResult("gone", Status.OK, "ok", timestamp=T0 + 5)),
        events=(Event("log", "t", T0, resource_ids=("r",)),)))
    removed = store.prune(T0 + 100)
    # two x samples, the deleted VM's series and sample, the superseded "c" check,
    # the "gone" check and its latest row, the event and its resource row
    assert removed == 2 + 2 + 1 + 2 + 2
    assert [s.value for s in store.sample_range("x", 0, T0 * 2)] == [3.0]
    assert [s.value for s in store.latest_samples("x")] == [3.0]
    assert store.latest_samples("deleted_vm") == []
    assert [c.name for c in store.latest_checks()] == ["c"]
    assert store.events(0, T0 * 2) == []
    # the pruned series can come back (the store's id cache forgot it too)
    store.write(Collection((Sample.of("deleted_vm", 5, T0 + 300, id="vm-1"),)))
    assert [s.value for s in store.latest_samples("deleted_vm")] == [5.0]
    assert store.prune(T0 + 100) == 0


def test_prune_drops_a_series_whose_newest_value_is_older(store: Store) -> None:
    store.write(series("x", [7], step=0))
    store.write(series("y", [1]))
    store.write(Collection((Sample.of("y", 2, T0 + 500),)))
    store.prune(T0 + 100)
    assert {s.name: s.value for s in store.latest_samples()} == {"y": 2.0}


def test_reopen_keeps_series_ids(store_config: StoreConfig) -> None:
    first = open_store(store_config)
    first.write(series("x", [1], a=1))
    first.close()
    second = open_store(store_config)
    second.write(Collection((Sample.of("x", 2, T0 + 60, a=1), Sample.of("y", 1, T0))))
    assert [s.value for s in second.sample_range("x", 0, T0 * 2)] == [1.0, 2.0]
    assert {s.name for s in second.latest_samples()} == {"x", "y"}
    second.close()


class Writer:
    """Another connection to the store's database that holds a write transaction open,
    as a big write (of this or another server) does."""

    def __init__(self, config: StoreConfig) -> None:
        self.conn: sqlite3.Connection | psycopg.Connection[tuple[object, ...]]
        if config.url is None:
            self.conn = sqlite3.connect(config.path, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = psycopg.connect(config.url.replace("+psycopg", ""))

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def commit(self) -> None:
        self.conn.execute("COMMIT") if isinstance(self.conn, sqlite3.Connection) \
            else self.conn.commit()
        self.conn.close()


def test_a_reader_is_not_blocked_by_a_long_write(store_config: StoreConfig) -> None:
    store = open_store(store_config)
    store.write(series("x", [1]))
    writer = Writer(store_config)
    writer.execute("UPDATE series SET last_value = 99")
    seen: list[list[Sample]] = []
    reader = threading.Thread(target=lambda: seen.append(store.latest_samples("x")))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reader blocked by the writer"
    assert [s.value for s in seen[0]] == [1.0]  # the committed snapshot
    writer.commit()
    assert [s.value for s in store.latest_samples("x")] == [99.0]
    store.close()


def test_failed_write_is_rolled_back_whole(store: Store) -> None:
    store.write(series("x", [1]))
    bad_event = Event("log", "t", T0, resource_ids=(object(),))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.write(Collection((Sample.of("new", 1, T0), Sample.of("x", 7, T0 + 60)),
                               events=(bad_event,)))
    assert store.latest_samples("new") == []
    assert [s.value for s in store.latest_samples("x")] == [1.0]
    store.write(Collection((Sample.of("new", 2, T0),)))  # its series is created afresh
    assert [s.value for s in store.latest_samples("new")] == [2.0]


def test_a_write_the_database_refuses_leaves_nothing(store: Store) -> None:
    """A NaN (which neither store keeps) fails the write whole: no sample of it, no
    check, no event, no series made; the store goes on."""
    store.write(series("x", [1]), "api.compute")
    with pytest.raises(StoreError, match="write failed"):
        store.write(Collection((Sample.of("new", 1, T0), Sample.of("x", float("nan"), T0 + 60)),
                               (CheckResult("c", Status.OK, "", timestamp=T0),),
                               (Event("log", "t", T0),)), "api.compute")
    assert [(s.name, s.value) for s in store.latest_samples()] == [("x", 1.0)]
    assert store.latest_checks() == [] and store.events(0, T0 * 2) == []
    store.write(Collection((Sample.of("new", 2, T0),)), "api.compute")
    assert [(s.name, s.value) for s in store.latest_samples()] == [("new", 2.0)]


def test_a_sources_latest_run_replaces_its_previous_one(store_config: StoreConfig) -> None:
    """What a source's latest run did not emit (a label value that changed, a member that
    went, everything after a failed run) leaves the latest reads; history stays."""
    store = open_store(store_config)
    alive = Sample.of("agent_up", 1, T0, host="net1", state="alive")
    dead = Sample.of("agent_up", 1, T0 + 60, host="net1", state="dead")
    other = Sample.of("vms", 3, T0)
    check = CheckResult("agent", Status.CRITICAL, "net1 down", make_labels(host="net1"),
                        timestamp=T0)
    store.write(Collection((alive, other), (check,)), "api.network")
    store.write(Collection((Sample.of("x", 1, T0),),
                           (CheckResult("c", Status.OK, "", timestamp=T0),)), "sql.nova")
    store.write(Collection((dead, other), ()), "api.network")
    assert {(s.name, s.label("state")) for s in store.latest_samples()} == {
        ("agent_up", "dead"), ("vms", ""), ("x", "")}
    assert [c.name for c in store.latest_checks()] == ["c"]  # the agent was deleted
    assert len(store.sample_range("agent_up", 0, T0 * 2)) == 2  # history kept
    store.close()
    reopened = open_store(store_config)  # what each source holds survives
    reopened.write(Collection((), ()), "api.network")  # a failed run: nothing of it
    assert {s.name for s in reopened.latest_samples()} == {"x"}
    assert [c.name for c in reopened.latest_checks()] == ["c"]
    reopened.write(Collection((alive,)))  # without a source: added, never replaced
    reopened.write(Collection((other,)))
    assert {s.name for s in reopened.latest_samples()} == {"x", "agent_up", "vms"}
    reopened.close()


def test_retain_keeps_the_sources_named_and_writes_without_one(store: Store) -> None:
    for source in ("api.compute", "api.network", "sql.nova"):
        store.write(Collection((Sample.of("x", 1, T0, source=source),),
                               (CheckResult("c", Status.OK, "", make_labels(source=source),
                                            timestamp=T0),)), source)
    store.write(Collection((Sample.of("backfilled", 1, T0),),
                           (CheckResult("c", Status.OK, "", timestamp=T0),)))
    store.retain(["api.compute", "sql.nova", "api.gone"])
    assert [s.label("source") or s.name for s in store.latest_samples()] == [
        "backfilled", "api.compute", "sql.nova"]
    assert [dict(c.labels).get("source") for c in store.latest_checks()] == [
        "api.compute", "sql.nova", None]  # by labels as text: '{"source":…}' < '{}'
    assert len(store.sample_range("x", 0, T0 * 2)) == 3  # history stays
    store.retain([])
    assert [s.name for s in store.latest_samples()] == ["backfilled"]


def test_reads_are_in_byte_order_whatever_the_locale(store: Store) -> None:
    """Label sets sort as SQLite compares text (bytes), not as a locale would ('a' < 'B')."""
    hosts = ["b", "B", "a", "Z", "_x", "A1", "a1", "a-1"]
    store.write(Collection(tuple(Sample.of("m", i, T0, host=h) for i, h in enumerate(hosts))),
                "api.compute")
    store.write(Collection(checks=tuple(CheckResult("c", Status.OK, "", make_labels(host=h),
                                                    timestamp=T0) for h in hosts)), "sql.nova")
    in_bytes = sorted(hosts, key=lambda h: h.encode())
    assert [s.label("host") for s in store.latest_samples("m")] == in_bytes
    assert [dict(c.labels)["host"] for c in store.latest_checks()] == in_bytes
    assert [s.label("host") for s in store.sample_range("m", 0, T0 * 2)] == in_bytes


def server(item_id: str, message: str = "boom", ts: float = T0, **attributes: str) -> Item:
    return Item(ItemKind.SERVER, item_id, f"vm-{item_id}", "ERROR", "cmp1", "p1", message,
                T0 - 600, make_labels(attributes), ts)


def test_items_are_each_sources_current_state(store_config: StoreConfig) -> None:
    """A source's run replaces its items: changed ones change in place, gone ones go;
    another source's stay; no history is kept; a failed run (nothing) clears them."""
    store = open_store(store_config)
    volume = Item(ItemKind.VOLUME, "v1", "data", "deleting", since=T0 - 7200, timestamp=T0)
    store.write(Collection(items=(server("a", fault_code="500"), server("b"))), "api.compute")
    store.write(Collection(items=(volume,)), "api.block_storage")
    assert [(i.kind, i.id) for i in store.latest_items()] == [
        ("server", "a"), ("server", "b"), ("volume", "v1")]
    [a, b] = store.latest_items(ItemKind.SERVER)
    assert a == server("a", fault_code="500")  # every field round-trips
    assert a.attribute("fault_code") == "500" and b.since == T0 - 600
    store.write(Collection(items=(server("b", "no valid host", T0 + 60),)), "api.compute")
    [b] = store.latest_items("server")
    assert (b.id, b.message, b.timestamp) == ("b", "no valid host", T0 + 60)
    assert [i.id for i in store.latest_items("volume")] == ["v1"]
    store.close()
    reopened = open_store(store_config)  # what each source holds survives
    reopened.write(Collection(), "api.compute")  # a failed run
    assert [i.id for i in reopened.latest_items()] == ["v1"]
    reopened.write(Collection(items=(server("c"),)))  # without a source: added
    reopened.write(Collection(items=(server("d"),)))
    assert [i.id for i in reopened.latest_items("server")] == ["c", "d"]
    reopened.retain(["api.compute"])  # api.block_storage is no longer configured
    assert [i.id for i in reopened.latest_items()] == ["c", "d"]
    reopened.close()


def test_prune_drops_items_not_seen_since(store: Store) -> None:
    store.write(Collection(items=(server("old", ts=T0), server("new", ts=T0 + 100))))
    assert store.prune(T0 + 50) == 1
    assert [i.id for i in store.latest_items()] == ["new"]


def test_events_by_severity_service_host_and_newest_first(store: Store) -> None:
    events = [Event("log", "a", T0 + i, severity, service, host, f"m{i}")
              for i, (severity, service, host) in enumerate([
                  (Severity.INFO, "nova", "c1"), (Severity.ERROR, "nova", "c2"),
                  (Severity.WARNING, "cinder", "c1"), (Severity.CRITICAL, "nova", "c1")])]
    store.write(Collection(events=tuple(events)))
    assert store.events(T0, T0 + 10, min_severity=Severity.WARNING) == events[1:]
    assert store.events(T0, T0 + 10, service="nova", host="c1") == [events[0], events[3]]
    assert store.events(T0, T0 + 10, newest_first=True, limit=2) == [events[3], events[2]]
    assert store.events(T0, T0 + 10, min_severity=Severity.ERROR, service="nova",
                        newest_first=True) == [events[3], events[1]]


def test_log_story_reads_the_request_index_of_this_machine(store_config: StoreConfig,
                                                           tmp_path: Path) -> None:
    """SQLite keeps the index in its file; with PostgreSQL it stays in the local file
    (store.path) and the store reads it from there."""
    store = open_store(store_config)
    assert store.log_story("req-1") == []  # no index yet: nothing, no error
    request = "req-11111111-2222-3333-4444-555555555555"
    log = tmp_path / "log" / "nova" / "nova-api.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"2026-11-21 06:10:00.100 590 INFO nova.api.openstack.compute.servers "
                   f"[None {request} u p - default default] Creating server\n")
    index = RequestIndex(store_config.path)
    LogsSource("nova", log.parent.parent, ["nova/*.log"], None, "ctl1", index).collect()
    index.close()
    [record] = store.log_story(request)
    assert (record.service, record.host, record.request_id, record.message) == (
        "nova", "ctl1", request, "Creating server")
    store.close()


def test_the_audit_log_keeps_every_entry_newest_first_and_survives_prune(
        store: Store) -> None:
    from stackwatch.store.base import AuditEntry

    def entry(ts: float, fix: str, plan: str, target: str, dry_run: bool) -> AuditEntry:
        return AuditEntry(ts=ts, actor="alice", role="operator", runbook=fix, action="move",
                          target=target, before="net-1 a1", after="net-2 a2",
                          result="dry run" if dry_run else "applied", dry_run=dry_run,
                          plan_id=plan, fingerprint="f" + plan, args='{"agent": "net-1"}')

    store.record_audit([entry(T0, "l3-failover", "p1", "r1", True),
                        entry(T0, "l3-failover", "p1", "r2", True)])
    store.record_audit([entry(T0 + 5, "l3-failover", "p1", "r1", False),
                        entry(T0 + 9, "token-flush", "p2", "keystone.token", True)])
    store.record_audit([])
    everything = store.audit(T0 - 1, T0 + 10)
    assert [(e.ts, e.target, e.dry_run) for e in everything] == [
        (T0 + 9, "keystone.token", True), (T0 + 5, "r1", False), (T0, "r2", True),
        (T0, "r1", True)]
    assert [e.target for e in store.audit(T0, T0 + 10, runbook="l3-failover",
                                          plan_id="p1")] == ["r1", "r2", "r1"]
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    first = everything[-1]
    assert (first.actor, first.role, first.before, first.after, first.result,
            first.fingerprint, first.args) == ("alice", "operator", "net-1 a1", "net-2 a2",
                                               "dry run", "fp1", '{"agent": "net-1"}')
    assert store.audit(T0 - 1, T0 + 10, limit=1)[0].ts == T0 + 9
    assert store.audit(T0 + 20, T0 + 30) == []
    store.prune(T0 + 1000)  # retention does not reach the audit log
    assert len(store.audit(T0 - 1, T0 + 10)) == 4
