"""The usage audit: ``compute.instance.exists`` checked against each instance's lifecycle.

Nova sends ``compute.instance.exists`` (and ``instance.exists``) for every instance on a
host once per audit period (``instance_usage_audit_period``, hourly) and on resize;
billing (Ceilometer, CloudKitty) counts usage from them. Within the window read, a
discrepancy is:

- ``missing-exists``: an instance launched at least one ``period`` before the window's end
  and not deleted had no exists in the window's last ``period``;
- ``launched-at-mismatch``: an exists says another ``launched_at`` than the create.end;
- ``flavor-mismatch``: an exists names another flavor than the instance's lifecycle had
  just before it (create.end, resize);
- ``deleted-without-delete-end``: an exists (or a delete.start older than ``grace``) for an
  instance deleted with no ``delete.end``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from stackwatch.bus.wire import parse_time
from stackwatch.model import CheckResult, Event, PerfDatum, Status

CREATE_END = ("compute.instance.create.end", "instance.create.end")
DELETE_START = ("compute.instance.delete.start", "instance.delete.start")
DELETE_END = ("compute.instance.delete.end", "instance.delete.end")
EXISTS = ("compute.instance.exists", "instance.exists")
CHECK = "bus.usage_audit"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing the usage notifications and the lifecycle disagree on."""

    instance_id: str
    kind: str
    detail: str
    timestamp: float


def _attr(event: Event, name: str) -> str:
    for key, value in event.attributes:
        if key == name:
            return value
    return ""


def audit(events: Iterable[Event], end: float, period: float = 3600.0,
          grace: float = 600.0) -> list[Discrepancy]:
    """The discrepancies in the notification events of a window ending at ``end``."""
    by_instance: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        instance = _attr(event, "instance_id")
        if instance and (event.event_type in CREATE_END + DELETE_START + DELETE_END + EXISTS
                         or _attr(event, "flavor")):
            by_instance[instance].append(event)
    found: list[Discrepancy] = []
    for instance, story in sorted(by_instance.items()):
        story.sort(key=lambda e: e.timestamp)
        created = [e for e in story if e.event_type in CREATE_END]
        exists = [e for e in story if e.event_type in EXISTS]
        deleted = any(e.event_type in DELETE_END for e in story)
        delete_started = [e for e in story if e.event_type in DELETE_START]
        launched = parse_time(_attr(created[0], "launched_at")) if created else None
        for e in exists:
            said = parse_time(_attr(e, "launched_at"))
            if launched is not None and said is not None and abs(said - launched) > 1.0:
                found.append(Discrepancy(instance, "launched-at-mismatch",
                                         f"{e.event_type} says launched_at "
                                         f"{_attr(e, 'launched_at')}, create.end "
                                         f"{_attr(created[0], 'launched_at')}", e.timestamp))
            before = [p for p in story if p.timestamp <= e.timestamp
                      and p.event_type not in EXISTS and _attr(p, "flavor")]
            flavor = _attr(before[-1], "flavor") if before else ""
            if flavor and _attr(e, "flavor") and flavor != _attr(e, "flavor"):
                found.append(Discrepancy(instance, "flavor-mismatch",
                                         f"{e.event_type} names flavor {_attr(e, 'flavor')}, "
                                         f"the instance had {flavor}", e.timestamp))
        gone = [e for e in exists if _attr(e, "deleted_at") or _attr(e, "state") == "deleted"]
        stale = [e for e in delete_started if e.timestamp < end - grace]
        if not deleted and (gone or stale):
            first = (gone or stale)[0]
            found.append(Discrepancy(instance, "deleted-without-delete-end",
                                     f"{first.event_type} at {first.timestamp:.0f} and no "
                                     "delete.end", first.timestamp))
        if created and not deleted and not delete_started and launched is not None \
                and launched <= end - period \
                and not any(e.timestamp >= end - period for e in exists):
            found.append(Discrepancy(instance, "missing-exists",
                                     f"launched {created[0].timestamp:.0f}, no exists in the "
                                     f"last {period:.0f}s", end))
    return found


def check(found: list[Discrepancy], now: float) -> CheckResult:
    """WARNING naming the discrepancies, OK when usage adds up."""
    perf = (PerfDatum("discrepancies", len(found), minimum=0),)
    if not found:
        return CheckResult(CHECK, Status.OK, "usage notifications add up", (), perf, now)
    kinds = sorted({d.kind for d in found})
    return CheckResult(CHECK, Status.WARNING,
                       f"{len(found)} usage discrepancies ({', '.join(kinds)})", (), perf, now)
