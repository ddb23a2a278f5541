"""The life of one instance: its timeline and what it went through.

What the dashboard's instance page (``/instance/{id}``) and
``/api/v1/instances/{id}/timeline`` show: the trace of the instance uuid
(:func:`stackwatch.query.trace.timeline`: log records, notifications, instance actions
and their events, faults, migrations, each step saying where it comes from in ``kind``),
and, read from those steps, the instance's actions with their results, its faults and
its migrations by the last status seen; with the server's inventory item when the
latest collection listed it (a server in ERROR). An instance nothing carries yet has an
empty timeline, not an error: the page of a server just listed in ERROR still opens.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery, NotFound
from stackwatch.query.models import ItemView
from stackwatch.query.times import Stamped
from stackwatch.query.trace import MAX_STEPS, TraceStep, TraceView, timeline

#: what an instance id looks like (nova: a UUID, with or without dashes)
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)


class ActionSummary(BaseModel):
    """One instance action: when it began, how it ended, its request id."""

    action: str
    request_id: str
    start: float
    result: str
    message: str


class MigrationSummary(BaseModel):
    """One migration of the instance, at the last status seen."""

    uuid: str
    migration_type: str
    status: str
    source_compute: str
    dest_compute: str
    created: float | None
    updated: float | None
    duration_seconds: float | None


class InstanceView(Stamped):
    """The life of instance ``id`` (``timestamp``: when it was read)."""

    id: str
    #: the server as the latest collection listed it (servers in ERROR), if it did
    server: ItemView | None
    actions: list[ActionSummary]
    faults: list[TraceStep]
    migrations: list[MigrationSummary]
    errors: int
    #: the merged timeline (the trace of the uuid); empty when nothing carries it yet
    steps: list[TraceStep]
    truncated: bool


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _actions(steps: list[TraceStep]) -> list[ActionSummary]:
    """The settled actions (the ``instance_action`` steps whose type has no ``/``)."""
    out = []
    for s in steps:
        if s.kind != "instance_action" or "/" in s.origin:
            continue
        out.append(ActionSummary(action=s.origin, request_id=s.request_id, start=s.timestamp,
                                 result="error" if s.error else "success",
                                 message=s.message))
    return out


def _migrations(steps: list[TraceStep]) -> list[MigrationSummary]:
    """Each migration at its last status (steps in time order)."""
    last: dict[str, MigrationSummary] = {}
    for s in steps:
        if s.kind != "migration":
            continue
        a = s.attributes
        key = a.get("uuid", s.message)
        last[key] = MigrationSummary(
            uuid=a.get("uuid", ""), migration_type=a.get("migration_type", ""),
            status=a.get("status", ""), source_compute=a.get("source_compute", ""),
            dest_compute=a.get("dest_compute", ""), created=_number(a.get("created", "")),
            updated=_number(a.get("updated", "")),
            duration_seconds=_number(a.get("duration", "")))
    return list(last.values())


def instance(ctx: Context, key: str, limit: int = MAX_STEPS) -> InstanceView:
    """The life of instance ``key``; :class:`BadQuery` when it is no instance id."""
    key = key.strip()
    if not _UUID.match(key):
        raise BadQuery(f"id: {key[:80]!r} is not an instance uuid")
    try:
        story: TraceView | None = timeline(ctx.store, key, ctx.now, limit)
    except NotFound:
        story = None
    steps = story.steps if story is not None else []
    item = next((i for i in ctx.store.latest_items("server") if i.id == key), None)
    return InstanceView(
        timestamp=ctx.now, id=key,
        server=ItemView.of(item, ctx.now) if item is not None else None,
        actions=_actions(steps), faults=[s for s in steps if s.kind == "fault"],
        migrations=_migrations(steps), errors=sum(s.error for s in steps), steps=steps,
        truncated=story.truncated if story is not None else False)
