"""Traces, log records and error counts per service and host."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from stackwatch.query import instance, logs, trace
from stackwatch.query.context import Context
from stackwatch.query.models import EventView
from stackwatch.query.paging import Page, PageQuery
from stackwatch.web.api.endpoint import Endpoint

#: where a range starts when not given
DEFAULT_SPAN_S = 3600.0

#: a record level a filter keeps at least (any case)
Severity = Annotated[Literal["WARNING", "ERROR", "CRITICAL"],
                     BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]


class TraceId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256,
                    description="a request id, global request id or instance uuid")


class InstanceId(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=instance.UUID_PATTERN, description="an instance uuid")


class _Range(BaseModel):
    start: float | None = Field(None, description="epoch seconds (default: an hour ago)",
                                allow_inf_nan=False)
    end: float | None = Field(None, description="epoch seconds (default: now)",
                              allow_inf_nan=False)
    service: str = Field("", description="only this service's logs (nova, keystone...)")
    host: str = Field("", description="only this host's")
    severity: Severity = Field("ERROR", description="at least this level")

    def span(self, ctx: Context) -> tuple[float, float]:
        end = ctx.now if self.end is None else self.end
        return (end - DEFAULT_SPAN_S if self.start is None else self.start), end


class RecordsQuery(PageQuery, _Range):
    model_config = ConfigDict(extra="forbid")


class ErrorsQuery(_Range):
    model_config = ConfigDict(extra="forbid")

    step: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False,
                        description="bucket width in seconds (0: the range over 240)")


def _records(ctx: Context, q: RecordsQuery) -> Page[EventView]:
    start, end = q.span(ctx)
    return logs.log_records(ctx, start, end, q, q.service, q.host, q.severity)


def _errors(ctx: Context, q: ErrorsQuery) -> logs.ErrorCounts:
    start, end = q.span(ctx)
    return logs.error_counts(ctx, start, end, q.step, q.service, q.host, q.severity)


ENDPOINTS = (
    Endpoint("GET", "/api/v1/traces/{id}",
             "The story of a request id, global request id or instance uuid across services",
             "logs", trace.TraceView, lambda ctx, q: trace.trace(ctx, q.id), TraceId,
             description="Log records from the request index and the store's events "
                         "carrying the id, in time order; `error` marks the error story "
                         "(ERROR/CRITICAL records, tracebacks, faults), `gap_seconds` the "
                         "pause before each step; 404 when nothing carries the id."),
    Endpoint("GET", "/api/v1/instances/{id}/timeline",
             "The life of one instance: its actions, faults, migrations and timeline",
             "logs", instance.InstanceView, lambda ctx, q: instance.instance(ctx, q.id),
             InstanceId,
             description="The trace of the instance uuid (log records, notifications, "
                         "instance actions and their events, faults, migrations; `kind` "
                         "says where each step comes from) and, read from it, the "
                         "settled actions with their results, the faults and each "
                         "migration at its last status; `server` is the inventory item "
                         "when the latest collection listed the server (in ERROR). An "
                         "instance nothing carries yet has no steps; 400 when the id is "
                         "no uuid."),
    Endpoint("GET", "/api/v1/logs/records",
             "ERROR and CRITICAL log records, newest first, filtered", "logs",
             Page[EventView], _records, RecordsQuery,
             description="`total` counts at most 10000 records: narrow the range or the "
                         "filters past that."),
    Endpoint("GET", "/api/v1/logs/errors",
             "Error records, tracebacks and 5xx per service and host over a range, bucketed",
             "logs", logs.ErrorCounts, _errors, ErrorsQuery,
             description="From the logs sources' counters: `errors`, `tracebacks` and "
                         "`server_errors` are counts over the range, `points` the error "
                         "records per minute in each bucket."),
)
