"""Health, checks, samples, sources and events."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from stackwatch.model import Severity, Status
from stackwatch.query import checks, events, health, samples, sources
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import CheckView, EventView, SampleView
from stackwatch.query.paging import CommaList, Page, PageQuery
from stackwatch.web.api.endpoint import Endpoint


def _json_object(value: object) -> object:
    if value == "":
        return None  # ``labels=``: no label matchers
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError('expected a JSON object, e.g. {"state": "error"}') from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in
                                                   parsed.values()):
            raise ValueError('expected a JSON object of strings, e.g. {"state": "error"}')
        return parsed
    return value


#: label matchers given as a JSON object of strings (the OpenAPI document says so with
#: the parameter's ``content``: see openapi.py)
LabelMatch = Annotated[dict[str, str] | None, BeforeValidator(_json_object),
                       WithJsonSchema({"type": "string", "contentMediaType": "application/json",
                                       "contentSchema": {"type": "object",
                                                         "additionalProperties": {
                                                             "type": "string"}},
                                       "description": 'a JSON object of strings, e.g. '
                                                      '{"host": "c1"}'})]


def _one_of(names: Iterable[str]) -> str:
    """A regular expression matching any of ``names`` in any case (ECMA 262 has no flag
    for that inside a pattern)."""
    return "(?:" + "|".join("".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in name)
                            for name in names) + ")"


_STATUS = _one_of(s.name for s in Status)
#: status names (any case), comma-separated; the pattern documents what is accepted
StatusList = Annotated[CommaList, WithJsonSchema({
    "type": "string", "pattern": f"^ *(?:{_STATUS}(?: *, *{_STATUS})*)? *$",
    "description": "comma-separated status names"})]
#: a severity name (any case), or empty for any
SeverityName = Annotated[str, WithJsonSchema({
    "type": "string", "pattern": f"^(?:{_one_of(s.name for s in Severity)})?$"})]


class ChecksQuery(PageQuery):
    status: StatusList = Field([], description="only these statuses, e.g. CRITICAL,WARNING")
    name: str = Field("", description="only checks of this name")
    labels: LabelMatch = None


class SamplesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="a metric name, e.g. openstack_nova_total_vms")
    labels: LabelMatch = None


class RangeQuery(SamplesQuery):
    start: float = Field(description="epoch seconds", allow_inf_nan=False)
    end: float | None = Field(None, description="epoch seconds (default: now)",
                              allow_inf_nan=False)
    step: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False,
                        description="bucket width in seconds; 0: every sample")


class StatisticsQuery(SamplesQuery):
    start: float = Field(description="epoch seconds", allow_inf_nan=False)
    end: float | None = Field(None, description="epoch seconds (default: now)",
                              allow_inf_nan=False)


class EventsQuery(PageQuery):
    start: float | None = Field(None, description="epoch seconds (default: an hour before "
                                                  "end)", allow_inf_nan=False)
    end: float | None = Field(None, description="epoch seconds (default: now)",
                              allow_inf_nan=False)
    kind: CommaList = Field([], description="log, notification, instance_action, fault...")
    request_id: str = ""
    resource_id: str = Field("", description="an instance, volume, port... id")
    severity: SeverityName = Field("", description="at least this severity (e.g. ERROR)")
    service: str = ""
    host: str = ""


class SourceName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)


def _checks(ctx: Context, q: ChecksQuery) -> Page[CheckView]:
    return Page.of(checks.latest_checks(ctx, q.status, q.name, q.labels), q)


def _range(ctx: Context, q: RangeQuery) -> samples.RangeView:
    return samples.sample_range(ctx, q.name, q.start, ctx.now if q.end is None else q.end,
                                q.labels, q.step)


def _statistics(ctx: Context, q: StatisticsQuery) -> list[samples.StatisticsView]:
    return samples.statistics(ctx, q.name, q.start, ctx.now if q.end is None else q.end,
                              q.labels)


def _events(ctx: Context, q: EventsQuery) -> Page[EventView]:
    end = ctx.now if q.end is None else q.end
    start = end - 3600 if q.start is None else q.start  # only an end: the hour before it
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    # total counts at most MAX_EVENTS: narrow the range or the filters past that
    return Page.of(events.events(ctx, start, end, q.kind, q.request_id, q.resource_id,
                                 q.severity, q.service, q.host), q)


ENDPOINTS = (
    Endpoint("GET", "/api/v1/health", "The cloud's health: services, nodes, problems",
             "health", health.HealthReport, lambda ctx, _: health.health_report(ctx)),
    Endpoint("GET", "/api/v1/checks", "Latest check results, worst first", "health",
             Page[CheckView], _checks, ChecksQuery),
    Endpoint("GET", "/api/v1/samples", "Latest sample of each series of a metric", "samples",
             list[SampleView], lambda ctx, q: samples.latest(ctx, q.name, q.labels),
             SamplesQuery),
    Endpoint("GET", "/api/v1/samples/range", "A metric's series over a time range", "samples",
             samples.RangeView, _range, RangeQuery),
    Endpoint("GET", "/api/v1/samples/statistics",
             "count/min/max/avg/sum/last of each series over a period", "samples",
             list[samples.StatisticsView], _statistics, StatisticsQuery),
    Endpoint("GET", "/api/v1/sources", "Each source's freshness and what it could not read",
             "sources", list[sources.SourceView], lambda ctx, _: sources.sources(ctx)),
    Endpoint("GET", "/api/v1/sources/{source}", "One source's freshness", "sources",
             sources.SourceView, lambda ctx, q: sources.source(ctx, q.source), SourceName),
    Endpoint("GET", "/api/v1/events", "Events in time order, filtered", "events",
             Page[EventView], _events, EventsQuery),
)
