"""Properties of the store: latest and statistics agree with a plain Python model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.model import Collection, Sample, make_labels
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

samples_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y", "z"]),
              st.integers(0, 50), st.floats(-1e6, 1e6, allow_nan=False)),
    min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(rows=samples_strategy, split=st.integers(0, 60))
def test_latest_and_statistics_match_a_model(
    rows: list[tuple[str, str, int, float]], split: int
) -> None:
    samples = [Sample(name, value, make_labels(host=host), float(ts))
               for name, host, ts, value in rows]
    model: dict[tuple[str, str], dict[float, float]] = {}
    for s in samples:  # a later write of the same (series, ts) replaces the value
        model.setdefault((s.name, s.label("host")), {})[s.timestamp] = s.value
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "p.sqlite")
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
        store.close()
