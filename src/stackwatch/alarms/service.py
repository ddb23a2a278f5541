"""The alarm engine inside ``stackwatch server``: a thread that evaluates after runs.

The runner's thread calls :meth:`AlarmService.collected` after writing each run: that
only sets a flag, so collection never waits for evaluation. The service's thread then
evaluates every alarm (runs written meanwhile coalesce into one cycle), hands what to
notify to the :class:`~stackwatch.alarms.actions.Dispatcher` (its own threads), and
writes its own metrics to the store under the source ``stackwatch.alarms``: the action
counters, the cycle's duration, instances by state, and ``stackwatch_check_status`` (each
latest check's status, which the exported Prometheus rules read).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from stackwatch.alarms.actions import Dispatcher
from stackwatch.alarms.definitions import AlarmSet, load_alarms
from stackwatch.alarms.evaluate import CycleResult, Engine, State
from stackwatch.catalog.loader import Catalog
from stackwatch.config import AlarmsConfig, StoreConfig
from stackwatch.errors import StackwatchError
from stackwatch.model import Collection, Sample
from stackwatch.store.base import Store
from stackwatch.store.opening import open_alarm_store

log = logging.getLogger(__name__)

SOURCE = "stackwatch.alarms"


def load_configured(config: AlarmsConfig, catalog: Catalog) -> AlarmSet:
    """The defaults and the operator's file; each bad alarm logged, the rest kept."""
    alarms = load_alarms([config.file] if config.file else [], catalog=catalog)
    for problem in alarms.problems:
        log.error("alarm not loaded: %s", problem)
    return alarms


def check_status_samples(store: Store, now: float, max_age: float) -> list[Sample]:
    """``stackwatch_check_status{check=...}`` of each fresh latest check."""
    return [Sample("stackwatch_check_status", float(c.status.value),
                   tuple(sorted({**dict(c.labels), "check": c.name}.items())), now)
            for c in store.latest_checks() if now - c.timestamp <= max_age]


class AlarmService:
    """Evaluates the alarms after collections, on its own thread."""

    def __init__(self, config: AlarmsConfig, store_config: StoreConfig, store: Store,
                 catalog: Catalog, *, max_age: float, min_gap: float = 1.0) -> None:
        self.alarms = load_configured(config, catalog)
        self.states = open_alarm_store(store_config)
        self.dispatcher = Dispatcher(attempts=config.attempts, backoff=config.backoff,
                                     timeout=config.timeout, refresh=config.refresh)
        self.engine = Engine(self.alarms, store, self.states, self.dispatcher,
                             default_actions=config.actions, max_age=max_age)
        self.store = store
        self.max_age = max_age
        self.min_gap = min_gap
        self.cycles = 0
        self.last: CycleResult | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="stackwatch-alarms",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def collected(self) -> None:
        """A run was written: evaluate soon (never blocks)."""
        self._wake.set()

    def wait_for_cycles(self, count: int, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self.cycles >= count, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            try:
                self.cycle()
            except StackwatchError as exc:  # the store failed: try again next run
                log.warning("alarm evaluation failed: %s", exc)
            self._stop.wait(self.min_gap)

    def cycle(self, now: float | None = None) -> CycleResult:
        """One evaluation and the engine's metrics written."""
        now = time.time() if now is None else now
        result = self.engine.evaluate(now)
        states = Counter(r.state for r in self.engine.current())
        firing = Counter((r.alarm, r.severity) for r in self.engine.current()
                         if r.state == State.ALARM)
        samples = [*self.dispatcher.samples(now),
                   Sample.of("stackwatch_alarm_evaluation_duration_seconds", result.seconds,
                             now),
                   *(Sample.of("stackwatch_alarm_instances", states.get(s.value, 0), now,
                               state=s.value) for s in State),
                   *(Sample.of("stackwatch_alarm_firing", n, now, alertname=a, severity=sev)
                     for (a, sev), n in sorted(firing.items())),
                   *check_status_samples(self.store, now, self.max_age)]
        self.store.write(Collection(samples=tuple(samples)), SOURCE)
        for transition in result.transitions:
            log.info("alarm %s %s: %s -> %s (%s)", transition.alarm,
                     ",".join(f"{k}={v}" for k, v in transition.labels), transition.previous,
                     transition.current, transition.reason)
        with self._done:
            self.cycles += 1
            self.last = result
            self._done.notify_all()
        return result

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(30)
        self.dispatcher.stop()

    def close(self) -> None:
        """Release the state store (after :meth:`stop`)."""
        self.states.close()
