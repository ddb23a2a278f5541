"""Evaluation: from the store's series and checks to the state of every alarm instance.

Each cycle (:meth:`Engine.evaluate`, after each collection) reads every metric an alarm
watches once (the longest window any alarm needs), the latest checks once, and decides
for each alarm, for each instance (one per ``group_by`` label set, or per series):

* metric alarms: the statistic of each of the last ``evaluation_periods`` periods (per
  series, then combined over the group). Every period breaching: **alarm**; none: **ok**;
  mixed: the state stays (Aodh), a new instance takes the latest period's. Fewer periods
  with data than asked: **insufficient data**; no data at all: the ``missing`` policy.
* check alarms: the worst status of the group's checks (a check older than ``max_age``
  is no data). A firing status for ``evaluation_periods`` cycles in a row: **alarm**; all
  UNKNOWN ("could not look"): **insufficient data**; else **ok**.
* composite alarms: ``and``/``or`` of the others' states (an alarm is "alarm" when any of
  its instances is).

Outside its time constraints an alarm keeps its states. Every change is a transition with
its reason, saved with the new states in one write; then what to notify is handed to the
:class:`~stackwatch.alarms.actions.Dispatcher` (a queue: evaluation never waits for it).
Acknowledged instances are not repeated; silenced ones notify nothing.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from stackwatch.alarms.definitions import Alarm, AlarmSet, Composite, Matcher, actions_of
from stackwatch.alarms.statistics import combine, statistic
from stackwatch.model import CheckResult, Labels, Status
from stackwatch.store.base import (
    WINDOW_STATISTICS,
    AckRecord,
    AlarmRecord,
    AlarmStateStore,
    AlarmTransition,
    SilenceRecord,
    Store,
    WindowValues,
)

log = logging.getLogger(__name__)


class State(StrEnum):
    OK = "ok"
    ALARM = "alarm"
    INSUFFICIENT = "insufficient_data"


_SEVERITY_OF_STATUS = {Status.CRITICAL: "critical", Status.WARNING: "warning",
                       Status.UNKNOWN: "warning"}
SEVERITY_RANK = {"": 0, "info": 1, "warning": 2, "critical": 3}


class Verdict(NamedTuple):
    """What one evaluation says of one instance (a tuple: a cycle makes 10,000)."""

    state: State
    reason: str
    severity: str = ""
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell the actions: an instance changed state, or is still firing."""

    alarm: str
    labels: Labels
    previous: str
    current: str
    severity: str
    reason: str
    value: float | None
    ts: float
    since: float
    description: str
    annotations: Mapping[str, str]
    actions: tuple[str, ...]
    repeat: bool = False

    def alert_labels(self) -> dict[str, str]:
        """The instance's labels with ``alertname`` and ``severity`` (Alertmanager's)."""
        return {**dict(self.labels), "alertname": self.alarm,
                **({"severity": self.severity} if self.severity else {})}


class Dispatcher(Protocol):
    def submit(self, notifications: Sequence[Notification]) -> None: ...


@dataclass
class CycleResult:
    """What one cycle did (for the caller's log and the engine's own metrics)."""

    seconds: float = 0.0
    instances: int = 0
    transitions: list[AlarmTransition] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Series = list[tuple[Labels, list[float], list[float]]]  # labels, times, values
#: statistics the store computes per series and period (Store.window_values)
FAST = frozenset(WINDOW_STATISTICS)
Slots = dict[Labels, list[list[float]]]  # per group, per period: the series' values
Periods = dict[Labels, list[float | None]]  # per group, per period: the group's value


#: one read of Store.window_values: metric, statistic, start, period, periods
Read = tuple[str, str, float, float, int]
def _read(alarm: Alarm, metric: str, now: float) -> Read:
    n = alarm.evaluation_periods
    return (metric, alarm.statistic, now - n * alarm.period, alarm.period, n)


def _combined(alarm: Alarm, slots: Slots) -> Periods:
    """Per group, per period, its series' values combined (None: none)."""
    return {key: [combine(alarm.combine, s) if s else None for s in periods]
            for key, periods in slots.items()}


@dataclass(frozen=True, slots=True)
class _Rule:
    """What deciding a metric alarm's instances needs, worked out once per alarm."""

    periods: int
    holds: Callable[[float, float], bool]
    threshold: float
    cond: str  # "> 10"
    stat: str  # "avg over 60s"
    severity: str

    @classmethod
    def of(cls, alarm: Alarm) -> _Rule:
        assert alarm.threshold is not None
        op = alarm.comparison_operator
        return cls(alarm.evaluation_periods, op.holds, alarm.threshold,
                   f"{op.symbol} {alarm.threshold:g}", f"{alarm.statistic} over {alarm.period:g}s",
                   alarm.severity or "warning")


def _matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _group(alarm: Alarm, labels: Labels) -> Labels:
    if alarm.group_by is None:
        return labels
    found = dict(labels)
    return tuple((k, found.get(k, "")) for k in sorted(alarm.group_by))


def silence_matchers(text: str) -> list[Matcher]:
    """The matchers of a stored silence (JSON list of ``[label, op, value]``)."""
    return [Matcher(label=a, op=op, value=v) for a, op, v in json.loads(text)]


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.6g}"


class Engine:
    """The alarms' state machine over a store; one per server (one writer of states)."""

    def __init__(
        self,
        alarms: AlarmSet,
        store: Store,
        states: AlarmStateStore,
        dispatcher: Dispatcher | None = None,
        *,
        default_actions: Iterable[str] = ("log://",),
        max_age: float = float("inf"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.alarms = alarms
        self.store = store
        self.states = states
        self.dispatcher = dispatcher
        self.default_actions = tuple(default_actions)
        self.max_age = max_age
        self.clock = clock
        self._current: dict[tuple[str, Labels], AlarmRecord] = {
            (r.alarm, r.labels): r for r in states.alarm_states()}
        self._streak: dict[tuple[str, Labels], int] = defaultdict(int)
        #: per alarm, each series' group number (by the store's key of the series), and
        #: the groups' labels by number (_index)
        self._keys: dict[str, dict[str, int]] = {}
        self._groups: dict[str, list[Labels]] = {}
        self._rules: dict[str, _Rule] = {}
        #: this cycle's reads of the store (several alarms may read the same window)
        self._reads: dict[Read, WindowValues] = {}

    # ------------------------------------------------------------------ reads
    def current(self) -> list[AlarmRecord]:
        """Every instance's state as of the last cycle."""
        return list(self._current.values())

    def _series(self, now: float) -> dict[str, Series]:
        windows: dict[str, float] = {}
        for alarm in self.alarms.alarms:
            if alarm.statistic in FAST:
                continue  # the database computes them (_slots)
            for metric in (alarm.metric, alarm.divide_by):
                if metric is not None:
                    windows[metric] = max(windows.get(metric, 0.0), alarm.window())
        out: dict[str, Series] = {}
        for name, window in windows.items():
            # only the series the latest runs still give: one that vanished (a queue
            # deleted, no server left in ERROR) has no data, whatever its window holds
            current = {s.labels for s in self.store.latest_samples(name)}
            rows = self.store.range_points(name, now - window, now)
            out[name] = [(labels, [t for t, v in pts if v is not None],
                          [v for _, v in pts if v is not None]) for labels, pts in rows
                         if labels in current]
        return out

    # ------------------------------------------------------------- verdicts
    def _metric(self, alarm: Alarm, series: Series, now: float,
                divisor: Series | None = None) -> dict[Labels, Verdict]:
        """Per group, per period, the statistic (divided by ``divisor``'s, combined the
        same way over the group, when the alarm has ``divide_by``)."""
        assert alarm.threshold is not None and alarm.metric is not None
        if alarm.statistic in FAST:
            numerators = self._grouped(alarm, alarm.metric, now)
            denominators = (self._grouped(alarm, alarm.divide_by, now)
                            if alarm.divide_by is not None else None)
        else:
            numerators = _combined(alarm, self._periods(alarm, series, now))
            denominators = (_combined(alarm, self._periods(alarm, divisor, now))
                            if divisor is not None else None)
        out: dict[Labels, Verdict] = {}
        for key, periods in numerators.items():
            if denominators is not None:
                below = denominators.get(key) or [None] * len(periods)
                periods = [value / den if value is not None and den else None
                           for value, den in zip(periods, below, strict=True)]
            out[key] = self._decide(alarm, key, periods)
        return out

    def _grouped(self, alarm: Alarm, metric: str, now: float) -> Periods:
        """:func:`_combined` of :meth:`_periods`, from the store's per-series and per-slot
        statistic (:meth:`~stackwatch.store.base.Store.window_values`, read once a cycle
        per metric and window), grouped by array: each slot's values sorted by group, and
        each group's run combined (``fsum`` for sum and avg, as :func:`combine`)."""
        n = alarm.evaluation_periods
        read = _read(alarm, metric, now)
        window = self._reads.get(read)
        if window is None:
            window = self._reads[read] = self.store.window_values(*read)
        index = self._index(alarm, window)
        found: dict[int, list[float | None]] = {}
        for slot, column in enumerate(window.slots):
            values = np.array(column, dtype=np.float64)  # None (no value): NaN
            keep = np.flatnonzero((index >= 0) & ~np.isnan(values))
            if not keep.size:
                continue
            order = keep[np.argsort(index[keep], kind="stable")]
            members = index[order]
            starts = np.flatnonzero(np.concatenate(([True], members[1:] != members[:-1])))
            ordered = values[order]
            combined: list[float]
            if alarm.combine == "max":
                combined = np.maximum.reduceat(ordered, starts).tolist()
            elif alarm.combine == "min":
                combined = np.minimum.reduceat(ordered, starts).tolist()
            else:
                listed = ordered.tolist()
                bounds = [*starts.tolist(), len(listed)]
                combined = [math.fsum(listed[a:b]) for a, b in pairwise(bounds)]
                if alarm.combine != "sum":
                    combined = [c / (b - a) for c, (a, b) in
                                zip(combined, pairwise(bounds), strict=True)]
            for group, value in zip(members[starts].tolist(), combined, strict=True):
                row = found.get(group)
                if row is None:
                    row = found[group] = [None] * n
                row[slot] = value
        groups = self._groups[alarm.name]
        return {groups[g]: row for g, row in found.items()}

    def _index(self, alarm: Alarm, window: WindowValues) -> npt.NDArray[np.intp]:
        """Each series' group number (-1: the alarm's matchers leave it out), kept across
        cycles by the store's key of the series (its labels do not change)."""
        known = self._keys.setdefault(alarm.name, {})
        groups = self._groups.setdefault(alarm.name, [])
        if len(known) > 1_000_000:  # series come and go: forget, then learn again
            known.clear()
            groups.clear()
        try:
            numbers = list(map(known.__getitem__, window.keys))
        except KeyError:
            number = {g: i for i, g in enumerate(groups)}
            for key in window.keys:
                if key in known:
                    continue
                labels = window.decode(key)
                if alarm.match and not _matches(alarm.match, dict(labels)):
                    known[key] = -1
                    continue
                group = _group(alarm, labels)
                if group not in number:
                    number[group] = len(groups)
                    groups.append(group)
                known[key] = number[group]
            numbers = list(map(known.__getitem__, window.keys))
        return np.array(numbers, dtype=np.intp)

    def _periods(self, alarm: Alarm, series: Series, now: float) -> Slots:
        n, period = alarm.evaluation_periods, alarm.period
        edges = [now - (n - i) * period for i in range(n + 1)]
        values: dict[Labels, list[list[float]]] = {}
        for labels, times, vals in series:
            if alarm.match and not _matches(alarm.match, dict(labels)):
                continue
            slots = values.setdefault(_group(alarm, labels), [[] for _ in range(n)])
            for i in range(n):
                lo = bisect.bisect_left(times, edges[i])
                hi = (bisect.bisect_left(times, edges[i + 1]) if i < n - 1
                      else bisect.bisect_right(times, now))
                if hi > lo:
                    value = statistic(alarm.statistic,
                                      list(zip(times[lo:hi], vals[lo:hi], strict=True)))
                    if value is not None:
                        slots[i].append(value)
        return values

    def _decide(self, alarm: Alarm, key: Labels, periods: list[float | None]) -> Verdict:
        rule = self._rules.get(alarm.name)
        if rule is None:
            rule = self._rules[alarm.name] = _Rule.of(alarm)
        n = rule.periods
        if n == 1:  # most alarms: the general case below, shortened
            last = periods[0]
            if last is None:
                return self._missing(alarm)
            if rule.holds(last, rule.threshold):
                return Verdict(State.ALARM, f"{rule.stat} {_fmt(last)} {rule.cond}",
                               rule.severity, last)
            return Verdict(State.OK, f"{rule.stat} {_fmt(last)} not {rule.cond}", value=last)
        present = [v for v in periods if v is not None]
        if not present:
            return self._missing(alarm)
        last = present[-1]
        if len(present) < n:
            return Verdict(State.INSUFFICIENT, f"{len(present)} of {n} periods have data",
                           value=last)
        holds, threshold = rule.holds, rule.threshold
        breaches = [holds(v, threshold) for v in present]
        if all(breaches):
            what = (f"{rule.stat} {_fmt(last)} {rule.cond}" if n == 1 else
                    f"{rule.stat} {rule.cond} in each of {n} periods (latest {_fmt(last)})")
            return Verdict(State.ALARM, what, rule.severity, last)
        if not any(breaches):
            return Verdict(State.OK, f"{rule.stat} {_fmt(last)} not {rule.cond}", value=last)
        before = self._current.get((alarm.name, key))
        keep = State(before.state) if before and before.state != State.INSUFFICIENT else (
            State.ALARM if breaches[-1] else State.OK)
        severity = rule.severity if keep is State.ALARM else ""
        return Verdict(keep, f"{rule.stat} {rule.cond} in {sum(breaches)} of {n} periods: "
                             f"stays {keep.value}", severity, last)

    @staticmethod
    def _missing(alarm: Alarm) -> Verdict:
        if alarm.missing == "ok":
            return Verdict(State.OK, "no data (missing data is ok)")
        if alarm.missing == "insufficient_data":
            return Verdict(State.INSUFFICIENT, "no data")
        return Verdict(State.ALARM, "no data (missing data alarms)", alarm.missing)

    def _check(self, alarm: Alarm, checks: Sequence[CheckResult], now: float
               ) -> dict[Labels, Verdict]:
        firing = alarm.firing_statuses()
        groups: dict[Labels, list[CheckResult]] = defaultdict(list)
        for check in checks:
            if check.name != alarm.check or not _matches(alarm.match, dict(check.labels)):
                continue
            groups[_group(alarm, check.labels)].append(check)
        out: dict[Labels, Verdict] = {}
        for key, members in groups.items():
            fresh = [c for c in members if now - c.timestamp <= self.max_age]
            if not fresh:
                out[key] = self._missing(alarm)
                continue
            bad = [c for c in fresh if c.status in firing]
            if bad:
                worst = Status.worst(c.status for c in bad)
                example = next(c for c in bad if c.status is worst)
                out[key] = Verdict(State.ALARM, f"{alarm.check} {worst.name}: {example.message}",
                                   alarm.severity or _SEVERITY_OF_STATUS[worst],
                                   float(worst.value))
            elif all(c.status is Status.UNKNOWN for c in fresh):
                out[key] = Verdict(State.INSUFFICIENT,
                                   f"{alarm.check} UNKNOWN: {fresh[0].message}", value=3.0)
            else:
                worst = Status.worst(c.status for c in fresh)
                out[key] = Verdict(State.OK, f"{alarm.check} {worst.name}", value=float(worst))
        return out

    def _composite(self, alarm: Alarm, verdicts: Mapping[str, dict[Labels, Verdict]]
                   ) -> dict[Labels, Verdict]:
        assert alarm.composite is not None

        def state_of(name: str) -> tuple[State, str]:
            found = verdicts.get(name, {})
            firing = [v for v in found.values() if v.state is State.ALARM]
            if firing:
                sev = max((v.severity for v in firing), key=SEVERITY_RANK.__getitem__)
                return State.ALARM, sev
            if found and all(v.state is State.OK for v in found.values()):
                return State.OK, ""
            return State.INSUFFICIENT, ""

        def evaluate(c: Composite) -> tuple[State, str]:
            parts = [state_of(p) if isinstance(p, str) else evaluate(p) for p in c.of]
            states = [s for s, _ in parts]
            sev = max((s for _, s in parts), key=SEVERITY_RANK.__getitem__, default="")
            if c.op == "and":
                if all(s is State.ALARM for s in states):
                    return State.ALARM, sev
                if any(s is State.OK for s in states):
                    return State.OK, ""
                return State.INSUFFICIENT, ""
            if any(s is State.ALARM for s in states):
                return State.ALARM, sev
            if all(s is State.OK for s in states):
                return State.OK, ""
            return State.INSUFFICIENT, ""

        state, sev = evaluate(alarm.composite)
        reason = f"{alarm.describe()} is {state.value}"
        return {(): Verdict(state, reason, (alarm.severity or sev or "warning")
                            if state is State.ALARM else "")}

    # ------------------------------------------------------------------ cycle
    def evaluate(self, now: float | None = None) -> CycleResult:
        """One cycle: verdicts, transitions saved, notifications handed to the dispatcher."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        result = CycleResult()
        self._reads = {}
        series = self._series(now)
        checks = self.store.latest_checks() if any(
            a.check is not None for a in self.alarms.alarms) else []
        silences = self.states.silences(now)
        acks = {(a.alarm, a.labels): a for a in self.states.acks()}
        verdicts: dict[str, dict[Labels, Verdict]] = {}
        changed: list[AlarmRecord] = []
        gone: list[tuple[str, Labels]] = []
        unacked: list[tuple[str, Labels]] = []
        known: dict[str, list[Labels]] = defaultdict(list)
        for key in self._current:
            known[key[0]].append(key[1])
        for alarm in self.alarms.alarms:
            if alarm.constrained_out(now):
                verdicts[alarm.name] = {labels: Verdict(State(self._current[(alarm.name, labels)]
                                                              .state), "")
                                        for labels in known.get(alarm.name, [])}
                continue
            try:
                if alarm.metric is not None:
                    found = self._metric(alarm, series.get(alarm.metric, []), now,
                                         None if alarm.divide_by is None
                                         else series.get(alarm.divide_by, []))
                elif alarm.check is not None:
                    found = self._check(alarm, checks, now)
                else:
                    found = self._composite(alarm, verdicts)
            except (ValueError, ArithmeticError) as exc:  # one alarm's bad luck, not all
                result.errors.append(f"{alarm.name}: {exc}")
                log.warning("alarm %s not evaluated: %s", alarm.name, exc)
                continue
            for labels in known.get(alarm.name, []):
                if labels not in found:
                    found[labels] = self._missing(alarm)
            verdicts[alarm.name] = found
            for labels, verdict in found.items():
                self._apply(alarm, labels, verdict, now, silences, acks, result, changed,
                            gone, unacked)
        # instances of alarms no longer defined
        names = {a.name for a in self.alarms.alarms}
        for key in [k for k in self._current if k[0] not in names]:
            del self._current[key]
            gone.append(key)
        self._reads = {}
        self.states.save_alarms(changed, gone, result.transitions)
        if unacked:
            self.states.unacknowledge(unacked)
        result.instances = len(self._current)
        if result.notifications and self.dispatcher is not None:
            self.dispatcher.submit(result.notifications)
        result.seconds = time.perf_counter() - started
        return result

    def _apply(self, alarm: Alarm, labels: Labels, verdict: Verdict, now: float,
               silences: Sequence[SilenceRecord], acks: Mapping[tuple[str, Labels], AckRecord],
               result: CycleResult, changed: list[AlarmRecord],
               gone: list[tuple[str, Labels]], unacked: list[tuple[str, Labels]]) -> None:
        key = (alarm.name, labels)
        before = self._current.get(key)
        previous = before.state if before else ""
        state = verdict.state
        if alarm.check is not None and alarm.evaluation_periods > 1:
            self._streak[key] = self._streak[key] + 1 if state is State.ALARM else 0
            if state is State.ALARM and self._streak[key] < alarm.evaluation_periods:
                state = State(previous) if previous else State.INSUFFICIENT
                verdict = verdict._replace(
                    state=state, severity=before.severity if before else "",
                    reason=f"{verdict.reason} (pending: {self._streak[key]} of "
                           f"{alarm.evaluation_periods})")
        if before is None and state is not State.ALARM and verdict.reason.startswith("no data"):
            return  # nothing known of it, nothing to say
        if before is not None and state == previous and (
                state is not State.ALARM or verdict.severity == before.severity):
            if state is not State.ALARM and verdict.reason.startswith("no data"):
                del self._current[key]  # forget an instance whose series is gone
                gone.append(key)
                return
            notified = before.notified
            if state is State.ALARM and alarm.repeat_interval and \
                    now - before.notified >= alarm.repeat_interval and key not in acks:
                note = self._notification(alarm, labels, previous, verdict, now,
                                          before.since, repeat=True)
                if note is not None and not self._silenced(note, silences):
                    result.notifications.append(note)
                notified = now
            if notified != before.notified or verdict.value != before.value:
                # the same state, a new value (and why): kept, not a transition
                record = AlarmRecord(before.alarm, before.labels, before.state,
                                     before.severity, before.since, verdict.reason,
                                     verdict.value, notified)
                self._current[key] = record
                changed.append(record)
            return
        since = before.since if before is not None and state == previous else now
        record = AlarmRecord(alarm.name, labels, state.value, verdict.severity, since,
                             verdict.reason, verdict.value, now)
        self._current[key] = record
        changed.append(record)
        result.transitions.append(AlarmTransition(now, alarm.name, labels, previous or "new",
                                                  state.value, verdict.severity,
                                                  verdict.reason, verdict.value))
        if previous == State.ALARM and key in acks:
            unacked.append(key)
        note = self._notification(alarm, labels, previous, verdict, now, since)
        if note is None:
            return
        if self._silenced(note, silences):
            result.transitions.append(AlarmTransition(now, alarm.name, labels, state.value,
                                                      state.value, verdict.severity,
                                                      "actions silenced", kind="silence"))
        else:
            result.notifications.append(note)

    def _notification(self, alarm: Alarm, labels: Labels, previous: str, verdict: Verdict,
                      now: float, since: float, repeat: bool = False) -> Notification | None:
        state = verdict.state
        # ok is news after an alarm; insufficient data only to who asked for it
        if state is State.OK and previous != State.ALARM:
            return None
        if state is State.INSUFFICIENT and (alarm.insufficient_data_actions is None
                                            or previous == ""):
            return None
        actions = actions_of(alarm, state.value, self.default_actions)
        if not actions:
            return None
        return Notification(alarm.name, labels, previous or "new", state.value,
                            verdict.severity, verdict.reason, verdict.value, now, since,
                            alarm.description or alarm.describe(), dict(alarm.annotations),
                            actions, repeat)

    @staticmethod
    def _silenced(note: Notification, silences: Sequence[SilenceRecord]) -> bool:
        labels = note.alert_labels()
        return any(_matches(silence_matchers(s.matchers), labels) for s in silences)
