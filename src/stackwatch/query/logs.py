"""What the services' logs say: errors per service and host over time, the ERROR records
themselves, and a service's requests, 5xx, latency per operation and (keystone) failed
logins with the addresses brute-forcing it.

Counts come from the logs sources' counters (catalog/metrics/logs.yaml) grown over the
range (:mod:`.counters`); records are the ERROR and CRITICAL ``log`` events the sources
store, newest first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel

from stackwatch.catalog.loader import ServiceSpec
from stackwatch.model import Sample, Status, make_labels
from stackwatch.query import events
from stackwatch.query.context import Context
from stackwatch.query.counters import LOOKBACK_S, CountSeries, CountView, growth, increases
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import EventView
from stackwatch.query.paging import Page, PageQuery
from stackwatch.query.samples import Point, RangeView, SeriesRange
from stackwatch.query.times import Stamped

RECORDS = "openstack_log_records_total"
LINES = "openstack_log_lines_total"
TRACEBACKS = "openstack_log_tracebacks_total"
SERVER_ERRORS = "openstack_log_http_server_errors_total"
REQUESTS = "openstack_log_http_requests_total"
DURATION_BUCKETS = "openstack_log_http_request_duration_seconds_bucket"
QUANTILES = "openstack_log_http_request_duration_quantile_seconds"
OFFENDERS = "openstack_log_identity_auth_offender_failures"
BRUTEFORCE_CHECK = "logs.auth_bruteforce"
AUTH_URLS = ("/v3/auth/tokens", "/v2.0/tokens")
#: the levels a severity filter keeps, from the least
LEVELS = ("WARNING", "ERROR", "CRITICAL")
#: operations a service page lists (the busiest), and those its latency chart draws
OPERATIONS_SHOWN = 15
OPERATIONS_CHARTED = 5
#: buckets in a chart over the range
CHART_POINTS = 240
#: records stamped up to this far past now are shown in a range that ends now (a node's
#: clock a little ahead, a request logged at its end)
AHEAD_S = 300.0


def _growth(ctx: Context, name: str, start: float, end: float, step: float,
            by: tuple[str, ...], keep: Callable[[Mapping[str, str]], bool],
            samples: Sequence[Sample] | None = None) -> CountView:
    """A logs counter's growth (``openstack_log_lines_total``, which every logs source
    emits at each collection, tells the series born in the range)."""
    return increases(ctx, name, start, end, step, by, keep, witness=LINES, samples=samples)


def chart_step(seconds: float) -> float:
    """The bucket width of a chart over ``seconds``."""
    return seconds / CHART_POINTS


def levels_from(severity: str) -> tuple[str, ...]:
    """The record levels at least ``severity`` (WARNING, ERROR or CRITICAL, any case)."""
    wanted = severity.upper() or "ERROR"
    if wanted not in LEVELS:
        raise BadQuery(f"severity: {severity!r} is not among {list(LEVELS)}")
    return LEVELS[LEVELS.index(wanted):]


def _regroup(view: CountView, name: str,
             of: Callable[[Mapping[str, str]], str] | None = None) -> CountView:
    """``view``'s series summed by one label ``name`` (or the value ``of`` gives each
    series' labels); their points share the bucket times."""
    totals: dict[str, float] = defaultdict(float)
    points: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for series in view.series:
        group = of(series.labels) if of is not None else series.labels.get(name, "")
        totals[group] += series.total
        for point in series.points:
            points[group][point.t] += point.v or 0.0
    out = [CountSeries(labels={name: group}, total=round(total, 9),
                       points=[Point(t=t, v=round(v, 9))
                               for t, v in sorted(points[group].items())])
           for group, total in totals.items()]
    out.sort(key=lambda s: (-s.total, sorted(s.labels.items())))
    return CountView(name=view.name, start=view.start, end=view.end, step=view.step,
                     by=[name], series=out)


# ------------------------------------------------------------------ errors and records


class ErrorSeries(BaseModel):
    """One service on one host over the range: its error records (``points``: per minute
    in each bucket), tracebacks and HTTP 5xx answers."""

    service: str
    host: str
    errors: float
    tracebacks: float
    server_errors: float
    points: list[Point]


class ErrorCounts(BaseModel):
    """Error records per service and host over ``[start, end]`` in ``step``-second
    buckets (``levels``: the record levels counted), the most errors first."""

    start: float
    end: float
    step: float
    levels: list[str]
    series: list[ErrorSeries]


def _where(service: str, host: str, levels: tuple[str, ...] | None = None
           ) -> Callable[[Mapping[str, str]], bool]:
    def keep(labels: Mapping[str, str]) -> bool:
        return ((not service or labels.get("service") == service)
                and (not host or labels.get("host") == host)
                and (levels is None or labels.get("level") in levels))
    return keep


def _error_views(ctx: Context, start: float, end: float, step: float, service: str,
                 host: str, levels: tuple[str, ...]) -> tuple[CountView, CountView, CountView]:
    by = ("service", "host")
    return (_growth(ctx, RECORDS, start, end, step, by, _where(service, host, levels)),
            _growth(ctx, TRACEBACKS, start, end, step, by, _where(service, host)),
            _growth(ctx, SERVER_ERRORS, start, end, step, by, _where(service, host)))


def _error_counts(records: CountView, tracebacks: CountView, server_errors: CountView,
                  levels: tuple[str, ...]) -> ErrorCounts:
    rows: dict[tuple[str, str], ErrorSeries] = {}

    def row(labels: Mapping[str, str]) -> ErrorSeries:
        key = (labels.get("service", ""), labels.get("host", ""))
        found = rows.get(key)
        if found is None:
            found = rows[key] = ErrorSeries(service=key[0], host=key[1], errors=0,
                                            tracebacks=0, server_errors=0, points=[])
        return found

    for series in records.series:
        found = row(series.labels)
        found.errors, found.points = series.total, series.points
    for series in tracebacks.series:
        row(series.labels).tracebacks = series.total
    for series in server_errors.series:
        row(series.labels).server_errors = series.total
    ordered = sorted(rows.values(), key=lambda r: (-r.errors, -r.server_errors,
                                                   -r.tracebacks, r.service, r.host))
    return ErrorCounts(start=records.start, end=records.end, step=records.step,
                       levels=list(levels), series=ordered)


def error_counts(ctx: Context, start: float, end: float, step: float = 0.0,
                 service: str = "", host: str = "", severity: str = "ERROR") -> ErrorCounts:
    """Error records (at least ``severity``), tracebacks and 5xx per service and host in
    ``[start, end]``; ``step`` 0: a chart's (the range over :data:`CHART_POINTS`)."""
    levels = levels_from(severity)
    views = _error_views(ctx, start, end, step or chart_step(end - start), service, host,
                         levels)
    return _error_counts(*views, levels)


def log_records(ctx: Context, start: float, end: float, page: PageQuery, service: str = "",
                host: str = "", severity: str = "ERROR") -> Page[EventView]:
    """The ERROR/CRITICAL records the logs sources stored (``log`` events, at least
    ``severity``), newest first; ``total`` counts at most :data:`events.MAX_EVENTS`."""
    levels_from(severity)
    if end >= ctx.now:  # up to now: a record a node with a clock ahead wrote is shown too
        end += AHEAD_S
    return Page.of(events.events(ctx, start, end, ["log"], severity=severity or "ERROR",
                                 service=service, host=host, newest_first=True), page)


class Choices(BaseModel):
    """What the filters offer: the services and hosts whose records are counted."""

    services: list[str]
    hosts: list[str]
    severities: list[str]


class LogsPage(Stamped):
    """The logs page: errors over time by service and by host, the table per service and
    host, and the records, newest first."""

    start: float
    end: float
    service: str
    host: str
    severity: str
    choices: Choices
    errors: ErrorCounts
    by_service: CountView
    by_host: CountView
    server_errors: CountView
    tracebacks: CountView
    records: Page[EventView]


def logs_page(ctx: Context, seconds: float, page: PageQuery, service: str = "",
              host: str = "", severity: str = "ERROR") -> LogsPage:
    """The logs page over the last ``seconds``, filtered."""
    levels = levels_from(severity)
    start, end = ctx.now - seconds, ctx.now
    records, tracebacks, server_errors = _error_views(ctx, start, end, chart_step(seconds),
                                                      service, host, levels)
    seen = ctx.store.latest_samples(RECORDS)
    return LogsPage(
        timestamp=ctx.now, start=start, end=end, service=service, host=host,
        severity=levels[0],
        choices=Choices(services=sorted({s.label("service") for s in seen}),
                        hosts=sorted({s.label("host") for s in seen}),
                        severities=list(LEVELS)),
        errors=_error_counts(records, tracebacks, server_errors, levels),
        by_service=_regroup(records, "service"), by_host=_regroup(records, "host"),
        server_errors=_regroup(server_errors, "service"),
        tracebacks=_regroup(tracebacks, "service"),
        records=log_records(ctx, start, end, page, service, host, levels[0]))


# ------------------------------------------------------------------ a service's logs


class Operation(BaseModel):
    """One API operation (method and URL template) over the range: requests, 5xx and
    latency percentiles from the response-time histogram (None without requests)."""

    method: str
    url: str
    requests: float
    server_errors: float
    p50: float | None
    p90: float | None
    p99: float | None


class Offender(BaseModel):
    """An address with at least the threshold of failed logins in the window: the most
    any log saw, and the logs that saw it (keystone's, HAProxy's) at ``timestamp``."""

    address: str
    failures: float
    seen_in: list[str]
    timestamp: float


class BruteForce(BaseModel):
    """The brute-force detection: the check's verdict, its window and threshold, and every
    address over the threshold, the most failures first."""

    status: str
    message: str
    window_seconds: float | None
    threshold: float | None
    offenders: list[Offender]


class ServiceLogCharts(BaseModel):
    """A service's logs over the range: requests by status class, 5xx by host, the p90 of
    its busiest operations, each operation's figures; for keystone, failed logins by host
    and the brute-force sources."""

    service: str
    requests: CountView
    server_errors: CountView
    latency: RangeView
    operations: list[Operation]
    auth_failures: CountView | None = None
    bruteforce: BruteForce | None = None


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of cumulative ``(le, count)`` buckets, linear within a bucket
    (Prometheus's histogram_quantile); None without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        count = max(count, below)  # growth spread over buckets: keep it monotonic
        if count >= rank and count > 0:
            if math.isinf(le):
                return lower  # beyond the highest bound: that bound, as Prometheus does
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def _operations(ctx: Context, service: str, start: float, end: float,
                requests: Sequence[Sample]) -> list[Operation]:
    """The busiest operations over the range; the histogram from its two ends only (a
    service's buckets are most of its series), the 5xx from its ``requests`` samples."""
    keep = _where(service, "")
    buckets = growth(ctx, DURATION_BUCKETS, start, end, ("method", "url", "le"), keep,
                     witness=LINES)
    by_op: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for (method, url, le), count in buckets.items():
        try:
            bound = float(le)
        except ValueError:
            continue  # not a bucket bound: nothing to place
        by_op[(method, url)].append((bound, count))
    errors: dict[tuple[str, str], float] = defaultdict(float)
    failed = _growth(ctx, REQUESTS, start, end, end - start, ("method", "url"),
                     lambda labels: keep(labels) and labels.get("status", "")[:1] == "5",
                     requests)
    for series in failed.series:
        errors[(series.labels["method"], series.labels["url"])] += series.total
    out = []
    for (method, url), found in by_op.items():
        count = max(n for _, n in found)
        if count <= 0:
            continue  # served before the range only
        out.append(Operation(
            method=method, url=url, requests=round(count, 6),
            server_errors=round(errors.get((method, url), 0.0), 6),
            p50=histogram_quantile(0.5, found), p90=histogram_quantile(0.9, found),
            p99=histogram_quantile(0.99, found)))
    out.sort(key=lambda o: (-o.requests, -o.server_errors, o.method, o.url))
    return out[:OPERATIONS_SHOWN]


def _latency(ctx: Context, service: str, start: float, end: float, step: float,
             operations: list[Operation], requests: Sequence[Sample]) -> RangeView:
    """The p90 of the busiest operations (each collection's, over every host), bucketed;
    each series read by its labels (the hosts that served the operation, from the
    ``requests`` samples): all of the metric over a day is every operation's."""
    wanted = {(o.method, o.url) for o in operations[:OPERATIONS_CHARTED]}
    served = {(s.label("host"), s.label("method"), s.label("url")) for s in requests
              if s.label("service") == service
              and (s.label("method"), s.label("url")) in wanted}
    sums: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(dict)
    for host, method, url in sorted(served):
        labels = make_labels(service=service, host=host, method=method, url=url,
                             quantile="0.9")
        for sample in ctx.store.sample_range(QUANTILES, start, end, labels):
            if not math.isfinite(sample.value):
                continue
            slot = sums[(method, url)].setdefault(int((sample.timestamp - start) // step),
                                                  [0.0, 0.0])
            slot[0] += sample.value
            slot[1] += 1
    series = [SeriesRange(name=QUANTILES, labels={"operation": f"{method} {url}"},
                          points=[Point(t=start + (slot + 0.5) * step, v=total / count)
                                  for slot, (total, count) in sorted(slots.items())])
              for (method, url), slots in sorted(sums.items())]
    return RangeView(name=QUANTILES, start=start, end=end, step=step, series=series)


def _is_login_failure(labels: Mapping[str, str], service: str) -> bool:
    return (labels.get("service") == service and labels.get("status") == "401"
            and labels.get("method") == "POST"
            and labels.get("url", "").endswith(AUTH_URLS))


def bruteforce(ctx: Context) -> BruteForce | None:
    """The brute-force check and every offender now; None when no logs source checks."""
    checks = [c for c in ctx.checks() if c.name == BRUTEFORCE_CHECK]
    if not checks:
        return None
    perf = {p.label: p for c in checks for p in c.perfdata}
    window = perf.get("window")
    failures = perf.get("max_failures")
    oldest = ctx.now - ctx.max_age
    by_address: dict[str, Offender] = {}
    for sample in ctx.store.latest_samples(OFFENDERS):
        if sample.timestamp < oldest:
            continue  # its source stopped running: not a verdict of now
        address = sample.label("address")
        found = by_address.setdefault(address, Offender(
            address=address, failures=0, seen_in=[], timestamp=sample.timestamp))
        found.failures = max(found.failures, sample.value)
        found.seen_in = sorted({*found.seen_in, sample.label("service")})
        found.timestamp = max(found.timestamp, sample.timestamp)
    offenders = sorted(by_address.values(), key=lambda o: (-o.failures, o.address))
    return BruteForce(
        status=Status.worst(c.status for c in checks).name,
        message="; ".join(f"{dict(c.labels).get('service', '')}: {c.message}"
                          for c in sorted(checks, key=lambda c: c.labels)),
        window_seconds=window.value if window else None,
        threshold=failures.warn if failures else None, offenders=offenders)


def log_service(spec: ServiceSpec) -> str | None:
    """The ``service`` label of an API service's logs (its project: nova, keystone...);
    None for a service that serves no API (its project's logs are another's too)."""
    return spec.project if spec.service_type else None


def service_log_charts(ctx: Context, spec: ServiceSpec, seconds: float
                       ) -> ServiceLogCharts | None:
    """What ``spec``'s logs say over the last ``seconds`` (None for a service without an
    API of its own)."""
    service = log_service(spec)
    if service is None:
        return None
    start, end, step = ctx.now - seconds, ctx.now, chart_step(seconds)
    keep = _where(service, "")
    # read once: the charts by status, the 5xx per operation and the failed logins
    read = ctx.store.sample_range(REQUESTS, start - LOOKBACK_S, end)
    by_status = _growth(ctx, REQUESTS, start, end, step, ("status",), keep, read)
    requests = _regroup(by_status, "class",
                        lambda labels: f"{labels.get('status', '')[:1] or '?'}xx")
    operations = _operations(ctx, service, start, end, read)
    charts = ServiceLogCharts(
        service=service, requests=requests,
        server_errors=_growth(ctx, SERVER_ERRORS, start, end, step, ("host",), keep),
        latency=_latency(ctx, service, start, end, step, operations, read),
        operations=operations)
    if spec.service_type == "identity":
        charts.auth_failures = _growth(ctx, REQUESTS, start, end, step, ("host",),
                                       lambda labels: _is_login_failure(labels, service),
                                       read)
        charts.bruteforce = bruteforce(ctx)
    return charts

