"""The alarms as the CLI, the REST API and the alarms page show them, and what an
operator does to them (acknowledge, silence).

Active instances (alarm, then insufficient data) are listed through
:func:`stackwatch.health.cause.explain`: each instance is a symptom (its ``service``,
``member``/``binary``/``process`` and ``host`` labels), roots first in restoration
order, each followed by its consequences.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel

from stackwatch.alarms.definitions import Matcher
from stackwatch.alarms.evaluate import SEVERITY_RANK, silence_matchers
from stackwatch.catalog.loader import Catalog
from stackwatch.health.cause import Symptom, explain
from stackwatch.model import Labels
from stackwatch.query.errors import BadQuery, NotFound
from stackwatch.store.base import (
    AckRecord,
    AlarmRecord,
    AlarmStateStore,
    AlarmTransition,
    SilenceRecord,
)


class ActiveAlarm(BaseModel):
    """One alarm instance not ok, with its place among root causes."""

    alarm: str
    labels: dict[str, str]
    state: str
    severity: str
    since: float
    age_s: float
    reason: str
    value: float | None
    acknowledged_by: str | None = None
    acknowledged_reason: str | None = None
    silenced_by: str | None = None
    #: the key of the alarm instance explaining this one; None: a root cause
    cause: str | None = None
    explanation: str = ""
    rank: int = 0
    key: str


class AlarmsView(BaseModel):
    """Active alarms, roots first, and how many instances are in each state."""

    firing: int
    insufficient_data: int
    ok: int
    alarms: list[ActiveAlarm]


class TransitionView(BaseModel):
    ts: float
    alarm: str
    labels: dict[str, str]
    previous: str
    current: str
    severity: str
    reason: str
    value: float | None
    kind: str


class SilenceView(BaseModel):
    id: int
    matchers: list[str]
    starts: float
    ends: float
    by: str
    reason: str


class Acknowledged(BaseModel):
    alarm: str
    acknowledged: int
    by: str


def instance_key(alarm: str, labels: Labels) -> str:
    """A stable name of one instance: ``alarm{k=v,...}``."""
    return alarm + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


def symptom_of(record: AlarmRecord) -> Symptom:
    labels = dict(record.labels)
    member = labels.get("member") or labels.get("binary") or labels.get("process") or ""
    # an API's alarm names its service type (compute: nova-api), which the catalog knows
    # more precisely than the project ("nova")
    service = labels.get("binary") or labels.get("process") or labels.get("service_type") \
        or labels.get("service") or ""
    # the kind is the alarm's severity: critical is down (it may explain others), warning
    # degraded (health.cause.KIND_ALIASES)
    return Symptom(instance_key(record.alarm, record.labels), service, member,
                   labels.get("host") or labels.get("hostname") or "", record.severity,
                   record.since)


def active(states: AlarmStateStore, catalog: Catalog, now: float,
           severity: str | None = None) -> AlarmsView:
    """Instances in alarm (then insufficient data), root causes first."""
    records = states.alarm_states()
    acks = {(a.alarm, a.labels): a for a in states.acks()}
    silences = states.silences(now)
    counts = {s: sum(r.state == s for r in records) for s in ("alarm", "insufficient_data",
                                                              "ok")}
    shown = [r for r in records if r.state != "ok" and (
        severity is None or SEVERITY_RANK.get(r.severity, 0) >= SEVERITY_RANK.get(severity, 0))]
    by_key = {instance_key(r.alarm, r.labels): r for r in shown}
    firing = [r for r in shown if r.state == "alarm"]
    order = explain([symptom_of(r) for r in firing], catalog)
    listed: list[ActiveAlarm] = []
    for item in order:
        listed.append(_view(by_key[item.symptom.key], now, acks, silences, item.cause,
                            item.reason, item.rank))
    rest = sorted((r for r in shown if r.state != "alarm"), key=lambda r: (r.alarm, r.labels))
    listed += [_view(r, now, acks, silences, None, "", len(order) + i)
               for i, r in enumerate(rest)]
    return AlarmsView(firing=counts["alarm"], insufficient_data=counts["insufficient_data"],
                      ok=counts["ok"], alarms=listed)


def _view(r: AlarmRecord, now: float, acks: dict[tuple[str, Labels], AckRecord],
          silences: Sequence[SilenceRecord], cause: str | None, explanation: str,
          rank: int) -> ActiveAlarm:
    ack = acks.get((r.alarm, r.labels))
    labels = {**dict(r.labels), "alertname": r.alarm,
              **({"severity": r.severity} if r.severity else {})}
    silence = next((s for s in silences
                    if all(m.matches(labels) for m in silence_matchers(s.matchers))), None)
    return ActiveAlarm(alarm=r.alarm, labels=dict(r.labels), state=r.state,
                       severity=r.severity, since=r.since, age_s=max(0.0, now - r.since),
                       reason=r.reason, value=r.value,
                       acknowledged_by=ack.by if ack else None,
                       acknowledged_reason=ack.reason if ack else None,
                       silenced_by=silence.by if silence else None, cause=cause,
                       explanation=explanation, rank=rank,
                       key=instance_key(r.alarm, r.labels))


def history(states: AlarmStateStore, start: float, end: float, alarm: str | None = None,
            limit: int = 1000) -> list[TransitionView]:
    """Transitions newest first."""
    return [_transition(t) for t in states.alarm_history(start, end, alarm, limit)]


def _transition(t: AlarmTransition) -> TransitionView:
    return TransitionView(ts=t.ts, alarm=t.alarm, labels=dict(t.labels), previous=t.previous,
                          current=t.current, severity=t.severity, reason=t.reason,
                          value=t.value, kind=t.kind)


def parse_matcher_list(texts: Sequence[str]) -> list[Matcher]:
    """``host=c1``, ``service=~"nova.*"``: BadQuery naming the one that is not a matcher."""
    try:
        return [Matcher.parse(t) for t in texts if t.strip()]
    except ValueError as exc:
        raise BadQuery(str(exc)) from None


def acknowledge(states: AlarmStateStore, alarm: str, matchers: Sequence[str], by: str,
                reason: str, now: float) -> Acknowledged:
    """Acknowledge every firing instance of ``alarm`` its labels match."""
    wanted = parse_matcher_list(matchers)
    if not by.strip() or not reason.strip():
        raise BadQuery("an acknowledgement says who (by) and why (reason)")
    hits = [r for r in states.alarm_states() if r.alarm == alarm and r.state == "alarm"
            and all(m.matches(dict(r.labels)) for m in wanted)]
    if not hits:
        raise NotFound(f"alarm {alarm!r}: no firing instance matches "
                       f"{', '.join(matchers) or 'it'}")
    for r in hits:
        states.acknowledge(AckRecord(r.alarm, r.labels, by, reason, now))
    states.save_alarms([], [], [AlarmTransition(now, r.alarm, r.labels, r.state, r.state,
                                                r.severity, f"acknowledged by {by}: {reason}",
                                                r.value, "ack") for r in hits])
    return Acknowledged(alarm=alarm, acknowledged=len(hits), by=by)


def silence(states: AlarmStateStore, matchers: Sequence[str], duration_s: float, by: str,
            reason: str, now: float) -> SilenceView:
    """Hold back the actions of the instances ``matchers`` select (``alertname=`` for an
    alarm) for ``duration_s``."""
    wanted = parse_matcher_list(matchers)
    if not wanted:
        raise BadQuery("a silence needs at least one matcher (alertname=... host=...)")
    if duration_s <= 0:
        raise BadQuery("a silence lasts a positive number of seconds")
    if not by.strip() or not reason.strip():
        raise BadQuery("a silence says who (by) and why (reason)")
    record = SilenceRecord(0, json.dumps([[m.label, m.op, m.value] for m in wanted]), now,
                           now + duration_s, by, reason, now)
    sid = states.add_silence(record)
    return _silence(SilenceRecord(sid, record.matchers, record.starts, record.ends, by,
                                  reason, now))


def silences(states: AlarmStateStore, now: float) -> list[SilenceView]:
    """The silences active now."""
    return [_silence(s) for s in states.silences(now)]


def _silence(s: SilenceRecord) -> SilenceView:
    return SilenceView(id=s.id, matchers=[str(m) for m in silence_matchers(s.matchers)],
                       starts=s.starts, ends=s.ends, by=s.by, reason=s.reason)
