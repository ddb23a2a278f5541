"""What made the dashboard and the API fast on a big cloud gives the same answers.

bench/web.py found, on the big simulated cloud: a range over a week read every sample of
the metric into Python (seconds to a minute), the overview judged the health twice a
request and read each metric's latest samples by scanning every current series, health
was judged again for every request between two writes, and the overview's map kept a
column for each of 1,000 compute nodes. Each fix is checked here against the answer it
replaces.
"""

from __future__ import annotations

import math
import random
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.model import CheckResult, Collection, Labels, Sample, Status, make_labels
from stackwatch.query.context import Context, HealthMemo
from stackwatch.query.models import HealthView
from stackwatch.query.overview import COMPUTE_COLUMN, MAX_NODE_COLUMNS, overview
from stackwatch.query.samples import sample_range
from stackwatch.query.times import finite
from stackwatch.store import rollups
from stackwatch.store.base import AgentBatch, Store
from stackwatch.store.sqlite import SQLiteStore

from .conftest import member_check

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def _reference(store: Store, name: str, start: float, end: float,
               labels: dict[str, str] | None, step: float) -> list[tuple[Labels, list[
                   tuple[float, float | None]]]]:
    """The range from every sample, read, matched and bucketed in Python (as it was before
    the store did it), buckets aligned on multiples of the step."""
    by_series: dict[Labels, list[Sample]] = defaultdict(list)
    for sample in store.sample_range(name, start, end):
        if all(dict(sample.labels).get(k) == v for k, v in (labels or {}).items()):
            by_series[sample.labels].append(sample)
    out = []
    origin = math.floor(start / step) * step if step else 0.0
    for key, found in sorted(by_series.items()):
        if not step:
            out.append((key, [(s.timestamp, finite(s.value)) for s in found]))
            continue
        sums: dict[int, list[float]] = {}
        for sample in found:
            slot = sums.setdefault(math.floor((sample.timestamp - origin) / step), [0.0, 0.0])
            slot[0] += sample.value
            slot[1] += 1
        out.append((key, [(origin + (slot + 0.5) * step, finite(total / count))
                          for slot, (total, count) in sorted(sums.items())]))
    return out


def _assert_same_ranges(store: Store, now: float) -> None:
    ctx = Context(store, load_catalog(), now)
    cases = [(T0, T0 + 3 * 86400, None, 0.0), (T0, T0 + 3 * 86400, None, 3 * 86400 / 240),
             (T0 - 86400, T0 + 3 * 86400, None, 3600.0),
             (T0 + 1800.5, T0 + 2 * 86400 + 100, {"zone": "az1"}, 7200.0),
             (T0 + 3600.5, T0 + 86400, {"zone": "az1"}, 0.0),
             (T0 + 3600.5, T0 + 86400, {"zone": "az1"}, 1234.5),
             (T0 - 86400, T0 + 7 * 86400, {"hostname": "compute-0007"}, 86400.0),
             (T0 + 7200, T0 + 7200 + 3600, None, 3600.0),  # one whole hour, edges on hours
             (T0, T0 + 86400, {"hostname": "nowhere"}, 60.0),
             (T0, T0 + 30, None, 1.0)]  # a step below the range's 2000th is widened
    shown = 0
    for start, end, labels, step in cases:
        got = sample_range(ctx, "vcpus_used", start, end, labels, step)
        want = _reference(store, "vcpus_used", start, end, labels, got.step)
        case = (start, end, labels, step)
        assert [tuple(sorted(s.labels.items())) for s in got.series] == [k for k, _ in want]
        for series, (_, points) in zip(got.series, want, strict=True):
            assert [p.t for p in series.points] == pytest.approx([t for t, _ in points],
                                                                 rel=1e-15), case
            assert [p.v is None for p in series.points] == [v is None for _, v in points]
            assert [p.v for p in series.points if p.v is not None] == pytest.approx(
                [v for _, v in points if v is not None], rel=1e-12), case
        shown += bool(got.series)
    assert shown >= len(cases) // 2  # most ranges hold something


def _assert_sums_match(store: SQLiteStore) -> None:
    """Every complete hour's kept sums are its samples' (the write path keeps them so)."""
    first = rollups.complete_from(store._query)
    kept = {(s, h): (c, t) for s, h, c, t in store._query(
        "SELECT series_id, hour, count, total FROM rollup_hours WHERE hour >= ?", [first])}
    summed = {(s, h): (c, t) for s, h, c, t in store._query(
        "SELECT series_id, CAST(floor(ts / 3600.0) AS INTEGER) AS h, COUNT(*), TOTAL(value) "
        "FROM samples GROUP BY series_id, h HAVING h >= ?", [first])}
    assert kept.keys() == summed.keys() and kept
    assert [kept[k][0] for k in summed] == [summed[k][0] for k in summed]
    assert [kept[k][1] for k in summed] == pytest.approx([summed[k][1] for k in summed],
                                                          rel=1e-12)


def _history(rng: random.Random, minutes: range, hosts: list[str]) -> Collection:
    return Collection(tuple(
        Sample(name, rng.choice([rng.uniform(-1e6, 1e9), float(rng.randint(0, 512)),
                                 math.inf if minute == 600 else 1.5]),
               make_labels(hostname=host, zone=f"az{i % 3}", region="r"),
               T0 + minute * 60 + rng.uniform(-3, 3))
        for minute in minutes for name in ("vcpus_used", "ram_used")
        for i, host in enumerate(hosts)))


def test_ranges_read_by_the_store_equal_the_python_ones(store: SQLiteStore) -> None:
    rng = random.Random(7)
    hosts = [f"compute-{i:04d}" for i in range(30)]
    for minute in range(1440, 3 * 1440, 20):  # days two and three, written as they come
        store.write(_history(rng, range(minute, minute + 20, 10), hosts), "api.compute")
    store.write(_history(rng, range(0, 1440, 15), hosts))  # day one afterwards: a backfill
    newest = store.latest_samples("vcpus_used")
    # a resource not due re-emits its last read; then one value is written again changed
    store.write(Collection(tuple(newest)), "api.compute")
    store.write(Collection((newest[3].__class__(newest[3].name, 7.0, newest[3].labels,
                                                newest[3].timestamp),)))
    _assert_same_ranges(store, T0 + 4 * 86400)
    _assert_sums_match(store)
    # opened again: the sums go on from the newest samples as stored
    again = SQLiteStore(store.path)
    try:
        again.write(_history(rng, range(3 * 1440, 3 * 1440 + 90, 10), hosts), "api.compute")
        _assert_same_ranges(again, T0 + 4 * 86400)
        # a prune that cuts into an hour: that hour is read from the samples left
        _assert_sums_match(again)
        again.prune(T0 + 86400 + 1234.5)
        _assert_same_ranges(again, T0 + 4 * 86400)
        _assert_sums_match(again)
    finally:
        again.close()


def test_agents_batches_in_one_transaction_keep_the_sums(store: SQLiteStore) -> None:
    # an agent's batches are written in one transaction: the second sees the first's
    # newest samples (its re-emitted one is not counted twice)
    rng = random.Random(5)
    first = _history(rng, range(0, 120, 10), ["a", "b"])
    again = Collection(first.samples[-4:])  # the newest of each series, re-emitted
    later = _history(rng, range(120, 240, 10), ["a", "b"])
    store.write_batches([AgentBatch("ag", n, "cmp1", "node.host", T0, c)
                         for n, c in enumerate((first, again, later), 1)], T0)
    _assert_sums_match(store)
    _assert_same_ranges(store, T0 + 86400)


def test_a_store_from_before_the_sums_reads_its_past_from_the_samples(tmp_path: Path
                                                                      ) -> None:
    rng = random.Random(3)
    path = tmp_path / "old.sqlite"
    old = SQLiteStore(path)
    old.write(_history(rng, range(0, 2 * 1440, 30), ["a", "b", "c"]), "api.compute")
    old.close()
    with sqlite3.connect(path) as conn:  # as a store made before rollups left it
        conn.executescript("DROP TABLE rollup_hours; DROP TABLE store_meta;")
    upgraded = SQLiteStore(path)
    try:
        upgraded.write(_history(rng, range(2 * 1440, 3 * 1440, 30), ["a", "b", "c"]),
                       "api.compute")
        _assert_same_ranges(upgraded, T0 + 4 * 86400)
        hours = upgraded._query("SELECT MIN(hour) FROM rollup_hours", [])[0][0]
        assert hours * 3600 >= T0 + 2 * 1440 * 60 - 3600  # no sums of the past made up
    finally:
        upgraded.close()


def test_latest_samples_of_a_metric_uses_the_current_series_index(store: SQLiteStore
                                                                  ) -> None:
    store.write(Collection((Sample.of("x", 1, T0, host="a"),)), "api.compute")
    plan = store._reader().execute(
        "EXPLAIN QUERY PLAN SELECT name FROM series "
        "WHERE id IN (SELECT series_id FROM current_series) AND name = ?", ("x",)).fetchall()
    assert "current_series_id" in str(plan)  # not a scan of every current series
    assert [s.value for s in store.latest_samples("x")] == [1.0]


def test_latest_checks_are_read_again_after_a_write(store: SQLiteStore) -> None:
    store.write(Collection(checks=(member_check("nova-compute", "c1", Status.OK),)), "api")
    first = store.latest_checks()
    assert store.latest_checks()[0] is first[0]  # nothing written: the same objects
    shared: list[CheckResult] = []  # and the same to every reading thread
    reader = threading.Thread(target=lambda: shared.extend(store.latest_checks()))
    reader.start()
    reader.join()
    assert shared[0] is first[0]
    store.write(Collection(checks=(member_check("nova-compute", "c1", Status.CRITICAL),)),
                "api")
    assert [c.status for c in store.latest_checks()] == [Status.CRITICAL]
    # another connection's write is seen too (a second store on the same file)
    other = SQLiteStore(store.path)
    try:
        other.write(Collection(checks=(member_check("nova-compute", "c1", Status.OK),)),
                    "api")
    finally:
        other.close()
    assert [c.status for c in store.latest_checks()] == [Status.OK]


def test_health_is_judged_again_only_when_the_checks_change(store: SQLiteStore) -> None:
    catalog = load_catalog()
    memo = HealthMemo()
    now = time.time()
    store.write(Collection(checks=(member_check("nova-compute", "c1", Status.OK),)), "api")
    one = Context(store, catalog, now, 300, memo=memo).health()
    assert Context(store, catalog, now + 1, 300, memo=memo).health() is one
    view = Context(store, catalog, now + 1, 300, memo=memo).health_view()  # made once too
    assert Context(store, catalog, now + 2, 300, memo=memo).health_view() is view
    assert view.services == HealthView.of(one).services
    store.write(Collection(checks=(member_check("nova-compute", "c1", Status.CRITICAL),)),
                "api")
    two = Context(store, catalog, now + 2, 300, memo=memo).health()
    assert two is not one and two.service("nova-compute").status == Status.CRITICAL  # type: ignore[union-attr]
    # a stale check is judged at each moment (its message tells its age)
    late = Context(store, catalog, now + 1000, 300, memo=memo)
    stale = late.health()
    assert stale.service("nova-compute").status == Status.UNKNOWN  # type: ignore[union-attr]
    assert Context(store, catalog, now + 1001, 300, memo=memo).health() is not stale
    assert late.health() is stale  # one request judges once


def test_compute_nodes_with_an_agent_of_network_nodes_fold_into_one_column(
        store: SQLiteStore) -> None:
    # every compute node runs the Open vSwitch agent too, which network nodes also run
    computes = [f"cmp{i:03d}" for i in range(MAX_NODE_COLUMNS + 10)]
    checks: list[CheckResult] = []
    for host in computes:
        checks.append(member_check("nova-compute", host, Status.OK))
        checks.append(member_check("neutron-openvswitch-agent", host,
                                   Status.CRITICAL if host == "cmp004" else Status.OK))
    checks += [member_check("neutron-openvswitch-agent", "net1", Status.OK),
               member_check("neutron-l3-agent", "net1", Status.OK),
               member_check("nova-conductor", "ctl1", Status.OK)]
    store.write(Collection(checks=tuple(checks)))
    view = overview(Context(store, load_catalog(), time.time()))
    assert view.columns == ["endpoint", "ctl1", "net1", COMPUTE_COLUMN]
    agent = next(r for r in view.rows if r.name == "neutron-openvswitch-agent")
    assert agent.cells[COMPUTE_COLUMN].counts == {"OK": len(computes) - 1, "CRITICAL": 1}
    assert agent.cells["net1"].status == "OK"  # a network node keeps its column
