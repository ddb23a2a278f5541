"""The reviews of the operations guide's rhythm: ``daily``, ``weekly`` and ``monthly``
reports from the store, as text, JSON or a printable HTML page.

Each covers ``[start, end]`` (1, 7 or 30 days ending at ``end``; the server's schedule
ends them at the start of the UTC day, ISO week or month: :func:`period_end`) with five
sections: the servers in ERROR with their faults (and the faults recorded in the
period), usage and the quotas nearest their limit, capacity and its trend (the
forecasts of :mod:`~stackwatch.review.trends`, over at least a week), the alarms'
transitions of the period, and the API requests that failed most (4xx and 5xx, from the
log counters' growth).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from typing import Literal

import jinja2
from pydantic import BaseModel

from stackwatch.model import Severity
from stackwatch.query import alarms as alarm_query
from stackwatch.query.capacity import GroupCapacity, groups, hosts
from stackwatch.query.compute import servers_in_error
from stackwatch.query.context import Context
from stackwatch.query.counters import growth
from stackwatch.query.models import ItemView
from stackwatch.query.quotas import QuotaView, quotas
from stackwatch.query.times import Stamped, iso
from stackwatch.review.forecast import Forecast
from stackwatch.review.trends import TrendsView, capacity_forecasts, trends

Kind = Literal["daily", "weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly", "monthly")
DAYS: dict[str, int] = {"daily": 1, "weekly": 7, "monthly": 30}
FORMATS = ("text", "json", "html")
#: capacity trends look back at least this far (a day is too short to see a trend)
TREND_MIN_S = 7 * 86400.0
#: rows of the quotas and API errors sections
TOP = 15
REQUESTS = "openstack_log_http_requests_total"


class ApiError(BaseModel):
    """Failed requests of one operation in the period."""

    service: str
    method: str
    url: str
    status: str
    count: float


class FaultEvent(BaseModel):
    """An instance fault recorded in the period."""

    timestamp: float
    time: str
    instance: str
    code: str
    message: str


class CapacityLine(BaseModel):
    chart: str
    line: str
    forecast: Forecast


class Report(Stamped):
    """One report: its ``kind`` and period, and its five sections."""

    kind: str
    start: float
    end: float
    failed_servers: list[ItemView]
    faults: list[FaultEvent]
    cloud: GroupCapacity
    quotas: list[QuotaView]
    quotas_total: int
    forecasts: list[CapacityLine]
    trend_start: float
    alarms: list[alarm_query.TransitionView] | None
    api_errors: list[ApiError]

    @property
    def start_time(self) -> str:
        return iso(self.start)

    @property
    def end_time(self) -> str:
        return iso(self.end)


def period_end(kind: str, now: float) -> float:
    """The start of the current UTC day, ISO week (Monday) or month: where the last
    whole period of ``kind`` ended."""
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    if kind == "weekly":
        day -= dt.timedelta(days=day.weekday())
    elif kind == "monthly":
        day = day.replace(day=1)
    return day.timestamp()


def period_start(kind: str, end: float) -> float:
    """The start of the period of ``kind`` ending at ``end`` (a monthly one: the
    calendar month before when ``end`` is a month's first midnight, else 30 days)."""
    moment = dt.datetime.fromtimestamp(end, dt.UTC)
    if kind == "monthly" and moment.day == 1 and moment.time() == dt.time(0):
        before = moment - dt.timedelta(days=1)
        days = calendar.monthrange(before.year, before.month)[1]
        return end - days * 86400.0
    return end - DAYS[kind] * 86400.0


def _api_errors(ctx: Context, start: float, end: float) -> list[ApiError]:
    found = growth(ctx, REQUESTS, start, end, by=("service", "method", "url", "status"),
                   keep=lambda labels: labels.get("status", "")[:1] in ("4", "5"),
                   witness="openstack_log_lines_total")
    rows = [ApiError(service=k[0], method=k[1], url=k[2], status=k[3], count=v)
            for k, v in found.items() if v > 0]
    rows.sort(key=lambda r: (-r.count, r.service, r.url, r.status))
    return rows[:TOP]


def _faults(ctx: Context, start: float, end: float) -> list[FaultEvent]:
    events = ctx.store.events(start, end, kinds=("fault",), limit=200, newest_first=True,
                              min_severity=Severity.DEBUG)
    return [FaultEvent(timestamp=e.timestamp, time=iso(e.timestamp),
                       instance=e.resource_ids[0] if e.resource_ids else "",
                       code=e.event_type.partition("/")[2], message=e.message)
            for e in events]


def build(ctx: Context, kind: str, end: float | None = None,
          view: TrendsView | None = None) -> Report:
    """The ``kind`` report of the period ending at ``end`` (default: ``ctx.now``)."""
    if kind not in DAYS:
        raise ValueError(f"{kind!r}: not one of {', '.join(KINDS)}")
    end = ctx.now if end is None else end
    start = period_start(kind, end)
    window = max(end - start, TREND_MIN_S)
    if view is None:
        view = trends(Context(ctx.store, ctx.catalog, now=end), window, capacity_only=True)
    nearest = quotas(ctx)
    history = (alarm_query.history(ctx.alarm_states, start, end)
               if ctx.alarm_states is not None else None)
    return Report(
        timestamp=ctx.now, kind=kind, start=start, end=end,
        failed_servers=servers_in_error(ctx), faults=_faults(ctx, start, end),
        cloud=groups(hosts(ctx))[0], quotas=nearest.limited(TOP), quotas_total=len(nearest),
        forecasts=[CapacityLine(chart=c, line=ln, forecast=f)
                   for c, ln, f in capacity_forecasts(view)],
        trend_start=end - window, alarms=history, api_errors=_api_errors(ctx, start, end))


def _qty(value: float | None, unit: str = "") -> str:
    from stackwatch.web.format import human_bytes, human_number

    return human_bytes(value) if unit == "bytes" else human_number(value)


def text(report: Report) -> str:
    """The report as plain text (terminal, mail)."""
    from stackwatch.terminal import printable

    out = [f"stackwatch {report.kind} report: {report.start_time} .. {report.end_time}", ""]
    out.append(f"Failed servers ({len(report.failed_servers)} in ERROR)")
    out += [f"  {s.name or s.id}  {s.host or '-'}  {s.project_name or s.project}  "
            f"{printable(s.message) or '(no fault)'}" for s in report.failed_servers] or \
        ["  none"]
    if report.faults:
        out.append(f"  faults recorded in the period: {len(report.faults)}")
        out += [f"    {f.time} {f.instance} {f.code} {printable(f.message)}"
                for f in report.faults[:TOP]]
    c = report.cloud
    out += ["", "Usage and quotas",
            f"  {c.hosts} hypervisors, {c.vms:g} servers; vCPU {c.vcpu.used:g} of "
            f"{c.vcpu.capacity:g}, RAM {_qty(c.ram.used, 'bytes')} of "
            f"{_qty(c.ram.capacity, 'bytes')}, disk {_qty(c.disk.used, 'bytes')} of "
            f"{_qty(c.disk.capacity, 'bytes')}"]
    out += [f"  {q.project or q.project_id} {q.service} {q.resource}: {q.used:g} of "
            f"{'unlimited' if q.limit is None else f'{q.limit:g}'}"
            + (f" ({q.share:.0%})" if q.share is not None else "") for q in report.quotas]
    out += ["", f"Capacity and its trend (since {iso(report.trend_start)})"]
    out += [f"  {f.chart} {f.line}: {f.forecast.summary()}" for f in report.forecasts] or \
        ["  no capacity history"]
    out += ["", "Alarms of the period"]
    if report.alarms is None:
        out.append("  no alarm engine state")
    else:
        out += [f"  {iso(a.ts)} {a.alarm} {a.previous} -> {a.current} ({a.severity}) "
                f"{printable(a.reason)}" for a in report.alarms] or ["  none"]
    out += ["", "Top API errors"]
    out += [f"  {e.count:8.0f} {e.status} {e.service} {e.method} {printable(e.url)}"
            for e in report.api_errors] or ["  none"]
    return "\n".join(out) + "\n"


def html(report: Report) -> str:
    """The report as one printable HTML page (inline CSS, nothing fetched)."""
    from stackwatch.web.format import FILTERS

    env = jinja2.Environment(loader=jinja2.PackageLoader("stackwatch.review", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.filters["iso"] = iso
    return env.get_template("report.html").render(report=report)


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt`` (text, json, html)."""
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=1) + "\n"
    if fmt == "html":
        return html(report)
    if fmt == "text":
        return text(report)
    raise ValueError(f"{fmt!r}: not one of {', '.join(FORMATS)}")
