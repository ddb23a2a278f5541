"""The cloud's health, and its problems listed worst first."""

from __future__ import annotations

from pydantic import BaseModel

from stackwatch.query.context import Context
from stackwatch.query.models import SEVERITY_ORDER, HealthView
from stackwatch.query.times import Stamped


class Problem(BaseModel):
    """One thing not OK: a service (with the members that make it so), a check about no
    member, or a part of a source that could not be read."""

    status: str
    what: str       # the service, check or source it is about
    kind: str       # service | check | blind
    message: str
    hosts: list[str]


class HealthReport(Stamped):
    """The health view at ``timestamp`` with its problems, worst first."""

    health: HealthView
    problems: list[Problem]


def problems(view: HealthView) -> list[Problem]:
    """Not-OK services (and their not-OK members), other checks, blind parts; CRITICAL
    first, then WARNING, then UNKNOWN; within one status by name."""
    found = [Problem(status=s.status, what=s.name, kind="service", message=s.message,
                     hosts=[m.host for m in s.members if m.status != "OK"])
             for s in view.services if s.watched and s.status != "OK"]
    found += [Problem(status=c.status, what=c.name, kind="check", message=c.message,
                      hosts=[c.labels["host"]] if "host" in c.labels else [])
              for c in view.others if c.status != "OK"]
    found += [Problem(status=b.status, what=f"{b.source} {b.resource}".strip(), kind="blind",
                      message=b.message, hosts=[]) for b in view.blind]
    return sorted(found, key=lambda p: (SEVERITY_ORDER.get(p.status, 3), p.kind != "service",
                                        p.what))


def health_report(ctx: Context) -> HealthReport:
    """The cloud's health now, from the latest checks (stale ones UNKNOWN)."""
    view = ctx.health_view()
    return HealthReport(timestamp=ctx.now, health=view, problems=problems(view))
