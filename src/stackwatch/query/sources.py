"""Each source's freshness: its last run's status and reason, when it last succeeded,
how long it took, its errors and what it could not read.

A source run by an agent is named as the server stores it, ``host/source``
(``cmp-017/node.host``): its ``stackwatch_source`` check and freshness samples carry
the node's ``host`` (the agent adds it), and every node runs sources of the same names.
"""

from __future__ import annotations

from pydantic import BaseModel

from stackwatch.model import Status
from stackwatch.query.context import Context
from stackwatch.query.errors import NotFound
from stackwatch.query.times import iso
from stackwatch.runner import SOURCE_CHECK

_FRESHNESS = {
    "stackwatch_source_up": "up",
    "stackwatch_source_last_success_timestamp_seconds": "last_success",
    "stackwatch_source_duration_seconds": "duration_seconds",
    "stackwatch_source_errors_total": "errors_total",
    "stackwatch_source_samples": "samples",
}
_PARTS = ("stackwatch.resource", "stackwatch.partial")


class Unread(BaseModel):
    """A part of the source's last run that was not read (or cut short), and why."""

    resource: str
    status: str
    message: str


class SourceView(BaseModel):
    """One source's last run and freshness."""

    source: str
    status: str
    message: str
    checked_at: float | None = None
    checked_time: str | None = None
    age_seconds: float | None = None
    up: float | None = None
    last_success: float | None = None
    last_success_time: str | None = None
    last_success_age_seconds: float | None = None
    duration_seconds: float | None = None
    errors_total: float | None = None
    samples: float | None = None
    unread: list[Unread] = []


def _name(labels: dict[str, str]) -> str:
    """The source's name; an agent's (its checks and samples carry ``host``) prefixed by
    its node."""
    name = labels.get("source", "")
    host = labels.get("host")
    return f"{host}/{name}" if host else name


def sources(ctx: Context) -> list[SourceView]:
    """Every source with a stored run, by name."""
    rows: dict[str, dict[str, object]] = {}
    unread: dict[str, list[Unread]] = {}
    for check in ctx.checks():
        labels = dict(check.labels)
        name = _name(labels)
        if check.name == SOURCE_CHECK:
            rows.setdefault(name, {"source": name}).update(
                status=check.status.name, message=check.message, checked_at=check.timestamp,
                checked_time=iso(check.timestamp),
                age_seconds=round(ctx.now - check.timestamp, 3))
        elif check.name in _PARTS and check.status != Status.OK:
            unread.setdefault(name, []).append(Unread(
                resource=labels.get("resource", ""), status=check.status.name,
                message=check.message))
    for metric, field in _FRESHNESS.items():
        for sample in ctx.store.latest_samples(metric):
            name = _name(dict(sample.labels))
            rows.setdefault(name, {"source": name})[field] = sample.value
    out = []
    for name, row in sorted(rows.items()):
        last = row.get("last_success")
        if isinstance(last, float) and last > 0:
            row["last_success_time"] = iso(last)
            row["last_success_age_seconds"] = round(ctx.now - last, 3)
        row.setdefault("status", Status.UNKNOWN.name)
        row.setdefault("message", "no run stored")
        out.append(SourceView.model_validate({**row, "unread": unread.get(name, [])}))
    return out


def source(ctx: Context, name: str) -> SourceView:
    """One source by name."""
    for view in sources(ctx):
        if view.source == name:
            return view
    raise NotFound(f"source: no stored run of {name!r}")
