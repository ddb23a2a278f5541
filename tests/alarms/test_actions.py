"""Actions against a real HTTP receiver: a webhook that answers 500 is retried with
backoff and counted; one that hangs is retried and counted and never delays evaluation
nor the other targets; the body says alarm, previous and current state, reason, labels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.alarms.actions import Dispatcher, target_of
from stackwatch.alarms.definitions import load_alarms
from stackwatch.alarms.evaluate import Engine
from stackwatch.catalog.loader import default_catalog
from stackwatch.model import Collection, Sample
from stackwatch.store.alarm_state import SQLiteAlarmStore
from stackwatch.store.sqlite import SQLiteStore

from .receiver import receiving

pytestmark = pytest.mark.integration

ALARMS = """
alarms:
  - name: nova-slow
    metric: openstack_api_endpoint_latency_seconds
    match: {service: nova}
    threshold: 1
"""


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    made = Dispatcher(attempts=4, backoff=0.2, timeout=1.0, refresh=60)
    yield made
    made.stop()


def engine(tmp_path: Path, dispatcher: Dispatcher, actions: list[str]) -> Engine:
    store = SQLiteStore(tmp_path / "s.sqlite")
    now = time.time()
    store.write(Collection(samples=(Sample.of("openstack_api_endpoint_latency_seconds", 3.0,
                                              now - 5, service="nova", region="R"),)))
    alarms = load_alarms(texts={"a.yaml": ALARMS}, defaults=False, catalog=default_catalog())
    return Engine(alarms, store, SQLiteAlarmStore(tmp_path / "s.sqlite"), dispatcher,
                  default_actions=actions)


def counts(dispatcher: Dispatcher, kind: str = "webhook") -> dict[str, int]:
    return {what: n for (what, k), n in dispatcher.counts().items() if k == kind}


def test_a_webhook_answering_500_is_retried_with_backoff_and_counted(
        tmp_path: Path, dispatcher: Dispatcher) -> None:
    with receiving([500, 500, 200]) as hook:
        engine(tmp_path, dispatcher, [hook.url]).evaluate()
        assert hook.wait_for(3)
        time.sleep(0.2)
    assert hook.answered == [500, 500, 200]
    assert counts(dispatcher) == {"queued": 1, "failures": 2, "retries": 2, "sent": 1}
    body = hook.bodies[-1]
    assert {k: body[k] for k in ("alarm", "previous", "current", "severity")} == {
        "alarm": "nova-slow", "previous": "new", "current": "alarm", "severity": "warning"}
    assert body["labels"] == {"region": "R", "service": "nova"}
    assert body["reason"] == "last over 60s 3 > 1"


def test_a_webhook_failing_every_time_is_dropped_after_its_attempts(
        tmp_path: Path, dispatcher: Dispatcher) -> None:
    with receiving([500]) as hook:
        engine(tmp_path, dispatcher, [hook.url]).evaluate()
        deadline = time.monotonic() + 20
        while counts(dispatcher).get("dropped", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert counts(dispatcher) == {"queued": 1, "failures": 4, "retries": 3, "dropped": 1}
    samples = {(s.name, s.labels): s.value for s in dispatcher.samples()}
    assert samples[("stackwatch_alarm_action_failures_total", (("action", "webhook"),))] == 4


def test_a_hanging_webhook_never_delays_evaluation_nor_other_targets(
        tmp_path: Path, dispatcher: Dispatcher) -> None:
    with receiving(["hang", 200]) as slow, receiving([200]) as fine:
        started = time.perf_counter()
        result = engine(tmp_path, dispatcher, [slow.url, fine.url, "log://"]).evaluate()
        took = time.perf_counter() - started
        assert len(result.notifications) == 1
        assert took < 0.5  # the cycle only queued
        assert fine.wait_for(1, timeout=2)  # the other target is not behind the hanging one
        assert slow.wait_for(1)  # the hanging try timed out (1 s), the retry got through
    assert counts(dispatcher)["failures"] >= 1 and counts(dispatcher)["retries"] >= 1
    assert counts(dispatcher)["sent"] == 2 and counts(dispatcher, "log")["sent"] == 1


@pytest.mark.parametrize(("url", "kind", "target"), [
    ("log://", "log", "log://"), ("https://hooks.example/x", "webhook", "https://hooks.example/x"),
    ("alertmanager+http://am:9093/", "alertmanager", "http://am:9093")])
def test_action_urls(url: str, kind: str, target: str) -> None:
    parsed = target_of(url)
    assert (parsed.kind, parsed.url) == (kind, target)
