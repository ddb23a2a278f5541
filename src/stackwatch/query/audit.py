"""The audit log: who changed what with a fix (dry runs too), newest first."""

from __future__ import annotations

from pydantic import BaseModel, Field

from stackwatch.query.context import Context
from stackwatch.store.base import AuditEntry

#: how far back the audit page and ``/api/v1/audit`` look by default (seconds)
DEFAULT_SINCE_S = 30 * 86400.0


class AuditView(BaseModel):
    """One audit entry as the page and the API show it."""

    id: int
    timestamp: float
    actor: str
    role: str
    fix: str
    action: str
    target: str
    before: str
    after: str
    result: str
    dry_run: bool
    plan_id: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditView:
        return cls(id=e.id, timestamp=e.ts, actor=e.actor, role=e.role, fix=e.runbook,
                   action=e.action, target=e.target, before=e.before, after=e.after,
                   result=e.result, dry_run=e.dry_run, plan_id=e.plan_id)


class AuditPage(BaseModel):
    """The audit page: entries newest first, and how many of them were applied."""

    timestamp: float
    since: float
    fix: str
    items: list[AuditView]
    applied: int = Field(description="entries that changed something (not dry runs, "
                                     "refusals or failures)")


def audit(ctx: Context, fix: str = "", since_seconds: float = DEFAULT_SINCE_S,
          plan_id: str = "", limit: int = 1000) -> list[AuditView]:
    """Audit entries of the last ``since_seconds`` (of one fix or plan), newest first."""
    entries = ctx.store.audit(ctx.now - since_seconds, ctx.now, runbook=fix or None,
                              plan_id=plan_id or None, limit=limit)
    return [AuditView.of(e) for e in entries]


def audit_page(ctx: Context, fix: str = "", since_seconds: float = DEFAULT_SINCE_S
               ) -> AuditPage:
    items = audit(ctx, fix, since_seconds)
    applied = sum(1 for i in items if not i.dry_run and i.result.startswith("applied"))
    return AuditPage(timestamp=ctx.now, since=ctx.now - since_seconds, fix=fix, items=items,
                     applied=applied)
