"""Samples: the latest of each series, a range (optionally bucketed for charts), and
statistics over a period (Aodh's count/min/max/avg/sum/last)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import starmap

from pydantic import BaseModel

from stackwatch.model import Labels, Sample
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import SampleView
from stackwatch.query.times import Stamped, finite

#: most points one series gets in a bucketed range (a chart is a few hundred pixels wide)
MAX_POINTS = 2000
#: a step this long or longer is made whole hours, which the store reads from their
#: sums (a week of a series: 168 rows, not 10,080 samples); a chart over 7 days asks 2520 s
HOURLY_FROM = 1800.0


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a series: ``t`` epoch seconds, ``v`` the value (the bucket's mean).

    A plain dataclass, not a model: a week of a metric is some 170,000 points, which as
    models took half a second to make; pydantic serializes it (and documents it) the same.
    """

    t: float
    v: float | None  # null: not a number


class SeriesRange(BaseModel):
    """One series over a range."""

    name: str
    labels: dict[str, str]
    points: list[Point]


class RangeView(BaseModel):
    """Every series of a metric (or one label set) over ``[start, end]``; ``step`` the
    bucket width in seconds (0: raw samples)."""

    name: str
    start: float
    end: float
    step: float
    series: list[SeriesRange]


class StatisticsView(Stamped):
    """Aodh-style statistics of one series over ``[start, end]`` (``timestamp``: the
    period's end)."""

    name: str
    labels: dict[str, str]
    start: float
    end: float
    count: int
    min: float | None  # null where a value is not a number
    max: float | None
    avg: float | None
    sum: float | None
    last: float | None


def _match(sample_labels: Labels, wanted: dict[str, str]) -> bool:
    have = dict(sample_labels)
    return all(have.get(k) == v for k, v in wanted.items())


def latest(ctx: Context, name: str, labels: dict[str, str] | None = None) -> list[SampleView]:
    """The newest sample of every current series of ``name`` carrying ``labels``."""
    found = ctx.store.latest_samples(name)
    return [SampleView.of(s, ctx.now) for s in sorted(found, key=lambda s: s.labels)
            if not labels or _match(s.labels, labels)]


def sample_range(ctx: Context, name: str, start: float, end: float,
                 labels: dict[str, str] | None = None, step: float = 0.0) -> RangeView:
    """Samples of ``name`` in ``[start, end]`` per series; with ``step`` > 0 the mean of
    each ``step``-wide bucket, buckets aligned on multiples of the step (at most
    :data:`MAX_POINTS` per series: a smaller step is widened; from :data:`HOURLY_FROM`
    on, to whole hours), for charts over long ranges: the step used is the view's. The
    store picks the series carrying ``labels`` and buckets their samples
    (:meth:`~stackwatch.store.base.Store.range_points`)."""
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    if step < 0 or math.isnan(step):
        raise BadQuery(f"step: {step} must be 0 (raw) or a number of seconds")
    if step:
        step = max(step, (end - start) / MAX_POINTS)
        if step >= HOURLY_FROM:  # whole hours: the store reads their sums
            step = math.ceil(step / 3600) * 3600.0
    found = ctx.store.range_points(name, start, end, step, tuple(sorted((labels or {}).items())))
    return RangeView(name=name, start=start, end=end, step=step, series=[
        SeriesRange(name=name, labels=dict(key), points=list(starmap(Point, points)))
        for key, points in found])


def statistics(ctx: Context, name: str, start: float, end: float,
               labels: dict[str, str] | None = None) -> list[StatisticsView]:
    """Statistics of each series of ``name`` (carrying ``labels``) over ``[start, end]``."""
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    by_series: dict[Labels, list[Sample]] = defaultdict(list)
    for sample in ctx.store.sample_range(name, start, end):
        if not labels or _match(sample.labels, labels):
            by_series[sample.labels].append(sample)
    out = []
    for key, found in sorted(by_series.items()):
        values = [s.value for s in found]
        out.append(StatisticsView(
            name=name, labels=dict(key), start=start, end=end, timestamp=end,
            count=len(values), min=finite(min(values)), max=finite(max(values)),
            avg=finite(math.fsum(values) / len(values)), sum=finite(math.fsum(values)),
            last=finite(max(found, key=lambda s: s.timestamp).value)))
    return out
