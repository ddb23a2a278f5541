"""The cloud's health, and its problems: causes first, each followed by what it explains."""

from __future__ import annotations

from pydantic import BaseModel, Field

from stackwatch.catalog.loader import Catalog
from stackwatch.health.cause import Symptom, explain
from stackwatch.query.context import Context
from stackwatch.query.models import SEVERITY_ORDER, BlindView, CheckView, HealthView, ServiceView
from stackwatch.query.times import Stamped
from stackwatch.sources.sql.base import DATABASE_SERVICE

#: a service's status -> the kind of symptom it is (health/cause.py)
_SERVICE_KIND = {"CRITICAL": "down", "WARNING": "degraded", "UNKNOWN": "unknown"}
#: labels of a check that name the service it is about, in this order
_SERVICE_LABELS = ("service", "service_type", "binary", "agent_type")


class Problem(BaseModel):
    """One thing not OK: a service (with the members that make it so), a check about no
    member, or a part of a source that could not be read; ``cause``: the key of the
    problem that explains it (listed before it), ``because`` why."""

    status: str
    what: str       # the service, check or source it is about
    kind: str       # service | check | blind
    message: str
    hosts: list[str]
    key: str = Field("", description="unique among the problems: kind:what")
    cause: str | None = Field(None, description="key of the root problem that explains it")
    because: str = Field("", description="why it follows from its cause")


class HealthReport(Stamped):
    """The health view at ``timestamp`` with its problems, causes first."""

    health: HealthView
    problems: list[Problem]


def _check_service(check: CheckView, catalog: Catalog) -> str:
    for label in _SERVICE_LABELS:
        spec = catalog.service(check.labels.get(label, ""))
        if spec is not None:
            return spec.name
    return ""


def _blind_service(part: BlindView, catalog: Catalog) -> str:
    """The service a source's unread part is about: ``api.compute`` -> nova-api, a
    ``sql.*`` source's -> the database it reads (``sql.database``'s service)."""
    kind, _, rest = part.source.rpartition("/")[2].partition(".")
    spec = catalog.service(rest.replace("_", "-") if kind == "api" else
                           DATABASE_SERVICE if kind == "sql" else "")
    if spec is not None:
        return spec.name
    return next((s.name for s in catalog.services if part.source in s.sources), "")


def _found(view: HealthView, catalog: Catalog) -> list[tuple[Problem, Symptom]]:
    out: list[tuple[Problem, Symptom]] = []
    services: list[ServiceView] = [s for s in view.services if s.watched and s.status != "OK"]
    for service in services:
        hosts = [m.host for m in service.members if m.status != "OK"]
        problem = Problem(status=service.status, what=service.name, kind="service",
                          message=service.message, hosts=hosts, key=f"service:{service.name}")
        out.append((problem, Symptom(problem.key, service.name,
                                     host=hosts[0] if len(hosts) == 1 else "",
                                     kind=_SERVICE_KIND.get(service.status, "unknown"))))
    for check in view.others:
        if check.status == "OK":
            continue
        host = check.labels.get("host", "")
        key = f"check:{check.name}" + "".join(f",{k}={v}" for k, v in
                                               sorted(check.labels.items()))
        problem = Problem(status=check.status, what=check.name, kind="check",
                          message=check.message, hosts=[host] if host else [], key=key)
        out.append((problem, Symptom(key, _check_service(check, catalog), host=host,
                                     kind="failing" if check.status != "UNKNOWN"
                                     else "unknown")))
    for part in view.blind:
        what = f"{part.source} {part.resource}".strip()
        problem = Problem(status=part.status, what=what, kind="blind", message=part.message,
                          hosts=[], key=f"blind:{what}")
        out.append((problem, Symptom(problem.key, _blind_service(part, catalog),
                                     kind="unknown")))
    return out


def problems(view: HealthView, catalog: Catalog) -> list[Problem]:
    """Not-OK services (and their not-OK members), other checks, blind parts. Roots first:
    CRITICAL, then WARNING, then UNKNOWN, and within one status in the operations guide's
    restoration order (health/cause.py), services before checks, then by name; each root
    followed by the problems it explains (``cause``, ``because``), worst first, then in
    restoration order."""
    found = _found(view, catalog)
    by_key = {problem.key: problem for problem, _ in found}
    explained = explain([symptom for _, symptom in found], catalog)
    position = {e.symptom.key: index for index, e in enumerate(explained)}
    roots = sorted((e for e in explained if e.cause is None), key=lambda e: (
        SEVERITY_ORDER.get(by_key[e.symptom.key].status, 3), e.rank,
        by_key[e.symptom.key].kind != "service", by_key[e.symptom.key].what))
    ordered: list[Problem] = []
    for root in roots:
        ordered.append(by_key[root.symptom.key])
        followers = sorted((e for e in explained if e.cause == root.symptom.key),
                           key=lambda e: (SEVERITY_ORDER.get(by_key[e.symptom.key].status, 3),
                                          position[e.symptom.key]))
        ordered.extend(by_key[e.symptom.key].model_copy(update={
            "cause": e.cause, "because": e.reason}) for e in followers)
    return ordered


def health_report(ctx: Context) -> HealthReport:
    """The cloud's health now, from the latest checks (stale ones UNKNOWN)."""
    view = ctx.health_view()
    return HealthReport(timestamp=ctx.now, health=view, problems=problems(view, ctx.catalog))
