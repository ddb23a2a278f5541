"""What the server does on a schedule besides collecting: reports and backups.

* Reports (``reports.schedule``): every ``check_every`` seconds, each kind of
  ``reports.kinds`` whose last whole period (UTC day, ISO week, month) has no report yet
  in ``reports.directory`` gets one, in each of ``reports.formats``:
  ``daily-2026-12-04.html`` covers that day.
* Backups (``backups.schedule``): each database whose newest complete backup is older
  than ``backups.every`` is dumped (and verified, with ``backups.verify``), then the
  retention applied. A restart does not dump again what is recent enough.

A failure is logged and the rest goes on; the next look tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.query.context import Context

log = logging.getLogger(__name__)

#: extension of each report format
EXTENSIONS = {"text": "txt", "json": "json", "html": "html"}


def report_path(directory: Path, kind: str, start: float, fmt: str) -> Path:
    """``<directory>/<kind>-<YYYY-MM-DD of the period's start>.<ext>``."""
    day = time.strftime("%Y-%m-%d", time.gmtime(start))
    return directory / f"{kind}-{day}.{EXTENSIONS[fmt]}"


def due_reports(config: Config, context: Callable[[float], Context], now: float
                ) -> list[Path]:
    """Write the reports whose period is over and that are not there yet; their paths."""
    from stackwatch.review import report
    from stackwatch.review.cli import write_atomically

    written = []
    for kind in config.reports.kinds:
        end = report.period_end(kind, now)
        start = report.period_start(kind, end)
        paths = {f: report_path(config.reports.directory, kind, start, f)
                 for f in config.reports.formats}
        if all(p.exists() for p in paths.values()):
            continue
        made = report.build(context(now), kind, end)
        for fmt, path in paths.items():
            write_atomically(path, report.render(made, fmt))
            written.append(path)
        log.info("%s report of %s written: %s", kind, time.strftime(
            "%Y-%m-%d", time.gmtime(start)), ", ".join(p.name for p in paths.values()))
    return written


def due_backups(config: Config, now: float) -> list[str]:
    """Back up (and verify) the databases whose newest backup is older than ``every``,
    then apply the retention; one line per database done or failed."""
    from stackwatch.backup import archive, retention
    from stackwatch.backup.dump import run_backup, targets
    from stackwatch.backup.verify import verify

    settings = config.backups
    if settings is None:
        return []
    found = archive.groups(archive.backups(settings.directory))
    done = []
    chosen, problems = targets(config)
    for problem in problems:
        log.warning("backup: %s", problem)
    for target in chosen:
        complete = [b for b in found.get((target.cloud, target.database), [])
                    if b.manifest is not None]
        if complete and now - complete[-1].finished < settings.every:
            continue
        try:
            made = run_backup(target, settings)
            line = f"{target.key}: {made.path.name}"
            if settings.verify:
                outcome = verify(made, target, settings)
                line += f", verify {'ok' if outcome.ok else 'FAILED'}: {outcome.message}"
            done.append(line)
        except StackwatchError as exc:
            log.warning("backup %s failed: %s", target.key, exc)
            done.append(f"{target.key}: failed: {exc}")
    retention.prune(archive.backups(settings.directory), now, settings.keep_count,
                    settings.keep_days)
    retention.remove_partials(settings.directory, now)
    return done


class Schedule:
    """The reports' and backups' thread of ``stackwatch server`` (only when one of them
    has ``schedule: true``)."""

    def __init__(self, config: Config, context: Callable[[float], Context]) -> None:
        self.config = config
        self.context = context
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def wanted(self) -> bool:
        backups = self.config.backups
        return self.config.reports.schedule or (backups is not None and backups.schedule)

    def start(self) -> None:
        if self.wanted:
            self._thread = threading.Thread(target=self._run, name="stackwatch-schedule",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        backups = self.config.backups
        every = min([self.config.reports.check_every] +
                    ([min(backups.every, 600.0)] if backups and backups.schedule else []))
        while True:
            now = time.time()
            if self.config.reports.schedule:
                try:
                    due_reports(self.config, self.context, now)
                except (StackwatchError, OSError) as exc:
                    log.warning("scheduled reports: %s", exc)
            if backups is not None and backups.schedule:
                try:
                    for line in due_backups(self.config, now):
                        log.info("scheduled backup %s", line)
                except (StackwatchError, OSError) as exc:
                    log.warning("scheduled backups: %s", exc)
            if self._stop.wait(every):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
