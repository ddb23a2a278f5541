"""The fast backfill: compiled kernels (numba) over the bytes of whole files, exact
against the pure-Python reference.

The chunk parser of :mod:`stackwatch.sources.logs.backfill` stays the reference; this
path gives the same hourly aggregates (requests, response-time histograms, records by
level, lines per file) by deciding only what it can decide exactly and handing the rest
to the reference:

* a file's bytes (``.gz`` decompressed) are cut at line ends into pieces of 4 MB, each
  scanned by a kernel (:func:`stackwatch.logparse.backfill_kernel.scan`) on a thread (the
  kernels release the GIL), two files at a time;
* per format, strict patterns (below: the specification the kernels' hand-written
  matchers follow, byte for byte) describe the *regular* lines: those on which the
  reference's string-splitting fast path is known to give the same fields (oslo.log
  records with their ``requestlog`` / eventlet request lines, Apache combined + time,
  HAProxy ``httplog``). The kernel cuts their fields in the same pass and groups them
  by hour, level, method and path (query dropped), status and histogram bucket in a
  hash table whose probes compare the key's bytes; URL templates are made by the
  reference's :func:`url_template` once per distinct path;
* every other line goes through the reference :class:`FileParser`, grouped by the hour
  of its own timestamp: once a record is open these formats keep no state from line to
  line that the hourly aggregates depend on, so a line parses the same on its own. An
  oslo.log file's head, before its first record, goes through it in order;
* a file the rules cannot vouch for (invalid UTF-8, ``\\r`` or NUL bytes, no final
  newline, another format, more URL templates than the reference keeps (counted and
  handed-over lines together), a piece of mostly lines the patterns do not take, a
  request without an hour of its own) goes whole to the reference.

Each counted line is in the hour of its own timestamp, as the reference does for logs in
time order. (On a chunk whose first and last lines share an hour, the reference takes the
whole chunk as that hour without looking at the lines between: for logs *not* in time
order the two differ; the fast path is then the one that is right.) Line outcomes are
kept per file, in the file's first hour: the history stores them per file.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import socket
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from stackwatch.logparse.engine import OPEN, FileParser, LogFormat, detect_format
from stackwatch.logparse.tally import Tally, merge_into, new_histogram
from stackwatch.logparse.urls import MAX_TEMPLATES, url_template
from stackwatch.sources.logs.backfill import (
    CHUNK,
    HOUR,
    FileResult,
    Task,
    _hour_epoch,
    collect_files,
    fingerprint,
    parse_range,
    plan,
    split_hours,
)

if TYPE_CHECKING:
    from stackwatch.logparse.bytescan import Bytes

PIECE = 4 << 20
"""Bytes of a file scanned by one thread (1 to 16 MB measured alike; 4 MB holds little
memory: two files of up to three pieces in flight)."""
FAST_FORMATS = frozenset({LogFormat.OSLO, LogFormat.ACCESS, LogFormat.HAPROXY})

# The patterns the kernels implement (ASCII digits only: the reference's float() takes
# any digit, the kernels' number reader only these).
_NUM = r"(?:[0-9]+(?:\.[0-9]+)?)"
OSLO_PREFIX = (r'^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? '
               r'[0-9]+ [A-Z]+ [^ "\n]+')
"""``date time pid LEVEL logger`` as the reference's ``str.split`` takes it (no quote in the
logger: fields are cut at quotes)."""
OSLO_RECORD = OSLO_PREFIX + r' \[[^i\]"\n][^\]"\n]*\]'
"""A record's first line: a context (not ``[instance: …]``; one starting with ``i`` or
holding a quote goes to the reference)."""
_MESSAGE = r'[^"\n](?:\[instance: [^"\n]{36}\][^"\n])?[^ "\n]+ '
OSLO_REQUEST = (OSLO_RECORD + _MESSAGE + r'"[A-Z]+ [^ "\n]+(?: [^ "\n]+)?" status: [0-9]{3} +'
                r'len: [0-9]+(?: microversion: [!#-~]+)?(?: time: ' + _NUM + r')?$')
"""A ``requestlog`` / eventlet wsgi record, exactly the shape the reference's split takes."""
OSLO_DEFAULT = (OSLO_RECORD + _MESSAGE + r'- - \[[^"\n]*\] "[A-Z]+ [^ "\n]+ [^ "\n]+" '
                r'[0-9]{3} (?:[0-9]+|-) [0-9]+\.[0-9]+$')
"""eventlet's default request line inside a record (glance)."""
ACCESS_LINE = (r'^[^ "\[\n]+ [^ "\[\n]+ [^ "\[\n]+ \[[0-9]{2}/[A-Za-z0-9_]{3}/[0-9]{4}:[0-9]{2}'
               r'[^ "\n]* [^ "\n]+ "[A-Z]+ (?:/[^ "\n]*|\*)(?: [^ "\n]+)?" [0-9]{3} [^ "\n]+ '
               r'"[^"\n]*" "[^"\n]*"(?: (?:[0-9]+|[0-9]+\.[0-9]+))?$')
"""Apache combined + response time (integer microseconds or decimal seconds)."""
HAPROXY_LINE = (r"^[A-Z][a-z]{2} (?: [0-9]|[0-9]{2}) [0-9]{2}:[0-9]{2}:[0-9]{2} [^ \n]+ "
                r"haproxy\[[0-9]+\]: [^ \n]+ \[[^ \n]*\] [^ \n]+ [^ /\n]+/[^ \n]* "
                r"[^ /\n]*/[^ /\n]*/[^ /\n]*/[^ /\n]*/(?:-[0-9]+|\+?[0-9]+) [0-9]{3} "
                r'[^ \n]+ [^ \n]+ [^ \n]+ [^ \n]+ [^ \n]+ [^ \n]+ "[^ \n]* ')
"""HAProxy ``option httplog``, as far as the reference's split looks."""
_RECORD = re.compile(OSLO_RECORD.encode(), re.MULTILINE)
_CODES = {LogFormat.OSLO: 0, LogFormat.ACCESS: 1, LogFormat.HAPROXY: 2}
"""Format codes of the kernels (:data:`stackwatch.logparse.backfill_kernel.OSLO`...)."""

Key = tuple[str | None, str | None, str | None, str | None, int]
"""A group of counted lines: hour, level, method and path, status, bucket (-1: no time)."""
Groups = dict[Key, list[float]]
"""Groups -> [lines, sum of seconds]."""
_Piece = tuple[int, Groups, list[str]]
"""Lines of a piece, its groups of counted lines, its lines for the reference."""


class Fallback(Exception):
    """The file goes whole to the reference parser."""


@dataclass
class _Totals:
    parsed: int = 0
    skipped: int = 0
    unparsed: int = 0


def read_pieces(path: Path, size: int) -> Iterator[Bytes]:
    """A file's content (``.gz`` decompressed by ISA-L, about four times as fast as zlib)
    in read-only pieces of about ``size`` bytes, each ending at a line end (but the last,
    if the file does not): fresh arrays filled by ``readinto`` (a line cut at the end of
    one carried to the next). Not a memory map, though it would save a copy: a live log
    truncated by logrotate while mapped would kill the process (SIGBUS)."""
    import numpy as np
    from isal import igzip, isal_zlib

    damaged = cast(type[Exception], isal_zlib.error)  # typed as an instance in its stubs
    opened = (igzip.open(path, "rb")  # type: ignore[no-untyped-call]
              if path.name.endswith(".gz") else open(path, "rb"))  # noqa: SIM115
    with cast(io.BufferedIOBase, opened) as handle:
        carry = b""
        while True:
            buffer = np.empty(size + len(carry), np.uint8)
            buffer[:len(carry)] = np.frombuffer(carry, np.uint8)
            filled = len(carry)
            view = memoryview(buffer)  # type: ignore[arg-type]
            try:
                while filled < buffer.size and (got := handle.readinto(view[filled:])):
                    filled += got
            except damaged as exc:  # a damaged .gz: as zlib says it
                raise zlib.error(str(exc)) from exc
            buffer.flags.writeable = False  # the kernels are compiled for read-only views
            if filled < buffer.size:  # the end of the file
                if filled:
                    yield buffer[:filled]
                return
            cut = _after_last_line(view, filled)
            carry = buffer[cut:filled].tobytes()
            if cut:
                yield buffer[:cut]


def _after_last_line(view: memoryview, size: int) -> int:
    """Position after the last ``\\n`` in ``view[:size]`` (0 if none), looking at its
    tail first."""
    tail = max(0, size - (1 << 16))
    found = view[tail:size].tobytes().rfind(b"\n")
    if found < 0 and tail:
        return view[:tail].tobytes().rfind(b"\n") + 1
    return tail + found + 1 if found >= 0 else 0


def _text(data: bytes, partial: bool = False) -> str:
    """UTF-8 text without ``\\r`` or NUL, else :class:`Fallback` (the reference decides);
    ``partial``: the bytes may end inside a character."""
    if b"\r" in data or b"\0" in data:
        raise Fallback
    try:
        return data.decode("utf-8", "ignore" if partial else "strict")
    except UnicodeDecodeError as exc:
        raise Fallback from exc


def _check(piece: Bytes) -> None:
    """:class:`Fallback` if a piece holds ``\\r``, NUL or invalid UTF-8."""
    from stackwatch.logparse.backfill_kernel import check

    bad, ascii_only = check(piece)
    if bad:
        raise Fallback
    if not ascii_only:
        try:
            piece.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Fallback from exc


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernels on a tiny input, with the argument
    types of a real run (read-only arrays); seconds taken."""
    import numpy as np

    from stackwatch.logparse import backfill_kernel as kernels

    started = time.perf_counter()
    line = np.frombuffer(b"x\n", np.uint8)
    kernels.check(line)
    for code in _CODES.values():
        for ascii_only in (True, False):
            kernels.scan(line, code, True, ascii_only)
    return time.perf_counter() - started


def _piece(data: Bytes, fmt: LogFormat, count_requests: bool) -> _Piece:
    """One piece scanned: its lines, groups and odd lines (bytes cut to text only for the
    distinct keys and the odd lines)."""
    from stackwatch.logparse import backfill_kernel as k

    def text(start: int, size: int) -> str | None:
        return data[start:start + size].tobytes().decode() if size > 0 else None

    lines, rows, sums, odd, verdict = k.scan(data, _CODES[fmt], count_requests, True)
    if verdict != k.CLEAN:
        _check(data)  # Fallback, unless it is valid UTF-8
        lines, rows, sums, odd, verdict = k.scan(data, _CODES[fmt], count_requests, False)
    groups: Groups = {}
    for row, total in zip(rows.tolist(), sums.tolist(), strict=True):
        status = f"{row[k.STATUS]:03d}" if row[k.STATUS] >= 0 else None
        groups[(text(row[k.HOUR], row[k.HOUR_LEN]), text(row[k.LEVEL], row[k.LEVEL_LEN]),
                text(row[k.REQUEST], row[k.REQUEST_LEN]), status, row[k.BUCKET])
               ] = [row[k.COUNT], total]
    return lines, groups, [data[s:e].tobytes().decode() for s, e in odd.tolist()]


class CompiledBackfill:
    """Parses whole files with the compiled kernels, ``threads`` pieces at a time."""

    def __init__(self, threads: int | None = None, piece: int = PIECE) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._piece = piece
        self.fallbacks: list[str] = []
        """Files that went whole to the reference parser."""

    def parse(self, path: Path, service: str, host: str, count_requests: bool) -> FileResult:
        """One file (``.gz`` too) into hourly tallies; the reference parses it if need be."""
        try:
            return self._parse(path, service, host, count_requests)
        except (Fallback, OSError, EOFError, zlib.error):
            # the reference also keeps what a truncated .gz held before the damage
            self.fallbacks.append(str(path))
        return parse_range(path, service, host, count_requests)

    def _parse(self, path: Path, service: str, host: str, count_requests: bool
               ) -> FileResult:
        result = FileResult(str(path), "")
        pieces = read_pieces(path, self._piece)
        first = next(pieces, None)
        if first is None:
            return result
        # 8192 characters at least, or all: the whole lines of the first CHUNK, cut to 32 kB
        if first[-1] == 10 and first.size <= CHUNK:
            head = first[:32768].tobytes()
        else:
            head = first[:CHUNK].tobytes()
            head = head[:head.rfind(b"\n") + 1][:32768]
        if not head:
            raise Fallback
        fmt = detect_format(path, _text(head, partial=True)[:8192])
        if fmt not in FAST_FORMATS:
            raise Fallback
        count_requests = count_requests or fmt is LogFormat.ACCESS
        totals = _Totals()
        hours: dict[str | None, Tally] = {}
        parser = FileParser(fmt, service, host, path.name, count_requests=count_requests)
        long_head = False
        if fmt is LogFormat.OSLO:
            record = _RECORD.search(memoryview(first))  # type: ignore[arg-type]
            long_head = record is None
            start = len(first) if record is None else record.start()
            if start:
                self._head(parser, _text(first[:start].tobytes()), fmt, hours, totals)
                first = first[start:]
        groups: Groups = {}
        odd: list[str] = []
        lines = 0

        def take(done: _Piece) -> None:
            nonlocal lines
            if len(done[2]) * 2 > done[0]:
                # mostly lines the patterns do not take (a format variant): the reference
                # is then as fast, and holds a chunk of them at a time, not the whole file
                raise Fallback
            lines += done[0]
            for key, (n, total) in done[1].items():
                mine = groups.get(key)
                if mine is None:
                    groups[key] = [n, total]
                else:
                    mine[0] += n
                    mine[1] += total
            odd.extend(done[2])

        with ThreadPoolExecutor(self.threads) as pool:
            running: deque[Future[_Piece]] = deque()
            for piece in itertools.chain((first,), pieces):
                if piece is not first and long_head:
                    raise Fallback  # a head longer than a piece
                if not piece.size:
                    continue
                if piece[-1] != 10:
                    raise Fallback  # the reference counts a last line without its end apart
                running.append(pool.submit(_piece, piece, fmt, count_requests))
                if len(running) > self.threads:
                    take(running.popleft().result())
            for future in running:
                take(future.result())
        self._aggregate(lines, groups, odd, fmt, parser, service, host, hours, totals)
        result.unparsed_sample = list(parser.unparsed_sample)
        for key, tally in hours.items():
            merge_into(result.hours, _hour_epoch(key) if key else 0.0, tally)
        outcomes = Tally()
        for outcome, count in (("parsed", totals.parsed), ("skipped", totals.skipped),
                               ("unparsed", totals.unparsed)):
            outcomes.lines[(service, path.name, outcome)] = count
        merge_into(result.hours, min(result.hours, default=0.0), outcomes)
        result.lines = totals.parsed + totals.skipped + totals.unparsed
        return result

    def _aggregate(self, lines: int, groups: Groups, odd: list[str], fmt: LogFormat,
                   parser: FileParser, service: str, host: str,
                   hours: dict[str | None, Tally], totals: _Totals) -> None:
        requests: dict[str, tuple[str, str]] = {}
        for cut in {key[2] for key in groups if key[2] is not None}:
            # as the reference cuts it: method and path (query dropped), then the template
            method, target = cut.split(" ", 1)
            requests[cut] = (method, url_template(target))
        templates = {template for _, template in requests.values()}
        if len(templates) > MAX_TEMPLATES:
            raise Fallback  # the reference counts templates past its limit as {other}
        parsed = 0
        for (hour, level, request, status, bucket), (count, total) in groups.items():
            n = int(count)
            parsed += n
            tally = hours.get(hour)
            if tally is None:
                tally = hours[hour] = Tally()
            if level is not None:
                key3 = (service, host, level)
                tally.records[key3] = tally.records.get(key3, 0) + n
            if request is None or status is None:
                continue
            method, template = requests[request]
            key5 = (service, host, method, template, status)
            tally.requests[key5] = tally.requests.get(key5, 0) + n
            if bucket >= 0:
                key4 = (service, host, method, template)
                hist = tally.durations.get(key4)
                if hist is None:
                    hist = tally.durations[key4] = new_histogram()
                hist[bucket] += n
                hist[-1] += total
        totals.parsed += parsed
        totals.skipped += lines - parsed - len(odd)
        if odd:
            self._odd(odd, fmt, parser, hours, totals)
        # the odd and head lines' templates (the parser's) and the counted ones together:
        # past the limit, which ones the reference keeps depends on the order of the lines
        if len(templates | parser.templates.known()) > MAX_TEMPLATES:
            raise Fallback

    def _odd(self, lines: list[str], fmt: LogFormat, parser: FileParser,
             hours: dict[str | None, Tally], totals: _Totals) -> None:
        """Lines the strict patterns did not take, through the reference parser, grouped
        by the hour of their own timestamp."""
        pattern = HOUR[fmt]
        by_hour: dict[str | None, list[str]] = {}
        for line in lines:
            match = pattern.match(line)
            by_hour.setdefault(match.group(1) if match else None, []).append(line)
        for hour, group in by_hour.items():
            parser._open = OPEN  # past the head, a record is always open
            parser.feed("\n".join(group) + "\n")
            tally = parser.drain()
            if hour is None and (tally.requests or tally.records):
                raise Fallback  # the reference counts it in the hour before it
            _count(tally, totals)
            merge_into(hours, hour, tally)

    def _head(self, parser: FileParser, text: str, fmt: LogFormat,
              hours: dict[str | None, Tally], totals: _Totals) -> None:
        """The lines of a file before its first record, in order, as the reference (each
        in the hour of its own timestamp, else of the line before)."""
        for part_hour, part in split_hours(text, fmt, None, in_order=False):
            parser.feed(part)
            tally = parser.drain()
            _count(tally, totals)
            merge_into(hours, part_hour, tally)


def _count(tally: Tally, totals: _Totals) -> None:
    totals.parsed += tally.outcome("parsed")
    totals.skipped += tally.outcome("skipped")
    totals.unparsed += tally.outcome("unparsed")
    tally.lines = {}


def backfill_compiled(paths: Sequence[Path], threads: int | None = None,
                      host: str | None = None, skip: Callable[[str], bool] | None = None,
                      engine: CompiledBackfill | None = None) -> Iterator[FileResult]:
    """:func:`stackwatch.sources.logs.backfill.backfill` on the fast path: one result per
    file, in file order; a content seen twice (same fingerprint) is parsed once."""
    host = host or socket.gethostname()
    files = collect_files(paths)
    prints = {f: fingerprint(f) for f in files}
    seen: set[str] = set()
    kept: list[Path] = []
    for path in files:
        if prints[path] in seen or (skip is not None and skip(prints[path])):
            continue
        seen.add(prints[path])
        kept.append(path)
    engine = engine or CompiledBackfill(threads)
    # planned with every file given: a service whose access log was ingested by an
    # earlier run still counts its requests there only
    wanted = {str(path) for path in kept}
    tasks = [task for task in plan(files, host, 1) if task[0] in wanted]

    def parse(task: Task) -> FileResult:
        name, service, task_host, count, _, _ = task
        result = engine.parse(Path(name), service, task_host, count)
        result.fingerprint = prints[Path(name)]
        return result

    if engine.threads <= 1 or len(tasks) <= 1:
        yield from map(parse, tasks)
        return
    # two files at a time as well as pieces of a file: a thread is rarely left idle at the
    # end of a file, and small files overlap
    with ThreadPoolExecutor(2) as pool:
        yield from pool.map(parse, tasks)
