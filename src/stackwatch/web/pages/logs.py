"""The logs page, the trace search, the trace page and the instance page."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.query import instance, logs, trace
from stackwatch.query.context import Context
from stackwatch.query.models import EventView
from stackwatch.query.paging import Page, PageQuery
from stackwatch.query.times import Stamped
from stackwatch.web.pages.page import PageSpec, RangeParams, Redirect

#: records a logs page shows at once
RECORDS_PER_PAGE = 50
#: the recent error records the trace search offers, and how far back it looks
RECENT = 15
RECENT_S = 86400.0


class LogsParams(RangeParams):
    service: str = Field("", description="only this service's logs")
    host: str = Field("", description="only this host's")
    severity: str = Field("ERROR", description="at least WARNING, ERROR or CRITICAL")
    offset: int = Field(0, ge=0, description="records to skip")
    limit: int = Field(RECORDS_PER_PAGE, ge=1, le=1000, description="records per page")


class TraceSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field("", max_length=256,
                    description="a request id, global request id or instance uuid")


class TraceParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256)


class SearchPage(Stamped):
    """The trace search: the recent error records, each a story to open."""

    recent: Page[EventView]


def _logs(ctx: Context, p: LogsParams) -> logs.LogsPage:
    return logs.logs_page(ctx, p.seconds, PageQuery(limit=p.limit, offset=p.offset),
                          p.service, p.host, p.severity)


def _search(ctx: Context, p: TraceSearch) -> SearchPage:
    """With an id, its trace page; without, the recent records that carry an id."""
    key = p.id.strip()
    if key:
        raise Redirect(f"/trace/{quote(key, safe='')}")
    found = logs.log_records(ctx, ctx.now - RECENT_S, ctx.now, PageQuery(limit=1000))
    linked = [e for e in found.items if e.request_id or e.resource_ids]
    return SearchPage(timestamp=ctx.now, recent=Page.of(linked, PageQuery(limit=RECENT)))


PAGES = (
    PageSpec("/logs", "logs.html", "Logs", _logs, LogsParams, nav="Logs", key="l"),
    PageSpec("/trace", "trace_search.html", "Trace", _search, TraceSearch),
    PageSpec("/trace/{id}", "trace.html", "Trace", lambda ctx, p: trace.trace(ctx, p.id),
             TraceParams),
    PageSpec("/instance/{id}", "instance.html", "Instance",
             lambda ctx, p: instance.instance(ctx, p.id), TraceParams),
)
