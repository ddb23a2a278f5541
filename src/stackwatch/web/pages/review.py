"""The trends page: history and the forecast of when capacity runs out."""

from __future__ import annotations

from pydantic import Field

from stackwatch.query.times import RANGE_PATTERN
from stackwatch.review.trends import trends
from stackwatch.web.pages.page import PageSpec, RangeParams


class TrendsParams(RangeParams):
    range: str = Field("30d", json_schema_extra={"pattern": RANGE_PATTERN},
                       description="how far back the trends and their fit look: 7d, 30d...")


PAGES = (
    PageSpec("/trends", "trends.html", "Trends",
             lambda ctx, p: trends(ctx, p.seconds), TrendsParams, nav="Trends", key="t"),
)
