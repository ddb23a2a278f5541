"""The trends page: history and the forecast of when capacity runs out."""

from __future__ import annotations

from pydantic import Field

from stackwatch.query.context import Context
from stackwatch.query.times import RANGE_PATTERN
from stackwatch.review.trends import TrendsView, trends
from stackwatch.web.pages.page import PageSpec, RangeParams


class TrendsParams(RangeParams):
    range: str = Field("30d", json_schema_extra={"pattern": RANGE_PATTERN},
                       description="how far back the trends and their fit look: 7d, 30d...")


#: the extra (``Context.extras``) that gives the backfilled log hours from a start
BACKFILL = "log_backfill"


def trends_page(ctx: Context, params: TrendsParams) -> TrendsView:
    """The trends, with the backfilled hours when the server has them."""
    backfill = ctx.extras.get(BACKFILL)
    rows = backfill() if backfill is not None else []
    return trends(ctx, params.seconds, rows if isinstance(rows, list) else [])


PAGES = (
    PageSpec("/trends", "trends.html", "Trends", trends_page, TrendsParams, nav="Trends",
             key="t"),
)
