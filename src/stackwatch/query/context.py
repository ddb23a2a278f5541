"""What every view reads from: the store, the catalog, the clock and the staleness limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackwatch.catalog.loader import Catalog
from stackwatch.health.evaluate import CloudHealth, evaluate, expire
from stackwatch.model import CheckResult
from stackwatch.query.models import HealthView
from stackwatch.store.base import AlarmStateStore, Store


class HealthMemo:
    """The health last judged, kept while it is asked of the very same checks: the store
    hands out the same check objects until it is written, and none stale (a stale check
    is a new object each time, its age in its message). An app keeps one for every
    request; judging a big cloud's 4,000 checks took 35-150 ms a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[Catalog, list[CheckResult], CloudHealth] | None = None
        self._view: tuple[CloudHealth, HealthView] | None = None

    def health(self, catalog: Catalog, checks: list[CheckResult]) -> CloudHealth:
        with self._lock:
            seen = self._seen
        if seen is not None and seen[0] is catalog and len(seen[1]) == len(checks) \
                and all(a is b for a, b in zip(seen[1], checks, strict=True)):
            return seen[2]
        judged = evaluate(catalog, checks)
        with self._lock:
            self._seen = (catalog, checks, judged)
        return judged

    def view(self, health: CloudHealth) -> HealthView:
        """``health`` as its view, made once (some 10,000 models on a big cloud)."""
        with self._lock:
            seen = self._view
        if seen is not None and seen[0] is health:
            return seen[1]
        view = HealthView.of(health)
        with self._lock:
            self._view = (health, view)
        return view


@dataclass(frozen=True)
class Context:
    """A store seen at one moment: ``now`` is fixed per request so a page is consistent."""

    store: Store
    catalog: Catalog
    now: float = field(default_factory=time.time)
    #: checks older than this are UNKNOWN ("stale: ..."); samples older leave /metrics
    max_age: float = float("inf")
    #: extra state a view may show (e.g. the demo's story), keyed by name
    extras: dict[str, Callable[[], object]] = field(default_factory=dict)
    #: the health judged by earlier requests (the app's), reused when the checks are
    memo: HealthMemo | None = None
    #: the alarm engine's state (acknowledgements, silences); None: no engine here
    alarm_states: AlarmStateStore | None = None

    #: what this moment's views already read: a page, its banner and its parts read the
    #: checks and judge the health once (each was read up to three times a request)
    _read: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def checks(self) -> list[CheckResult]:
        """The latest checks, the stale ones UNKNOWN."""
        if "checks" not in self._read:
            self._read["checks"] = expire(self.store.latest_checks(), self.now, self.max_age)
        return list(self._read["checks"])

    def health(self, checks: list[CheckResult] | None = None) -> CloudHealth:
        """The cloud's health from the latest checks (or the ones given)."""
        if checks is not None:
            return evaluate(self.catalog, checks)
        if "health" not in self._read:
            checks = self.checks()
            self._read["health"] = (self.memo.health(self.catalog, checks) if self.memo
                                    else evaluate(self.catalog, checks))
        found: CloudHealth = self._read["health"]
        return found

    def health_view(self) -> HealthView:
        """The cloud's health now as its view (what the API serves); shared, not to be
        changed."""
        if "view" not in self._read:
            health = self.health()
            self._read["view"] = self.memo.view(health) if self.memo else HealthView.of(health)
        found: HealthView = self._read["view"]
        return found
