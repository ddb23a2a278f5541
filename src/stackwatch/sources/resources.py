"""A source made of resources that are fetched, timed and fail independently.

An API or SQL source reads several things (``servers``, ``hypervisors``,
``quotas``...). Each :class:`Resource` has its own interval; one that fails
becomes an UNKNOWN ``stackwatch.resource`` check with the reason while the
others still produce. Every collection carries freshness per resource::

    stackwatch_resource_up{source, resource, region}                        1 | 0
    stackwatch_resource_last_success_timestamp_seconds{source, resource, region}
    stackwatch_resource_duration_seconds{source, resource, region}

A resource that is not due re-emits its last samples with their original
timestamps, so a stale number never looks fresh; while the source cannot look at
all (its endpoint down, bad credentials) no resource re-emits anything.

:meth:`ResourceSource.collect_until` returns at a deadline with what was read:
each resource reads in its own (daemon) thread with the deadline set for it
(:mod:`stackwatch.deadline`), so a fan-out stops taking items there; a resource
still reading at the deadline goes on in the background, is reported with a
WARNING ``stackwatch.partial`` check (and UNKNOWN while it was never read), is
not started twice, and its result is delivered by the next collection. A
resource whose result a deadline left partial is due again at the next collection.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stackwatch import deadline as deadlines
from stackwatch.errors import SourceError
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.base import PARTIAL_CHECK

log = logging.getLogger(__name__)

RESOURCE_CHECK = "stackwatch.resource"


@dataclass(frozen=True, slots=True)
class Resource:
    """One thing a source reads, at its own interval (seconds; 0 = every run)."""

    name: str
    fetch: Callable[[], Collection]
    interval: float = 0.0


@dataclass(slots=True)
class _State:
    attempted: float = 0.0
    succeeded: float = 0.0
    duration: float = 0.0
    ok: bool = False
    partial: bool = False  # the last result had parts missing: read again next time
    error: str = ""
    exc: SourceError | None = None
    last: Collection = field(default_factory=Collection)


class ResourceSource:
    """Base of the API and SQL sources: runs due resources concurrently, isolated."""

    def __init__(self, name: str, region: str = "", parallel: bool = True) -> None:
        self._name = name
        self._region = region
        self._parallel = parallel
        self._states: dict[str, _State] = {}
        self._running: dict[str, threading.Thread] = {}  # resources still reading
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def region_label(self) -> str:
        """Value of the ``region`` label on everything this source emits."""
        return self._region

    def resources(self) -> Sequence[Resource]:
        """The resources of this source; subclasses list theirs."""
        raise NotImplementedError

    def kept(self, collection: Collection) -> Collection:
        """What of a resource's collection is delivered (all of it; the API sources leave
        out the metrics a config disables)."""
        return collection

    def prepare(self) -> tuple[Collection, SourceError | None]:
        """Run once per collection before the resources.

        Raise :class:`SourceError` when nothing can be looked at (bad
        credentials, service missing from the catalog). Return what was
        observed (e.g. an endpoint check) and, when the resources cannot be
        read (the endpoint is down), the reason: they become UNKNOWN with it
        without being tried.
        """
        return Collection(), None

    def collect(self) -> Collection:
        """Fetch every due resource; failures become UNKNOWN checks, not exceptions."""
        return self.collect_until(math.inf)

    def collect_until(self, deadline: float) -> Collection:
        """:meth:`collect`, returning by ``deadline`` (monotonic) with what was read."""
        with deadlines.until(deadline):
            try:
                result, skip_reason = self.prepare()
            except SourceError:
                self._forget()
                raise
        now = time.time()
        resources = list(self.resources())
        due = [r for r in resources if self._is_due(r, now)]
        late: list[str] = []
        if skip_reason is not None:
            # every resource, due or not: a quota read ten minutes ago is not what the
            # source sees while its endpoint is down
            for resource in resources:
                self._record_failure(resource.name, now, 0.0, skip_reason)
        elif self._parallel and len(due) > 1:
            late = self._run_parallel(due, deadline)
        else:
            for index, resource in enumerate(due):
                if time.monotonic() >= deadline:
                    late += [r.name for r in due[index:]]
                    break
                with self._lock:
                    busy = resource.name in self._running  # reading since an earlier run
                if busy:
                    late.append(resource.name)
                    continue
                with deadlines.until(deadline):
                    self._run(resource)
        if skip_reason is None:
            self._raise_if_blind([r for r in resources if r.name not in late])
        for resource in resources:
            result = result + self._report(resource.name, resource.name in late)
        return result

    def _run_parallel(self, due: Sequence[Resource], deadline: float) -> list[str]:
        """Run ``due`` in threads until ``deadline``; the names of those still reading."""
        with self._lock:
            started = [r for r in due if r.name not in self._running]
            for resource in started:
                thread = threading.Thread(target=self._run_tracked, args=(resource, deadline),
                                          name=f"{self._name}:{resource.name}", daemon=True)
                self._running[resource.name] = thread
            threads = [self._running[r.name] for r in due]
        for resource in started:
            self._running[resource.name].start()
        for thread in threads:
            thread.join(None if math.isinf(deadline)
                        else max(0.0, deadline - time.monotonic()))
        with self._lock:
            return [r.name for r in due if r.name in self._running]

    def _run_tracked(self, resource: Resource, deadline: float) -> None:
        try:
            with deadlines.until(deadline):
                self._run(resource)
        finally:
            with self._lock:
                self._running.pop(resource.name, None)

    def _raise_if_blind(self, resources: Sequence[Resource]) -> None:
        """When no resource could be read, the source as a whole could not look: raise,
        so that the runner reports it UNKNOWN (and health knows it is blind)."""
        with self._lock:
            states = [self._states.get(r.name) for r in resources]
        if not states or any(state is None or state.ok for state in states):
            return
        first = next(state.exc for state in states if state is not None)
        if first is None:  # pragma: no cover - a failed state always has its exception
            return
        raise type(first)(f"no resource of {self._name} could be read "
                          f"({len(states)} tried); first: {first}")

    def _forget(self) -> None:
        """Nothing could be looked at: what was read before is no longer current, for
        :meth:`latest` (the cross-check) as for the store, and every resource is due."""
        with self._lock:
            for state in self._states.values():
                state.ok = False
                state.last = Collection()

    def latest(self) -> Collection:
        """What the resources read successfully last time (nothing of failed ones); no I/O."""
        with self._lock:
            parts = [state.last for state in self._states.values() if state.ok]
        result = Collection()
        for part in parts:
            result = result + part
        return result

    # ------------------------------------------------------------------ internals
    def _is_due(self, resource: Resource, now: float) -> bool:
        state = self._states.get(resource.name)
        if state is None or not state.ok or state.partial:
            return True
        return now - state.attempted >= resource.interval - 0.5

    def _run(self, resource: Resource) -> None:
        started = time.time()
        clock = time.monotonic()
        try:
            collection = self.kept(resource.fetch())
        except SourceError as exc:
            self._record_failure(resource.name, started, time.monotonic() - clock, exc)
            return
        except Exception as exc:  # a bug in one resource must not stop the others
            log.exception("%s %s: unexpected error", self._name, resource.name)
            self._record_failure(resource.name, started, time.monotonic() - clock,
                                 SourceError(f"internal error: {type(exc).__name__}: {exc}"))
            return
        duration = time.monotonic() - clock
        with self._lock:
            state = self._states.setdefault(resource.name, _State())
            state.attempted = started
            state.succeeded = started
            state.duration = duration
            state.ok = True
            # read again at the next collection only when the deadline cut it short: a
            # project that always answers 403 is no reason to read all quotas each minute
            state.partial = deadlines.passed() and any(
                c.name == PARTIAL_CHECK for c in collection.checks)
            state.error = ""
            state.exc = None
            state.last = collection

    def _record_failure(self, name: str, started: float, duration: float,
                        exc: SourceError) -> None:
        with self._lock:
            state = self._states.setdefault(name, _State())
            if state.ok or state.error != str(exc):
                log.warning("%s %s: %s", self._name, name, exc)
            state.attempted = started
            state.duration = duration
            state.ok = False
            state.exc = exc
            state.error = f"{type(exc).__name__}: {exc}"
            state.last = Collection()

    def _report(self, name: str, late: bool = False) -> Collection:
        with self._lock:
            state = self._states.get(name, _State())
        labels = {"source": self._name, "resource": name, "region": self.region_label}
        now = time.time()
        samples = [
            Sample.of("stackwatch_resource_up", 1.0 if state.ok else 0.0, now, **labels),
            Sample.of("stackwatch_resource_duration_seconds", state.duration, now, **labels),
        ]
        if state.succeeded:
            samples.append(Sample.of("stackwatch_resource_last_success_timestamp_seconds",
                                     state.succeeded, now, **labels))
        checks: list[CheckResult] = []
        if state.ok:
            checks.append(CheckResult(RESOURCE_CHECK, Status.OK,
                                      f"{self._name} {name}: read in {state.duration:.2f}s",
                                      make_labels(labels), timestamp=now))
        elif late and not state.error:
            checks.append(CheckResult(RESOURCE_CHECK, Status.UNKNOWN,
                                      f"{self._name} {name}: not read yet (still reading)",
                                      make_labels(labels), timestamp=now))
        else:
            checks.append(CheckResult(RESOURCE_CHECK, Status.UNKNOWN,
                                      f"{self._name} {name}: cannot look: {state.error}",
                                      make_labels(labels), timestamp=now))
        if late:
            last = "its last figures kept" if state.ok else "no figures yet"
            checks.append(CheckResult(
                PARTIAL_CHECK, Status.WARNING,
                f"{self._name} {name}: still reading at the deadline ({last}); "
                "delivered by the next run", make_labels(labels), timestamp=now))
        return state.last + Collection(tuple(samples), tuple(checks))
