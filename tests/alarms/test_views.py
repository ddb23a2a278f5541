"""The views the CLI, the API and the page share: active alarms root causes first in
restoration order, acknowledgements and silences shown, bad requests refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.health.cause import Symptom, explain
from stackwatch.query import alarms as view
from stackwatch.query.errors import BadQuery, NotFound
from stackwatch.store.alarm_state import SQLiteAlarmStore
from stackwatch.store.base import AlarmRecord

pytestmark = pytest.mark.unit


def record(alarm: str, since: float, state: str = "alarm", **labels: str) -> AlarmRecord:
    return AlarmRecord(alarm, tuple(sorted(labels.items())), state,
                       "critical" if state == "alarm" else "", since, "why", 1.0, since)


def test_explain_orders_roots_by_restoration_stage() -> None:
    symptoms = [Symptom("dash", "horizon"), Symptom("compute", "nova-compute", since=1),
                Symptom("api", "compute", since=2), Symptom("keystone", "keystone", since=9),
                Symptom("db", "mysql", since=5), Symptom("l3", "neutron-l3-agent", since=0),
                Symptom("net", "haproxy", since=7)]
    explained = explain(symptoms, default_catalog())
    # roots in restoration order (network before the database), each followed by what it
    # explains: haproxy down explains everything that reaches its peers through it
    assert [e.symptom.key for e in explained] == ["net", "keystone", "api", "compute", "l3",
                                                 "db", "dash"]
    assert {e.symptom.key: e.cause for e in explained} == {
        "net": None, "keystone": "net", "api": "net", "compute": "net", "l3": "net",
        "db": None, "dash": None}


def test_active_alarms_roots_first_with_acks_and_silences(tmp_path: Path) -> None:
    states = SQLiteAlarmStore(tmp_path / "s.sqlite")
    now = time.time()
    states.save_alarms([
        record("nova-service-down", now - 10, binary="nova-compute", host="cmp1"),
        record("rabbitmq-node-down", now - 5, service="rabbitmq", host="ctl1"),
        record("api-endpoint-down", now - 20, service="nova", service_type="compute"),
        record("disk-80", now - 30, "insufficient_data", host="cmp1"),
        record("fine", now - 30, "ok")], [], [])
    acked = view.acknowledge(states, "nova-service-down", ["host=cmp1"], "alice", "on it", now)
    assert acked.acknowledged == 1
    view.silence(states, ['alertname=~"rabbit.*"'], 600, "bob", "upgrade", now)
    shown = view.active(states, default_catalog(), now)
    assert (shown.firing, shown.insufficient_data, shown.ok) == (3, 1, 1)
    assert [a.alarm for a in shown.alarms] == ["rabbitmq-node-down", "api-endpoint-down",
                                               "nova-service-down", "disk-80"]
    by_name = {a.alarm: a for a in shown.alarms}
    assert by_name["nova-service-down"].acknowledged_by == "alice"
    assert by_name["rabbitmq-node-down"].silenced_by == "bob"
    assert by_name["rabbitmq-node-down"].explanation == "root: explains 2"
    # nova-api (the compute API) and nova-compute need the message bus
    assert by_name["api-endpoint-down"].explanation.startswith("because of rabbitmq (ctl1)")
    assert by_name["nova-service-down"].explanation == \
        "because of rabbitmq (ctl1) down: nova-compute needs rabbitmq"
    assert [a.alarm for a in view.active(states, default_catalog(), now, "critical").alarms
            ] == ["rabbitmq-node-down", "api-endpoint-down", "nova-service-down"]
    history = view.history(states, now - 60, now + 1)
    assert [(t.kind, t.reason) for t in history] == [("ack", "acknowledged by alice: on it")]
    states.close()


@pytest.mark.parametrize(("call", "error"), [
    (lambda s, now: view.acknowledge(s, "nope", [], "a", "b", now), NotFound),
    (lambda s, now: view.acknowledge(s, "x", ["host"], "a", "b", now), BadQuery),
    (lambda s, now: view.acknowledge(s, "x", [], " ", "b", now), BadQuery),
    (lambda s, now: view.silence(s, [], 60, "a", "b", now), BadQuery),
    (lambda s, now: view.silence(s, ["alertname=x"], 0, "a", "b", now), BadQuery),
    (lambda s, now: view.silence(s, ["alertname=x"], 60, "a", "", now), BadQuery),
])
def test_bad_requests_are_refused(tmp_path: Path, call: object, error: type) -> None:
    states = SQLiteAlarmStore(tmp_path / "s.sqlite")
    with pytest.raises(error):
        call(states, time.time())  # type: ignore[operator]
    states.close()
