"""A range read by each store (SQLite, PostgreSQL) equals the one bucketed in Python from
every sample: appends, a backfill, re-emitted samples, a value written again changed."""

from __future__ import annotations

import random

from stackwatch.model import Collection, Sample
from stores import Stores

from .test_query_speed import T0, _assert_same_ranges, _history


def test_ranges_of_each_store_equal_the_python_ones(stores: Stores) -> None:
    store = stores.open()
    try:
        rng = random.Random(11)
        hosts = [f"compute-{i:04d}" for i in range(12)]
        for minute in range(1440, 3 * 1440, 60):
            store.write(_history(rng, range(minute, minute + 60, 15), hosts), "api.compute")
        store.write(_history(rng, range(0, 1440, 20), hosts))  # a backfill
        newest = store.latest_samples("vcpus_used")
        store.write(Collection(tuple(newest)), "api.compute")  # re-emitted unchanged
        changed = newest[0]
        store.write(Collection((Sample(changed.name, 7.0, changed.labels, changed.timestamp),)))
        _assert_same_ranges(store, T0 + 4 * 86400)
    finally:
        store.close()
