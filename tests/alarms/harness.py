"""A real SQLite store and alarm tables, an engine over them, and what it notified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackwatch.alarms.definitions import AlarmSet, load_alarms
from stackwatch.alarms.evaluate import CycleResult, Engine, Notification
from stackwatch.catalog.loader import default_catalog
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.alarm_state import SQLiteAlarmStore
from stackwatch.store.sqlite import SQLiteStore


@dataclass
class Recorder:
    """A dispatcher that keeps what it is given (the engine's side of the contract)."""

    notes: list[Notification] = field(default_factory=list)

    def submit(self, notifications: Sequence[Notification]) -> None:
        self.notes.extend(notifications)


def alarm_set(*alarms: Mapping[str, Any], defaults: bool = False) -> AlarmSet:
    text = yaml.safe_dump({"alarms": [dict(a) for a in alarms]})
    loaded = load_alarms(texts={"test.yaml": text}, defaults=defaults,
                         catalog=default_catalog())
    assert loaded.problems == (), loaded.problems
    return loaded


class Harness:
    def __init__(self, directory: Path, *alarms: Mapping[str, Any], now: float,
                 actions: Sequence[str] = ("log://",), max_age: float = 600.0) -> None:
        self.now = now
        self.store = SQLiteStore(directory / "store.sqlite")
        self.states = SQLiteAlarmStore(directory / "store.sqlite")
        self.recorder = Recorder()
        self.engine = Engine(alarm_set(*alarms), self.store, self.states, self.recorder,
                             default_actions=actions, max_age=max_age, clock=lambda: self.now)

    def points(self, name: str, labels: Mapping[str, str],
               points: Sequence[tuple[float, float]]) -> None:
        """Samples ``age`` seconds before now."""
        self.store.write(Collection(samples=tuple(
            Sample(name, value, make_labels(labels), self.now - age) for age, value in points)))

    def check(self, name: str, status: Status, age: float = 1.0, source: str = "src",
              **labels: str) -> None:
        self.store.write(Collection(checks=(CheckResult(
            name, status, f"{name} {status.name}", make_labels(labels),
            timestamp=self.now - age),)),
            source)

    def run(self, advance: float = 0.0) -> CycleResult:
        self.now += advance
        return self.engine.evaluate()

    def states_of(self, alarm: str) -> dict[tuple[tuple[str, str], ...], str]:
        return {r.labels: r.state for r in self.engine.current() if r.alarm == alarm}

    def close(self) -> None:
        self.states.close()
        self.store.close()
