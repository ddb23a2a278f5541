"""Operation timings: ``.start``/``.end``/``.error`` notifications paired per resource.

An operation is keyed by (resource id, span, request id): nova sends each instance
event twice (legacy ``compute.instance.X`` and versioned ``instance.X``) with the same
request id, so the second of a pair finds the first and adds nothing. The span is the
event's stem with the family prefix dropped and legacy spellings made versioned
(:data:`ALIASES`), plus the multi-step spans of :data:`SPANS` (a cold migration's
``resize_prep.start`` to its ``resize_finish.end``). A failure closes the operation:
``X.error``, nova conductor's ``compute_task.build_instances`` (NoValidHost: a failed
create with no start), or an ``instance.update`` into ERROR (whatever was open on the
instance fails; a fault seen just after is added to it). Open operations are written
with every batch, so a restart resumes pairs whose start came before it (:meth:`Timings.resume`).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from stackwatch.bus.records import Operation
from stackwatch.bus.wire import parse_time
from stackwatch.model import Event

NOVA_PREFIXES = ("compute.instance.", "instance.")
#: legacy stems -> versioned ones; nova's ``resize.start/end`` (the disk moved off the
#: source host) -> ``resize_migrate``, so that ``resize`` is the whole span
ALIASES = {
    "resize": "resize_migrate",
    "resize.prep": "resize_prep", "finish_resize": "resize_finish",
    "resize.confirm": "resize_confirm", "resize.revert": "resize_revert",
    "live_migration.pre": "live_migration_pre", "live_migration._post": "live_migration_post",
    "live_migration.post.dest": "live_migration_post_dest",
    "live_migration._rollback": "live_migration_rollback",
    "volume.attach": "volume_attach", "volume.detach": "volume_detach",
    "power_off": "power_off", "power_on": "power_on",
}
#: span -> (stem.phase that opens it, stem.phase that ends it, stem.phase that fails it)
SPANS = {
    "resize": ("resize_prep.start", "resize_finish.end", "resize_revert.end"),
    "live_migration": ("live_migration_pre.start", "live_migration_post_dest.end",
                       "live_migration_rollback.end"),
}
#: the task state an instance had when it fell into ERROR -> the operation that failed
TASK_OPERATIONS = {
    "scheduling": "create", "block_device_mapping": "create", "networking": "create",
    "spawning": "create", "deleting": "delete", "rebooting": "reboot",
    "reboot_started": "reboot", "rebooting_hard": "reboot", "resize_prep": "resize",
    "resize_migrating": "resize", "resize_migrated": "resize", "resize_finish": "resize",
    "migrating": "live_migration", "image_snapshot": "snapshot",
    "image_uploading": "snapshot", "rebuilding": "rebuild", "powering-off": "power_off",
    "powering-on": "power_on",
}
#: operations kept per resource whose twin may still come (bounded)
CLOSED_KEEP = 200_000
#: request ids whose first notification time is kept (bounded)
REQUESTS_KEEP = 200_000
#: an operation open longer than this (its end lost) is no longer waited for in memory
#: (its row stays open in the store until the store's retention takes it)
OPEN_MAX_AGE_S = 86400.0
#: events between two sweeps of the operations open too long
SWEEP_EVERY = 50_000
#: nova's instance updates (one into ERROR fails what is open on the instance)
_UPDATES = ("compute.instance.update", "instance.update")


@dataclass(frozen=True, slots=True)
class Step:
    """What one event means for the operations of its resource."""

    span: str
    phase: str  # start, end, error


def stem_of(event_type: str) -> tuple[str, str, str] | None:
    """(family, stem, phase) of an event type: ``compute.instance.resize.prep.start`` ->
    (``nova``, ``resize_prep``, ``start``); phase "" when it has none."""
    phase = ""
    body = event_type
    for suffix in ("start", "end", "error"):
        if event_type.endswith("." + suffix):
            phase, body = suffix, event_type[: -len(suffix) - 1]
            break
    for prefix in NOVA_PREFIXES:
        if body.startswith(prefix):
            stem = body[len(prefix):]
            return "nova", ALIASES.get(stem, stem.replace(".", "_")), phase
    if not phase or body.startswith("compute_task."):  # conductor's: a failed create
        return None
    return "other", body.replace(".", "_"), phase


def steps(event: Event) -> tuple[Step, ...]:
    """The span steps an event is (an instance's ``resize_prep.start`` is both its own
    step and the start of the whole ``resize``)."""
    return _steps(event.event_type)


@functools.lru_cache(maxsize=4096)
def _steps(event_type: str) -> tuple[Step, ...]:
    """:func:`steps` of an event type (a few hundred types: each worked out once)."""
    found = stem_of(event_type)
    if found is None:
        return ()
    family, stem, phase = found
    if not phase:
        return ()
    out = [Step(stem, phase)]
    if family == "nova":
        for span, (opens, ends, fails) in SPANS.items():
            step = f"{stem}.{phase}"
            if step == opens:
                out.append(Step(span, "start"))
            elif step == ends:
                out.append(Step(span, "end"))
            elif step == fails:
                out.append(Step(span, "error"))
    return tuple(out)


def _fault(attrs: Mapping[str, str]) -> str:
    exception, fault = attrs.get("exception", ""), attrs.get("fault", "")
    return f"{exception}: {fault}" if exception and fault else (exception or fault)


class _Seen(NamedTuple):
    """What pairing reads of an event (an :class:`Event`'s fields, or the consumer's)."""

    event_type: str
    timestamp: float
    request_id: str
    host: str
    attributes: Mapping[str, str]


class Timings:
    """The pairing state: open operations, recently closed keys, requests' first times."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str, str], Operation] = {}
        #: the open operations' keys per resource (an update into ERROR fails them all)
        self._by_resource: dict[str, set[tuple[str, str, str]]] = {}
        self._closed: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._requests: OrderedDict[str, float] = OrderedDict()
        self._flavors: dict[tuple[str, str], str] = {}
        #: failed by an update into ERROR before any fault was seen (bounded)
        self._faultless: OrderedDict[tuple[str, str, str], Operation] = OrderedDict()
        self._fed = 0

    def resume(self, operations: Iterable[Operation], closed: Iterable[tuple[str, str, str]]
               ) -> None:
        """Take up the open operations (and closed keys) a previous run stored."""
        for op in operations:
            self._open(op)
            if op.request_id and op.request_started is not None:
                self._requests[op.request_id] = op.request_started
        for key in closed:
            self._closed[key] = None

    def _request_start(self, event: _Seen) -> float | None:
        rid = event.request_id
        if not rid:
            return None
        first = self._requests.get(rid)
        if first is None or event.timestamp < first:
            self._requests[rid] = first = event.timestamp
            if len(self._requests) > REQUESTS_KEEP:
                self._requests.popitem(last=False)
        return first

    def _open(self, op: Operation) -> None:
        self.open[op.key] = op
        self._by_resource.setdefault(op.resource_id, set()).add(op.key)

    def _close(self, op: Operation) -> Operation:
        if self.open.pop(op.key, None) is not None:
            keys = self._by_resource.get(op.resource_id)
            if keys is not None:
                keys.discard(op.key)
                if not keys:
                    del self._by_resource[op.resource_id]
        self._closed[op.key] = None
        if len(self._closed) > CLOSED_KEEP:
            self._closed.popitem(last=False)
        while len(self._faultless) > 10_000:
            self._faultless.popitem(last=False)
        return op

    def feed(self, event: Event) -> list[Operation]:
        """The operations this event opened or closed (to be written with it)."""
        return self.feed_fields(event.event_type, event.timestamp, event.request_id,
                                event.resource_ids[0] if event.resource_ids else "",
                                event.host, dict(event.attributes))

    def feed_fields(self, event_type: str, timestamp: float, request_id: str, resource: str,
                    host: str, attributes: Mapping[str, str]) -> list[Operation]:
        """:meth:`feed` of an event's fields (``resource``: its first resource id, or "")."""
        self._fed += 1
        if self._fed % SWEEP_EVERY == 0:
            self._sweep(timestamp - OPEN_MAX_AGE_S)
        if not resource:
            return []
        found = _steps(event_type)
        event = _Seen(event_type, timestamp, request_id, host, attributes)
        first = self._request_start(event)
        changed: list[Operation] = []
        attrs = event.attributes
        for step in found:
            key = (resource, step.span, event.request_id)
            if step.phase == "error" and key in self._faultless and _fault(attrs):
                changed.append(replace(self._faultless.pop(key), fault=_fault(attrs)))
                continue
            if key in self._closed:
                continue  # the other family's twin of a pair already closed
            if step.phase == "start":
                if key not in self.open:
                    op = Operation(resource, step.span, event.request_id, event.timestamp,
                                   host=event.host, request_started=first)
                    self._open(op)
                    if step.span == "resize":
                        self._flavors[(resource, event.request_id)] = attrs.get("flavor", "")
                    changed.append(op)
                continue
            opened = self.open.get(key)
            failed = step.phase == "error"
            op = Operation(
                resource, step.span, event.request_id,
                opened.started if opened else None, event.timestamp,
                "failure" if failed else "success", event.host or (opened.host if opened else ""),
                _fault(attrs) if failed else "", first,
                self._build_seconds(event) if step.span == "create" and not failed else None)
            if step.span == "resize":
                before = self._flavors.pop((resource, event.request_id), "")
                if before and before == attrs.get("flavor", ""):
                    op = replace(op, renamed="migrate")
            changed.append(self._close(op))
        changed += self._failures(event, resource, first)
        return changed

    def _sweep(self, before: float) -> None:
        for op in [op for op in self.open.values()
                   if op.started is not None and op.started < before]:
            self._close(op)

    @staticmethod
    def _build_seconds(event: _Seen) -> float | None:
        created = parse_time(event.attributes.get("created_at"))
        launched = parse_time(event.attributes.get("launched_at"))
        if created is None or launched is None:
            return None
        return max(0.0, launched - created)

    def _failures(self, event: _Seen, resource: str, first: float | None) -> list[Operation]:
        et = event.event_type
        attrs = event.attributes
        if et.startswith("compute_task.build_instances"):
            return self._fail(resource, "create", event, _fault(attrs), first)
        if et in _UPDATES and attrs.get("state") == "error" and \
                attrs.get("old_state", "") != "error":
            fault = _fault(attrs)
            # whatever was open on the instance failed; the fault may follow (NoValidHost:
            # conductor's build_instances comes after the update), so it is noted
            closed = []
            for op in [self.open[k] for k in sorted(self._by_resource.get(resource, ()))]:
                failed = self._close(replace(op, ended=event.timestamp, outcome="failure",
                                             fault=op.fault or fault))
                if not failed.fault:
                    self._faultless[failed.key] = failed
                closed.append(failed)
            return closed
        return []

    def _fail(self, resource: str, span: str, event: _Seen, fault: str,
              first: float | None) -> list[Operation]:
        key = (resource, span, event.request_id)
        if key in self._faultless and fault:  # closed by the update into ERROR: its fault
            return [replace(self._faultless.pop(key), fault=fault)]
        if key in self._closed:
            return []
        opened = self.open.get(key)
        return [self._close(Operation(
            resource, span, event.request_id, opened.started if opened else None,
            event.timestamp, "failure", event.host, fault, first))]

