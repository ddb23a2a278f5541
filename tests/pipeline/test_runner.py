"""The runner isolates sources: slow ones time out, failing ones become UNKNOWN, others go on."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from stackwatch.catalog.testing import assert_declared
from stackwatch.errors import SourceUnavailable
from stackwatch.model import CheckResult, Collection, Event, Item, ItemKind, Sample, Status
from stackwatch.runner import SOURCE_CHECK, Loop, Run, Runner, collect_once

from .conftest import BuggySource, ConstantSource, DownSource, SlowSource

pytestmark = pytest.mark.unit


def freshness(run: Run) -> dict[str, float]:
    return {s.name: s.value for s in run.collection.samples if s.name.startswith("stackwatch_")}


def source_check(run: Run) -> tuple[Status, str]:
    [check] = [c for c in run.collection.checks if c.name == SOURCE_CHECK]
    assert dict(check.labels) == {"source": run.source}
    return check.status, check.message


def test_slow_and_failing_sources_do_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    slow = SlowSource("api.compute", seconds=30)
    sources = [ConstantSource("api.identity"), slow, DownSource("sql.nova"),
               BuggySource("sql.cinder")]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="stackwatch.runner"):
        runs = collect_once(sources, timeout=1.0)
    took = time.monotonic() - started
    slow.release.set()
    assert took < 8, "runs are concurrent and bounded by the timeout"
    by = {r.source: r for r in runs}
    assert [r.source for r in runs] == ["api.identity", "api.compute", "sql.nova", "sql.cinder"]

    ok = by["api.identity"]
    assert ok.ok and source_check(ok)[0] is Status.OK
    # each run's own time, not the time spent waiting for the slow one to time out
    assert by["sql.nova"].duration < 0.8
    assert len([s for s in ok.collection.samples if s.name == "stackwatch_test_value"]) == 3
    assert freshness(ok)["stackwatch_source_up"] == 1.0
    assert freshness(ok)["stackwatch_source_samples"] == 3.0

    assert source_check(by["api.compute"]) == (
        Status.UNKNOWN, "api.compute: timed out after 1 s")
    assert source_check(by["sql.nova"]) == (
        Status.UNKNOWN, "sql.nova: SourceUnavailable: connection refused by 127.0.0.1:9")
    status, message = source_check(by["sql.cinder"])
    assert status is Status.UNKNOWN
    assert message == "sql.cinder: unexpected KeyError: 'missing'"
    for name in ("api.compute", "sql.nova", "sql.cinder"):
        run = by[name]
        assert not run.ok
        assert freshness(run)["stackwatch_source_up"] == 0.0
        assert freshness(run)["stackwatch_source_errors_total"] == 1.0
        assert freshness(run)["stackwatch_source_last_success_timestamp_seconds"] == 0.0
        assert [s for s in run.collection.samples if s.name == "stackwatch_test_value"] == []
    assert by["api.compute"].duration >= 1.0
    # the unexpected exception is logged with its traceback (as redacted text); the
    # expected one without
    messages = [r.getMessage() for r in caplog.records]
    [buggy] = [m for m in messages if m.startswith("source sql.cinder failed unexpectedly:")]
    assert "Traceback (most recent call last)" in buggy and "KeyError: 'missing'" in buggy
    assert "source sql.nova: SourceUnavailable: connection refused by 127.0.0.1:9" in messages
    for run in runs:
        assert_declared(Collection(tuple(s for s in run.collection.samples
                                         if s.name.startswith("stackwatch_source"))))


def test_errors_are_counted_and_logged_once_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    down = DownSource("sql.nova")
    runner = Runner([down], timeout=5)
    with caplog.at_level(logging.WARNING, logger="stackwatch.runner"):
        runs = [runner.run_once()[0] for _ in range(3)]
    assert [freshness(r)["stackwatch_source_errors_total"] for r in runs] == [1.0, 2.0, 3.0]
    assert len(caplog.records) == 1


def test_last_success_survives_a_failure() -> None:
    clock = iter([100.0, 200.0]).__next__

    class Flaky(ConstantSource):
        fail = False

        def collect(self) -> Collection:
            if self.fail:
                raise RuntimeError("flaky")
            return super().collect()

    flaky = Flaky("api.image")
    runner = Runner([flaky], timeout=5, clock=clock)
    first = runner.run_once()[0]
    flaky.fail = True
    second = runner.run_once()[0]
    assert freshness(first)["stackwatch_source_last_success_timestamp_seconds"] == 100.0
    assert freshness(second)["stackwatch_source_last_success_timestamp_seconds"] == 100.0
    assert freshness(second)["stackwatch_source_up"] == 0.0
    assert all(s.timestamp == 200.0 for s in second.collection.samples)


def test_a_hung_source_is_not_started_again_until_it_returns() -> None:
    slow = SlowSource("api.compute", seconds=30)
    runner = Runner([slow], timeout=0.2)
    runner.run_once()
    second = runner.run_once()[0]
    assert source_check(second)[1].endswith("previous run still hung past its timeout; "
                                            "not started")
    assert slow.calls == 0
    slow.release.set()
    deadline = time.monotonic() + 5
    while runner.busy("api.compute") and time.monotonic() < deadline:
        time.sleep(0.01)
    slow.release.clear()
    slow.seconds = 0
    third = runner.run_once()[0]
    assert third.ok, third.reason


def test_collect_returning_the_wrong_type_is_unknown() -> None:
    class Wrong(ConstantSource):
        def collect(self) -> Collection:
            return [1, 2]  # type: ignore[return-value]

    run = collect_once([Wrong("procs")], timeout=5)[0]
    assert source_check(run) == (Status.UNKNOWN, "procs: collect() returned list, not a Collection")


def test_duplicate_source_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unique: api\.compute"):
        Runner([ConstantSource("api.compute"), ConstantSource("api.compute")])


def test_loop_runs_each_source_at_its_interval() -> None:
    fast, slow_interval = ConstantSource("api.compute"), ConstantSource("sql.nova")
    down = DownSource("api.network")
    runs: list[Run] = []
    intervals = {"api.compute": 0.1, "sql.nova": 10.0, "api.network": 0.1}
    loop = Loop(Runner([fast, slow_interval, down], timeout=1), intervals.__getitem__,
                runs.append, tick=0.02)
    thread = threading.Thread(target=loop.run)
    thread.start()
    deadline = time.monotonic() + 10
    while (fast.calls < 3 or down.calls < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    loop.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert slow_interval.calls == 1
    assert fast.calls >= 3
    assert down.calls >= 3
    assert len(runs) == fast.calls + slow_interval.calls + down.calls


def test_loop_survives_a_failing_sink(caplog: pytest.LogCaptureFixture) -> None:
    source = ConstantSource("api.compute")

    def sink(run: Run) -> None:
        raise OSError("disk full")

    loop = Loop(Runner([source], timeout=1), lambda _: 0.05, sink, tick=0.01)
    with caplog.at_level(logging.ERROR, logger="stackwatch.runner"):
        assert loop.run(max_runs=3) == 3
    assert "could not hand over the run of api.compute" in caplog.text


def test_a_source_with_after_runs_once_those_have_finished() -> None:
    order: list[str] = []

    class Recording(SlowSource):
        def collect(self) -> Collection:
            result = super().collect()
            order.append(self.name)
            return result

    class Reader(ConstantSource):
        after = ("api.compute", "sql.nova")

        def collect(self) -> Collection:
            order.append(self.name)
            return super().collect()

    api, sql = Recording("api.compute", 0.2), Recording("sql.nova", 0.1)
    runs = collect_once([Reader("crosscheck"), api, sql], timeout=5)
    assert [r.source for r in runs] == ["crosscheck", "api.compute", "sql.nova"]
    assert all(r.ok for r in runs)
    assert order == ["sql.nova", "api.compute", "crosscheck"]


def test_loop_starts_a_source_with_after_once_those_have_run() -> None:
    """The server's loop, like run_once: the cross-check's first run reads the API and SQL
    sources' first results (it ran first and said "the API was not read" in the demo); then
    it runs at its own interval, not held up by a source that is always running."""
    seen: list[tuple[int, int]] = []

    class Reader(ConstantSource):
        after = ("api.compute", "sql.nova", "not.configured")

        def collect(self) -> Collection:
            seen.append((api.calls, sql.calls))
            return super().collect()

    api, sql = SlowSource("api.compute", 0.3), SlowSource("sql.nova", 0.1)  # sleep that long
    loop = Loop(Runner([Reader("crosscheck"), api, sql], timeout=5), lambda _: 0.05,
                lambda run: None, tick=0.01)
    thread = threading.Thread(target=loop.run)
    thread.start()
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    loop.stop()
    thread.join(5)
    assert len(seen) >= 3, seen  # not starved by api.compute, always running
    assert seen[0][0] >= 1 and seen[0][1] >= 1, seen  # both ran before the first comparison


def test_undeclared_metrics_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from stackwatch.catalog.loader import load_catalog

    runner = Runner([ConstantSource("api.compute", samples=2)], timeout=5,
                    catalog=load_catalog())
    with caplog.at_level(logging.WARNING, logger="stackwatch.runner"):
        runs = [runner.run_once()[0] for _ in range(2)]
    assert [freshness(r)["stackwatch_source_undeclared_samples"] for r in runs] == [2.0, 2.0]
    assert [r.getMessage() for r in caplog.records] == [
        "source api.compute emits stackwatch_test_value, which no catalog/metrics/*.yaml "
        "declares"]
    assert_declared(Collection(tuple(s for s in runs[0].collection.samples
                                     if s.name.startswith("stackwatch_source"))))


def test_a_nan_sample_is_left_out_counted_and_the_rest_stored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A source's NaN (no number: SQLite cannot keep it) once failed the whole write."""
    from stackwatch.catalog.loader import load_catalog
    from stackwatch.store.sqlite import SQLiteStore

    now = time.time()
    nan = Sample("stackwatch_test_value", float("nan"), (("index", "0"),), now)
    good = Sample("stackwatch_test_value", 2.0, (("index", "1"),), now)
    runner = Runner([Emits("api.compute", nan, good)], timeout=5, catalog=load_catalog())
    with caplog.at_level(logging.WARNING, logger="stackwatch.runner"):
        runs = [runner.run_once()[0] for _ in range(2)]
    assert [freshness(r)["stackwatch_source_not_a_number_samples"] for r in runs] == [1.0, 1.0]
    status, message = source_check(runs[0])
    assert status == Status.WARNING and "1 samples with no number (NaN) left out" in message
    assert [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()] == [
        "source api.compute emits NaN for stackwatch_test_value: left out (counted in "
        "stackwatch_source_not_a_number_samples)"]  # once
    store = SQLiteStore(tmp_path / "store.sqlite")
    try:
        store.write(runs[0].collection, "api.compute")  # the rest is kept
        kept = store.latest_samples("stackwatch_test_value")
        assert [(s.labels, s.value) for s in kept] == [((("index", "1"),), 2.0)]
    finally:
        store.close()


class Emits:
    """Answers the samples it is given (raises SourceUnavailable while ``down``)."""

    def __init__(self, name: str, *samples: Sample) -> None:
        self.name = name
        self.samples = samples
        self.down = False

    def collect(self) -> Collection:
        if self.down:
            raise SourceUnavailable("refused")
        return Collection(self.samples)


def test_a_series_two_sources_emit_is_kept_once_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    """As sql.nova and sql.nova_cell0 once did: one series from two sources (and one twice
    in a run) is kept from the source that holds it, the others are left out and counted."""
    shared = Sample.of("openstack_nova_db_instances_error", 1, region="RegionOne")
    nova = Emits("sql.nova", shared, Sample.of("openstack_nova_db_vcpus", 8, region="RegionOne"))
    cell0 = Emits("sql.nova_cell0", Sample.of("openstack_nova_db_instances_error", 0,
                                               region="RegionOne"))
    twice = Emits("api.compute", Sample.of("openstack_nova_total_vms", 3),
                  Sample.of("openstack_nova_total_vms", 4))
    runner = Runner([nova, cell0, twice], timeout=5)
    with caplog.at_level(logging.WARNING, logger="stackwatch.series"):
        first = {r.source: r for r in runner.run_once()}
        second = {r.source: r for r in runner.run_once()}
    for runs in (first, second):
        everything = [(s.name, s.labels) for r in runs.values() for s in r.collection.samples]
        assert len(everything) == len(set(everything))
        assert [s.value for s in runs["sql.nova"].collection.samples
                if s.name == "openstack_nova_db_instances_error"] == [1.0]
        assert [s.value for s in runs["api.compute"].collection.samples
                if s.name == "openstack_nova_total_vms"] == [3.0]
        assert freshness(runs["sql.nova"])["stackwatch_source_duplicate_series"] == 0.0
        assert freshness(runs["sql.nova_cell0"])["stackwatch_source_duplicate_series"] == 1.0
        assert freshness(runs["api.compute"])["stackwatch_source_duplicate_series"] == 1.0
        assert source_check(runs["sql.nova"])[0] is Status.OK
        status, message = source_check(runs["sql.nova_cell0"])
        assert status is Status.WARNING
        assert message.endswith('1 duplicate series left out, first openstack_nova_db_instances_'
                                'error{region="RegionOne"} (also from sql.nova)')
        assert "(also from api.compute)" in source_check(runs["api.compute"])[1]
    assert sorted(r.getMessage() for r in caplog.records) == [
        'source api.compute: series openstack_nova_total_vms{} (also from api.compute): left '
        'out (counted in stackwatch_source_duplicate_series)',
        'source sql.nova_cell0: series openstack_nova_db_instances_error{region="RegionOne"} '
        '(also from sql.nova): left out (counted in stackwatch_source_duplicate_series)']
    # a failed run holds nothing: the other source's series is its own again
    nova.down = True
    runs = {r.source: r for r in runner.run_once()}
    assert [s.value for s in runs["sql.nova_cell0"].collection.samples
            if s.name == "openstack_nova_db_instances_error"] == [0.0]
    assert source_check(runs["sql.nova_cell0"])[0] is Status.OK
    assert_declared(Collection(tuple(s for r in runs.values() for s in r.collection.samples
                                     if s.name.startswith("stackwatch_source"))))


class Listing:
    """Lists ``count`` servers in ERROR (one of them twice) and one volume."""

    name = "api.compute"

    def __init__(self, count: int) -> None:
        self.count = count

    def collect(self) -> Collection:
        servers = [Item(ItemKind.SERVER, f"s{i:05d}", status="ERROR") for i in range(self.count)]
        return Collection(items=(*servers, servers[0], Item(ItemKind.VOLUME, "v1")))


def test_items_are_capped_per_kind_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """A cloud with more servers in ERROR than the cap: the first are kept, the rest
    counted; other kinds are not cut; the source still reads as OK."""
    source = Listing(7)
    runner = Runner([source], timeout=5, max_items=5)
    with caplog.at_level(logging.WARNING, logger="stackwatch.items"):
        runs = [runner.run_once()[0] for _ in range(2)]
    for run in runs:
        kept = run.collection.items
        assert [i.id for i in kept] == ["s00000", "s00001", "s00002", "s00003", "s00004", "v1"]
        assert freshness(run)["stackwatch_source_items_left_out"] == 2.0
        status, message = source_check(run)
        assert status is Status.OK and message.endswith("items left out for the cap: 2 server")
    assert [r.getMessage() for r in caplog.records] == [
        "source api.compute: 2 server items left out, 5 kept (the cap per kind; counted in "
        "stackwatch_source_items_left_out)"]
    source.count = 3  # under the cap again: nothing left out
    run = runner.run_once()[0]
    assert len(run.collection.items) == 4  # the duplicate server is kept once
    assert freshness(run)["stackwatch_source_items_left_out"] == 0.0
    source.count = 6  # over it again: logged again
    with caplog.at_level(logging.WARNING, logger="stackwatch.items"):
        runner.run_once()
    assert caplog.records[-1].getMessage().startswith("source api.compute: 1 server items")
    assert_declared(Collection(tuple(s for s in run.collection.samples
                                     if s.name.startswith("stackwatch_source"))))


def test_a_requested_run_comes_at_once_and_wakes_the_loop() -> None:
    """``request_run`` from another thread (the web app's): the source runs again long
    before its interval, and a long tick does not delay it."""
    asked, other = ConstantSource("api.compute"), ConstantSource("sql.nova")
    runs: list[Run] = []
    arrived = threading.Condition()

    def sink(run: Run) -> None:
        with arrived:
            runs.append(run)
            arrived.notify_all()

    loop = Loop(Runner([asked, other], timeout=5), lambda _: 3600.0, sink, tick=30.0)
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        with arrived:
            assert arrived.wait_for(lambda: len(runs) == 2, timeout=10)
        assert not loop.request_run("api.nothing")
        started = time.monotonic()
        assert loop.request_run("api.compute")
        with arrived:
            assert arrived.wait_for(lambda: len(runs) == 3, timeout=10)
        assert time.monotonic() - started < 5  # not the 30 s tick, nor the hour
        assert (asked.calls, other.calls) == (2, 1)
        assert runs[-1].source == "api.compute"
    finally:
        loop.stop()  # wakes the 30 s wait too
        thread.join(5)
    assert not thread.is_alive()


class LeakySource(ConstantSource):
    """Says a database URL whole: in a check message, an event, and when it fails."""

    url = "mysql+pymysql://monitor:hunter2-secret@db1/nova"

    def __init__(self, name: str, fail: str = "") -> None:
        super().__init__(name)
        self.fail = fail

    def collect(self) -> Collection:
        if self.fail == "expected":
            raise SourceUnavailable(f"cannot connect to {self.url}")
        if self.fail == "unexpected":  # a bug: logged with its traceback
            raise RuntimeError(f"engine for {self.url} disposed")
        return Collection(
            checks=(CheckResult("db", Status.CRITICAL, f"{self.url}: access denied"),),
            events=(Event("log", "oslo.db", time.time(), message=f"retrying {self.url}"),))


def test_url_passwords_never_leave_the_runner(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stackwatch.runner"):
        runs = collect_once([LeakySource("sql.nova"), LeakySource("sql.cinder", "expected"),
                             LeakySource("sql.glance", "unexpected")], timeout=5)
    said = [c.message for r in runs for c in r.collection.checks]
    said += [e.message for r in runs for e in r.collection.events]
    said += [r.reason for r in runs] + [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "hunter2" in m]
    assert "mysql+pymysql://monitor:***@db1/nova: access denied" in said
    assert "retrying mysql+pymysql://monitor:***@db1/nova" in said
    assert ("sql.cinder: SourceUnavailable: cannot connect to "
            "mysql+pymysql://monitor:***@db1/nova") in said
    [traceback] = [m for m in said if m.startswith("source sql.glance failed unexpectedly")]
    assert "RuntimeError: engine for mysql+pymysql://monitor:***@db1/nova" in traceback


class Quoting(Listing):
    """A run whose check quotes a URL (as an API error does) and whose item's fault
    quotes a database URL with its password."""

    def collect(self) -> Collection:
        check = CheckResult("stackwatch.resource", Status.UNKNOWN,
                            "api.compute hypervisors: GET http://127.0.0.1:1/compute: HTTP 500")
        fault = Item(ItemKind.SERVER, "s1", status="ERROR",
                     message="DBConnectionError: mysql+pymysql://nova:s3cret@db/nova")
        return Collection(checks=(check,), items=(fault, Item(ItemKind.VOLUME, "v1")))


def test_the_scrub_of_urls_keeps_the_items_and_masks_their_passwords() -> None:
    [run] = Runner([Quoting(0)], timeout=5).run_once()
    assert [i.id for i in run.collection.items] == ["s1", "v1"]
    message = run.collection.items[0].message
    assert "s3cret" not in message and message.startswith("DBConnectionError: mysql+pymysql://")
