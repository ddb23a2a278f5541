"""The default alarm over the synthetic transactions: a failed step alarms, per step,
and the next good run clears it; no synthetic runs at all is not a problem."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.alarms.evaluate import Engine
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.store.alarm_state import SQLiteAlarmStore
from stackwatch.store.sqlite import SQLiteStore

from .harness import Recorder, alarm_set

pytestmark = pytest.mark.unit

ALARM = "synthetic-step-failing"
METRIC = "stackwatch_synthetic_success"


def test_a_failed_step_alarms_and_the_next_good_run_clears_it(tmp_path: Path) -> None:
    now = [time.time()]
    store = SQLiteStore(tmp_path / "store.sqlite")
    states = SQLiteAlarmStore(tmp_path / "store.sqlite")
    defaults = alarm_set(defaults=True)
    engine = Engine(defaults, store, states, Recorder(), default_actions=("log://",),
                    clock=lambda: now[0])

    def report(**steps: float) -> dict[tuple[tuple[str, str], ...], str]:
        now[0] += 60
        store.write(Collection(samples=tuple(
            Sample(METRIC, ok, make_labels(step=step), now[0] - 1)
            for step, ok in steps.items())), "synthetic")
        engine.evaluate()
        return {r.labels: r.state for r in engine.current() if r.alarm == ALARM}

    try:
        assert report() == {}  # synthetic runs off: nothing to say
        failed = report(token=1.0, image_upload=1.0, server_boot=0.0)
        assert failed[(("step", "server_boot"),)] == "alarm", failed
        assert failed[(("step", "token"),)] == "ok", failed
        assert failed[(("step", "image_upload"),)] == "ok", failed
        assert report(token=1.0, image_upload=1.0, server_boot=1.0)[
            (("step", "server_boot"),)] == "ok"
    finally:
        states.close()
        store.close()
