"""What only the PostgreSQL store has: several servers sharing it, its schema migrations,
its connection and its errors. On the session's real PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine

from servers import PostgreSQL
from stackwatch.cli import main
from stackwatch.config import StoreConfig
from stackwatch.errors import StoreError
from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    Item,
    Sample,
    Status,
    make_labels,
)
from stackwatch.sources.logs import LogsSource
from stackwatch.store.postgres import PostgresStore
from stackwatch.store.postgres_schema import MIGRATIONS, Migration, migrate
from stackwatch.store.request_index import RequestIndex
from stores import Stores

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def psql(config: StoreConfig, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a statement on the store's database (in its schema), committed."""
    assert config.url is not None
    with psycopg.connect(config.url.replace("+psycopg", ""), autocommit=True) as conn:
        cursor = conn.execute(sql.encode())
        return cursor.fetchall() if cursor.description else []


def server(config: StoreConfig, name: str) -> PostgresStore:
    """The store as one server (named ``name``) opens it."""
    assert config.url is not None
    return PostgresStore(config.url, writer=name)


def run(source: str, hosts: list[str], when: float, up: bool = True) -> Collection:
    """One run of a source that sees these hosts: a sample and a check each, and a
    series every source emits (the same row for all of them)."""
    status = Status.OK if up else Status.CRITICAL
    samples = [Sample.of("node_up", 1 if up else 0, when, host=h) for h in hosts]
    samples.append(Sample.of("cloud_regions", 1, when))
    checks = [CheckResult("node", status, f"{h} from {source}", make_labels(host=h),
                          timestamp=when) for h in hosts]
    return Collection(tuple(samples), tuple(checks))


def in_threads(*work: Callable[[], None]) -> None:
    """Run each callable in its own thread, all started together; re-raise a failure."""
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def wrap(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(call,)) for call in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]


@pytest.fixture
def config(postgres_stores: Stores) -> StoreConfig:
    return postgres_stores.config()


# ---------------------------------------------------------------- several servers
def test_two_servers_write_different_sources_at_once(config: StoreConfig) -> None:
    """Two servers, each writing its sources from two threads, 20 runs each at once, with
    a series they all share: every read shows each source's last run, one row per series,
    every check kept."""
    a, b = server(config, "ctl-a"), server(config, "ctl-b")
    hosts = {source: [f"{source}-h{i}" for i in range(300)]
             for source in ("api.compute", "api.network", "sql.nova", "sql.neutron")}
    runs = 20

    def writer(store: PostgresStore, source: str) -> Callable[[], None]:
        def write() -> None:
            for i in range(runs):
                # every other run sees a host less, so each run replaces the one before
                store.write(run(source, hosts[source][i % 2:], T0 + i), source)
        return write

    in_threads(writer(a, "api.compute"), writer(a, "api.network"),
               writer(b, "sql.nova"), writer(b, "sql.neutron"))
    last = {source: names[(runs - 1) % 2:] for source, names in hosts.items()}
    want = {h for names in last.values() for h in names}
    for reader in (a, b):
        latest = reader.latest_samples()
        assert Counter(s.name for s in latest) == {"node_up": len(want), "cloud_regions": 1}
        assert {s.label("host") for s in latest if s.name == "node_up"} == want
        assert {s.timestamp for s in latest} == {T0 + runs - 1}
        assert {dict(c.labels)["host"] for c in reader.latest_checks()} == want
    assert psql(config, "SELECT count(*), count(DISTINCT (name, labels)) FROM series") == [
        (1 + sum(len(h) for h in hosts.values()),) * 2]
    written = sum(len(range(i % 2, 300)) for i in range(runs)) * 4
    assert psql(config, "SELECT count(*) FROM checks") == [(written,)]
    assert psql(config, "SELECT writer, count(*) FROM sources GROUP BY writer ORDER BY 1") == [
        ("ctl-a", 2), ("ctl-b", 2)]
    a.close()
    b.close()


def test_two_servers_writing_one_source_replace_each_others_run_whole(
        config: StoreConfig) -> None:
    """The same source from two servers (an HA pair): in turn, each run replaces the
    other's; at once, every read (during and after) shows one whole run, never a mix."""
    a, b = server(config, "ctl-a"), server(config, "ctl-b")
    a.write(run("api.compute", ["h1", "h2"], T0), "api.compute")
    b.write(run("api.compute", ["h2", "h3"], T0 + 60, up=False), "api.compute")
    latest = a.latest_samples("node_up")
    assert [(s.label("host"), s.value) for s in latest] == [("h2", 0.0), ("h3", 0.0)]
    assert [c.status for c in a.latest_checks()] == [Status.CRITICAL] * 2
    a.write(run("api.compute", ["h4"], T0 + 120), "api.compute")
    assert [s.label("host") for s in b.latest_samples("node_up")] == ["h4"]
    assert [c.message for c in b.latest_checks()] == ["h4 from api.compute"]

    runs = {"a": [f"a{i}" for i in range(200)], "b": [f"b{i}" for i in range(150)]}
    done = threading.Event()
    mixed: list[set[str]] = []

    def writer(store: PostgresStore, side: str) -> Callable[[], None]:
        def write() -> None:
            for i in range(15):
                store.write(run("api.compute", runs[side], T0 + 200 + i), "api.compute")
        return write

    def reader() -> None:  # each read is one snapshot: one server's run (a..., b...)
        while not done.is_set():
            seen = {s.label("host")[0] for s in a.latest_samples("node_up")}
            checks = {dict(c.labels)["host"][0] for c in b.latest_checks()}
            if len(seen) != 1 or len(checks) != 1:
                mixed.append(seen | checks)

    watching = threading.Thread(target=reader)
    watching.start()
    try:
        in_threads(writer(a, "a"), writer(b, "b"))
    finally:
        done.set()
        watching.join(30)
    assert mixed == []
    hosts = [s.label("host") for s in a.latest_samples("node_up")]
    assert sorted(hosts) in (sorted(runs["a"]), sorted(runs["b"]))
    assert len(a.latest_checks()) == len(hosts)
    a.close()
    b.close()


def test_retain_drops_only_what_this_server_wrote_last(config: StoreConfig) -> None:
    a, b = server(config, "ctl-a"), server(config, "ctl-b")
    a.write(run("api.compute", ["h1"], T0), "api.compute")
    a.write(run("api.image", ["h2"], T0), "api.image")
    b.write(run("sql.nova", ["h3"], T0), "sql.nova")
    b.write(run("api.image", ["h4"], T0 + 60), "api.image")  # b took api.image over
    a.retain([])  # a restarted with no sources: only api.compute was a's
    assert {dict(c.labels)["host"] for c in a.latest_checks()} == {"h3", "h4"}
    b.retain(["sql.nova"])
    assert {s.label("host") for s in b.latest_samples("node_up")} == {"h3"}
    a.close()
    b.close()


# --------------------------------------------------------------------- migrations
def test_racing_starts_apply_each_migration_once(postgres: PostgreSQL) -> None:
    """Two servers starting together on an empty database: one migrates, the other waits
    and finds nothing to do; a migration that cannot run twice (CREATE TABLE) shows it."""
    url = postgres.create_database("stackwatch_race")
    opened: list[PostgresStore] = []
    in_threads(*[lambda: opened.append(PostgresStore(url, writer="x"))] * 3)
    assert len(opened) == 3
    rows = postgres.execute("SELECT version FROM stackwatch_schema", database="stackwatch_race")
    assert rows == [(m.version,) for m in MIGRATIONS]
    for store in opened:
        store.close()

    counted = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "a test's",
                                      "CREATE TABLE migrated (pid int); "
                                      "INSERT INTO migrated VALUES (pg_backend_pid())"))
    engine = create_engine(url)
    results: list[tuple[int, int]] = []

    def start() -> None:
        with engine.begin() as conn:
            results.append(migrate(conn, counted))

    in_threads(start, start, start)
    engine.dispose()
    latest = counted[-1].version
    assert sorted(results) == [(latest - 1, latest)] + [(latest, latest)] * 2
    assert len(postgres.execute("SELECT pid FROM migrated", database="stackwatch_race")) == 1


def test_an_older_store_is_migrated_keeping_its_data(postgres: PostgreSQL) -> None:
    """A store of the first version (before items) opened by this code: migrated at the
    server's start, its data kept, items written; a reader of a newer code refuses it."""
    url = postgres.create_database("stackwatch_upgrade")
    old = PostgresStore(url, migrations=MIGRATIONS[:1])
    old.write(run("api.compute", ["h1"], T0))  # (without a source: no item table touched)
    old.close()
    with pytest.raises(StoreError, match=r"schema is version 1, this stackwatch reads "
                                         rf"{MIGRATIONS[-1].version}: start `stackwatch server`"):
        PostgresStore(url, create=False)  # a reader does not migrate
    store = PostgresStore(url)
    assert [s.label("host") for s in store.latest_samples("node_up")] == ["h1"]
    store.write(Collection(items=(Item("server", "vm-1", status="ERROR"),)), "api.compute")
    assert [(i.id, i.status) for i in store.latest_items()] == [("vm-1", "ERROR")]
    store.close()
    assert postgres.execute("SELECT version FROM stackwatch_schema ORDER BY 1",
                            database="stackwatch_upgrade") == [(m.version,) for m in MIGRATIONS]
    newer = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "a test's",
                                    "ALTER TABLE series ADD COLUMN unit TEXT"))
    store = PostgresStore(url, migrations=newer)
    assert postgres.execute("SELECT count(*), count(unit) FROM series",
                            database="stackwatch_upgrade") == [(2, 0)]
    store.close()


def test_a_newer_store_is_refused(config: StoreConfig) -> None:
    assert config.url is not None
    server(config, "x").close()
    psql(config, "INSERT INTO stackwatch_schema VALUES (999, 0)")
    for create in (True, False):
        with pytest.raises(StoreError, match=rf"{re.escape(config.location)}: "
                                             r"the store's schema is version 999, newer than "
                                             rf"this stackwatch's \({MIGRATIONS[-1].version}\)"):
            PostgresStore(config.url, create=create)


def test_a_reader_finds_no_store_and_makes_none(config: StoreConfig) -> None:
    assert config.url is not None
    with pytest.raises(StoreError, match="no stackwatch store in this database; start it"):
        PostgresStore(config.url, create=False, hint="start it")
    assert psql(config, "SELECT to_regclass('stackwatch_schema') IS NULL") == [(True,)]


# ------------------------------------------------------------ connection, errors
def test_errors_name_the_store_and_never_its_password(postgres: PostgreSQL,
                                                      config: StoreConfig) -> None:
    wrong = postgres.url("stackwatch_tests").replace(postgres.password, "hunter2-wrong")
    with pytest.raises(StoreError) as refused:
        PostgresStore(wrong)
    assert "password authentication failed" in str(refused.value)
    assert str(refused.value).startswith(
        f"postgresql+psycopg://stackwatch:***@127.0.0.1:{postgres.port}/stackwatch_tests: ")
    with pytest.raises(StoreError, match=r"cannot open store: .*refused") as down:
        PostgresStore("postgresql+psycopg://sw:hunter2@127.0.0.1:1/x", timeout=2)
    for error in (refused.value, down.value):
        assert "hunter2" not in str(error) and postgres.password not in str(error)
    store = server(config, "x")
    with pytest.raises(StoreError, match=r"query failed: .*does not exist") as failed:
        store._query("SELECT * FROM nowhere WHERE secret = %s", ("hunter2",))
    assert "hunter2" not in str(failed.value) and postgres.password not in str(failed.value)
    store.close()


def test_a_lost_connection_is_reconnected_to(config: StoreConfig) -> None:
    """A PostgreSQL restarted or failed over closes every connection: the pool's ping
    finds the dead ones and the next write and read get new ones."""
    store = server(config, "x")
    store.write(run("api.compute", ["h1"], T0), "api.compute")
    killed = psql(config, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'stackwatch'")
    assert killed and all(ok for (ok,) in killed)
    store.write(run("api.compute", ["h2"], T0 + 60), "api.compute")
    assert [s.label("host") for s in store.latest_samples("node_up")] == ["h2"]
    store.close()


def test_text_postgresql_refuses_does_not_fail_the_write(config: StoreConfig) -> None:
    """A NUL in a log line (SQLite keeps it, PostgreSQL refuses it) becomes U+FFFD."""
    store = server(config, "x")
    store.write(Collection(checks=(CheckResult("c\x00", Status.OK, "a\x00b"),),
                           events=(Event("log", "t", T0, message="line\x00end",
                                         resource_ids=("vm\x001",)),)), "logs.nova")
    [check] = store.latest_checks()
    assert (check.name, check.message) == ("c\ufffd", "a\ufffdb")
    [event] = store.events(0, T0 * 2, resource_id="vm\ufffd1")
    assert event.message == "line\ufffdend"
    store.close()


def test_one_server_prunes_at_a_time(config: StoreConfig) -> None:
    store = server(config, "x")
    store.write(run("api.compute", ["h1"], T0), "api.compute")
    store.write(run("api.compute", ["h1"], T0 + 600), "api.compute")
    assert config.url is not None
    with psycopg.connect(config.url.replace("+psycopg", ""), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('stackwatch.prune'))")
        assert store.prune(T0 + 300) == 0  # another server is at it: nothing twice
        assert len(store.sample_range("node_up", 0, T0 * 2)) == 2
    assert store.prune(T0 + 300) == 2 + 1  # two samples, one superseded check
    assert len(store.sample_range("node_up", 0, T0 * 2)) == 1
    store.close()


def test_prune_goes_through_the_series_in_short_transactions(
        config: StoreConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples are pruned by ranges of series ids, each in its own transaction: every
    range is reached (the count is that of every old sample)."""
    import stackwatch.store.postgres as module

    monkeypatch.setattr(module, "PRUNE_CHUNK", 7)
    store = server(config, "x")
    hosts = [f"h{i}" for i in range(50)]
    for when in (T0, T0 + 60, T0 + 600):
        store.write(run("api.compute", hosts, when), "api.compute")
    removed = store.prune(T0 + 300)
    assert removed == 2 * 51 + 2 * 50  # samples of two runs, and their superseded checks
    assert {s.timestamp for s in store.sample_range("node_up", 0, T0 * 2)} == {T0 + 600}
    store.close()


def test_trace_reads_the_local_index_and_the_central_events(config: StoreConfig,
                                                            tmp_path: Path) -> None:
    """`stackwatch trace` with store.url: log records from this machine's request index
    (store.path), notifications from the shared store."""
    request = "req-11111111-2222-3333-4444-555555555555"
    log = tmp_path / "log" / "nova" / "nova-api.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"2026-11-21 06:10:00.100 590 INFO nova.api.openstack.compute.servers "
                   f"[None {request} u p - default default] Creating server\n")
    index = RequestIndex(config.path)
    LogsSource("nova", log.parent.parent, ["nova/*.log"], None, "ctl1", index).collect()
    index.close()
    store = server(config, "x")
    store.write(Collection(events=(Event("notification", "compute.instance.create.end",
                                         1795241405.0, message="instance created",
                                         request_id=request),)))
    store.close()
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({"clouds": [{"name": "x"}], "store": {
        "path": str(config.path), "url": config.url}}))
    result = CliRunner().invoke(main, ["trace", request, "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "Creating server" in result.output
    assert "notification:compute.instance.create.end" in result.output
