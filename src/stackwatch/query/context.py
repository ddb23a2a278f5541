"""What every view reads from: the store, the catalog, the clock and the staleness limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stackwatch.catalog.loader import Catalog
from stackwatch.health.evaluate import CloudHealth, evaluate, expire
from stackwatch.model import CheckResult
from stackwatch.store.base import Store


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

    def checks(self) -> list[CheckResult]:
        """The latest checks, the stale ones UNKNOWN."""
        return expire(self.store.latest_checks(), self.now, self.max_age)

    def health(self, checks: list[CheckResult] | None = None) -> CloudHealth:
        """The cloud's health from the latest checks (or the ones given)."""
        return evaluate(self.catalog, self.checks() if checks is None else checks)
