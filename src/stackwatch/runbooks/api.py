"""The runbooks over REST, bound to a running server (:class:`RunbookService`)::

    GET  /api/v1/diagnose           every runbook's diagnosis (read role)
    GET  /api/v1/diagnose/{name}    one runbook's (read role)
    POST /api/v1/fix/{name}         a dry run (default), or ?dry_run=false to apply the
                                    latest dry run (or ?plan=ID) (operator role)

Fix arguments are ``args``, a JSON object of strings (``{"agent": "net-2"}``). A
refusal (not enabled, not an operator, no dry run, targets changed) is 403 for the
role, 400 for bad arguments, 404 for an unknown fix or cloud, 409 otherwise, as
``{"error": {...}}`` with the reason; nothing was changed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from stackwatch.errors import FixRefused, StackwatchError
from stackwatch.query.context import Context
from stackwatch.query.errors import NotFound
from stackwatch.runbooks import fixer, registry
from stackwatch.runbooks.context import Actor, RunbookContext
from stackwatch.runbooks.model import Applied, Diagnosis, Plan
from stackwatch.runbooks.service import RunbookService
from stackwatch.store.base import Role
from stackwatch.web.api.core import LabelMatch
from stackwatch.web.api.endpoint import Endpoint, error_response
from stackwatch.web.auth import identity


def _flag(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    return value


class DiagnoseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud: str = Field("", description="a cloud of stackwatch.yaml (default: the first)")


class DiagnoseOne(DiagnoseQuery):
    name: str = Field(min_length=1, description="a runbook (token-bloat, l3-failover...)")


class FixQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="a fix (token-flush, l3-failover...)")
    dry_run: Annotated[bool, BeforeValidator(_flag)] = Field(
        True, description="true (default): plan and record only; false: apply the dry run")
    plan: str = Field("", description="with dry_run=false: the dry run to apply (plan id)")
    cloud: str = Field("", description="a cloud of stackwatch.yaml (default: the first)")
    args: LabelMatch = None


class FixAnswer(BaseModel):
    """A fix's plan, and when applied, what became of each change."""

    fix: str
    dry_run: bool
    plan: Plan
    applied: list[Applied] = Field(default_factory=list)
    ok: bool = True


def endpoints(service: RunbookService) -> tuple[Endpoint, ...]:
    """The runbook endpoints of a server."""

    def reader(ctx: Context) -> Actor:
        return Actor("api", Role.READ, "token")

    def opened(ctx: Context, cloud: str) -> RunbookContext:
        try:
            return service.context(reader(ctx), cloud or None)
        except FixRefused as exc:
            raise NotFound(str(exc)) from None

    def diagnose_all(ctx: Context, q: DiagnoseQuery) -> list[Diagnosis]:
        run = opened(ctx, q.cloud)
        try:
            return [fixer.diagnose(r, run) for r in registry.runbooks()]
        finally:
            run.close()

    def diagnose_one(ctx: Context, q: DiagnoseOne) -> Diagnosis:
        try:
            chosen = registry.runbook(q.name)
        except FixRefused as exc:
            raise NotFound(str(exc)) from None
        run = opened(ctx, q.cloud)
        try:
            return fixer.diagnose(chosen, run)
        finally:
            run.close()

    def fix_now(actor: Actor, q: FixQuery) -> FixAnswer:
        chosen = registry.fix(q.name)
        run = service.context(actor, q.cloud or None)
        try:
            if q.dry_run:
                return FixAnswer(fix=chosen.fix, dry_run=True,
                                 plan=fixer.dry_run(chosen, run, q.args or {}))
            outcome = fixer.apply(chosen, run, q.args or {}, q.plan or None)
            return FixAnswer(fix=chosen.fix, dry_run=False, plan=outcome.plan,
                             applied=outcome.applied, ok=outcome.ok)
        finally:
            run.close()

    async def serve_fix(request: web.Request) -> web.StreamResponse:
        raw = {k: ",".join(request.query.getall(k)) for k in request.query}
        raw.update(request.match_info)
        try:
            q = FixQuery.model_validate(raw)
        except ValidationError as exc:
            return error_response(400, "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
                for e in exc.errors()))
        who = identity(request)
        # without the access rules (a test's bare app) nobody is an operator
        actor = Actor(who.name, who.role, who.via) if who is not None else \
            Actor("anonymous", Role.READ, "none")
        try:
            answer = await asyncio.to_thread(fix_now, actor, q)
        except FixRefused as refusal:
            status = {"unknown": 404, "role": 403, "args": 400}.get(refusal.reason, 409)
            return error_response(status, f"refused: {refusal}")
        except StackwatchError as exc:
            return error_response(502, str(exc))
        return web.Response(body=FixAnswer.__pydantic_serializer__.to_json(answer, indent=1),
                            content_type="application/json")

    return (
        Endpoint("GET", "/api/v1/diagnose", "Every runbook's diagnosis, looked at now",
                 "runbooks", list[Diagnosis], diagnose_all, DiagnoseQuery,
                 errors=((404, "no cloud of that name in stackwatch.yaml"),)),
        Endpoint("GET", "/api/v1/diagnose/{name}", "One runbook's diagnosis, looked at now",
                 "runbooks", Diagnosis, diagnose_one, DiagnoseOne),
        Endpoint("POST", "/api/v1/fix/{name}", "A fix's dry run (default) or its application",
                 "runbooks", FixAnswer, params=FixQuery, role="operator", serve=serve_fix,
                 errors=((409, "refused: not enabled, no recent dry run, or its targets "
                               "changed since (the message says which); nothing changed"),
                         (502, "the cloud could not be read or changed")),
                 description="dry_run=true (default): what the fix would change, recorded "
                             "in the audit log. dry_run=false: carries out the latest dry "
                             "run with the same args (or plan=ID) if the fix is enabled, "
                             "the caller an operator and the targets unchanged since; "
                             "refused otherwise (403 role, 409 the rest), nothing changed."),
    )
