"""Trends with their forecasts, and the reports of the operations guide's rhythm."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackwatch.query.context import Context
from stackwatch.review import report
from stackwatch.review.trends import TrendsView
from stackwatch.web.api.endpoint import Endpoint
from stackwatch.web.pages.review import TrendsParams, trends_page

#: the latest end a report may have (2100-01-01): beyond, dates leave the calendar
LATEST = 4_102_444_800.0


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["daily", "weekly", "monthly"] = Field(description="the review's period")
    end: float | None = Field(None, ge=0, le=LATEST, allow_inf_nan=False,
                              description="end of the period, epoch seconds (default: now)")


def _report(ctx: Context, q: ReportQuery) -> report.Report:
    return report.build(ctx, q.kind, q.end)


ENDPOINTS = (
    Endpoint("GET", "/api/v1/trends",
             "Trends over the stored history; for free capacity, when it runs out at the "
             "current rate (least-squares fit, R², 95% interval)", "trends", TrendsView,
             trends_page, TrendsParams),
    Endpoint("GET", "/api/v1/reports/{kind}",
             "The daily, weekly or monthly review: failed servers, usage and quotas, "
             "capacity and its trend, alarms of the period, top API errors", "trends",
             report.Report, _report, ReportQuery),
)
