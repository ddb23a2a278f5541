"""/metrics: the fast rendering equals prometheus_client's, and is redone only when needed.

:func:`render` is checked byte for byte against prometheus_client's own
``generate_latest`` over the same families, on generated samples (every catalog
metric type, undeclared names, label values needing escapes, every kind of float);
:class:`Exposition` renders once per store change on both stores, sees a write made
through another connection, drops a series that passed ``max_age`` with no write, and
gives the same body gzipped.
"""

from __future__ import annotations

import gzip
import math
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposition import exposition
from stackwatch.catalog.loader import default_catalog
from stackwatch.config import StoreConfig
from stackwatch.exposition import (
    Exposition,
    render,
    render_rows,
    render_with_prometheus_client,
)
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.store.opening import open_store
from stores import Stores

CATALOG = default_catalog()
SPECS = sorted(CATALOG.metrics.values(), key=lambda s: s.name)


def _names() -> list[str]:
    names: list[str] = []
    for spec in SPECS:
        names.extend(sorted(spec.sample_names()))
    return names


NAMES = _names()
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**18, max_value=10**18),
    st.sampled_from([0.0, -0.0, 1.0, 999_999.0, 1_000_000.0, 1_234_567.0, 1e15, 1e16, 1.5e-7,
                     0.1, 1e21, -1_234_567.0]))
LABEL_VALUES = st.text(alphabet=st.sampled_from(['a', 'Z', '0', '\\', '"', '\n', 'é', ' ', '{',
                                                 '}', ',', '=', '😀']), max_size=8)
LABELS = st.dictionaries(st.sampled_from(["host", "service", "le", "quantile", "a_b", "zone"]),
                         LABEL_VALUES, max_size=4)
SAMPLES = st.lists(st.tuples(
    st.one_of(st.sampled_from(NAMES), st.sampled_from(
        ["undeclared_metric", "openstack_undeclared_total", "stackwatch_x_created"])),
    LABELS, FLOATS), max_size=40)


@settings(max_examples=300, deadline=None)
@given(SAMPLES)
def test_render_equals_prometheus_client_byte_for_byte(drawn: list[tuple[str, dict[str, str],
                                                                        float]]) -> None:
    samples = [Sample(name, value, tuple(labels.items()), 0.0) for name, labels, value in drawn]
    assert render(samples, CATALOG) == render_with_prometheus_client(samples, CATALOG)


def test_a_counter_family_a_histogram_and_an_undeclared_sample() -> None:
    counter = next(s for s in SPECS if s.type == "counter")
    histogram = next(s for s in SPECS if s.type == "histogram")
    samples = [
        Sample(counter.name, 3, make_labels(host="b"), 0),
        Sample(counter.name, 1_234_567, make_labels(host="a\\\"\n"), 0),
        Sample(counter.name.removesuffix("_total") + "_created", 1.7e9, (), 0),
        Sample(histogram.name + "_bucket", 2, make_labels(le="+Inf"), 0),
        Sample(histogram.name + "_sum", math.inf, (), 0),
        Sample(histogram.name + "_count", math.nan, (), 0),
    ]
    text = render(samples, CATALOG)
    assert text == render_with_prometheus_client(samples, CATALOG)
    lines = text.decode().splitlines()
    family = counter.name.removesuffix("_total")
    assert f"# TYPE {family}_total counter" in lines
    assert f'{counter.name}{{host="a\\\\\\"\\n"}} 1.234567e+06' in lines
    assert f"# TYPE {family}_created untyped" in lines  # not declared: its own family
    assert f"# TYPE {histogram.name} histogram" in lines
    assert f"{histogram.name}_sum +Inf" in lines and f"{histogram.name}_count NaN" in lines


def _run(n: int, value: float, when: float) -> Collection:
    return Collection(tuple(Sample("openstack_nova_total_vms", value + i,
                                   make_labels(region=f"r{i}"), when) for i in range(n)))


def test_rendered_once_per_store_change(stores: Stores) -> None:
    store = stores.open()
    try:
        now = time.time()
        store.write(_run(3, 1, now), "api.compute")
        clock = [now]
        exposed = Exposition(store, CATALOG, clock=lambda: clock[0], max_age=300)
        first = exposed.body()
        assert exposed.body() == first and exposed.body() == first
        assert exposed.renderings == 1  # three scrapes, one rendering
        assert exposition(first.decode())[("openstack_nova_total_vms", (("region", "r2"),))] == 3
        store.write(_run(2, 10, now + 1), "api.compute")  # the next run: two series, new values
        second = exposition(exposed.body().decode())
        assert exposed.renderings == 2
        assert {k[1] for k in second} == {(("region", "r0"),), (("region", "r1"),)}
        assert second[("openstack_nova_total_vms", (("region", "r1"),))] == 11
        assert gzip.decompress(exposed.gzipped()) == exposed.body()
        assert exposed.renderings == 2
    finally:
        exposed.close()
        store.close()


def test_a_write_through_another_connection_is_seen(stores: Stores) -> None:
    config = stores.config()
    reader, writer = open_store(config), open_store(config)
    try:
        now = time.time()
        writer.write(_run(1, 1, now), "api.compute")
        exposed = Exposition(reader, CATALOG)
        assert b"openstack_nova_total_vms" in exposed.body()
        writer.write(Collection(), "api.compute")  # the source's next run saw nothing
        assert b"openstack_nova_total_vms" not in exposed.body()
        assert exposed.renderings == 2
    finally:
        reader.close()
        writer.close()


def test_a_series_past_max_age_leaves_without_a_write(stores: Stores) -> None:
    store = stores.open()
    try:
        now = time.time()
        store.write(Collection((Sample("openstack_nova_total_vms", 1, make_labels(region="old"),
                                       now - 100),)), "api.old")
        store.write(_run(1, 5, now), "api.compute")
        clock = [now]
        exposed = Exposition(store, CATALOG, clock=lambda: clock[0], max_age=150)
        assert exposed.body().count(b"openstack_nova_total_vms{") == 2
        clock[0] = now + 49  # the older run is 149 s old: still current
        assert exposed.body().count(b"openstack_nova_total_vms{") == 2
        assert exposed.renderings == 1
        clock[0] = now + 51
        assert exposed.body().count(b"openstack_nova_total_vms{") == 1
        assert exposed.renderings == 2
    finally:
        store.close()


@settings(max_examples=25, deadline=None)
@given(SAMPLES)
def test_the_stored_rows_render_as_their_samples(drawn: list[tuple[str, dict[str, str],
                                                                  float]]) -> None:
    """/metrics renders the store's rows with their labels as stored (JSON, not decoded):
    byte for byte what the samples render to, escapes and non-ASCII included."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(StoreConfig(path=Path(tmp) / "store.sqlite"))
        try:
            # NaN left out: SQLite stores it as NULL, which the series table refuses
            drawn = [d for d in drawn if not math.isnan(d[2])]
            store.write(Collection(tuple(Sample(name, value, make_labels(labels), 1.0)
                                         for name, labels, value in drawn)), "api.x")
            body, oldest = render_rows(store.latest_rows(), CATALOG)
            assert body == render(store.latest_samples(), CATALOG)
            assert oldest == (1.0 if drawn else math.inf)
            assert render_rows(store.latest_rows(), CATALOG, 2.0) == (b"", math.inf)
        finally:
            store.close()


@pytest.mark.parametrize("count", [0, 1])
def test_empty_and_single(count: int) -> None:
    samples = [Sample("openstack_nova_total_vms", 1, (), 0)] * count
    assert render(samples, CATALOG) == render_with_prometheus_client(samples, CATALOG)


def test_warm_soon_renders_after_the_writes_settle(stores: Stores) -> None:
    """The server calls warm_soon after each write: the rendering happens on its own thread,
    once for a burst of writes, and the scrape that follows renders nothing."""
    store = stores.open()
    try:
        exposed = Exposition(store, CATALOG)
        now = time.time()
        for n in range(5):
            store.write(_run(2, n, now + n), "api.compute")
            exposed.warm_soon()
        deadline = time.monotonic() + 10
        while exposed.renderings == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert exposed.renderings == 1
        assert b'openstack_nova_total_vms{region="r1"} 5.0' in exposed.body()
        assert exposed.renderings == 1
    finally:
        exposed.close()
        store.close()


def test_warm_soon_waits_while_busy_then_at_most_its_patience(tmp_path: Path) -> None:
    """While more writes are coming (the server's runs in flight) the warm rendering
    waits; when they keep coming past ``patience``, it renders anyway (one store is
    enough: the store only counts its changes)."""
    store = open_store(StoreConfig(path=tmp_path / "store.sqlite"))
    try:
        exposed = Exposition(store, CATALOG)
        busy = [True]
        exposed.busy, exposed.quiet = lambda: busy[0], 0.05
        store.write(_run(2, 1, time.time()), "api.compute")
        exposed.warm_soon()
        time.sleep(0.3)  # six quiet periods: without busy, it would have rendered
        assert exposed.renderings == 0
        busy[0] = False
        deadline = time.monotonic() + 10
        while exposed.renderings == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exposed.renderings == 1
        exposed.patience = 0.0
        busy[0] = True
        store.write(_run(2, 5, time.time()), "api.compute")
        exposed.warm_soon()
        deadline = time.monotonic() + 10
        while exposed.renderings == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exposed.renderings == 2
    finally:
        store.close()


def test_close_ends_the_warm_rendering_before_the_store_closes(tmp_path: Path) -> None:
    """The server closes the exposition, then the store: a warm rendering waiting (or
    under way) then must not read a store being closed (that crashed a CI run). After
    close() its thread has ended and renders nothing more."""
    store = open_store(StoreConfig(path=tmp_path / "store.sqlite"))
    try:
        exposed = Exposition(store, CATALOG)
        exposed.busy, exposed.quiet = lambda: True, 0.05  # runs in flight: it waits
        before = set(threading.enumerate())
        store.write(_run(2, 1, time.time()), "api.compute")
        exposed.warm_soon()
        warmers = [t for t in set(threading.enumerate()) - before
                   if t.name == "stackwatch-metrics"]
        assert len(warmers) == 1
        started = time.monotonic()
        exposed.close()
        assert time.monotonic() - started < 2
        assert not warmers[0].is_alive()
        exposed.warm_soon()  # a write after close starts no thread again
        assert not [t for t in set(threading.enumerate()) - before
                    if t.name == "stackwatch-metrics"]
        assert exposed.renderings == 0
    finally:
        store.close()
