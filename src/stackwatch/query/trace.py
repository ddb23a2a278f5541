"""The story of one request id, global request id or instance uuid across services.

What ``stackwatch trace ID``, the dashboard's trace page and ``/api/v1/traces/{id}``
show: the request index's records (:meth:`~stackwatch.store.base.Store.log_story`:
the id's records, the calls made on its behalf, for an instance every request that
touched it) and the store's other events carrying one of those request ids or the id
as a resource (notifications, instance actions and their events, faults, migrations),
and those carrying the request ids of the latter, in time order; ``kind`` says where
each step comes from. Each step
says whether it belongs to the error story (an ERROR or CRITICAL record, a
traceback, a fault) and how long after the step before it came; the request ids
are grouped under the global request id they were made for.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from pydantic import BaseModel

from stackwatch.model import Event, Severity
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery, NotFound
from stackwatch.query.times import Stamped
from stackwatch.store.base import Store
from stackwatch.store.request_index import TraceRecord

#: the most steps a story shows (the CLI's --limit default)
MAX_STEPS = 5000
#: events are looked for up to a day past now (a clock a little ahead on some node)
FUTURE_S = 86400.0
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
_TRACEBACK = "Traceback (most recent call last)"


class TraceStep(Stamped):
    """One step: a log record (``kind`` "log") or another event carrying the id."""

    kind: str
    service: str
    host: str
    level: str            # the record's level, or the event's severity
    origin: str           # the record's logger, or the event's type
    message: str          # its first line
    detail: list[str]     # the lines after it (a traceback's)
    request_id: str
    global_request_id: str
    resource_ids: list[str]
    #: the event's attributes (an action's start, finish and result, a fault's code, a
    #: migration's hosts and duration...); none for a log record
    attributes: dict[str, str] = {}
    #: part of the error story: an ERROR/CRITICAL record or event, a traceback, a fault
    error: bool
    traceback: bool
    #: seconds since the step before (None for the first)
    gap_seconds: float | None


class LinkedRequest(BaseModel):
    """One request id of the story: where it ran, how many records, how many errors."""

    request_id: str
    services: list[str]
    hosts: list[str]
    records: int
    errors: int
    first: float
    last: float


class RequestGroup(BaseModel):
    """The requests made on behalf of one global request id (the first is the global one
    itself when its records are there); ``global_request_id`` empty: requests that carry
    none."""

    global_request_id: str
    requests: list[LinkedRequest]


class TraceView(Stamped):
    """The story of ``id`` (``timestamp``: when it was read)."""

    id: str
    #: what the id is: instance, request, global request, resource, or id
    kind: str
    start: float
    end: float
    services: list[str]
    hosts: list[str]
    errors: int
    steps: list[TraceStep]
    requests: list[RequestGroup]
    #: more steps than the limit: the first ``limit`` are shown
    truncated: bool


def _record_step(record: TraceRecord) -> TraceStep:
    first, _, rest = record.message.partition("\n")
    traceback = _TRACEBACK in record.message
    return TraceStep(
        timestamp=record.timestamp, kind="log", service=record.service, host=record.host,
        level=record.level, origin=record.logger, message=first, detail=rest.splitlines(),
        request_id=record.request_id, global_request_id=record.global_request_id,
        resource_ids=[record.instance] if record.instance else [],
        error=record.level in _ERROR_LEVELS or traceback, traceback=traceback,
        gap_seconds=None)


def _event_step(event: Event) -> TraceStep:
    attributes = dict(event.attributes)
    return TraceStep(
        timestamp=event.timestamp, kind=event.kind, service=event.service, host=event.host,
        level=event.severity.name, origin=event.event_type, message=event.message,
        detail=[], request_id=event.request_id,
        global_request_id=attributes.get("global_request_id", ""),
        resource_ids=list(event.resource_ids), attributes=dict(event.attributes),
        error=event.severity >= Severity.ERROR or event.kind == "fault",
        traceback=_TRACEBACK in event.message, gap_seconds=None)


def _events(store: Store, key: str, requests: Iterable[str], now: float,
            limit: int) -> list[Event]:
    """The store's events (not log records: the index has those, whole) carrying one of
    ``requests`` or ``key`` as a resource, each once."""
    found: dict[tuple[float, str, str, str], Event] = {}
    end = now + FUTURE_S
    # the same event read by two sources (an action from the API and from the database)
    # is one step
    for event in store.events(0, end, resource_id=key, limit=limit):
        found[(event.timestamp, event.kind, event.event_type, event.message)] = event
    # and what was done on behalf of the instance's requests (an action's request id:
    # the notifications of its steps)
    asked = set(requests) | {e.request_id for e in found.values() if e.request_id}
    for request in sorted(asked):
        for event in store.events(0, end, request_id=request, limit=limit):
            found[(event.timestamp, event.kind, event.event_type, event.message)] = event
    return [e for e in found.values() if not e.kind.startswith("log")]


#: kinds of event whose resource is always an instance
INSTANCE_KINDS = frozenset({"instance_action", "fault", "migration"})


def _kind(key: str, steps: list[TraceStep]) -> str:
    if any(key in s.resource_ids for s in steps
           if s.kind == "log" or s.kind in INSTANCE_KINDS):
        return "instance"
    if any(s.request_id == key for s in steps):
        return "request"
    if any(s.global_request_id == key for s in steps):
        return "global request"
    if any(key in s.resource_ids for s in steps):
        return "resource"
    return "id"


def _requests(steps: list[TraceStep]) -> list[RequestGroup]:
    """Request ids under the global request id they carry, in order of first sight."""
    by_id: dict[str, LinkedRequest] = {}
    parent: dict[str, str] = {}
    for step in steps:
        if not step.request_id:
            continue
        seen = by_id.get(step.request_id)
        if seen is None:
            seen = by_id[step.request_id] = LinkedRequest(
                request_id=step.request_id, services=[], hosts=[], records=0, errors=0,
                first=step.timestamp, last=step.timestamp)
        seen.records += 1
        seen.errors += step.error
        seen.last = max(seen.last, step.timestamp)
        if step.service and step.service not in seen.services:
            seen.services.append(step.service)
        if step.host and step.host not in seen.hosts:
            seen.hosts.append(step.host)
        if step.global_request_id and step.global_request_id != step.request_id:
            parent[step.request_id] = step.global_request_id
    groups: dict[str, list[LinkedRequest]] = {}
    for request_id, linked in by_id.items():
        # a request others were made for heads its own group
        head = parent.get(request_id) or (request_id if request_id in parent.values() else "")
        groups.setdefault(head, []).append(linked)
    out = [RequestGroup(global_request_id=head, requests=sorted(
        members, key=lambda r: (r.request_id != head, r.first)))
        for head, members in groups.items() if head]
    if "" in groups:
        out.append(RequestGroup(global_request_id="", requests=groups[""]))
    return out


def timeline(store: Store, key: str, now: float, limit: int = MAX_STEPS) -> TraceView:
    """The story of ``key`` in ``store`` as read at ``now``; :class:`NotFound` when
    nothing carries it."""
    if not key:  # an empty id would match every event that has no request id
        raise BadQuery("id: give a request id, global request id or instance uuid")
    records = store.log_story(key, limit)
    requests = {key} | {r.request_id for r in records if r.request_id}
    steps = [_record_step(r) for r in records]
    steps += [_event_step(e) for e in _events(store, key, requests, now, limit)]
    if not steps:
        raise NotFound(f"nothing found for {key}: no log record, request or event carries "
                       "it (the request index keeps what the logs sources read, for the "
                       "store's retention)")
    steps.sort(key=lambda s: s.timestamp)  # stable: records before events at one time
    truncated = len(steps) > limit
    steps = steps[:limit]
    for before, step in pairwise(steps):
        step.gap_seconds = round(step.timestamp - before.timestamp, 6)
    return TraceView(
        timestamp=now, id=key, kind=_kind(key, steps), start=steps[0].timestamp,
        end=steps[-1].timestamp, services=sorted({s.service for s in steps if s.service}),
        hosts=sorted({s.host for s in steps if s.host}),
        errors=sum(s.error for s in steps), steps=steps, requests=_requests(steps),
        truncated=truncated)


def trace(ctx: Context, key: str, limit: int = MAX_STEPS) -> TraceView:
    """The story of ``key`` in the context's store."""
    return timeline(ctx.store, key, ctx.now, limit)
