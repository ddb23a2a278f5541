"""Properties of the store, on SQLite and on PostgreSQL: latest and statistics agree with
a plain Python model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.model import CheckResult, Collection, Item, Sample, Status, make_labels
from stores import Stores

samples_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y", "z"]),
              st.integers(0, 50), st.floats(-1e6, 1e6, allow_nan=False)),
    min_size=1, max_size=60)


# ``stores`` makes a new, empty store at each call, so one per example is right
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=samples_strategy, split=st.integers(0, 60))
def test_latest_and_statistics_match_a_model(
    stores: Stores, rows: list[tuple[str, str, int, float]], split: int
) -> None:
    samples = [Sample(name, value, make_labels(host=host), float(ts))
               for name, host, ts, value in rows]
    model: dict[tuple[str, str], dict[float, float]] = {}
    for s in samples:  # a later write of the same (series, ts) replaces the value
        model.setdefault((s.name, s.label("host")), {})[s.timestamp] = s.value
    store = stores.open()
    try:
        store.write(Collection(tuple(samples[:split])))
        store.write(Collection(tuple(samples[split:])))
        latest = {(s.name, s.label("host")): (s.timestamp, s.value)
                  for s in store.latest_samples()}
        assert latest == {key: max(points.items()) for key, points in model.items()}
        for (name, host), points in model.items():
            stats = store.statistics(name, 0, 100, make_labels(host=host))
            assert stats is not None
            values = [points[t] for t in sorted(points)]
            assert stats.count == len(values)
            assert stats.minimum == min(values) and stats.maximum == max(values)
            assert stats.total == pytest.approx(sum(values))
            assert stats.last == values[-1]
            assert [s.value for s in store.sample_range(name, 0, 100, make_labels(host=host))
                    ] == values
    finally:
        store.close()


runs_strategy = st.lists(
    st.tuples(st.sampled_from(["api.compute", "api.network", ""]),
              st.sets(st.sampled_from(["h1", "h2", "h3", "h4"])), st.booleans()),
    min_size=1, max_size=12)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs_strategy)
def test_the_latest_reads_are_each_sources_last_run(
    stores: Stores, runs: list[tuple[str, set[str], bool]]
) -> None:
    """Runs of sources (and writes without one) in any order: the latest samples, checks
    and items are those of each source's last run, plus everything written without one."""
    store = stores.open()
    held: dict[str, set[tuple[str, str]]] = {}
    try:
        for when, (source, hosts, up) in enumerate(runs):
            series = {("up" if up else "down", host) for host in hosts}
            store.write(Collection(
                tuple(Sample.of(name, when, float(when), host=h) for name, h in series),
                tuple(CheckResult(name, Status.OK if up else Status.CRITICAL, "",
                                  make_labels(host=h), timestamp=float(when))
                      for name, h in series),
                items=tuple(Item(name, h, timestamp=float(when)) for name, h in series)),
                source)
            held[source] = held.get(source, set()) | series if not source else series
        expected = set().union(*held.values())
        assert {(s.name, s.label("host")) for s in store.latest_samples()} == expected
        assert {(c.name, dict(c.labels)["host"]) for c in store.latest_checks()} == expected
        assert {(i.kind, i.id) for i in store.latest_items()} == expected
    finally:
        store.close()
