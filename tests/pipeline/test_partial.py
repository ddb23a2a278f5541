"""A source cut short at its deadline delivers what it read, marked partial.

Runner (deadline before the timeout, ``stackwatch_source_partial``, WARNING naming what
is missing), API-style resources (a slow one goes on in the background and is delivered
next run, never started twice), the client's fan-out (stops taking projects at the
deadline; listings go first) and the log tail (stops between chunks, keeps its place).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from stackwatch import deadline as deadlines
from stackwatch.errors import SourceTimeout
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.runner import SOURCE_CHECK, Runner, collect_once
from stackwatch.sources.base import PARTIAL_CHECK
from stackwatch.sources.logs.metrics import PREFIX
from stackwatch.sources.logs.source import LogsSource
from stackwatch.sources.openstack_api import client as client_module
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.resources import RESOURCE_CHECK, Resource, ResourceSource

pytestmark = pytest.mark.unit


def value(collection: Collection, name: str) -> float | None:
    found = [s.value for s in collection.samples if s.name == name]
    return found[0] if found else None


def check(collection: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in collection.checks
            if c.name == name and all(dict(c.labels).get(k) == v for k, v in labels.items())]


# ---------------------------------------------------------------------- runner
class Halfway:
    """Reads one part before the deadline it is given; the other part would take longer."""

    name = "api.halfway"

    def __init__(self) -> None:
        self.deadline = 0.0

    def collect(self) -> Collection:  # pragma: no cover - the runner calls collect_until
        raise AssertionError("a deadline source is given its deadline")

    def collect_until(self, deadline: float) -> Collection:
        self.deadline = deadline
        time.sleep(max(0.0, deadline - time.monotonic()))
        return Collection(
            (Sample.of("stackwatch_test_value", 7),),
            (CheckResult(PARTIAL_CHECK, Status.WARNING, "api.halfway quotas: cut short",
                         make_labels(source=self.name, resource="quotas")),))


def test_runner_publishes_a_partial_run_with_its_figures_and_a_warning() -> None:
    source = Halfway()
    started = time.monotonic()
    [run] = collect_once([source], timeout=2.0)
    # the source is told to stop a tenth of its timeout early, so that it hands over in time
    assert 1.7 < source.deadline - started < 2.0
    assert run.ok and run.partial
    assert value(run.collection, "stackwatch_test_value") == 7
    assert value(run.collection, "stackwatch_source_partial") == 1.0
    assert value(run.collection, "stackwatch_source_up") == 1.0
    [source_check] = check(run.collection, SOURCE_CHECK)
    assert source_check.status is Status.WARNING
    assert "partial, missing: api.halfway quotas: cut short" in source_check.message


def test_a_whole_run_is_not_partial() -> None:
    class Whole:
        name = "api.whole"

        def collect(self) -> Collection:
            return Collection((Sample.of("stackwatch_test_value", 1),))

    [run] = Runner([Whole()], timeout=5.0).run_once()
    assert run.ok and not run.partial
    assert value(run.collection, "stackwatch_source_partial") == 0.0
    assert check(run.collection, SOURCE_CHECK)[0].status is Status.OK


# ------------------------------------------------------------------- resources
class TwoSpeeds(ResourceSource):
    """``servers`` answers at once; ``quotas`` waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__("api.twospeeds", "r1", parallel=True)
        self.release = threading.Event()
        self.started = {"servers": 0, "quotas": 0}

    def resources(self) -> Sequence[Resource]:
        return (Resource("servers", self.servers), Resource("quotas", self.quotas, 600))

    def servers(self) -> Collection:
        self.started["servers"] += 1
        return Collection((Sample.of("x_servers", 20000),))

    def quotas(self) -> Collection:
        self.started["quotas"] += 1
        self.release.wait(10)
        return Collection((Sample.of("x_quotas", 3002),))


def test_a_slow_resource_is_cut_short_then_delivered_by_the_next_run() -> None:
    source = TwoSpeeds()
    started = time.monotonic()
    first = source.collect_until(time.monotonic() + 0.3)
    assert time.monotonic() - started < 1.0, "returns at its deadline, not when quotas end"
    assert value(first, "x_servers") == 20000
    assert value(first, "x_quotas") is None
    [partial] = check(first, PARTIAL_CHECK, resource="quotas")
    assert partial.status is Status.WARNING and "still reading" in partial.message
    [quotas] = check(first, RESOURCE_CHECK, resource="quotas")
    assert quotas.status is Status.UNKNOWN  # nothing of it yet: blind, not failed

    # still reading at the next run: not started a second time
    second = source.collect_until(time.monotonic() + 0.2)
    assert source.started == {"servers": 2, "quotas": 1}
    assert check(second, PARTIAL_CHECK, resource="quotas")

    source.release.set()
    time.sleep(0.1)
    third = source.collect_until(time.monotonic() + 5)
    assert value(third, "x_quotas") == 3002 and value(third, "x_servers") == 20000
    assert not check(third, PARTIAL_CHECK)
    assert source.started["quotas"] == 1, "its background result was delivered, not re-read"


class _Projects(ResourceSource):
    """Quotas every 600 s; the first read is partial, and takes ``first_read`` seconds."""

    def __init__(self, first_read: float = 0.0) -> None:
        super().__init__("api.projects", "r1")
        self.reads = 0
        self.first_read = first_read

    def resources(self) -> Sequence[Resource]:
        return (Resource("quotas", self.quotas, 600),)

    def quotas(self) -> Collection:
        self.reads += 1
        if self.reads == 1:
            time.sleep(self.first_read)
        missing = () if self.reads > 1 else (CheckResult(
            PARTIAL_CHECK, Status.UNKNOWN, "5 of 10 projects not read", ()),)
        return Collection((Sample.of("x", self.reads),), missing)


def test_a_result_the_deadline_cut_is_read_again_next_run_despite_its_interval() -> None:
    source = _Projects(first_read=0.2)
    source.collect_until(time.monotonic() + 0.1)  # the deadline passes while it reads
    second = source.collect()
    assert source.reads == 2 and value(second, "x") == 2
    source.collect()
    assert source.reads == 2, "a whole result waits for its interval"


def test_a_result_partial_by_errors_waits_for_its_interval() -> None:
    """Some projects refused (403), no deadline passed: reading all quotas again at once
    would only repeat the refusals, thousands of requests a minute on a big cloud."""
    source = _Projects()
    source.collect()
    source.collect()
    assert source.reads == 1


# ------------------------------------------------------------------ API client
def test_the_fan_out_stops_taking_items_at_the_deadline() -> None:
    client = ApiClient("unused", concurrency=2)
    try:
        def read(item: int) -> int:
            time.sleep(0.05)
            return item

        with deadlines.until(time.monotonic() + 0.3):
            results = client.map(read, range(100))
    finally:
        client.close()
    read_ = [r for r in results if isinstance(r, int)]
    cut = [r for r in results if isinstance(r, SourceTimeout)]
    assert 1 <= len(read_) <= 40 and len(read_) + len(cut) == 100
    assert read_ == list(range(len(read_))), "in order, what was read is kept"
    assert "deadline" in str(cut[0])


def test_the_fan_out_yields_to_a_listing() -> None:
    client = ApiClient("unused", concurrency=8)
    during: list[int] = []   # fan-out requests in flight, seen as one starts mid-listing
    lock = threading.Lock()
    flying = {"n": 0}
    listing = threading.Event()

    def read(item: int) -> None:
        with client._turn():  # what each request of a fan-out item does
            with lock:
                flying["n"] += 1
                if listing.is_set():
                    during.append(flying["n"])
            time.sleep(0.01)
            with lock:
                flying["n"] -= 1

    def list_pages() -> None:
        time.sleep(0.05)
        with client._turn():  # a listing holds its turn from its first page to its last
            time.sleep(0.05)  # the fan-out requests already sent come back
            listing.set()
            time.sleep(0.3)
            listing.clear()

    lister = threading.Thread(target=list_pages)
    lister.start()
    try:
        client.map(read, range(300))
    finally:
        lister.join()
        client.close()
    assert during, "the fan-out is slowed, not stopped, during a listing"
    assert max(during) <= client_module.FANOUT_WHILE_LISTING < 8


# ------------------------------------------------------------------------- logs
LINE = ("2026-12-04 10:00:{s:02d}.000 1234 INFO nova.api.openstack.requestlog "
        "[req-{n:08d}] 10.0.0.1 \"GET /v2.1/servers\" status: 200 len: 100 time: 0.01\n")


def records(collection: Collection) -> float:
    return sum(s.value for s in collection.samples
               if s.name == f"{PREFIX}records_total" and s.label("level") == "INFO")


def test_the_log_tail_stops_at_the_deadline_keeps_its_place_and_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nova").mkdir()
    log = tmp_path / "nova" / "nova-api.log"
    lines = 40000
    log.write_text("".join(LINE.format(s=n % 60, n=n) for n in range(lines)))
    assert log.stat().st_size > 3 * (1 << 20), "several chunks"
    source = LogsSource("nova", tmp_path, ["nova/*.log"], checkpoint=tmp_path / "ck.json",
                        host="h1", compiled=False)
    calls = {"n": 0}

    def after_first_chunk() -> bool:  # the deadline passes once one chunk is read
        calls["n"] += 1
        return calls["n"] > 1

    monkeypatch.setattr(deadlines, "passed", after_first_chunk)
    first = source.collect_until(time.monotonic() + 60)
    monkeypatch.undo()
    info_first = records(first)
    assert 0 < info_first < lines, "what was read before the deadline is delivered"
    [partial] = check(first, PARTIAL_CHECK)
    assert partial.status is Status.WARNING and "nova-api.log" in partial.message

    # a new source from the checkpoint (a restart) goes on from the kept place
    again = LogsSource("nova", tmp_path, ["nova/*.log"], checkpoint=tmp_path / "ck.json",
                       host="h1", compiled=False)
    second = again.collect_until(math.inf)
    info_total = records(second)
    assert info_total == lines, "neither a line lost nor one counted twice"
    assert not check(second, PARTIAL_CHECK)


def test_a_source_of_one_of_several_clouds_is_given_its_deadline_too() -> None:
    from stackwatch.sources.registry import RenamedSource

    inner = TwoSpeeds()
    [run] = Runner([RenamedSource("east/", inner)], timeout=1.0).run_once()
    inner.release.set()
    assert run.source == "east/api.twospeeds"
    assert run.ok and run.partial, run.reason
    assert value(run.collection, "x_servers") == 20000
