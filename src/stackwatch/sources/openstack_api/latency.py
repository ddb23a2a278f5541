"""``api.latency``: is an API slow? Judged over several collections, apart from "down".

The endpoint check (``api.endpoint``) says whether the service answered its
version document correctly; how long it took is judged here, on the median of
the last ``samples`` latencies once ``min_samples`` are there, so one slow
request (the first one with a new token, which the service validates with
keystone) is not a verdict. The check names the service (``service``,
``region``) but no ``service_type`` or ``host``: it is about no member, so
health lists it among the other checks and it never makes a member down.
Before ``min_samples`` collections there is no ``api.latency`` check (a one-shot
``collect`` or ``status`` does not judge slowness).
"""

from __future__ import annotations

import statistics
from collections import deque

from stackwatch.config import LatencyConfig
from stackwatch.model import CheckResult, PerfDatum, Status, make_labels

LATENCY_CHECK = "api.latency"


class LatencyJudge:
    """The latencies of one API's last collections and their verdict."""

    def __init__(self, service_type: str, codename: str, config: LatencyConfig) -> None:
        self.codename = codename
        self.warning, self.critical = config.thresholds(service_type)
        self.min_samples = config.min_samples
        self._seen: deque[float] = deque(maxlen=config.samples)

    def add(self, latency: float, region: str) -> CheckResult | None:
        """Record one collection's latency (seconds); the check, once there are enough."""
        self._seen.append(latency)
        if len(self._seen) < self.min_samples:
            return None
        median = statistics.median(self._seen)
        status = Status.OK
        if median >= self.critical:
            status = Status.CRITICAL
        elif median >= self.warning:
            status = Status.WARNING
        slowest = max(self._seen)
        verdict = {Status.OK: "answers in time", Status.WARNING: "slow",
                   Status.CRITICAL: "very slow"}[status]
        return CheckResult(
            LATENCY_CHECK, status,
            f"{self.codename} API {verdict}: median {median * 1000:.0f} ms over the last "
            f"{len(self._seen)} collections (slowest {slowest * 1000:.0f} ms; warning at "
            f"{self.warning:g} s, critical at {self.critical:g} s)",
            make_labels(service=self.codename, region=region),
            (PerfDatum("latency_median", round(median, 4), "s", self.warning,
                       self.critical, 0),))
