"""The life of instances as nova records it: instance actions, faults and migrations.

What the API (``api.compute``) and the databases (``sql.nova``, ``sql.nova_cell0``) read
is first turned into the typed records of this module (:class:`Action`, :class:`Fault`,
:class:`Migration`); a :class:`LifeTracker`, one per source and kept across its runs,
then turns them into events, metrics and the ``nova.migrations`` check:

* each settled instance action (an event in ``Error``, or every event finished) becomes
  one ``instance_action`` event, each finished action event one ``instance_action`` event
  of its own (``event_type`` ``create/compute__do_build_and_run_instance``), each fault
  one ``fault`` event and each status a migration reaches one ``migration`` event; all
  carry the instance uuid in ``resource_ids`` and, for actions, the request id;
* **once**: what was emitted is remembered (a bounded memory, :data:`MEMORY`), so that a
  later run reading the same rows emits nothing again; each event also carries that
  memory key as its natural key (:attr:`~stackwatch.model.Event.key`, the tracker's
  prefix first), so that a restarted source, its memory empty, reading the same lookback
  again stores nothing twice (the store keeps one event per key);
* counters since the source started (``..._total``: actions per action and result,
  failed actions, faults per code, failed migrations) and the migration durations
  (a histogram per migration type, counted once per migration when it is first seen
  done: ``updated_at - created_at``); gauges of what is moving now (in progress per
  type, per host in and out, stuck).

A migration is *stuck* when it has been in progress for longer than
``stuck_after`` seconds; the check then says WARNING naming each one.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stackwatch.model import CheckResult, Event, Labels, Sample, Severity, Status, make_labels

#: keys of what was emitted, kept per tracker (oldest forgotten first)
MEMORY = 200_000
#: the check of migrations (stuck ones WARNING)
MIGRATION_CHECK = "nova.migrations"
#: migration durations' histogram buckets (seconds)
DURATION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
#: nova's ``migration_type`` values (the ``migrations`` table's enum)
MIGRATION_TYPES = ("migration", "resize", "live-migration", "evacuation")
#: a migration's statuses once it has moved (cold: finished then confirmed or reverted;
#: live: completed; evacuation: done)
DONE = frozenset({"finished", "confirmed", "reverted", "completed", "done"})
#: statuses of a migration that failed or was given up
FAILED = frozenset({"error", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """One event of an instance action (``instance_actions_events``)."""

    event: str
    start: float | None
    finish: float | None
    result: str        # "Success", "Error", "" while running
    host: str = ""
    details: str = ""  # 2.84+: the fault's message ("No valid host was found...")


@dataclass(frozen=True, slots=True)
class Action:
    """One instance action (``os-instance-actions`` / ``instance_actions``) with its events."""

    instance: str
    request_id: str
    action: str
    start: float | None
    updated: float | None
    message: str           # "Error" when it failed
    project: str = ""
    user: str = ""
    events: tuple[ActionEvent, ...] = ()

    @property
    def failed(self) -> bool:
        return self.message.lower() == "error" or any(
            e.result.lower() == "error" for e in self.events)

    @property
    def settled(self) -> bool:
        """Failed, or every event of it finished (nova never marks an action finished)."""
        return self.failed or (bool(self.events) and all(e.finish is not None
                                                          for e in self.events))

    @property
    def finish(self) -> float | None:
        ends = [e.finish for e in self.events if e.finish is not None]
        return max(ends) if ends else self.updated


@dataclass(frozen=True, slots=True)
class Fault:
    """Why an instance went to ERROR (``fault`` of a server, ``instance_faults``)."""

    instance: str
    code: str
    message: str
    created: float | None
    details: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration (``os-migrations`` / ``migrations``)."""

    uuid: str
    instance: str
    migration_type: str
    status: str
    source_compute: str
    dest_compute: str
    created: float | None
    updated: float | None

    @property
    def in_progress(self) -> bool:
        return self.status not in DONE and self.status not in FAILED

    @property
    def duration(self) -> float | None:
        if self.created is None or self.updated is None:
            return None
        return max(0.0, self.updated - self.created)


SampleMaker = Callable[..., Sample]


class LifeTracker:
    """One source's memory of what it emitted, and its counters since it started.

    ``prefix`` starts the metric names (``openstack_nova`` for the API,
    ``openstack_nova_db`` for the databases); ``memory`` bounds the keys remembered.
    """

    def __init__(self, prefix: str, *, stuck_after: float = 3600.0,
                 memory: int = MEMORY) -> None:
        self.prefix = prefix
        self.stuck_after = stuck_after
        self._memory = memory
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.actions: Counter[tuple[str, str]] = Counter()   # (action, result)
        self.failed_actions = 0
        self.faults: Counter[str] = Counter()                # code
        self.failed_migrations: Counter[str] = Counter()     # migration_type
        self.durations: dict[str, list[int]] = {t: [0] * (len(DURATION_BUCKETS) + 1)
                                                for t in MIGRATION_TYPES}
        self.duration_sums: dict[str, float] = {}

    # ------------------------------------------------------------------ memory
    def _first(self, key: tuple[str, ...]) -> bool:
        """True the first time ``key`` is seen (then remembered)."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        return True

    def known(self, *key: str) -> bool:
        """Whether ``key`` was remembered (without remembering it)."""
        return tuple(key) in self._seen

    def remember(self, *key: str) -> None:
        self._first(tuple(key))

    def key(self, *parts: str) -> str:
        """The stored events' natural key of a memory key: the same row read again (after
        a restart, when the memory is empty) is not stored twice (:attr:`Event.key`)."""
        return "|".join((self.prefix, *parts))

    # ------------------------------------------------------------------ records -> events
    def action_events(self, actions: Iterable[Action]) -> list[Event]:
        """The events of actions and action events not emitted before; counts the actions
        once settled."""
        out: list[Event] = []
        for action in actions:
            for ev in action.events:
                seen = ("event", action.instance, action.request_id, ev.event, str(ev.start))
                if ev.finish is None or not self._first(seen):
                    continue
                error = ev.result.lower() == "error"
                out.append(Event(
                    kind="instance_action", event_type=f"{action.action}/{ev.event}",
                    timestamp=ev.start if ev.start is not None else ev.finish,
                    severity=Severity.ERROR if error else Severity.INFO, service="nova",
                    host=ev.host,
                    message=_words(f"{action.action}: {ev.event} {ev.result or 'running'}"
                                   f" in {ev.finish - (ev.start or ev.finish):.1f}s"
                                   + (f": {ev.details}" if ev.details else "")),
                    request_id=action.request_id, resource_ids=(action.instance,),
                    attributes=make_labels(_clean(
                        action=action.action, event=ev.event, start=ev.start,
                        finish=ev.finish, result=ev.result, host=ev.host,
                        details=ev.details, project=action.project)),
                    key=self.key(*seen)))
            if not action.settled or not self._first(
                    ("action", action.instance, action.request_id)):
                continue
            result = "error" if action.failed else "success"
            self.actions[(action.action, result)] += 1
            self.failed_actions += action.failed
            took = (action.finish - action.start
                    if action.finish is not None and action.start is not None else None)
            out.append(Event(
                kind="instance_action", event_type=action.action,
                timestamp=action.start if action.start is not None else (action.updated or 0),
                severity=Severity.ERROR if action.failed else Severity.INFO, service="nova",
                host=next((e.host for e in action.events if e.host), ""),
                message=_words(f"{action.action} {result}"
                               + (f" in {took:.1f}s" if took is not None else "")
                               + (f": {action.message}" if action.failed and action.message
                                  else "")),
                request_id=action.request_id, resource_ids=(action.instance,),
                attributes=make_labels(_clean(
                    action=action.action, start=action.start, finish=action.finish,
                    result=result, message=action.message, project=action.project,
                    user=action.user, events=len(action.events))),
                key=self.key("action", action.instance, action.request_id)))
        return out

    def fault_events(self, faults: Iterable[Fault]) -> list[Event]:
        """One ``fault`` event per fault not emitted before; counts them per code."""
        out: list[Event] = []
        for fault in faults:
            seen = ("fault", fault.instance, str(fault.created), fault.code)
            if not self._first(seen):
                continue
            self.faults[fault.code or "unknown"] += 1
            out.append(Event(
                kind="fault", event_type=f"fault/{fault.code or 'unknown'}",
                timestamp=fault.created or 0.0, severity=Severity.ERROR, service="nova",
                host=fault.host, message=_words(fault.message),
                resource_ids=(fault.instance,),
                attributes=make_labels(_clean(code=fault.code, message=fault.message,
                                              details=fault.details[:4000],
                                              host=fault.host, created=fault.created)),
                key=self.key(*seen)))
        return out

    def migration_events(self, migrations: Iterable[Migration]) -> list[Event]:
        """One ``migration`` event per status a migration reaches; the first time one is
        seen done its duration is counted, failed ones once."""
        out: list[Event] = []
        for m in migrations:
            if not self._first(("migration", m.uuid, m.status)):
                continue
            kind = m.migration_type if m.migration_type in self.durations else "migration"
            duration = m.duration
            done = m.status in DONE
            if done and duration is not None and self._first(("migration-done", m.uuid)):
                self._observe(kind, duration)
            if m.status in FAILED and self._first(("migration-failed", m.uuid)):
                self.failed_migrations[kind] += 1
            took = f" after {duration:.1f}s" if duration is not None and not m.in_progress \
                else ""
            out.append(Event(
                kind="migration", event_type=f"{m.migration_type}/{m.status}",
                timestamp=m.updated or m.created or 0.0,
                severity=Severity.ERROR if m.status in FAILED else Severity.INFO,
                service="nova", host=m.source_compute,
                message=f"{m.migration_type} {m.source_compute} -> {m.dest_compute}: "
                        f"{m.status}{took}",
                resource_ids=(m.instance,),
                attributes=make_labels(_clean(
                    uuid=m.uuid, migration_type=m.migration_type, status=m.status,
                    source_compute=m.source_compute, dest_compute=m.dest_compute,
                    created=m.created, updated=m.updated,
                    duration=duration if not m.in_progress else None)),
                key=self.key("migration", m.uuid, m.status)))
        return out

    def _observe(self, kind: str, duration: float) -> None:
        buckets = self.durations[kind]
        for index, bound in enumerate(DURATION_BUCKETS):
            if duration <= bound:
                buckets[index] += 1
                break
        else:
            buckets[-1] += 1
        self.duration_sums[kind] = self.duration_sums.get(kind, 0.0) + duration

    # ------------------------------------------------------------------ metrics, check
    def action_samples(self, sample: SampleMaker, **labels: object) -> list[Sample]:
        """The action and fault counters (``labels`` added to each)."""
        p = self.prefix
        out = [sample(f"{p}_instance_actions_total", n, action=a, result=r, **labels)
               for (a, r), n in sorted(self.actions.items())]
        out.append(sample(f"{p}_instance_actions_failed_total", self.failed_actions, **labels))
        out += [sample(f"{p}_instance_faults_total", n, code=code, **labels)
                for code, n in sorted(self.faults.items())]
        return out

    def migration_samples(self, current: Iterable[Migration], now: float,
                          sample: SampleMaker, labels: Labels = ()
                          ) -> tuple[list[Sample], CheckResult]:
        """Gauges of the migrations in progress in ``current`` (per type, per host in and
        out, stuck), the counters and durations, and the ``nova.migrations`` check."""
        p = self.prefix
        moving = [m for m in current if m.in_progress]
        stuck = [m for m in moving
                 if m.created is not None and now - m.created > self.stuck_after]
        by_type = Counter(m.migration_type for m in moving)
        out = [sample(f"{p}_migrations_in_progress", by_type.get(t, 0), migration_type=t)
               for t in sorted(set(MIGRATION_TYPES) | set(by_type))]
        out.append(sample(f"{p}_migrations_stuck", len(stuck)))
        hosts: Counter[tuple[str, str]] = Counter()
        for m in moving:
            hosts[(m.source_compute, "out")] += 1
            hosts[(m.dest_compute, "in")] += 1
        out += [sample(f"{p}_host_migrations", n, host=h, direction=d)
                for (h, d), n in sorted(hosts.items()) if h]
        out += [sample(f"{p}_migrations_failed_total", self.failed_migrations.get(t, 0),
                       migration_type=t) for t in MIGRATION_TYPES]
        for kind, buckets in self.durations.items():
            cumulative = 0
            for bound, count in zip((*DURATION_BUCKETS, math.inf), buckets, strict=True):
                cumulative += count
                le = "+Inf" if math.isinf(bound) else f"{bound:g}"
                out.append(sample(f"{p}_migration_duration_seconds_bucket", cumulative,
                                  migration_type=kind, le=le))
            out.append(sample(f"{p}_migration_duration_seconds_sum",
                              self.duration_sums.get(kind, 0.0), migration_type=kind))
            out.append(sample(f"{p}_migration_duration_seconds_count", cumulative,
                              migration_type=kind))
        return out, self._check(moving, stuck, now, labels)

    def _check(self, moving: list[Migration], stuck: list[Migration], now: float,
               labels: Labels) -> CheckResult:
        if stuck:
            named = "; ".join(
                f"{m.uuid} ({m.migration_type} of {m.instance} {m.source_compute} -> "
                f"{m.dest_compute}, {m.status} for {(now - (m.created or now)) / 60:.0f} min)"
                for m in sorted(stuck, key=lambda m: m.created or 0.0)[:10])
            more = f" and {len(stuck) - 10} more" if len(stuck) > 10 else ""
            return CheckResult(MIGRATION_CHECK, Status.WARNING,
                               f"{len(stuck)} migration(s) in progress for more than "
                               f"{self.stuck_after / 60:.0f} min: {named}{more}", labels)
        return CheckResult(MIGRATION_CHECK, Status.OK,
                           f"{len(moving)} migration(s) in progress, none for more than "
                           f"{self.stuck_after / 60:.0f} min", labels)


def _clean(**values: object) -> dict[str, object]:
    """Attributes without the empty ones; times as epoch seconds with 3 decimals."""
    out: dict[str, object] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        out[key] = round(value, 3) if isinstance(value, float) else value
    return out


def _words(text: str) -> str:
    """One line (a fault message may hold newlines)."""
    return " ".join(text.split())[:1000]
