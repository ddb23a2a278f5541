"""The log source: ``logs.<service>`` tails a service's files and reports what they say.

Each :meth:`LogsSource.collect` reads what was appended since the last one (see
:mod:`.tail` for rotation), parses it (:mod:`stackwatch.logparse`), adds the counts
to cumulative counters, writes indexed records to the request index, saves one
checkpoint holding both the offsets and the counters (so that a restart neither
loses nor repeats a line), and returns samples, the brute-force check and ERROR
records as events.

:meth:`LogsSource.collect_until` stops reading at a deadline (between two chunks),
keeps its place in the files and delivers what it read with a WARNING
``stackwatch.partial`` check naming the files not read to their end; the next
collection goes on from there.
"""

from __future__ import annotations

import gc
import logging
import math
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from stackwatch import deadline as deadlines
from stackwatch.errors import SourceError, StoreError
from stackwatch.logparse.engine import (
    NOTABLE_LEVELS,
    FileParser,
    IndexRow,
    LogFormat,
    detect_format,
)
from stackwatch.logparse.tally import Tally
from stackwatch.logparse.urls import TemplateCache
from stackwatch.model import (
    CheckResult,
    Collection,
    Event,
    Sample,
    Severity,
    Status,
    make_labels,
)
from stackwatch.sources.base import PARTIAL_CHECK
from stackwatch.sources.logs import metrics
from stackwatch.sources.logs.bruteforce import BruteForceDetector
from stackwatch.sources.logs.checkpoint import load_checkpoint, save_checkpoint
from stackwatch.sources.logs.globs import expand
from stackwatch.sources.logs.tail import Stream, TailGroup, _read_head

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
EVENT_LIMIT = 200
PRUNE_EVERY = 600.0
"""Seconds between two prunings of the request index (records older than retention)."""
CHUNK = 1 << 20
"""Bytes read and parsed at once: the deadline is looked at between two chunks (a 4 MB
chunk took 15 s on a loaded machine), still well above the parser's batch size."""
REQUEST_FORMATS = frozenset({LogFormat.ACCESS, LogFormat.UWSGI,
                             LogFormat.SWIFT_PROXY})
AUTH_SERVICES = frozenset({"keystone", "identity", "haproxy"})


class RecordSink(Protocol):
    """Where indexed records go (:class:`stackwatch.store.request_index.RequestIndex`)."""

    def add(self, service: str, host: str, stream: int, rows: Sequence[IndexRow]) -> int:
        """Store rows idempotently (same stream and offset = same record)."""
        ...

    def prune(self, older_than: float) -> int:
        """Forget records older than a timestamp."""
        ...

    def build_indexes(self) -> None:
        """Build the secondary indexes a load into an empty table deferred (no-op after)."""
        ...


class LogsSource:
    """Tails the log files of one service."""

    def __init__(
        self,
        service: str,
        root: Path,
        patterns: Sequence[str],
        checkpoint: Path | None = None,
        host: str | None = None,
        index: RecordSink | None = None,
        start: str = "beginning",
        bruteforce_window: float = 300.0,
        bruteforce_threshold: int = 20,
        retention: float | None = None,
        compiled: bool = True,
        hosts: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.compiled = compiled
        self.root = root
        self.patterns = tuple(patterns)
        self.checkpoint = checkpoint
        self.host = host or socket.gethostname()
        # deepest directory first: logs/ctl1/nova before logs/ctl1
        self.hosts = sorted(((Path(d).parts, h) for d, h in (hosts or {}).items()),
                            key=lambda item: -len(item[0]))
        self.index = index
        self.index_errors = 0  # index writes that failed (their rows are not in trace)
        self._index_reasons: set[str] = set()
        self.start = start
        self.total = Tally()
        self.detector = BruteForceDetector(bruteforce_window, bruteforce_threshold)
        self.templates = TemplateCache()
        self._groups: dict[Path, TailGroup] = {}
        self._parsers: dict[Path, FileParser] = {}
        self._unsniffed: set[Path] = set()
        self._saved_groups: dict[str, Any] = {}
        self._loaded = False
        self.retention = retention
        self._pruned_at = 0.0

    @property
    def name(self) -> str:
        return f"logs.{self.service}"

    def host_of(self, path: Path) -> str:
        """The node a file's records come from: its directory's in ``hosts``, else ``host``."""
        try:
            parts = path.relative_to(self.root).parts[:-1]
        except ValueError:
            return self.host
        for directory, host in self.hosts:
            if parts[:len(directory)] == directory:
                return host
        return self.host

    def _load(self) -> None:
        self._loaded = True
        if self.checkpoint is None:
            return
        try:
            data = load_checkpoint(self.checkpoint)
            if data is None or data.get("version") != CHECKPOINT_VERSION:
                return
            total = Tally.from_json(data.get("tally", {}))
            failures = [(float(r[0]), str(r[1])) for r in data.get("bruteforce", [])]
            saved = dict(data.get("files", {}))
            for entry in saved.values():  # the shape TailGroup.from_json reads
                [Stream.from_json(row) for row in entry.get("streams", [])]
        except (SourceError, TypeError, ValueError, IndexError, KeyError,
                AttributeError) as exc:
            # Kept aside for a look; counting starts again (counters reset, which rate()
            # and increase() handle), rather than this source staying blind.
            aside = self.checkpoint.with_name(f"{self.checkpoint.name}.corrupt-{int(time.time())}")
            self.checkpoint.replace(aside)
            log.error("%s: unusable checkpoint moved to %s, starting again: %s",
                      self.name, aside, exc)
            return
        self.total = total
        self.detector.add(failures)
        self._saved_groups = saved

    def _save(self) -> None:
        if self.checkpoint is None:
            return
        files = dict(self._saved_groups)
        files.update({str(p): g.to_json() for p, g in self._groups.items()})
        save_checkpoint(self.checkpoint, {
            "version": CHECKPOINT_VERSION,
            "service": self.service,
            "saved_at": time.time(),
            "files": files,
            "tally": self.total.to_json(),
            "bruteforce": self.detector.to_json(),
        })

    def _refresh(self) -> None:
        paths = expand(self.root, self.patterns)
        for path in paths:
            if path in self._groups and path not in self._unsniffed:
                continue
            if path not in self._groups:
                saved = self._saved_groups.pop(str(path), None)
                self._groups[path] = (TailGroup.from_json(path, saved, self.start) if saved
                                      is not None else TailGroup(path, None, self.start))
                self._groups[path].chunk = CHUNK
            # The format comes from the name, else from the first lines: a file still
            # empty is looked at again until it has some.
            head = _read_head(path, False).decode("utf-8", "replace")
            if head.strip():
                self._unsniffed.discard(path)
            else:
                self._unsniffed.add(path)
            self._parsers[path] = FileParser(
                detect_format(path, head), self.service, self.host_of(path), path.name,
                index=self.index is not None, templates=self.templates, compiled=self.compiled)
        formats = {p.format for p in self._parsers.values()}
        has_access = bool(formats & REQUEST_FORMATS)
        for parser in self._parsers.values():
            parser.count_requests = parser.format in REQUEST_FORMATS or \
                parser.format is LogFormat.HAPROXY or not has_access

    def collect(self) -> Collection:
        """Read what is new, save the checkpoint, return samples, checks and events."""
        return self.collect_until(math.inf)

    def collect_until(self, deadline: float) -> Collection:
        """:meth:`collect`, stopping to read at ``deadline`` (monotonic); the rest next run."""
        with deadlines.until(deadline):
            return self._collect()

    def _collect(self) -> Collection:
        if not self._loaded:
            self._load()
        self._refresh()
        now = time.time()
        batch = Tally()
        # rows (with their node) become events only if among the last
        events: list[Event | tuple[str, IndexRow]] = []
        failures: list[tuple[float, str]] = []
        behind: list[str] = []  # files with more to read than the deadline allowed
        for path, group in self._groups.items():
            parser = self._parsers[path]
            notable: list[tuple[str, IndexRow]] = []  # the file's, after its unparsed lines

            def sink(text: str, offset: int, stream: int, parser: FileParser = parser,
                     notable: list[tuple[str, IndexRow]] = notable) -> None:
                # A chunk's rows are written as they come: what a poll holds in memory is
                # one chunk's, however much of a backlog it reads (replayed after a crash,
                # a row keyed by stream and offset is inserted once).
                parser.feed(text, offset)
                for host, rows in parser.take_rows_by_host():
                    if self.index is not None:
                        self._index(host, stream, rows)
                    notable.extend([(host, row) for row in rows if row[2] in NOTABLE_LEVELS])
                if len(notable) > 2 * EVENT_LIMIT:  # only the last are kept
                    del notable[:-EVENT_LIMIT]

            # Parsing makes millions of short-lived tuples and no reference cycle: the
            # cyclic collector would only rescan the counters, again and again.
            collecting = gc.isenabled()
            gc.disable()
            try:
                group.poll(sink, stop=deadlines.passed)
            finally:
                if collecting:
                    gc.enable()
            if group.cut_short:
                behind.append(path.name)
            batch.merge(parser.drain())
            events.extend(self._unparsed_event(path, parser.host, line, now)
                          for line in parser.unparsed_new)
            parser.unparsed_new.clear()
            events.extend(notable)
            failures.extend((f.timestamp, f.remote) for f in parser.failures)
            parser.failures.clear()
        self.total.merge(batch)
        self.detector.add(failures)
        self._save()
        if self.index is not None and not behind:
            # the backlog is read: the trace page and `stackwatch trace` read the index
            # from now on, and without its indexes each of their queries scans the table
            self._build_indexes()
        if self.index is not None and self.retention and now - self._pruned_at > PRUNE_EVERY:
            # the store's retention applies to the index too
            self._pruned_at = now
            self.index.prune(now - self.retention)
        checks: tuple[CheckResult, ...] = ()
        offenders: list[Sample] = []
        if self.service in AUTH_SERVICES:
            found = self.detector.offenders(now)
            checks = (self.detector.check(now, self.service, found),)
            offenders = self.detector.samples(now, self.service, found)
        if behind:
            checks += (CheckResult(
                PARTIAL_CHECK, Status.WARNING,
                f"{self.name}: stopped at the deadline before the end of {len(behind)} "
                f"file(s) ({', '.join(sorted(behind)[:5])}); the next run goes on from there",
                make_labels(source=self.name, service=self.service)),)
        return Collection((*metrics.samples(self.total, batch, now), *offenders), checks,
                          tuple(e if isinstance(e, Event) else self._event(*e)
                                for e in events[-EVENT_LIMIT:]))

    def _index(self, host: str, stream: int, rows: list[IndexRow]) -> None:
        """Write rows to the request index. A failed write (a locked store) loses those
        rows from ``trace``, counted and logged once per reason, but never the chunk: its
        counts are already made, and re-reading it would count them twice."""
        assert self.index is not None
        try:
            self.index.add(self.service, host, stream, rows)
        except StoreError as exc:
            self.index_errors += 1
            if str(exc) not in self._index_reasons:
                self._index_reasons.add(str(exc))
                log.warning("logs.%s: %s (%d records not in the request index)",
                            self.service, exc, len(rows))

    def _build_indexes(self) -> None:
        assert self.index is not None
        try:
            self.index.build_indexes()
        except StoreError as exc:  # a locked store: the next collection tries again
            self.index_errors += 1
            if str(exc) not in self._index_reasons:
                self._index_reasons.add(str(exc))
                log.warning("logs.%s: %s", self.service, exc)

    def _unparsed_event(self, path: Path, host: str, line: str, now: float) -> Event:
        """An unparseable line, kept for inspection (at most 20 per file and collection)."""
        return Event(kind="log-unparsed", event_type=path.name, timestamp=now,
                     severity=Severity.WARNING, service=self.service, host=host,
                     message=line, attributes=make_labels(file=str(path)))

    def _event(self, host: str, row: IndexRow) -> Event:
        return Event(
            kind="log", event_type=row.logger, timestamp=row.timestamp,
            severity=Severity.CRITICAL if row.level == "CRITICAL" else Severity.ERROR,
            service=self.service, host=host, message=row.message.split("\n", 1)[0][:500],
            request_id=row.request_id,
            resource_ids=(row.instance,) if row.instance else (),
            attributes=make_labels(level=row.level, global_request_id=row.global_request_id),
        )
