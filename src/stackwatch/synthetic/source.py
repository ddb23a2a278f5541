"""The synthetic run as a source of the server, and its result as samples and checks.

Checks ``synthetic.<step>`` (labels ``step``, ``transaction``): OK, WARNING or CRITICAL
by the step's time against its thresholds, CRITICAL when it failed (the message says
why), UNKNOWN when it did not run (the message says which step failed before it).
``synthetic.cleanup``: WARNING when something with the prefix could not be deleted
(named), OK otherwise, saying what earlier runs had left.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stackwatch.config import SyntheticConfig, Threshold
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status, make_labels
from stackwatch.synthetic.steps import STEPS, RunResult, StepResult

SOURCE_NAME = "synthetic"


def thresholds(config: SyntheticConfig, step: str) -> Threshold:
    """The step's thresholds: the configured ones, else its defaults."""
    spec = STEPS[step]
    return config.thresholds.get(step) or Threshold(warning=spec.warning,
                                                    critical=spec.critical)


def step_check(config: SyntheticConfig, result: StepResult, when: float) -> CheckResult:
    """The check of one step."""
    limits = thresholds(config, result.step)
    labels = make_labels(step=result.step, transaction=result.transaction)
    name = f"synthetic.{result.step}"
    if result.ok is None:
        return CheckResult(name, Status.UNKNOWN, f"{result.step} {result.message}", labels,
                           timestamp=when)
    perf = (PerfDatum(result.step, round(result.seconds, 3), "s", limits.warning,
                      limits.critical, 0),)
    if result.ok is False:
        return CheckResult(name, Status.CRITICAL,
                           f"{result.step} failed after {result.seconds:.1f}s: "
                           f"{result.message}", labels, perf, when)
    status = (Status.CRITICAL if result.seconds >= limits.critical else Status.WARNING
              if result.seconds >= limits.warning else Status.OK)
    over = "" if status is Status.OK else (
        f" (at or above {limits.critical if status is Status.CRITICAL else limits.warning:g}s)")
    return CheckResult(name, status, f"{result.message}{over}", labels, perf, when)


def cleanup_check(result: RunResult, when: float) -> CheckResult:
    """Whether anything named with the prefix is left in the project."""
    earlier = (f"; deleted {len(result.earlier)} left by earlier runs: "
               f"{', '.join(result.earlier[:5])}" if result.earlier else "")
    if result.left:
        return CheckResult("synthetic.cleanup", Status.WARNING,
                           f"{len(result.left)} left behind: {'; '.join(result.left[:5])}"
                           + earlier, make_labels(step="cleanup"), timestamp=when)
    return CheckResult("synthetic.cleanup", Status.OK, "nothing left behind" + earlier,
                       make_labels(step="cleanup"), timestamp=when)


def to_collection(config: SyntheticConfig, result: RunResult) -> Collection:
    """Samples and checks of one run."""
    when = time.time()
    samples = [Sample.of("stackwatch_synthetic_run_seconds", result.seconds, when),
               Sample.of("stackwatch_synthetic_leftovers_deleted", len(result.earlier), when),
               Sample.of("stackwatch_synthetic_left_behind", len(result.left), when),
               Sample.of("stackwatch_synthetic_last_run_timestamp_seconds", result.started,
                         when)]
    checks = [step_check(config, step, when) for step in result.steps]
    for step in result.steps:
        if step.ok is None:
            continue
        samples.append(Sample.of("stackwatch_synthetic_step_seconds", step.seconds, when,
                                 step=step.step))
        samples.append(Sample.of("stackwatch_synthetic_success", 1 if step.ok else 0, when,
                                 step=step.step))
    if any(step.step == "token" and step.ok for step in result.steps):
        checks.append(cleanup_check(result, when))
    return Collection(samples=tuple(samples), checks=tuple(checks))


class SyntheticSource:
    """Runs the synthetic transactions every ``synthetic.interval`` seconds, and at each
    collection in between reports the last run's result again, stamped now.

    The server judges every check against one staleness limit (three times the longest
    source interval): a source collected every 15 minutes would stretch it for all, or
    see its own checks stale between runs. So the source is collected at the usual
    interval (``intervals.synthetic``, 60 s) and a run happens when one is due; what it
    says stays the latest word until the next run (as an exporter's gauges do), and
    ``stackwatch_synthetic_last_run_timestamp_seconds`` says when that was.
    """

    name = SOURCE_NAME

    def __init__(self, config: SyntheticConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._last: RunResult | None = None
        self._due = 0.0

    def collect(self) -> Collection:
        from stackwatch.synthetic.run import run_synthetic

        if self._last is None or self.clock() >= self._due:
            self._due = self.clock() + self.config.interval
            self._last = run_synthetic(self.config)
        return to_collection(self.config, self._last)
