"""The audit page: who changed what with a fix, dry runs and refusals too."""

from __future__ import annotations

from pydantic import Field

from stackwatch.query import audit
from stackwatch.query.context import Context
from stackwatch.query.times import RANGE_PATTERN
from stackwatch.web.pages.page import PageSpec, RangeParams


class AuditParams(RangeParams):
    fix: str = ""
    range: str = Field("30d", json_schema_extra={"pattern": RANGE_PATTERN},
                       description="how far back: 1h, 7d, 30d...")


def _audit(ctx: Context, params: AuditParams) -> audit.AuditPage:
    return audit.audit_page(ctx, params.fix, params.seconds)


PAGES = (
    PageSpec("/audit", "audit.html", "Audit", _audit, AuditParams, nav="Audit", key="u"),
)
