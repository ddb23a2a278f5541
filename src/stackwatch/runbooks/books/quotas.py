"""The quota report: per project, quota against usage for compute, volume and network
resources, the ones nearest their limit first, as a table, JSON or CSV.

``stackwatch report quotas --format csv`` prints the report; the ``quotas`` runbook's
diagnosis names the resources at or past :data:`WARNING_PERCENT` of their limit.

The figures are the store's (``query.quotas``, from the API sources' ``*_limits_*``
samples); this module only lays them out. A resource without a limit (-1) shows
``unlimited`` and sorts last; ``used %`` is rounded to one decimal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from stackwatch.query.context import Context
from stackwatch.query.quotas import QuotaView, quotas
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Diagnosis, Evidence
from stackwatch.terminal import printable

#: nova / cinder / neutron as the areas an operator names
AREA = {"nova": "compute", "cinder": "volume", "neutron": "network"}
COLUMNS = ("project", "project_id", "area", "resource", "used", "limit", "free",
           "used_percent", "unit", "region")
FORMATS = ("table", "json", "csv")
#: used share (percent) from which a quota is worth a look, and from which it is full
WARNING_PERCENT, CRITICAL_PERCENT = 90.0, 100.0


@dataclass(frozen=True, slots=True)
class QuotaLine:
    """One row of the report."""

    project: str
    project_id: str
    area: str
    resource: str
    used: float
    limit: float | None
    free: float | None
    used_percent: float | None
    unit: str
    region: str

    @classmethod
    def of(cls, view: QuotaView) -> QuotaLine:
        free = None if view.limit is None else max(view.limit - view.used, 0.0)
        share = None if view.share is None else round(view.share * 100, 1)
        return cls(view.project, view.project_id, AREA.get(view.service, view.service),
                   view.resource, view.used, view.limit, free, share, view.unit, view.region)


def lines(views: Iterable[QuotaView]) -> list[QuotaLine]:
    """The views (already nearest-the-limit first) as report rows."""
    return [QuotaLine.of(v) for v in views]


def _number(value: float | None) -> str:
    if value is None:
        return "unlimited"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _cells(line: QuotaLine) -> list[str]:
    return [line.project, line.project_id, line.area, line.resource, _number(line.used),
            _number(line.limit), _number(line.free),
            "" if line.used_percent is None else f"{line.used_percent:.1f}", line.unit,
            line.region]


def as_csv(rows: Sequence[QuotaLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(r) for r in rows)
    return out.getvalue()


def as_json(rows: Sequence[QuotaLine]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def as_table(rows: Sequence[QuotaLine]) -> str:
    header = [c.upper().replace("_PERCENT", " %") for c in COLUMNS]
    body = [[printable(c) for c in _cells(r)] for r in rows]  # names are anyone's text
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(header)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in [header, *body]) + "\n"


def render(rows: Sequence[QuotaLine], fmt: str) -> str:
    """The report in one of :data:`FORMATS`."""
    if fmt == "csv":
        return as_csv(rows)
    if fmt == "json":
        return as_json(rows)
    if fmt == "table":
        return as_table(rows)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def report(ctx: RunbookContext, project: str = "") -> list[QuotaLine]:
    """The report's rows from the runbook context's store (none without a store)."""
    if ctx.store is None:
        return []
    return lines(quotas(Context(ctx.store, ctx.catalog, now=ctx.now), project=project))


class QuotaReport:
    """Quotas nearly used up, from the store (the report lists them all)."""

    name = "quotas"
    summary = "projects' quotas against usage, nearest the limit first (report quotas: CSV)"

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        if ctx.store is None:
            return Diagnosis(runbook=self.name, verdict="UNKNOWN",
                             summary="no store: the quotas are read by the server's API "
                                     "sources (run `stackwatch server` first)")
        rows = report(ctx)
        near = [r for r in rows if r.used_percent is not None
                and r.used_percent >= WARNING_PERCENT]
        evidence = [Evidence(label=f"{r.project} {r.area} {r.resource}",
                             value=f"{_number(r.used)} of {_number(r.limit)} "
                                   f"{r.unit} ({r.used_percent:.1f} %)".replace("  ", " "),
                             source="store (api quotas)") for r in near[:50]]
        if not rows:
            return Diagnosis(runbook=self.name, verdict="UNKNOWN",
                             summary="no quota figures in the store yet")
        if not near:
            return Diagnosis(runbook=self.name, verdict="OK",
                             summary=f"no quota at {WARNING_PERCENT:.0f} % or more "
                                     f"({len(rows)} quotas)")
        full = [r for r in near if (r.used_percent or 0) >= CRITICAL_PERCENT]
        return Diagnosis(runbook=self.name, verdict="CRITICAL" if full else "WARNING",
                         summary=f"{len(near)} quota(s) at {WARNING_PERCENT:.0f} % or more, "
                                 f"{len(full)} full", evidence=evidence,
                         advice=["the whole list: `stackwatch report quotas` "
                                 "(--format csv|json)"])


RUNBOOK = QuotaReport()
