"""``stackwatch logs backfill``: months of rotated logs, ``.gz`` included, into hourly
aggregates (:class:`stackwatch.store.log_history.LogHistory`).

Files are parsed by the same chunk parser as the tail mode, each chunk cut where
the hour changes. Work is spread over worker processes (one per core by default):
a large uncompressed file is cut into byte ranges, each starting at the first
*record* at or after its nominal start (never inside a multi-line traceback), so
ranges join exactly; compressed files go whole to one worker. The service of a file
comes from its name (``nova-api.log.3.gz`` -> nova); requests of a service with an
access log are counted there only, as in the tail mode.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import itertools
import os
import re
import socket
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from stackwatch.logparse.engine import MULTILINE, FileParser, LogFormat, detect_format
from stackwatch.logparse.tally import Tally, merge_into
from stackwatch.logparse.timestamps import MONTHS, clf_epoch, iso_epoch

CHUNK = 8 << 20
RANGE = 32 << 20
"""Files larger than two of these are cut into ranges for the workers."""
_SERVICE = re.compile(r"^([a-z]+)")
_ALIASES = {"kern": "kernel", "libvirtd": "libvirt", "mysql": "mariadb", "rabbit": "rabbitmq",
            "httpd": "apache", "server": "", "api": "", "error": "", "access": "",
            "proxy": ""}
REQUEST_FORMATS = frozenset({LogFormat.ACCESS, LogFormat.UWSGI,
                             LogFormat.SWIFT_PROXY})

# Where the hour of a line is, per format (lines without one stay with the hour before).
_ISO_HOUR = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d)", re.MULTILINE)
HOUR = {
    LogFormat.OSLO: _ISO_HOUR,
    LogFormat.LIBVIRT: _ISO_HOUR,
    LogFormat.GUNICORN: re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d)", re.MULTILINE),
    LogFormat.ACCESS: re.compile(r"^[^\[\n]*\[(\d\d/\w{3}/\d{4}:\d\d)", re.MULTILINE),
    LogFormat.HAPROXY: re.compile(r"^[^\[\n]*\[(\d\d/\w{3}/\d{4}:\d\d)", re.MULTILINE),
    LogFormat.SWIFT_PROXY: re.compile(r"^[^\n]*?proxy-server: \S+ \S+ (\d\d/\w{3}/\d{4}/\d\d)",
                                      re.MULTILINE),
}
_RECORD_START = re.compile(rb"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)? \d+ [A-Z]+ \S+ "
                           rb"\[(?!instance: )")


def service_of(path: Path) -> str:
    """The service a log file belongs to, from its name or its directory's."""
    match = _SERVICE.match(path.name.lower())
    name = _ALIASES.get(match.group(1), match.group(1)) if match else ""
    if not name and path.parent.name:
        parent = _SERVICE.match(path.parent.name.lower())
        name = parent.group(1) if parent else ""
        name = _ALIASES.get(name, name)
    return name or "unknown"


def _hour_epoch(key: str) -> float:
    if key[4:5] == "-":
        return iso_epoch(key[:13].replace("T", " ") + ":00:00")
    if key[2:3] == "/" and key[3:6] in MONTHS:
        if key[11:12] == "/":  # swift's dd/Mon/yyyy/HH
            key = key[:11] + ":" + key[12:]
        return clf_epoch(key + ":00:00 +0000")
    return 0.0


def split_hours(text: str, fmt: LogFormat, current: str | None, in_order: bool = True
                ) -> list[tuple[str | None, str]]:
    """Cut whole lines where the hour changes; lines without a time stay with the hour
    before. ``in_order``: logs are in time order, so a chunk whose first and last lines
    are in the same hour is taken as that hour without looking at the lines between."""
    pattern = HOUR.get(fmt)
    if pattern is None:
        return [(current, text)]
    if in_order:
        first = pattern.match(text)
        last = pattern.match(text, text.rfind("\n", 0, max(0, len(text) - 1)) + 1)
        if first is not None and last is not None and first.group(1) == last.group(1):
            return [(first.group(1), text)]
    parts: list[tuple[str | None, str]] = []
    start = 0
    hour = current
    for match in pattern.finditer(text):
        key = match.group(1)
        if key != hour:
            if match.start() > start:
                parts.append((hour, text[start:match.start()]))
            start = match.start()
            hour = key
    parts.append((hour, text[start:]))
    return parts


@dataclass
class FileResult:
    """What one file (or one range of a file) gave."""

    path: str
    fingerprint: str
    lines: int = 0
    hours: dict[float, Tally] = field(default_factory=dict)
    unparsed_sample: list[str] = field(default_factory=list)
    error: str = ""

    def merge(self, other: FileResult) -> None:
        """Add another range of the same file."""
        self.lines += other.lines
        for hour, tally in other.hours.items():
            mine = self.hours.get(hour)
            if mine is None:
                self.hours[hour] = tally
            else:
                mine.merge(tally)
        self.unparsed_sample = (self.unparsed_sample + other.unparsed_sample)[:20]
        self.error = self.error or other.error


def fingerprint(path: Path) -> str:
    """Content fingerprint: hash of the first 64 KiB and the size, of the content (a ``.gz``
    decompressed: ``nova-api.log.1`` and the ``nova-api.log.2.gz`` it becomes are one)."""
    size = os.path.getsize(path)
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as packed:
                head = packed.read(65536)
            with open(path, "rb") as handle:  # ISIZE: the content's size modulo 2**32
                handle.seek(max(0, size - 4))
                size = int.from_bytes(handle.read(4), "little")
            return hashlib.sha1(head + str(size).encode()).hexdigest()
    except (OSError, EOFError, zlib.error):
        pass  # not readable as gzip: fingerprinted as it is on disk (parsing says why)
    with open(path, "rb") as handle:
        head = handle.read(65536)
    return hashlib.sha1(head + str(size).encode()).hexdigest()


def _align(handle: IO[bytes], position: int, multiline: bool) -> int:
    """The first line start at or after ``position`` that begins a record (for multi-line
    formats), looking at most a few MB ahead; the end of file when there is none."""
    if position <= 0:
        return 0
    handle.seek(position - 1)
    handle.readline()  # the rest of the line ``position - 1`` is on
    here = handle.tell()
    if not multiline:
        return here
    for _ in range(100_000):
        line = handle.readline()
        if not line or _RECORD_START.match(line):
            return here
        here += len(line)
    return here


def _blocks(path: Path, start: int, end: int | None) -> Iterator[bytes]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as packed:
            while block := packed.read(CHUNK):
                yield block
        return
    with open(path, "rb") as handle:
        handle.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            block = handle.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                return
            if left is not None:
                left -= len(block)
            yield block


def parse_range(path: Path, service: str, host: str, count_requests: bool,
                start: int = 0, end: int | None = None) -> FileResult:
    """Parse one file (``.gz`` too), or the records of one byte range of it, by hour."""
    result = FileResult(str(path), "")
    parser: FileParser | None = None
    fmt = LogFormat.TEXT
    hour: str | None = None
    pending = b""
    try:
        if start or end is not None:
            with open(path, "rb") as handle:
                head = handle.read(8192).decode("utf-8", "replace")
                fmt = detect_format(path, head)
                start = _align(handle, start, fmt in MULTILINE)
                end = None if end is None else _align(handle, end, fmt in MULTILINE)
        for block in _blocks(path, start, end):
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if not cut:
                continue
            text = data[:cut].decode("utf-8", "surrogateescape")
            if parser is None:
                fmt = detect_format(path, text[:8192])
                parser = FileParser(fmt, service, host, path.name,
                                    count_requests=count_requests or fmt in REQUEST_FORMATS)
            for part_hour, part in split_hours(text, fmt, hour):
                parser.feed(part)
                _add_hour(result, part_hour, parser.drain())
                hour = part_hour
        if pending and parser is not None:
            parser.feed(pending.decode("utf-8", "surrogateescape") + "\n")
            _add_hour(result, hour, parser.drain())
    except (OSError, EOFError, zlib.error) as exc:
        result.error = f"{path}: {exc}"
    if parser is not None:
        result.unparsed_sample = list(parser.unparsed_sample)
    result.lines = sum(t.line_total() for t in result.hours.values())
    return result


def parse_file(path: Path, service: str, host: str, count_requests: bool) -> FileResult:
    """Parse a whole file (``.gz`` too) into hourly tallies."""
    result = parse_range(path, service, host, count_requests)
    result.fingerprint = fingerprint(path)
    return result


def _add_hour(result: FileResult, hour: str | None, tally: Tally) -> None:
    merge_into(result.hours, _hour_epoch(hour) if hour else 0.0, tally)


Task = tuple[str, str, str, bool, int, "int | None"]


def _task(task: Task) -> FileResult:
    path, service, host, count_requests, start, end = task
    gc.disable()  # a worker makes no reference cycles; see LogsSource.collect
    try:
        return parse_range(Path(path), service, host, count_requests, start, end)
    finally:
        gc.enable()


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """Files under the given paths (directories walked), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def plan(files: Sequence[Path], host: str, workers: int, range_size: int = RANGE
         ) -> list[Task]:
    """Tasks for the workers: whole files, or ranges of the large uncompressed ones."""
    formats = {f: detect_format(f) for f in files}
    with_access = {service_of(f) for f, fmt in formats.items() if fmt in REQUEST_FORMATS}
    tasks: list[Task] = []
    for path in files:
        service = service_of(path)
        count = service not in with_access
        size = path.stat().st_size
        if path.name.endswith(".gz") or size < 2 * range_size or workers <= 1:
            tasks.append((str(path), service, host, count, 0, None))
            continue
        pieces = max(2, min(size // range_size, 4 * workers))
        bounds = [size * i // pieces for i in range(pieces)] + [size]
        tasks.extend((str(path), service, host, count, a, b if b < size else None)
                     for a, b in itertools.pairwise(bounds))
    return tasks


def backfill(paths: Sequence[Path], workers: int | None = None, host: str | None = None,
             skip: Callable[[str], bool] | None = None, range_size: int = RANGE
             ) -> Iterable[FileResult]:
    """Parse every file; yield one result per file (ranges merged), in file order."""
    host = host or socket.gethostname()
    files = collect_files(paths)
    prints = {f: fingerprint(f) for f in files}
    workers = workers or os.cpu_count() or 1
    # planned with every file given: a service whose access log was ingested by an
    # earlier run still counts its requests there only
    tasks = plan(files, host, workers, range_size)
    if skip is not None:
        tasks = [t for t in tasks if not skip(prints[Path(t[0])])]
    if workers <= 1 or len(tasks) <= 1:
        results: Iterable[FileResult] = map(_task, tasks)
        yield from _per_file(results, prints)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from _per_file(pool.map(_task, tasks, chunksize=1), prints)


def _per_file(results: Iterable[FileResult], prints: dict[Path, str]) -> Iterator[FileResult]:
    current: FileResult | None = None
    for result in results:
        if current is not None and current.path == result.path:
            current.merge(result)
            continue
        if current is not None:
            yield current
        current = result
        current.fingerprint = prints[Path(result.path)]
    if current is not None:
        yield current
