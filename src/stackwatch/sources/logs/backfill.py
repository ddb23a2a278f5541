"""``stackwatch logs backfill``: months of rotated logs, ``.gz`` included, into hourly
aggregates (:class:`stackwatch.store.log_history.LogHistory`).

Files are parsed by the same chunk parser as the tail mode, each chunk cut at hour
boundaries; files are spread over worker processes (one per core by default). The
service of a file comes from its name (``nova-api.log.3.gz`` -> nova); requests of a
service with an access log are counted there only, as in the tail mode.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stackwatch.logparse.engine import FileParser, LogFormat, detect_format
from stackwatch.logparse.tally import Tally
from stackwatch.logparse.timestamps import MONTHS, clf_epoch, iso_epoch

CHUNK = 8 << 20
_SERVICE = re.compile(r"^([a-z]+)")
_ALIASES = {"kern": "kernel", "libvirtd": "libvirt", "mysql": "mariadb", "rabbit": "rabbitmq",
            "httpd": "apache", "apache": "apache"}
REQUEST_FORMATS = frozenset({LogFormat.ACCESS, LogFormat.UWSGI})


def service_of(path: Path) -> str:
    """The service a log file belongs to, from its name or its directory's."""
    match = _SERVICE.match(path.name.lower())
    name = match.group(1) if match else ""
    if name in ("error", "access", "syslog", "messages", "") and path.parent.name:
        parent = _SERVICE.match(path.parent.name.lower())
        name = parent.group(1) if parent else name
    return _ALIASES.get(name, name) or "unknown"


def _hour_key(line: str, fmt: LogFormat) -> str | None:
    if fmt in (LogFormat.OSLO, LogFormat.LIBVIRT):
        return line[:13] if line[4:5] == "-" and line[10:11] in " T" else None
    if fmt is LogFormat.GUNICORN:
        return line[1:14] if line[:1] == "[" else None
    if fmt in (LogFormat.ACCESS, LogFormat.HAPROXY):
        start = line.find(" [")
        return line[start + 2:start + 16] if start >= 0 and line[start + 4:start + 5] == "/" \
            else None
    return None


def _hour_epoch(key: str) -> float:
    if key[4:5] == "-":
        return iso_epoch(key[:13].replace("T", " ") + ":00:00")
    if key[2:3] == "/" and key[3:6] in MONTHS:
        return clf_epoch(key + ":00:00 +0000")
    return 0.0


def split_hours(text: str, fmt: LogFormat, current: str | None) -> list[tuple[str | None, str]]:
    """Cut whole lines at hour changes; lines without a time stay with the hour before."""
    first_end = text.find("\n")
    last_start = text.rfind("\n", 0, len(text) - 1) + 1
    first = _hour_key(text[:first_end], fmt) or current
    last = _hour_key(text[last_start:], fmt) or first
    if first == last:
        return [(first, text)]
    parts: list[tuple[str | None, str]] = []
    lines: list[str] = []
    hour = current
    for line in text.split("\n")[:-1]:
        key = _hour_key(line, fmt)
        if key is not None and key != hour:
            if lines:
                parts.append((hour, "\n".join(lines) + "\n"))
            lines = []
            hour = key
        lines.append(line)
    if lines:
        parts.append((hour, "\n".join(lines) + "\n"))
    return parts


@dataclass
class FileResult:
    """What one file gave."""

    path: str
    fingerprint: str
    lines: int = 0
    hours: dict[float, Tally] = field(default_factory=dict)
    unparsed_sample: list[str] = field(default_factory=list)
    error: str = ""


def _open(path: Path) -> Iterable[bytes]:
    opener: Callable[..., object] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:  # type: ignore[attr-defined]
        while True:
            block = handle.read(CHUNK)
            if not block:
                return
            yield block


def fingerprint(path: Path) -> str:
    """Content fingerprint: hash of the first 64 KiB and the size (of the file on disk)."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    return hashlib.sha1(head + str(os.path.getsize(path)).encode()).hexdigest()


def parse_file(path: Path, service: str, host: str, count_requests: bool) -> FileResult:
    """Parse one file (``.gz`` too) into hourly tallies."""
    result = FileResult(str(path), fingerprint(path))
    fmt: LogFormat | None = None
    parser: FileParser | None = None
    hour: str | None = None
    pending = b""
    try:
        for block in _open(path):
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
            assert fmt is not None
            for part_hour, part in split_hours(text, fmt, hour):
                parser.feed(part)
                _add_hour(result, part_hour, parser.drain())
                hour = part_hour
        if pending and parser is not None:
            parser.feed(pending.decode("utf-8", "surrogateescape") + "\n")
            _add_hour(result, hour, parser.drain())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        result.error = f"{path}: {exc}"
    if parser is not None:
        result.unparsed_sample = list(parser.unparsed_sample)
    result.lines = sum(t.line_total() for t in result.hours.values())
    return result


def _add_hour(result: FileResult, hour: str | None, tally: Tally) -> None:
    epoch = _hour_epoch(hour) if hour else 0.0
    mine = result.hours.get(epoch)
    if mine is None:
        result.hours[epoch] = tally
    else:
        mine.merge(tally)


def _task(args: tuple[str, str, str, bool]) -> FileResult:
    path, service, host, count_requests = args
    return parse_file(Path(path), service, host, count_requests)


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """Files under the given paths (directories walked), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def backfill(paths: Sequence[Path], workers: int | None = None, host: str | None = None,
             skip: Callable[[str], bool] | None = None) -> Iterable[FileResult]:
    """Parse every file; yields results as workers finish (in file order)."""
    host = host or socket.gethostname()
    files = collect_files(paths)
    if skip is not None:
        files = [f for f in files if not skip(fingerprint(f))]
    formats = {f: detect_format(f) for f in files}
    with_access = {service_of(f) for f, fmt in formats.items() if fmt in REQUEST_FORMATS}
    tasks = [(str(f), service_of(f), host, service_of(f) not in with_access) for f in files]
    # Largest first, so that the last worker is not left with the biggest file.
    tasks.sort(key=lambda t: -os.path.getsize(t[0]))
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_task, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_task, tasks)
