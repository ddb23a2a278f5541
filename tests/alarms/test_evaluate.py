"""Evaluation semantics, table-driven, over a real SQLite store: each statistic, mixed
and missing data, evaluation periods, group_by, composite, time constraints, repeat
actions, acknowledgements, silences, the Aodh-style definition of the training notes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stackwatch.model import Status
from stackwatch.store.base import AckRecord, SilenceRecord

from .harness import Harness

pytestmark = pytest.mark.unit

METRIC = "openstack_api_endpoint_latency_seconds"
NOVA = {"service": "nova", "region": "RegionOne"}
KEY = (("region", "RegionOne"), ("service", "nova"))


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    made: list[Harness] = []

    def build(*alarms: dict[str, Any], **kw: Any) -> Harness:
        h = Harness(tmp_path / f"h{len(made)}", *alarms, now=time.time(), **kw)
        made.append(h)
        return h

    yield build
    for h in made:
        h.close()


def alarm(**fields: Any) -> dict[str, Any]:
    return {"name": "a", "metric": METRIC, "period": 60, "threshold": 0, **fields}


# ages (seconds before now) and values; a counter reset between 20 and 5
GAUGE = [(50, 1.0), (40, 5.0), (30, 3.0), (20, 9.0), (10, 2.0)]
COUNTER = [(30, 10.0), (20, 20.0), (10, 5.0), (0, 15.0)]


@pytest.mark.parametrize(("statistic", "points", "expected"), [
    ("last", GAUGE, 2.0), ("min", GAUGE, 1.0), ("max", GAUGE, 9.0), ("avg", GAUGE, 4.0),
    ("sum", GAUGE, 20.0), ("count", GAUGE, 5.0), ("p50", GAUGE, 3.0), ("p90", GAUGE, 7.4),
    ("increase", COUNTER, 25.0), ("rate", COUNTER, 25.0 / 30),
])
def test_each_statistic(make: Any, statistic: str, points: Any, expected: float) -> None:
    above = make(alarm(statistic=statistic, threshold=expected - 1e-6))
    at = make(alarm(statistic=statistic, threshold=expected))
    for h in (above, at):
        h.points(METRIC, NOVA, points)
        h.run()
    [record] = above.engine.current()
    assert record.state == "alarm" and record.value == pytest.approx(expected)
    assert at.states_of("a") == {KEY: "ok"}  # gt: the value itself does not breach


@pytest.mark.parametrize(("comparison", "threshold", "expected"), [
    ("gt", 2, "ok"), ("ge", 2, "alarm"), ("lt", 2.5, "alarm"), ("le", 2, "alarm"),
    ("eq", 2, "alarm"), ("ne", 2, "ok"), ("gte", 1, "alarm"), ("<", 1, "ok")])
def test_comparisons(make: Any, comparison: str, threshold: float, expected: str) -> None:
    h = make(alarm(comparison_operator=comparison, threshold=threshold))
    h.points(METRIC, NOVA, [(5, 2.0)])
    h.run()
    assert h.states_of("a") == {KEY: expected}


@pytest.mark.parametrize(("periods", "points", "expected", "reason"), [
    # three periods of 60 s, every one above 5: alarm
    (3, [(170, 9), (110, 9), (50, 9)], "alarm", "in each of 3 periods"),
    # the oldest period below: mixed, a new instance takes the latest period's state
    (3, [(170, 1), (110, 9), (50, 9)], "alarm", "in 2 of 3 periods"),
    (3, [(170, 9), (110, 9), (50, 1)], "ok", "in 2 of 3 periods"),
    # a period without data: insufficient data
    (3, [(170, 9), (50, 9)], "insufficient_data", "2 of 3 periods have data"),
    # data older than the window is not read
    (2, [(170, 9), (50, 9)], "insufficient_data", "1 of 2 periods have data"),
    (1, [(50, 9)], "alarm", "avg over 60s 9 > 5"),
])
def test_evaluation_periods_and_missing_periods(make: Any, periods: int, points: Any,
                                                 expected: str, reason: str) -> None:
    h = make(alarm(statistic="avg", threshold=5, evaluation_periods=periods))
    h.points(METRIC, NOVA, points)
    h.run()
    [record] = h.engine.current()
    assert record.state == expected and reason in record.reason


def test_mixed_periods_keep_the_state(make: Any) -> None:
    h = make(alarm(statistic="max", threshold=5, evaluation_periods=2))
    h.points(METRIC, NOVA, [(100, 9), (40, 9)])
    h.run()
    assert h.states_of("a") == {KEY: "alarm"}
    h.points(METRIC, NOVA, [(-50, 1)])  # the next period below: mixed, stays alarm
    h.run(advance=60)
    assert h.states_of("a") == {KEY: "alarm"}
    h.points(METRIC, NOVA, [(-50, 1)])  # both below: ok
    h.run(advance=60)
    assert h.states_of("a") == {KEY: "ok"}


@pytest.mark.parametrize(("policy", "expected", "severity"), [
    ("insufficient_data", "insufficient_data", ""), ("ok", "ok", ""),
    ("critical", "alarm", "critical"), ("warning", "alarm", "warning")])
def test_missing_data_policy(make: Any, policy: str, expected: str, severity: str) -> None:
    h = make(alarm(threshold=5, missing=policy))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    assert h.states_of("a") == {KEY: "alarm"}
    h.run(advance=120)  # the series stopped: no data in the period
    h.run(advance=60)  # and still none: an instance in the policy's state is forgotten
    found = {r.labels: (r.state, r.severity) for r in h.engine.current()}
    if expected == "alarm":
        assert found == {KEY: (expected, severity)}
    else:  # the instance went to the policy's state, then was forgotten
        assert found == {}
        [transition] = [t for t in h.states.alarm_history(0, h.now + 1) if t.previous ==
                        "alarm"]
        assert (transition.current, transition.reason.startswith("no data")) == (expected,
                                                                                  True)


def test_group_by_makes_one_instance_per_label_set(make: Any) -> None:
    h = make(alarm(metric="openstack_log_http_server_errors_total", statistic="increase",
                   period=300, group_by=["service"], threshold=10))
    for host in ("ctl1", "ctl2"):  # 6 + 6 on nova: 12 > 10 together
        h.points("openstack_log_http_server_errors_total", {"service": "nova", "host": host},
                 [(200, 0), (10, 6)])
        h.points("openstack_log_http_server_errors_total", {"service": "glance",
                                                            "host": host}, [(200, 0), (10, 1)])
    h.run()
    assert h.states_of("a") == {(("service", "nova"),): "alarm",
                                (("service", "glance"),): "ok"}


def test_without_group_by_each_series_is_an_instance(make: Any) -> None:
    h = make(alarm(threshold=5))
    h.points(METRIC, NOVA, [(10, 9)])
    h.points(METRIC, {"service": "glance", "region": "RegionOne"}, [(10, 1)])
    h.run()
    assert sorted(h.states_of("a").values()) == ["alarm", "ok"]


@pytest.mark.parametrize(("matchers", "fires"), [
    ({"service": "nova"}, True), ({"service": "!=nova"}, False),
    (['service=~"no.*"'], True), (['service!~"no.*"'], False), (['region="Other"'], False)])
def test_label_matchers(make: Any, matchers: Any, fires: bool) -> None:
    h = make(alarm(threshold=5, match=matchers))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    assert h.states_of("a") == ({KEY: "alarm"} if fires else {})


def test_share_of_two_metrics(make: Any) -> None:
    h = make(alarm(metric="openstack_nova_vcpus_free", divide_by="openstack_nova_vcpus_capacity",
                   group_by=["region"], aggregate="sum", comparison_operator="lt",
                   threshold=0.1))
    for host, free in (("c1", 1), ("c2", 2)):
        h.points("openstack_nova_vcpus_free", {"hostname": host, "region": "R"}, [(10, free)])
        h.points("openstack_nova_vcpus_capacity", {"hostname": host, "region": "R"},
                 [(10, 20)])
    h.run()
    [record] = h.engine.current()
    assert (record.state, record.value) == ("alarm", pytest.approx(3 / 40))


@pytest.mark.parametrize(("statuses", "expected", "severity"), [
    ((Status.OK, Status.CRITICAL), "alarm", "critical"),
    ((Status.OK, Status.WARNING), "ok", ""),
    ((Status.UNKNOWN, Status.UNKNOWN), "insufficient_data", ""),
    ((Status.OK, Status.UNKNOWN), "ok", "")])
def test_check_alarm_by_group(make: Any, statuses: Any, expected: str, severity: str) -> None:
    h = make({"name": "c", "check": "nova.service", "group_by": ["binary"]})
    for i, status in enumerate(statuses):
        h.check("nova.service", status, source=f"s{i}", binary="nova-compute", host=f"c{i}")
    h.run()
    assert [(r.state, r.severity) for r in h.engine.current()] == [(expected, severity)]


def test_check_alarm_stale_check_is_missing_data(make: Any) -> None:
    h = make({"name": "c", "check": "nova.service", "missing": "ok"}, max_age=60)
    h.check("nova.service", Status.CRITICAL, binary="nova-compute", host="c1")
    h.run()
    assert list(h.states_of("c").values()) == ["alarm"]
    h.run(advance=120)  # nobody wrote it again: older than max_age
    assert list(h.states_of("c").values()) == ["ok"]
    assert h.states.alarm_history(0, h.now + 1)[0].reason == "no data (missing data is ok)"


def test_check_alarm_needs_its_evaluation_periods_in_a_row(make: Any) -> None:
    h = make({"name": "c", "check": "nova.service", "evaluation_periods": 3})
    h.check("nova.service", Status.CRITICAL, binary="nova-compute", host="c1")
    assert [set(h.states_of("c").values()) for _ in range(3) if h.run(advance=1)] == [
        {"insufficient_data"}, {"insufficient_data"}, {"alarm"}]


@pytest.mark.parametrize(("op", "a", "b", "expected"), [
    ("and", 9, 9, "alarm"), ("and", 9, 1, "ok"), ("or", 9, 1, "alarm"), ("or", 1, 1, "ok"),
    ("and", 9, None, "insufficient_data"), ("or", 1, None, "insufficient_data")])
def test_composite(make: Any, op: str, a: float, b: float | None, expected: str) -> None:
    h = make(alarm(name="x", match={"service": "nova"}, threshold=5),
             alarm(name="y", match={"service": "glance"}, threshold=5),
             {"name": "both", "composite": {op: ["x", "y"]}})
    h.points(METRIC, NOVA, [(10, a)])
    if b is not None:
        h.points(METRIC, {"service": "glance", "region": "RegionOne"}, [(10, b)])
    h.run()
    assert h.states_of("both") == {(): expected}


def test_nested_composite(make: Any) -> None:
    h = make(alarm(name="x", match={"service": "nova"}, threshold=5),
             alarm(name="y", match={"service": "glance"}, threshold=5),
             {"name": "n", "composite": {"and": ["x", {"or": ["y", "x"]}]}})
    h.points(METRIC, NOVA, [(10, 9)])
    h.points(METRIC, {"service": "glance", "region": "RegionOne"}, [(10, 1)])
    h.run()
    assert h.states_of("n") == {(): "alarm"}


def _minute_constraint(now: float, inside: bool) -> dict[str, Any]:
    """A constraint starting at this minute (inside) or two hours ahead (outside)."""
    start = datetime.fromtimestamp(now + (0 if inside else 7200), UTC)
    return {"start": f"{start.minute} {start.hour} * * *", "duration": 600,
            "timezone": "UTC"}


@pytest.mark.parametrize("inside", [True, False])
def test_time_constraints(make: Any, inside: bool) -> None:
    now = time.time()
    h = make(alarm(threshold=5, time_constraints=[_minute_constraint(now, inside)]))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    assert h.states_of("a") == ({KEY: "alarm"} if inside else {})


def test_time_constraint_in_another_zone() -> None:
    from stackwatch.alarms.definitions import TimeConstraint

    # 09:00 to 17:00 on weekdays in Tokyo; a Wednesday 10:00 JST is 01:00 UTC
    office = TimeConstraint(start="0 9 * * 1-5", duration=8 * 3600, timezone="Asia/Tokyo")
    wednesday = datetime(2026, 12, 2, 1, 0, tzinfo=UTC).timestamp()
    assert office.active(wednesday)
    assert not office.active(wednesday + 9 * 3600)  # 19:00 in Tokyo
    assert not office.active(wednesday + 3 * 86400)  # Saturday


def test_transitions_are_kept_with_their_reason(make: Any) -> None:
    h = make(alarm(threshold=5))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    h.points(METRIC, NOVA, [(-50, 1)])
    h.run(advance=60)
    history = h.states.alarm_history(0, h.now + 1)
    assert [(t.previous, t.current) for t in history] == [("alarm", "ok"), ("new", "alarm")]
    assert history[1].reason == "last over 60s 9 > 5" and history[0].value == 1


def test_notifications_on_alarm_and_back_to_ok_only(make: Any) -> None:
    h = make(alarm(threshold=5), alarm(name="quiet", threshold=100))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    h.points(METRIC, NOVA, [(-50, 1)])
    h.run(advance=60)
    # "quiet" went new -> ok: nothing to say
    assert [(n.alarm, n.previous, n.current) for n in h.recorder.notes] == [
        ("a", "new", "alarm"), ("a", "alarm", "ok")]


def test_repeat_interval_and_acknowledgement(make: Any) -> None:
    h = make(alarm(threshold=5, repeat_interval=300))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    for _ in range(3):  # 300 s after the first notification: a repeat
        h.now += 100
        h.points(METRIC, NOVA, [(5, 9)])
        h.run()
    assert [n.repeat for n in h.recorder.notes] == [False, True]
    h.states.acknowledge(AckRecord("a", KEY, "alice", "on it", h.now))
    for _ in range(4):
        h.now += 100
        h.points(METRIC, NOVA, [(5, 9)])
        h.run()
    assert len(h.recorder.notes) == 2  # acknowledged: no more repeats
    h.now += 100
    h.points(METRIC, NOVA, [(5, 1)])
    h.run()  # ok: the acknowledgement goes with the alarm
    assert h.recorder.notes[-1].current == "ok" and h.states.acks() == []


@pytest.mark.parametrize(("matchers", "silenced"), [
    ([["alertname", "=", "a"]], True), ([["service", "=~", "no.*"]], True),
    ([["service", "=", "glance"]], False), ([["severity", "=", "critical"]], False)])
def test_silences(make: Any, matchers: Any, silenced: bool) -> None:
    h = make(alarm(threshold=5))
    h.states.add_silence(SilenceRecord(0, json.dumps(matchers), h.now - 1, h.now + 3600,
                                       "bob", "maintenance", h.now))
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    assert h.states_of("a") == {KEY: "alarm"}  # the state changes all the same
    assert len(h.recorder.notes) == (0 if silenced else 1)
    assert any(t.kind == "silence" for t in h.states.alarm_history(0, h.now + 1)) == silenced


def test_an_ended_silence_lets_notifications_through(make: Any) -> None:
    h = make(alarm(threshold=5))
    sid = h.states.add_silence(SilenceRecord(0, json.dumps([["alertname", "=", "a"]]),
                                             h.now - 1, h.now + 3600, "bob", "x", h.now))
    assert h.states.end_silence(sid, h.now)
    h.points(METRIC, NOVA, [(10, 9)])
    h.run()
    assert len(h.recorder.notes) == 1


def test_aodh_style_definition_from_the_training_notes(make: Any) -> None:
    """--statistic avg --period 600 --evaluation-periods 3 --comparison-operator gt
    --threshold 80 --alarm-action log://"""
    h = make({"name": "cpu_high", "type": "threshold", "meter_name": METRIC,
              "statistic": "avg", "period": 600, "evaluation_periods": 3,
              "comparison_operator": "gt", "threshold": 80, "alarm_actions": ["log://"],
              "ok_actions": ["log://"], "insufficient_data_actions": ["log://"]})
    h.points(METRIC, NOVA, [(1700, 85), (1100, 90), (500, 70), (400, 95)])
    h.run()
    # the latest period's mean is 82.5: every period above 80
    [record] = h.engine.current()
    assert (record.state, record.value) == ("alarm", 82.5)
    assert h.recorder.notes[-1].actions == ("log://",)
    h.points(METRIC, NOVA, [(-100, 10)])  # a later period below: mixed, stays
    h.run(advance=600)
    assert h.states_of("cpu_high") == {KEY: "alarm"}
    h.run(advance=1800)  # no data at all: insufficient data, told to its action
    assert h.recorder.notes[-1].current == "insufficient_data"
