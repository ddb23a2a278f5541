"""The one place every fix goes through, whatever asks (CLI, REST, the server itself).

1. A dry run is always allowed: the fix plans (reads, changes nothing) and the plan is
   recorded in the audit log, one entry per change, ``dry_run`` set, under a new plan id.
2. Applying is refused, with the reason recorded and nothing changed, unless

   * the fix is named in ``fixes.enabled`` of stackwatch.yaml;
   * the actor is an operator (an operator token or ``local`` on the web; root or a
     ``fixes.cli_operators`` user on the command line; the server for ``fixes.auto``);
   * a dry run of the same fix (the plan id given, else the latest with the same
     arguments) was recorded less than ``fixes.plan_max_age`` seconds ago;
   * the fix re-reads that plan's targets and their fingerprint is still the dry run's
     (else: "changed since the dry run").

3. The dry run's plan is carried out as recorded (not planned again), and each change's
   outcome goes to the audit log.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackwatch.errors import FixRefused, SourceError
from stackwatch.runbooks.base import Fix, Runbook
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Change, Diagnosis, Evidence, Plan
from stackwatch.store.base import AuditEntry, Store

log = logging.getLogger(__name__)

#: the action of the one entry a plan without changes records
NOTHING = "none"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying a fix did: the plan carried out and each change's result."""

    plan: Plan
    applied: list[Applied]

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.applied)


def diagnose(runbook: Runbook, ctx: RunbookContext) -> Diagnosis:
    """The runbook's diagnosis; a source it could not read makes it UNKNOWN, with why."""
    try:
        return runbook.diagnose(ctx)
    except SourceError as exc:
        log.warning("runbook %s: %s", runbook.name, exc)
        return Diagnosis(runbook=runbook.name, verdict="UNKNOWN",
                         summary=f"could not look: {exc}",
                         evidence=[Evidence(label="error", value=str(exc),
                                            source=type(exc).__name__)])


def dry_run(fix: Fix, ctx: RunbookContext, args: Mapping[str, str] | None = None) -> Plan:
    """Plan the fix, record the plan (marked dry run) and return it with its plan id."""
    plan = fix.plan(ctx, dict(args or {}))
    plan = plan.model_copy(update={"plan_id": uuid.uuid4().hex[:12]})
    if not enabled(fix, ctx):
        plan = plan.model_copy(update={"notes": [
            *plan.notes, f"{fix.fix} is not enabled: applying it needs "
                         f"`fixes: {{enabled: [{fix.fix}]}}` in stackwatch.yaml"]})
    _record(ctx, plan, [(c, "dry run") for c in plan.changes], dry_run=True)
    return plan


def enabled(fix: Fix, ctx: RunbookContext) -> bool:
    return fix.fix in ctx.config.fixes.enabled


def apply(fix: Fix, ctx: RunbookContext, args: Mapping[str, str] | None = None,
          plan_id: str | None = None) -> Outcome:
    """Carry out a recorded dry run of ``fix`` after the checks of the module docstring;
    :class:`FixRefused` (recorded in the audit log) when one fails."""
    asked = dict(args or {})
    try:
        if not enabled(fix, ctx):
            raise FixRefused(f"{fix.fix} is not enabled: add it to fixes.enabled in "
                             "stackwatch.yaml to allow it (a dry run needs nothing)",
                             "disabled")
        if not ctx.actor.operator:
            raise FixRefused(f"{ctx.actor.name} has the {ctx.actor.role.value} role: applying "
                             f"{fix.fix} needs an operator (an operator token, or root on the "
                             "command line)", "role")
        plan = _dry_run_of(fix, ctx, asked, plan_id)
        now = fix.fingerprint(ctx, plan)
        if now != plan.fingerprint:
            raise FixRefused(f"{fix.fix}: its targets changed since the dry run "
                             f"{plan.plan_id}; nothing was changed: run the dry run again "
                             "and check what it would change now", "changed")
    except FixRefused as refusal:
        _record(ctx, Plan(runbook=fix.fix, fingerprint="", args=asked, plan_id=plan_id or ""),
                [(Change(target="", action="refused"), f"refused: {refusal}")],
                dry_run=False)
        log.warning("fix %s refused for %s: %s", fix.fix, ctx.actor.name, refusal)
        raise
    except SourceError as error:  # the targets could not be re-read: nothing was changed
        _record(ctx, Plan(runbook=fix.fix, fingerprint="", args=asked, plan_id=plan_id or ""),
                [(Change(target="", action="re-read"), f"failed: {error}")], dry_run=False)
        raise
    applied = fix.apply(ctx, plan) if plan.changes else []
    _record(ctx, plan, [(a.change, a.result if a.ok else f"failed: {a.result}")
                        for a in applied], dry_run=False)
    log.info("fix %s plan %s applied by %s: %d change(s), %d failed", fix.fix, plan.plan_id,
             ctx.actor.name, len(applied), sum(1 for a in applied if not a.ok))
    return Outcome(plan, applied)


def _dry_run_of(fix: Fix, ctx: RunbookContext, asked: Mapping[str, str],
                plan_id: str | None) -> Plan:
    """The recorded dry run an application carries out: ``plan_id``'s, else the latest
    of this fix whose arguments include ``asked``; refused when none is recent enough."""
    store = _store(ctx)
    max_age = ctx.config.fixes.plan_max_age
    now = time.time()  # not ctx.now: the context may be older than its own dry run
    entries = [e for e in store.audit(now - max_age, now + 1, runbook=fix.fix,
                                      plan_id=plan_id, limit=10_000) if e.dry_run]
    if plan_id is None:
        for entry in entries:  # newest first
            if all(json.loads(entry.args).get(k) == v for k, v in asked.items()):
                plan_id = entry.plan_id
                break
        entries = [e for e in entries if e.plan_id == plan_id]
    if not entries:
        which = f"dry run {plan_id}" if plan_id else "dry run"
        raise FixRefused(f"no {which} of {fix.fix} in the last {max_age:g} s: run "
                         f"`stackwatch fix {fix.fix}` without --apply first and read what it "
                         "would change", "no-dry-run")
    entries.sort(key=lambda e: e.id)
    changes = [Change(target=e.target, action=e.action, before=e.before, after=e.after)
               for e in entries if e.action != NOTHING]
    return Plan(runbook=fix.fix, changes=changes, fingerprint=entries[0].fingerprint,
                args=json.loads(entries[0].args), plan_id=entries[0].plan_id)


def _store(ctx: RunbookContext) -> Store:
    if ctx.store is None:
        raise FixRefused("no store: a fix is recorded in the store's audit log, and none "
                         "is open")
    return ctx.store


def _record(ctx: RunbookContext, plan: Plan, results: Sequence[tuple[Change, str]],
            dry_run: bool) -> None:
    """One audit entry per change (one ``none`` entry for a plan without any)."""
    if ctx.store is None:
        raise FixRefused("no store: a fix is recorded in the store's audit log, and none "
                         "is open")
    now = time.time()
    rows = list(results) or [(Change(target="", action=NOTHING),
                              "dry run: nothing to change" if dry_run else "nothing to change")]
    args = json.dumps(plan.args, sort_keys=True)
    ctx.store.record_audit([
        AuditEntry(ts=now, actor=ctx.actor.name, role=ctx.actor.role.value,
                   runbook=plan.runbook, action=change.action, target=change.target,
                   before=change.before, after=change.after, result=result,
                   dry_run=dry_run, plan_id=plan.plan_id, fingerprint=plan.fingerprint,
                   args=args)
        for change, result in rows])


def auto(fix: Fix, ctx: RunbookContext, after: float) -> Outcome | None:
    """What the server does for ``fixes.auto``: a dry run of the fix with ``after`` (the
    seconds its condition must have lasted; the fix reads it from its args), and when it
    would change something, its application: both audited as ``ctx.actor``. None when
    there was nothing to do (that dry run is not recorded: it would be every minute)."""
    plan = fix.plan(ctx, {"after": f"{after:g}"})
    if not plan.changes:
        return None
    plan = plan.model_copy(update={"plan_id": uuid.uuid4().hex[:12]})
    _record(ctx, plan, [(c, "dry run") for c in plan.changes], dry_run=True)
    return apply(fix, ctx, plan.args, plan.plan_id)
