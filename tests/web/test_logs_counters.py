"""Counters over a range (query/counters.py): growth spread between samples, resets, series
born in the range, by the labels asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.model import Collection, Sample
from stackwatch.query.context import Context
from stackwatch.query.counters import growth, increases
from stackwatch.query.errors import BadQuery
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

T = 1_800_000_000.0  # the range starts here; samples are minutes apart
COUNTER = "openstack_log_http_server_errors_total"
WITNESS = "openstack_log_lines_total"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    store = SQLiteStore(tmp_path / "store.sqlite")
    samples = [
        # nova on c1: 10 before the range, 20, then a reset (15), then 25
        Sample.of(COUNTER, 10, T - 60, service="nova", host="c1"),
        Sample.of(COUNTER, 20, T + 60, service="nova", host="c1"),
        Sample.of(COUNTER, 15, T + 120, service="nova", host="c1"),
        Sample.of(COUNTER, 25, T + 180, service="nova", host="c1"),
        # nova on c2 appears at T+120 with 7: nova's source was collecting before
        Sample.of(COUNTER, 7, T + 120, service="nova", host="c2"),
        Sample.of(COUNTER, 7, T + 180, service="nova", host="c2"),
        # glance's only series appears at T+120: only the witness says glance ran before
        Sample.of(COUNTER, 5, T + 120, service="glance", host="c1"),
        Sample.of(WITNESS, 100, T + 60, service="glance", file="api.log", outcome="parsed"),
        Sample.of(WITNESS, 130, T + 120, service="glance", file="api.log", outcome="parsed"),
    ]
    store.write(Collection(samples=tuple(samples)))
    yield Context(store, load_catalog(), now=T + 240)
    store.close()


def test_growth_by_service_with_reset_and_births(ctx: Context) -> None:
    view = increases(ctx, COUNTER, T, T + 240, 60, ("service",))
    totals = {s.labels["service"]: s.total for s in view.series}
    # c1: half of 10 (the interval straddles the start) + 15 after the reset + 10; c2: 7
    assert totals == {"nova": pytest.approx(5 + 15 + 10 + 7), "glance": 0}
    [nova] = [s for s in view.series if s.labels["service"] == "nova"]
    per_minute = {round(p.t - T): p.v for p in nova.points}
    # the minute from T+60 to T+120 holds the reset's 15 and c2's 7 (born since T+60); the
    # last sample, at T+180, opens a minute with nothing in it yet
    assert per_minute == {30: pytest.approx(5), 90: pytest.approx(22), 150: pytest.approx(10),
                          210: 0}
    assert view.series[0].labels == {"service": "nova"}  # most growth first


def test_a_witness_tells_a_series_born_in_the_range(ctx: Context) -> None:
    view = increases(ctx, COUNTER, T, T + 240, 60, ("service", "host"),
                     keep=lambda labels: labels.get("service") == "glance", witness=WITNESS)
    [glance] = view.series
    assert glance.labels == {"service": "glance", "host": "c1"} and glance.total == 5
    assert [(round(p.t - T), p.v) for p in glance.points] == [(90, pytest.approx(5)), (150, 0)]


def test_one_bucket_and_bad_ranges(ctx: Context) -> None:
    whole = increases(ctx, COUNTER, T + 100, T + 240, 140, ("host",))
    # from T+100: a third of each growth over (T+60, T+120], the reset's 15 and c2's 7
    assert {s.labels["host"]: s.total for s in whole.series} == {
        "c1": pytest.approx(15 / 3 + 10), "c2": pytest.approx(7 / 3)}
    assert increases(ctx, COUNTER, T, T, 60).series == []
    with pytest.raises(BadQuery, match="end"):
        increases(ctx, COUNTER, T, T - 1, 60)
    with pytest.raises(BadQuery, match="step"):
        increases(ctx, COUNTER, T, T + 60, 0)


def test_growth_from_the_two_ends(ctx: Context) -> None:
    """The table's reading: two short windows; c1's reset in between is not seen (25 - 10)."""
    assert growth(ctx, COUNTER, T, T + 240, ("service",)) == {
        ("nova",): pytest.approx(15 + 7), ("glance",): 0}
    # glance's source began in the range: only the witness says it ran before the series
    assert growth(ctx, COUNTER, T, T + 240, ("host",), witness=WITNESS,
                  keep=lambda labels: labels["service"] == "glance") == {("c1",): 5}
    with pytest.raises(BadQuery, match="end"):
        growth(ctx, COUNTER, T, T - 1)
