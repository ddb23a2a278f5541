"""Trends over the stored history, with a forecast where something runs out.

What an operator plans capacity from (the operations guide's monthly and quarterly
reviews), each a chart of series over the window in hourly (or wider) buckets:

* requests per hour per API: the hourly growth of ``openstack_log_http_requests_total``
  by service, with the hours of ``stackwatch logs backfill`` (older, rotated logs) where
  the live counters have none;
* instances per compute node (``openstack_nova_running_vms``, the busiest hosts);
* flavors in use (``openstack_nova_flavor_servers``);
* volumes and their size (``openstack_cinder_volumes``, ``..._volumes_size_bytes``);
* free vCPU, RAM and local disk of the cloud and per aggregate (the hypervisors'
  ``openstack_nova_*_free`` added up per bucket), and free space per cinder pool: each
  with :func:`~stackwatch.review.forecast.forecast` of the date it reaches zero.

Every line also carries its rate per day and R² (:func:`~stackwatch.review.forecast.fit`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise

from pydantic import BaseModel

from stackwatch.query.context import Context
from stackwatch.query.samples import HOURLY_FROM, MAX_POINTS, Point
from stackwatch.query.times import Stamped
from stackwatch.review.forecast import Forecast, fit, forecast
from stackwatch.store.log_history import HourlyRequests

HOUR = 3600.0
#: most lines of one chart (the largest last values); the rest are counted
LINES_SHOWN = 12
#: free capacity: (key, title, per-host metric, unit)
FREE: tuple[tuple[str, str, str, str], ...] = (
    ("vcpu", "Free vCPU", "openstack_nova_vcpus_free", ""),
    ("ram", "Free RAM", "openstack_nova_memory_free_bytes", "bytes"),
    ("disk", "Free local disk", "openstack_nova_local_storage_free_bytes", "bytes"),
)
POOL_FREE = "openstack_cinder_pool_capacity_free_gb"
GIB = 1024.0 ** 3


class TrendLine(BaseModel):
    """One line of a chart: ``labels`` (``label`` names it), its points, the last value,
    the fitted rate per day with R², and for capacity the forecast of running out."""

    labels: dict[str, str]
    points: list[Point]
    last: float | None
    rate_per_day: float | None
    r2: float | None
    forecast: Forecast | None = None


class TrendChart(BaseModel):
    """One chart: ``key`` its stable id, the series it reads (``name``), ``unit`` for
    display, its lines (at most :data:`LINES_SHOWN`, ``lines_total`` in all)."""

    key: str
    title: str
    name: str
    unit: str
    lines: list[TrendLine]
    lines_total: int
    note: str = ""

    @property
    def label(self) -> str:
        """The label that names each line (``service``, ``hostname``, ``aggregate``...)."""
        return next(iter(self.lines[0].labels), "") if self.lines else ""

    @property
    def series(self) -> list[TrendLine]:
        """The lines, as ``web.charts.lines`` reads a range view."""
        return self.lines


class TrendsView(Stamped):
    """Every trend chart over ``[start, end]`` in ``step``-second buckets."""

    start: float
    end: float
    step: float
    charts: list[TrendChart]

    def chart(self, key: str) -> TrendChart:
        return next(c for c in self.charts if c.key == key)


def line(labels: dict[str, str], points: Sequence[Point], *, capacity: bool = False
         ) -> TrendLine:
    """A line with its fit, and with ``capacity`` the forecast of reaching zero."""
    pairs = [(p.t, p.v) for p in points]
    found = fit(pairs)
    last = next((p.v for p in reversed(points) if p.v is not None), None)
    return TrendLine(labels=labels, points=list(points), last=last,
                     rate_per_day=found.slope * 86400 if found else None,
                     r2=found.r2 if found else None,
                     forecast=forecast(pairs) if capacity else None)


def _largest(lines: Iterable[TrendLine], shown: int = LINES_SHOWN) -> tuple[list[TrendLine],
                                                                            int]:
    ordered = sorted(lines, key=lambda ln: (-(ln.last or 0.0), sorted(ln.labels.items())))
    return ordered[:shown], len(ordered)


def _series(ctx: Context, name: str, start: float, end: float, step: float
            ) -> Iterator[tuple[dict[str, str], list[tuple[float, float | None]]]]:
    """Each series of ``name`` with its bucket means, as the store gives them (plain
    tuples: 500 hypervisors over a month are some 360,000 points)."""
    if step >= HOURLY_FROM:
        step = math.ceil(step / HOUR) * HOUR
    for labels, points in ctx.store.range_points(name, start, end, step):
        yield dict(labels), points


def _by(ctx: Context, name: str, label: str, start: float, end: float, step: float
        ) -> dict[str, list[Point]]:
    """The bucket means of ``name``, added up per value of ``label`` (``cloud`` kept)."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, points in _series(ctx, name, start, end, step):
        key = labels.get(label, "")
        if "cloud" in labels:
            key = f"{labels['cloud']}/{key}"
        into = sums[key]
        for t, v in points:
            if v is not None:
                into[t] += v
    return {k: [Point(t, v) for t, v in sorted(points.items())] for k, points in sums.items()}


def requests_chart(ctx: Context, start: float, end: float,
                   backfill: Sequence[HourlyRequests] = ()) -> TrendChart:
    """Requests per hour per API service: from the counters' hourly means (the store's
    hourly sums: a month of a busy cloud's counters is a few rows an hour), the growth
    between consecutive hours of each series (a fall is a reset: that hour is left out),
    added up per service; backfilled hours where the counters have none."""
    name = "openstack_log_http_requests_total"
    first = math.floor(start / HOUR) * HOUR
    hours: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, points in _series(ctx, name, first, end, HOUR):
        into = hours[labels.get("service", "")]
        for (t0, v0), (t1, v1) in pairwise(points):
            if v0 is not None and v1 is not None and v1 >= v0 and t1 - t0 == HOUR:
                # the growth from one hour's middle to the next: the hour between them
                into[t1 - HOUR / 2] += v1 - v0
    backfilled: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for row in backfill:
        if first <= row.hour <= end:
            backfilled[row.service][row.hour] += row.requests
    for service, found in backfilled.items():
        for hour, count in found.items():
            if not hours[service].get(hour):
                hours[service][hour] = count
    lines = [line({"service": s}, [Point(t + HOUR / 2, v) for t, v in sorted(h.items())])
             for s, h in hours.items() if h]
    shown, total = _largest(lines)
    return TrendChart(key="requests", title="API requests per hour", name=name, unit="",
                      lines=shown, lines_total=total,
                      note="from the API logs; older hours from `stackwatch logs backfill`")


def _simple(ctx: Context, key: str, title: str, name: str, label: str, unit: str,
            start: float, end: float, step: float) -> TrendChart:
    found = _by(ctx, name, label, start, end, step)
    # the largest last values, fitted: not the other 990 hypervisors'
    last = {k: next((p.v for p in reversed(points) if p.v is not None), 0.0)
            for k, points in found.items()}
    shown = sorted(found, key=lambda k: (-(last[k] or 0.0), k))[:LINES_SHOWN]
    return TrendChart(key=key, title=title, name=name, unit=unit,
                      lines=[line({label: k}, found[k]) for k in shown],
                      lines_total=len(found))


def free_chart(ctx: Context, key: str, title: str, name: str, unit: str, start: float,
               end: float, step: float) -> TrendChart:
    """Free capacity of the cloud and of each aggregate, each with its forecast."""
    cloud: dict[float, float] = defaultdict(float)
    aggregates: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, points in _series(ctx, name, start, end, step):
        prefix = f"{labels['cloud']}/" if "cloud" in labels else ""
        into = [aggregates[prefix + a] for a in labels.get("aggregates", "").split(",") if a]
        for t, v in points:
            if v is None:
                continue
            cloud[t] += v
            for found in into:
                found[t] += v
    lines = []
    if cloud:
        lines.append(line({"aggregate": "(cloud)"},
                          [Point(t, v) for t, v in sorted(cloud.items())], capacity=True))
    lines += [line({"aggregate": a}, [Point(t, v) for t, v in sorted(found.items())],
                   capacity=True) for a, found in sorted(aggregates.items())]
    return TrendChart(key=f"free_{key}", title=title, name=name, unit=unit,
                      lines=lines[:LINES_SHOWN], lines_total=len(lines),
                      note="the hypervisors' free capacity added up; a host in several "
                           "aggregates counts in each")


def pools_chart(ctx: Context, start: float, end: float, step: float) -> TrendChart:
    """Free space per cinder pool (bytes), each with its forecast."""
    lines = []
    for pool, points in _by(ctx, POOL_FREE, "name", start, end, step).items():
        lines.append(line({"pool": pool}, [Point(p.t, None if p.v is None else p.v * GIB)
                                           for p in points], capacity=True))
    shown, total = _largest(lines)
    return TrendChart(key="free_pools", title="Free volume pool space", name=POOL_FREE,
                      unit="bytes", lines=shown, lines_total=total)


def bucket(seconds: float) -> float:
    """The bucket width for a window: an hour from two days on (the store reads hourly
    sums), wider only past :data:`~stackwatch.query.samples.MAX_POINTS` hours; a shorter
    window (a young store, a look at today) gets some 240 buckets of whole minutes."""
    if seconds < 2 * 86400:
        return max(60.0, math.ceil(seconds / 240 / 60) * 60)
    return max(HOUR, math.ceil(seconds / MAX_POINTS / HOUR) * HOUR)


def trends(ctx: Context, seconds: float, backfill: Sequence[HourlyRequests] = (),
           capacity_only: bool = False) -> TrendsView:
    """Every trend over the last ``seconds`` (``backfill``: ``LogHistory`` hours), or
    with ``capacity_only`` the free-capacity charts alone (what reports forecast)."""
    end = ctx.now
    start = end - seconds
    step = bucket(seconds)
    charts = [] if capacity_only else [
        requests_chart(ctx, start, end, backfill),
        _simple(ctx, "instances", "Instances per compute node", "openstack_nova_running_vms",
                "hostname", "", start, end, step),
        _simple(ctx, "flavors", "Servers per flavor", "openstack_nova_flavor_servers",
                "flavor", "", start, end, step),
        _simple(ctx, "volumes", "Volumes", "openstack_cinder_volumes", "region", "",
                start, end, step),
        _simple(ctx, "volume_bytes", "Volume size", "openstack_cinder_volumes_size_bytes",
                "region", "bytes", start, end, step),
    ]
    charts += [free_chart(ctx, k, title, name, unit, start, end, step)
               for k, title, name, unit in FREE]
    charts.append(pools_chart(ctx, start, end, step))
    return TrendsView(timestamp=end, start=start, end=end, step=step, charts=charts)


def capacity_forecasts(view: TrendsView) -> list[tuple[str, str, Forecast]]:
    """``(chart title, line name, forecast)`` of every capacity line, soonest first."""
    out = [(c.title, next(iter(ln.labels.values()), ""), ln.forecast)
           for c in view.charts for ln in c.lines if ln.forecast is not None]
    return sorted(out, key=lambda f: (f[2].date is None, f[2].date or 0.0, f[0], f[1]))
