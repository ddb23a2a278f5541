"""Counters over a time range: how much they grew, per bucket and in all, summed by labels.

A counter (``*_total``) is cumulative; a chart or a table wants its growth. The rules,
Prometheus's ``increase()`` adapted to samples read from the store in one pass:

* the growth between two consecutive samples of a series is spread evenly over the time
  between them, so buckets narrower than the collection interval show a steady rate
  rather than spikes and gaps;
* a value lower than the one before is a reset (a checkpoint lost): the growth is the
  new value;
* a series' first sample counts from zero when the series was born in the range: its
  source was collecting before it appeared, because the metric had other series of the
  same origin (``cloud`` and ``service`` labels) earlier, or because a ``witness``
  metric the source emits at every collection did (the logs sources'
  ``openstack_log_lines_total``). A service's first 5xx makes its 5xx series appear,
  after a burst of fifty, with the value 50: that burst is growth. A first sample at the
  source's first collection is a baseline (what came before is not known).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise

from pydantic import BaseModel

from stackwatch.model import Labels, Sample
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.samples import MAX_POINTS, Point

#: how far before the range a series' previous sample is looked for (its baseline)
LOOKBACK_S = 900.0

#: a witness sample this much before a series' first one shows its source was collecting
WITNESS_BEFORE_S = 0.001

Keep = Callable[[Mapping[str, str]], bool]
Origin = tuple[str, str]


class CountSeries(BaseModel):
    """The growth of the series sharing one value of each ``by`` label: ``total`` over the
    range, ``points`` per minute in each bucket (``t`` its middle)."""

    labels: dict[str, str]
    total: float
    points: list[Point]


class CountView(BaseModel):
    """A counter's growth over ``[start, end]`` in ``step``-second buckets, by labels;
    series with the most growth first."""

    name: str
    start: float
    end: float
    step: float
    by: list[str]
    series: list[CountSeries]


class _Buckets:
    """Growth per bucket of one group, and the buckets its samples covered."""

    def __init__(self, count: int) -> None:
        self.growth = [0.0] * count
        self.first = count
        self.last = -1

    def cover(self, index: int) -> None:
        self.first = min(self.first, index)
        self.last = max(self.last, index)


def _collecting(ctx: Context, witness: str, before: float) -> dict[Origin, float]:
    """The sources whose ``witness`` had a sample in the :data:`LOOKBACK_S` before
    ``before``, with the last such time."""
    seen: dict[Origin, float] = {}
    for sample in ctx.store.sample_range(witness, before - LOOKBACK_S,
                                         before - WITNESS_BEFORE_S):
        key = origin(dict(sample.labels))
        seen[key] = max(seen.get(key, -math.inf), sample.timestamp)
    return seen


def _last(samples: Sequence[Sample]) -> dict[Labels, float]:
    last: dict[Labels, tuple[float, float]] = {}
    for sample in samples:
        if sample.labels not in last or sample.timestamp >= last[sample.labels][0]:
            last[sample.labels] = (sample.timestamp, sample.value)
    return {labels: value for labels, (_, value) in last.items()}


def growth(ctx: Context, name: str, start: float, end: float, by: Sequence[str] = (),
           keep: Keep | None = None, witness: str | None = None
           ) -> dict[tuple[str, ...], float]:
    """The growth of counter ``name`` over ``[start, end]`` summed by the ``by`` labels,
    read from the samples near both ends only (:data:`LOOKBACK_S` before each): a table
    over a week reads two short windows, not the week. A reset between the two ends is
    seen only when the value ends lower; a series born in the range counts whole when
    its source was collecting before it appeared (at ``start``, or by the ``witness``),
    else from its first sample."""
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    before = _last(ctx.store.sample_range(name, start - LOOKBACK_S, start))
    after = _last(ctx.store.sample_range(name, max(start, end - LOOKBACK_S), end))
    running = {origin(dict(labels)) for labels in before}
    witnessed: dict[float, dict[Origin, float]] = {}
    if witness is not None:
        running |= set(_collecting(ctx, witness, start + WITNESS_BEFORE_S))
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in after.items():
        have = dict(labels)
        if keep is not None and not keep(have):
            continue
        if labels in before:
            base = before[labels]
            grown = value - base if value >= base else value
        elif origin(have) in running:
            grown = value  # born in the range
        else:  # its source began in the range: was the series born after it did?
            first = ctx.store.sample_range(name, start, end, labels)
            since = first[0].timestamp if first else end
            if since not in witnessed:
                witnessed[since] = ({} if witness is None else
                                    _collecting(ctx, witness, since))
            if origin(have) in witnessed[since]:
                grown = value
            else:  # born at its source's first collection: that is the baseline
                grown = value - first[0].value if first and value >= first[0].value else 0.0
        out[tuple(have.get(label, "") for label in by)] += grown
    return dict(out)


def origin(labels: Mapping[str, str]) -> Origin:
    """Where a series comes from, as far as its labels say: its cloud and service."""
    return labels.get("cloud", ""), labels.get("service", "")


def increases(ctx: Context, name: str, start: float, end: float, step: float,
              by: Sequence[str] = (), keep: Keep | None = None,
              witness: str | None = None, samples: Sequence[Sample] | None = None
              ) -> CountView:
    """The growth of counter ``name`` in ``[start, end]`` summed by the ``by`` labels, over
    the series ``keep`` accepts (all without it); ``witness``: a metric every source of
    these series emits at each collection (tells a series born in the range);
    ``samples``: the metric's samples from :data:`LOOKBACK_S` before ``start`` to ``end``,
    when already read (several views of one metric read it once)."""
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    if end == start:
        return CountView(name=name, start=start, end=end, step=step, by=list(by), series=[])
    if not step > 0 or not math.isfinite(step):
        raise BadQuery(f"step: {step} must be a number of seconds above 0")
    step = max(step, (end - start) / MAX_POINTS)
    count = max(1, math.ceil((end - start) / step - 1e-9))
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    if samples is None:
        samples = ctx.store.sample_range(name, start - LOOKBACK_S, end)
    for sample in samples:
        if start - LOOKBACK_S <= sample.timestamp <= end:
            series[sample.labels].append((sample.timestamp, sample.value))
    collected: dict[Origin, list[float]] = defaultdict(list)  # each source's collections
    for labels, points in series.items():
        collected[origin(dict(labels))].extend(t for t, _ in points)
    times = {key: sorted(set(found)) for key, found in collected.items()}
    witnessed: dict[float, dict[Origin, float]] = {}

    def born(labels: Mapping[str, str], first: float) -> float | None:
        """When the series' source collected before its first sample (the series was
        born since), or None: nothing says it was collecting."""
        source = origin(labels)
        earlier = bisect_left(times[source], first)
        if earlier:
            return times[source][earlier - 1]
        if witness is None:
            return None
        if first not in witnessed:  # the series born at one collection share its time
            witnessed[first] = _collecting(ctx, witness, first)
        return witnessed[first].get(source)

    groups: dict[tuple[str, ...], _Buckets] = {}

    def slot(t: float) -> int:
        return min(count - 1, max(0, int((t - start) // step)))

    def spread(into: _Buckets, t0: float, t1: float, growth: float) -> None:
        """``growth`` over ``(t0, t1]`` into the buckets, the part inside the range."""
        lo, hi = max(t0, start), min(t1, end)
        if hi < lo or (hi == lo and t0 != t1):
            return
        into.cover(slot(lo))
        into.cover(slot(hi))
        if t1 == t0:
            into.growth[slot(t1)] += growth
            return
        for index in range(slot(lo), slot(hi) + 1):
            b0, b1 = start + index * step, start + (index + 1) * step
            overlap = min(hi, b1) - max(lo, b0)
            if overlap > 0:
                into.growth[index] += growth * overlap / (t1 - t0)

    for labels, points in series.items():
        have = dict(labels)
        if keep is not None and not keep(have):
            continue
        group = tuple(have.get(label, "") for label in by)
        into = groups.get(group)
        if into is None:
            into = groups[group] = _Buckets(count)
        first_t, first_v = points[0]
        since = born(have, first_t) if start <= first_t else None
        if since is not None:  # born in the range: all of it is new since that collection
            spread(into, since, first_t, first_v)
        for (t0, v0), (t1, v1) in pairwise(points):
            spread(into, t0, t1, v1 - v0 if v1 >= v0 else v1)
        for t, _ in points:
            if start <= t <= end:
                into.cover(slot(t))
    out = []
    for group, into in groups.items():
        if into.last < 0:
            continue  # no sample inside the range
        per_minute = 60.0 / step
        out.append(CountSeries(
            labels=dict(zip(by, group, strict=True)), total=round(sum(into.growth), 9),
            points=[Point(t=start + (index + 0.5) * step,
                          v=round(into.growth[index] * per_minute, 9))
                    for index in range(into.first, into.last + 1)]))
    out.sort(key=lambda s: (-s.total, sorted(s.labels.items())))
    return CountView(name=name, start=start, end=end, step=step, by=list(by), series=out)
