"""The audit log of the fixes (``GET /api/v1/audit``, read role)."""

from __future__ import annotations

from pydantic import Field

from stackwatch.query import audit
from stackwatch.query.paging import Page, PageQuery
from stackwatch.web.api.endpoint import Endpoint


class AuditQuery(PageQuery):
    fix: str = Field("", description="only this fix (token-flush, l3-failover...)")
    plan: str = Field("", description="only this plan id (a dry run and its application)")
    since: float = Field(audit.DEFAULT_SINCE_S, gt=0, le=10 * 365 * 86400.0,
                         allow_inf_nan=False, description="seconds back from now")


ENDPOINTS = (
    Endpoint("GET", "/api/v1/audit", "Who changed what with a fix, dry runs too, newest "
             "first", "audit", Page[audit.AuditView],
             lambda ctx, q: Page.of(audit.audit(ctx, q.fix, q.since, q.plan,
                                                limit=q.offset + q.limit), q),
             AuditQuery,
             description="Every dry run, application and refusal of a fix: who (a token's "
                         "name, local, cli:USER, server), what, the target, before, after "
                         "and the result."),
)
