"""Runs sources, each isolated in its own thread with a timeout, and adds freshness.

Whatever a source does — answer, raise a :class:`~stackwatch.errors.SourceError`,
raise anything else, or hang — the runner returns a :class:`Run` for it:

* its collection plus a ``stackwatch_source`` check (OK, or UNKNOWN naming the
  source and the reason) and the freshness samples of ``catalog/metrics/self.yaml``
  (``stackwatch_source_up``, ``..._last_success_timestamp_seconds``,
  ``..._duration_seconds``, ``..._errors_total``, ``stackwatch_source_samples`` and,
  given a catalog, ``stackwatch_source_undeclared_samples`` — samples of metrics no
  catalog file declares, each such name logged once);
* every series once (:mod:`stackwatch.series`): a sample of a series that another
  source's latest run holds, or that came earlier in the same run, is left out and
  counted in ``stackwatch_source_duplicate_series``; the source's check is then
  WARNING naming the first one;
* at most :data:`~stackwatch.items.MAX_PER_KIND` items of each kind per run
  (:mod:`stackwatch.items`), those left out counted in
  ``stackwatch_source_items_left_out``;
* per-resource freshness is the sources' own business
  (:mod:`stackwatch.sources.resources` emits ``stackwatch_resource_*``).

A ``SourceError`` is logged once per change of reason; any other exception is
logged once with its traceback. A hung source cannot be killed (Python threads
cannot); its thread is a daemon, its run is reported timed out, and it is not
started again until the hung call returns.

A source with ``collect_until`` (:class:`~stackwatch.sources.base.DeadlineSource`)
is given a deadline a share :data:`MARGIN` of its timeout (at most
:data:`MARGIN_MAX_S`) before it, and returns by then with what it has read. A run
whose collection has :data:`~stackwatch.sources.base.PARTIAL_CHECK` checks is
*partial*: its figures are published, ``stackwatch_source_partial`` is 1 and the
``stackwatch_source`` check is WARNING, naming the parts that are missing.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from stackwatch import heap
from stackwatch.catalog.loader import Catalog
from stackwatch.errors import SourceError
from stackwatch.items import MAX_PER_KIND, ItemCap
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.redact import redact
from stackwatch.series import SeriesGuard
from stackwatch.sources.base import PARTIAL_CHECK, Source

log = logging.getLogger(__name__)

SOURCE_CHECK = "stackwatch_source"
MARGIN = 0.1
"""Share of a timeout (at most :data:`MARGIN_MAX_S`) kept to hand over a partial run."""
MARGIN_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class Run:
    """The outcome of one run of one source, freshness included."""

    source: str
    collection: Collection
    ok: bool
    duration: float
    reason: str = ""
    partial: bool = False


@dataclass
class _Freshness:
    """Per-source state kept across runs."""

    last_success: float = 0.0
    errors: int = 0


@dataclass
class _Pending:
    source: Source
    thread: threading.Thread
    started: float
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    collection: Collection | None = None
    error: BaseException | None = None
    finished: float = 0.0


class Runner:
    """Runs sources with timeouts and keeps their freshness state across runs."""

    def __init__(
        self,
        sources: Sequence[Source],
        timeout: Callable[[str], float] | float = 60.0,
        clock: Callable[[], float] = time.time,
        catalog: Catalog | None = None,
        max_items: int = MAX_PER_KIND,
    ) -> None:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        self.sources = tuple(sources)
        self._timeout = timeout if callable(timeout) else (lambda _name, t=timeout: t)
        self._clock = clock
        self._catalog = catalog
        self._undeclared_seen: set[tuple[str, str]] = set()
        self._nan_seen: set[tuple[str, str]] = set()  # (source, metric) logged as NaN
        self._fresh: dict[str, _Freshness] = {}
        self._last_reason: dict[str, str] = {}
        self._hung: dict[str, _Pending] = {}
        self._partial: set[str] = set()  # sources whose last run was partial (logged once)
        self._lock = threading.Lock()
        self._series = SeriesGuard()
        self._items = ItemCap(max_items)

    # ----------------------------------------------------------------- running
    def start(self, source: Source, on_done: Callable[[], None] | None = None) -> _Pending:
        """Start one run of ``source`` in a daemon thread (``on_done`` called as it ends)."""
        now = time.monotonic()
        timeout = self._timeout(source.name)
        pending = _Pending(source, threading.Thread(), now, now + timeout)
        collect_until = getattr(source, "collect_until", None)
        soft_deadline = pending.deadline - min(MARGIN * timeout, MARGIN_MAX_S)

        def work() -> None:
            try:
                if callable(collect_until):
                    pending.collection = collect_until(soft_deadline)
                else:
                    pending.collection = source.collect()
            except BaseException as exc:  # reported by finish() as UNKNOWN
                pending.error = exc
            finally:
                pending.finished = time.monotonic()
                pending.done.set()
                if on_done is not None:
                    on_done()

        pending.thread = threading.Thread(target=work, name=f"source:{source.name}", daemon=True)
        pending.thread.start()
        return pending

    def busy(self, name: str) -> bool:
        """True while a timed-out run of ``name`` is still hung in its thread."""
        pending = self._hung.get(name)
        if pending is not None and pending.done.is_set():
            del self._hung[name]
            return False
        return pending is not None

    def finish(self, pending: _Pending) -> Run:
        """Wait for a started run up to its deadline and turn the outcome into a :class:`Run`."""
        name = pending.source.name
        if not pending.done.wait(max(0.0, pending.deadline - time.monotonic())):
            duration = time.monotonic() - pending.started
            self._hung[name] = pending
            timeout = pending.deadline - pending.started
            return self._failed(name, duration, f"timed out after {timeout:g} s")
        duration = pending.finished - pending.started
        if pending.error is not None:
            return self._failed(name, duration, self._reason(name, pending.error))
        collection = pending.collection
        if not isinstance(collection, Collection):
            reason = f"collect() returned {type(collection).__name__}, not a Collection"
            log.error("source %s: %s", name, reason)
            return self._failed(name, duration, reason)
        self._last_reason.pop(name, None)
        return self._succeeded(name, duration, collection)

    def skipped(self, name: str) -> Run:
        """The run of a source whose previous run is still hung."""
        return self._failed(name, 0.0, "previous run still hung past its timeout; not started")

    def run_once(self, sources: Iterable[Source] | None = None) -> list[Run]:
        """Run the sources concurrently, each within its timeout; one Run per source.

        A source with an ``after`` attribute (names of sources whose results it reads,
        e.g. the API/SQL cross-check) starts once those have finished, in a later wave.
        """
        chosen = list(self.sources if sources is None else sources)
        runs: dict[str, Run] = {}
        waiting = chosen
        while waiting:
            names = {s.name for s in waiting}
            wave = [s for s in waiting if not names.intersection(getattr(s, "after", ()))]
            wave = wave or waiting  # a cycle: run the rest together rather than never
            started: list[_Pending | str] = [
                s.name if self.busy(s.name) else self.start(s) for s in wave]
            for pending in started:
                run = self.skipped(pending) if isinstance(pending, str) else self.finish(pending)
                runs[run.source] = run
            waiting = [s for s in waiting if s.name not in runs]
        return [runs[s.name] for s in chosen]

    # -------------------------------------------------------------- reporting
    def _reason(self, name: str, error: BaseException) -> str:
        # redacted: a library's message may carry a database or bus URL with its password
        if isinstance(error, SourceError):
            reason = redact(f"{type(error).__name__}: {error}")
            if self._last_reason.get(name) != reason:
                log.warning("source %s: %s", name, reason)
        else:
            reason = redact(f"unexpected {type(error).__name__}: {error}")
            if self._last_reason.get(name) != reason:
                trace = "".join(traceback.format_exception(error))
                log.error("source %s failed unexpectedly:\n%s", name, redact(trace).rstrip())
        self._last_reason[name] = reason
        return reason

    def _state(self, name: str) -> _Freshness:
        with self._lock:
            return self._fresh.setdefault(name, _Freshness())

    def _freshness(self, name: str, ok: bool, duration: float, now: float) -> list[Sample]:
        state = self._state(name)
        if ok:
            state.last_success = now
        else:
            state.errors += 1
        labels = make_labels(source=name)
        return [
            Sample("stackwatch_source_up", 1.0 if ok else 0.0, labels, now),
            Sample("stackwatch_source_last_success_timestamp_seconds", state.last_success,
                   labels, now),
            Sample("stackwatch_source_errors_total", float(state.errors), labels, now),
            Sample("stackwatch_source_duration_seconds", duration, labels, now),
        ]

    def _failed(self, name: str, duration: float, reason: str) -> Run:
        now = self._clock()
        self._series.release(name)
        check = CheckResult(SOURCE_CHECK, Status.UNKNOWN, f"{name}: {reason}",
                            make_labels(source=name), timestamp=now)
        samples = self._freshness(name, False, duration, now)
        return Run(name, Collection(tuple(samples), (check,)), False, duration, reason)

    def _undeclared(self, name: str, collection: Collection) -> int:
        """Samples whose metric the catalog does not declare; each name logged once."""
        assert self._catalog is not None
        count = 0
        for sample in collection.samples:
            if self._catalog.metric_for_sample(sample.name) is None:
                count += 1
                if (name, sample.name) not in self._undeclared_seen:
                    self._undeclared_seen.add((name, sample.name))
                    log.warning("source %s emits %s, which no catalog/metrics/*.yaml declares",
                                name, sample.name)
        return count

    def _succeeded(self, name: str, duration: float, collection: Collection) -> Run:
        now = self._clock()
        collection = scrubbed(collection)
        not_numbers = [s for s in collection.samples if s.value != s.value]  # NaN is not itself
        numbers = ([s for s in collection.samples if s.value == s.value] if not_numbers
                   else collection.samples)  # one pass when all are numbers, as they should
        samples, duplicates = self._series.admit(name, numbers)
        items, left_out = self._items.admit(name, collection.items)
        if duplicates or not_numbers or len(items) != len(collection.items):
            collection = Collection(samples, collection.checks, collection.events, items)
        extra = self._freshness(name, True, duration, now)
        extra.append(Sample("stackwatch_source_duplicate_series", float(len(duplicates)),
                            make_labels(source=name), now))
        extra.append(Sample("stackwatch_source_not_a_number_samples", float(len(not_numbers)),
                            make_labels(source=name), now))
        extra.append(Sample("stackwatch_source_samples", float(len(collection.samples)),
                            make_labels(source=name), now))
        extra.append(Sample("stackwatch_source_items_left_out", float(sum(left_out.values())),
                            make_labels(source=name), now))
        if self._catalog is not None:
            extra.append(Sample("stackwatch_source_undeclared_samples",
                                float(self._undeclared(name, collection)),
                                make_labels(source=name), now))
        missing = [c.message for c in collection.checks if c.name == PARTIAL_CHECK]
        extra.append(Sample("stackwatch_source_partial", 1.0 if missing else 0.0,
                            make_labels(source=name), now))
        message = (f"{name}: {len(collection.samples)} samples, {len(collection.checks)} checks,"
                   f" {len(collection.events)} events in {duration:.2f} s")
        unknown = sum(1 for c in collection.checks if c.status == Status.UNKNOWN)
        if unknown:
            message += f" ({unknown} checks UNKNOWN)"
        if left_out:
            # the counts are whole (samples); only the lists of named items are cut
            message += "; items left out for the cap: " + ", ".join(
                f"{n} {kind}" for kind, n in sorted(left_out.items()))
        status = Status.OK
        if duplicates:
            status = Status.WARNING
            message += f"; {len(duplicates)} duplicate series left out, first {duplicates[0]}"
        if not_numbers:  # a source bug: a store keeps numbers, /metrics would say NaN
            status = Status.WARNING
            first = not_numbers[0]
            message += (f"; {len(not_numbers)} samples with no number (NaN) left out, first "
                        f"{first.name}{dict(first.labels)}")
            if (name, first.name) not in self._nan_seen:
                self._nan_seen.add((name, first.name))
                log.warning("source %s emits NaN for %s: left out (counted in "
                            "stackwatch_source_not_a_number_samples)", name, first.name)
        if missing:
            status = Status.WARNING
            message += "; partial, missing: " + "; ".join(missing)
            if name not in self._partial:
                self._partial.add(name)
                log.warning("source %s: partial run: %s", name, "; ".join(missing))
        else:
            self._partial.discard(name)
        check = CheckResult(SOURCE_CHECK, status, message, make_labels(source=name),
                            timestamp=now)
        merged = collection + Collection(tuple(extra), (check,))
        return Run(name, merged, True, duration, partial=bool(missing))


def scrubbed(collection: Collection) -> Collection:
    """The collection with URL passwords masked in check, event and item messages (a log
    line, a driver's error or a server's fault may quote a database or bus URL whole)."""
    if not any("://" in c.message for c in collection.checks) and not any(
            "://" in e.message for e in collection.events) and not any(
            "://" in i.message for i in collection.items):
        return collection
    checks = tuple(replace(c, message=redact(c.message)) if "://" in c.message else c
                   for c in collection.checks)
    events = tuple(replace(e, message=redact(e.message)) if "://" in e.message else e
                   for e in collection.events)
    items = tuple(replace(i, message=redact(i.message)) if "://" in i.message else i
                  for i in collection.items)
    return Collection(collection.samples, checks, events, items)


def collect_once(
    sources: Sequence[Source],
    timeout: Callable[[str], float] | float = 60.0,
    catalog: Catalog | None = None,
) -> list[Run]:
    """Run every source once, concurrently, each within its timeout."""
    return Runner(sources, timeout, catalog=catalog).run_once()


class Loop:
    """Runs each source at its own interval until stopped; hands each Run to ``sink``.

    The sink (e.g. a store write) is called from the loop's thread only, so a
    single-writer store needs no more locking. Between turns the loop sleeps until the
    next run is due or a run's deadline comes, at most ``tick`` seconds; a run's end,
    :meth:`stop` and :meth:`request_run` wake it (an idle agent does not poll).
    """

    def __init__(
        self,
        runner: Runner,
        interval: Callable[[str], float],
        sink: Callable[[Run], None],
        tick: float = 5.0,
    ) -> None:
        self.runner = runner
        self._interval = interval
        self._sink = sink
        self._tick = tick
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop(), request_run() and a run's end
        self._requested: set[str] = set()
        self._requested_lock = threading.Lock()
        self._running: dict[str, _Pending] = {}

    @property
    def in_flight(self) -> int:
        """Runs started and not handed over yet (read from any thread)."""
        return len(self._running)

    def stop(self) -> None:
        """Ask the loop to return after the current tick."""
        self._stop.set()
        self._wake.set()

    def request_run(self, name: str) -> bool:
        """Ask for a run of source ``name`` now (thread-safe); False for an unknown name.

        A source already running runs again once that run is handed over: it may have
        read before whatever made someone ask.
        """
        if name not in {s.name for s in self.runner.sources}:
            return False
        with self._requested_lock:
            self._requested.add(name)
        self._wake.set()
        return True

    def run(self, max_runs: int | None = None) -> int:
        """Run until :meth:`stop` (or ``max_runs`` runs in all); return how many ran."""
        due = {s.name: time.monotonic() for s in self.runner.sources}
        # a source reading others' results (``after``, the API/SQL cross-check) waits for
        # their first run; later it reads their latest (one still running is not waited
        # for: a source slower than its interval would starve the reader)
        names = set(due)
        reads = {s.name: names.intersection(getattr(s, "after", ())) for s in self.runner.sources}
        finished: set[str] = set()
        running = self._running
        done = 0
        while not self._stop.is_set() and (max_runs is None or done < max_runs):
            self._wake.clear()  # before taking the requests: a later one wakes the wait
            now = time.monotonic()
            with self._requested_lock:
                for name in self._requested:
                    due[name] = min(due[name], now)
                self._requested.clear()
            for source in self.runner.sources:
                if source.name in running or due[source.name] > now:
                    continue
                if not reads[source.name] <= finished:
                    continue
                due[source.name] = now + self._interval(source.name)
                if self.runner.busy(source.name):
                    done += self._deliver(self.runner.skipped(source.name))
                else:
                    running[source.name] = self.runner.start(source, self._wake.set)
            for name, pending in list(running.items()):
                if pending.done.is_set() or time.monotonic() >= pending.deadline:
                    del running[name]
                    finished.add(name)
                    done += self._deliver(self.runner.finish(pending))
            # what comes next: a source due (one waiting for others' first run is woken by
            # their end), a run's deadline
            now = time.monotonic()
            times = [due[s.name] for s in self.runner.sources
                     if s.name not in running and reads[s.name] <= finished]
            times += [pending.deadline for pending in running.values()]
            self._wake.wait(max(0.0, min([now + self._tick, *times]) - now))
        return done

    def _deliver(self, run: Run) -> int:
        try:
            self._sink(run)
        except Exception:
            # The sink (store) failing must not stop collection; it is logged each time.
            log.exception("could not hand over the run of %s", run.source)
        heap.settle()  # what the run left (its items, kept for the next) leaves the GC's passes
        return 1
