"""The fast backfill: Polars (Rust regex, string kernels, multi-threaded group-by) over
whole files, exact against the pure-Python reference.

The chunk parser of :mod:`stackwatch.sources.logs.backfill` stays the reference; this
path gives the same hourly aggregates (requests, response-time histograms, records by
level, lines per file) by deciding only what it can decide exactly and handing the rest
to the reference:

* a file's bytes (``.gz`` decompressed) are cut at line ends into pieces of 16 MB,
  parsed by threads (Polars releases the GIL); each piece becomes a column of lines
  (Polars' CSV reader, NUL as separator, no quoting);
* per format, strict patterns describe the *regular* lines: those on which the
  reference's string-splitting fast path is known to give the same fields (oslo.log
  records with their ``requestlog`` / eventlet request lines, Apache combined + time,
  HAProxy ``httplog``). Their fields are cut with string kernels (the line is cut at
  its quotes: the patterns allow none elsewhere) and grouped by hour, level, method,
  path, status and histogram bucket; URL templates are made by the reference's
  :func:`url_template` once per distinct path;
* every other line goes through the reference :class:`FileParser`, grouped by the hour
  of its own timestamp: once a record is open these formats keep no state from line to
  line that the hourly aggregates depend on, so a line parses the same on its own. An
  oslo.log file's head, before its first record, goes through it in order;
* a file the rules cannot vouch for (invalid UTF-8, ``\\r`` or NUL bytes, no final
  newline, another format, more URL templates than the reference keeps, a request
  without an hour of its own) goes whole to the reference.

Each counted line is in the hour of its own timestamp, as the reference does for logs in
time order. (On a chunk whose first and last lines share an hour, the reference takes the
whole chunk as that hour without looking at the lines between: for logs *not* in time
order the two differ; the fast path is then the one that is right.) Line outcomes are
kept per file, in the file's first hour: the history stores them per file.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import socket
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from stackwatch.logparse.engine import OPEN, FileParser, LogFormat, detect_format
from stackwatch.logparse.tally import BUCKETS, Tally, new_histogram
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
)

if TYPE_CHECKING:
    import polars as pl

PIECE = 16 << 20
"""Bytes of a file parsed by one thread."""
FAST_FORMATS = frozenset({LogFormat.OSLO, LogFormat.ACCESS, LogFormat.HAPROXY})

# ASCII digits only ([0-9], not \d, which is Unicode in Rust's regex): the reference's
# float() takes any digit, the engine's number parser only these.
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


class Fallback(Exception):
    """The file goes whole to the reference parser."""


@dataclass
class _Totals:
    parsed: int = 0
    skipped: int = 0
    unparsed: int = 0


def read_pieces(path: Path, size: int) -> Iterator[bytes]:
    """A file's content (``.gz`` decompressed) in pieces of about ``size`` bytes, each
    ending at a line end (but the last, if the file does not)."""
    opened = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    with cast(IO[bytes], opened) as handle:
        while block := handle.read(size):
            if not block.endswith(b"\n"):
                block += handle.readline()
            yield block


def _text(data: bytes, partial: bool = False, check_only: bool = False) -> str:
    """UTF-8 text without ``\\r`` or NUL, else :class:`Fallback` (the reference decides);
    ``partial``: the bytes may end inside a character."""
    if b"\r" in data or b"\0" in data:
        raise Fallback
    if check_only and data.isascii():
        return ""
    try:
        return data.decode("utf-8", "ignore" if partial else "strict")
    except UnicodeDecodeError as exc:
        raise Fallback from exc


def lines_frame(data: bytes) -> pl.DataFrame:
    """A one-column frame ``line`` (without the ``\\n``; an empty line is null), read by
    Polars' multi-threaded CSV reader with a separator the data does not hold (NUL)."""
    import polars as pl

    return pl.read_csv(data, has_header=False, separator="\x00", quote_char=None,
                       schema={"line": pl.String})


_KEYS = ("hour", "level", "request", "status", "bucket")


Steps = list[tuple[str, "pl.Expr"]]
"""Columns computed one after the other (each once: later ones may use earlier ones)."""


def _fields(lines: pl.Series, hour: pl.Expr, level: pl.Expr | None, request: bool,
            status_at: int = 0, seconds: Steps | None = None) -> pl.DataFrame:
    """Counted lines grouped: the request is cut out between the first quote and the quote
    that closes it (the patterns allow no other quote before it); ``seconds`` are the
    steps that end in the column ``seconds``."""
    import polars as pl

    line = pl.col("line")
    none = pl.lit(None, pl.String)
    frame = pl.DataFrame({"line": lines}).lazy()
    steps: Steps = [("hour", hour), ("level", none if level is None else level)]
    if request:
        steps += [("opened", line.str.find('"', literal=True)),
                  ("closed", line.str.find('" ', literal=True)),
                  ("request", line.str.slice(pl.col("opened") + 1,
                                             pl.col("closed") - pl.col("opened") - 1)),
                  ("status", line.str.slice(pl.col("closed") + status_at, 3))]
    else:
        steps += [("request", none), ("status", none)]
    steps += seconds or [("seconds", pl.lit(None, pl.Float64))]
    for name, expression in steps:
        frame = frame.with_columns(expression.alias(name))
    return frame.with_columns(pl.sum_horizontal(
        [(pl.col("seconds") > bound).cast(pl.Int8) for bound in BUCKETS]).alias("bucket")
    ).group_by(*_KEYS).agg(pl.len().alias("n"), pl.col("seconds").count().alias("timed"),
                           pl.col("seconds").sum().alias("total")).collect()


def _oslo(frame: pl.DataFrame, count_requests: bool) -> tuple[list[pl.DataFrame], pl.Series]:
    """(groups of counted records with their requests, the lines for the reference)."""
    import polars as pl

    line = pl.col("line")
    hour = line.str.slice(0, 13)
    level = line.str.split_exact(" ", 4).struct.field("field_3")
    lines = frame["line"]
    counted: list[pl.DataFrame] = []
    odd: list[pl.Series] = []
    rest = lines
    if count_requests:
        mark = lines.str.contains('" status: ', literal=True)
        default = lines.str.contains(" - - [", literal=True)
        # requestlog / eventlet wsgi: '..." status: 200 len: 1 microversion: 2.1 time: 0.1'
        logged = lines.filter(mark)
        ok = logged.str.contains(OSLO_REQUEST)
        odd.append(logged.filter(~ok))
        tail = pl.col("tail")
        seconds: Steps = [
            ("tail", line.str.slice(pl.col("closed"))),
            ("timed", tail.str.find(" time: ", literal=True)),
            ("seconds", tail.str.slice(pl.col("timed") + 7).cast(pl.Float64, strict=False))]
        counted.append(_fields(logged.filter(ok), hour, level, True, 10, seconds))
        # eventlet's default format: '..." 200 1682 0.0012'
        wsgi = lines.filter(~mark & default)
        ok = wsgi.str.contains(OSLO_DEFAULT)
        odd.append(wsgi.filter(~ok))
        seconds = [("seconds", line.str.split(" ").list.last().cast(pl.Float64, strict=False))]
        counted.append(_fields(wsgi.filter(ok), hour, level, True, 2, seconds))
        rest = lines.filter(~(mark | default))
    record = rest.str.contains(OSLO_RECORD)
    counted.append(_fields(rest.filter(record), hour, level, False))
    others = rest.filter(~record)
    context = others.str.split_exact(" ", 5).struct.field("field_5")
    prefixed = others.str.contains(OSLO_PREFIX + r"(?: |$)")
    odd.append(others.filter(
        (prefixed & context.str.starts_with("[") & ~context.str.starts_with("[instance:"))
        | (~prefixed & (others.str.slice(4, 1) == "-"))))
    return counted, pl.concat(odd)


def _access(frame: pl.DataFrame) -> tuple[list[pl.DataFrame], pl.Series]:
    import polars as pl

    line = pl.col("line")
    lines = frame["line"]
    ok = lines.str.contains(ACCESS_LINE)
    # the time follows the agent's closing quote: '"-" "agent" 63527'
    agent, time = pl.col("agent"), pl.col("time")
    seconds: Steps = [
        ("agent", line.str.slice(line.str.find('" "', literal=True) + 3)),
        ("time", agent.str.slice(agent.str.find('"', literal=True) + 2)),
        ("value", time.cast(pl.Float64, strict=False)),
        ("seconds", pl.when(time.str.contains(".", literal=True)).then(pl.col("value"))
         .otherwise(pl.col("value") / 1e6))]
    hour = line.str.slice(line.str.find("[", literal=True) + 1, 14)
    return [_fields(lines.filter(ok), hour, None, True, 2, seconds)], lines.filter(~ok)


def _haproxy(frame: pl.DataFrame) -> tuple[list[pl.DataFrame], pl.Series]:
    import polars as pl

    line = frame["line"]
    ok = line.str.contains(HAPROXY_LINE)
    counted = pl.DataFrame({"hour": [None], "level": [None], "request": [None],
                            "status": [None], "bucket": [0], "n": [int(ok.sum())],
                            "timed": [0], "total": [0.0]},
                           schema={"hour": pl.String, "level": pl.String,
                                   "request": pl.String, "status": pl.String,
                                   "bucket": pl.Int8, "n": pl.UInt32, "timed": pl.UInt32,
                                   "total": pl.Float64})
    return [counted], line.filter(~ok)


_Piece = tuple[int, list["pl.DataFrame"], "pl.Series"]
"""Lines of a piece, its groups of counted lines, its lines for the reference."""


def _piece(data: bytes, fmt: LogFormat, count_requests: bool) -> _Piece:
    frame = lines_frame(data)
    if fmt is LogFormat.OSLO:
        counted, odd = _oslo(frame, count_requests)
    elif fmt is LogFormat.ACCESS:
        counted, odd = _access(frame)
    else:
        counted, odd = _haproxy(frame)
    return frame.height, counted, odd


class ColumnarBackfill:
    """Parses whole files with Polars (its thread pool: all cores unless
    ``POLARS_MAX_THREADS`` says otherwise)."""

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
        first = next(pieces, b"")
        if not first:
            return result
        head = first[:CHUNK]
        head = head[:head.rfind(b"\n") + 1][:32768]  # 8192 characters at least, or all
        if not head:
            raise Fallback
        fmt = detect_format(path, _text(head, partial=True)[:8192])
        if fmt not in FAST_FORMATS:
            raise Fallback
        count_requests = count_requests or fmt is LogFormat.ACCESS
        totals = _Totals()
        hours: dict[str | None, Tally] = {}
        parser = FileParser(fmt, service, host, path.name, count_requests=count_requests)
        long_head, ends = False, first.endswith(b"\n")
        if fmt is LogFormat.OSLO:
            record = _RECORD.search(first)
            long_head = record is None
            start = len(first) if record is None else record.start()
            if start:
                self._head(parser, _text(first[:start]), fmt, hours, totals)
                first = first[start:]
        done = []
        with ThreadPoolExecutor(self.threads) as pool:
            running: deque[Future[_Piece]] = deque()
            for piece in itertools.chain((first,), pieces):
                if piece is not first:
                    if long_head:
                        raise Fallback  # a head longer than a piece
                    ends = piece.endswith(b"\n")
                _text(piece, check_only=True)
                if piece:
                    running.append(pool.submit(_piece, piece, fmt, count_requests))
                if len(running) > self.threads:
                    done.append(running.popleft().result())
            done.extend(future.result() for future in running)
        if not ends:
            raise Fallback  # the reference counts a last line without its end apart
        self._aggregate(done, fmt, parser, service, host, hours, totals)
        result.unparsed_sample = list(parser.unparsed_sample)
        for key, tally in hours.items():
            _add(result, _hour_epoch(key) if key else 0.0, tally)
        lines = Tally()
        for outcome, count in (("parsed", totals.parsed), ("skipped", totals.skipped),
                               ("unparsed", totals.unparsed)):
            lines.lines[(service, path.name, outcome)] = count
        _add(result, min(result.hours, default=0.0), lines)
        result.lines = totals.parsed + totals.skipped + totals.unparsed
        return result

    def _aggregate(self, done: list[_Piece], fmt: LogFormat, parser: FileParser,
                   service: str, host: str, hours: dict[str | None, Tally],
                   totals: _Totals) -> None:
        import polars as pl

        if not done:
            return
        height = sum(h for h, _, _ in done)
        groups = pl.concat([g for _, counted, _ in done for g in counted], how="vertical_relaxed")
        odd_lines = pl.concat([o for _, _, o in done])
        groups = groups.group_by(*_KEYS).agg(
            pl.col("n").sum(), pl.col("timed").sum(), pl.col("total").sum())
        requests: dict[str, tuple[str, str]] = {}
        templates: set[str] = set()
        for request in groups["request"].drop_nulls().unique().to_list():
            # as the reference cuts it: method and path, query dropped, then the template
            method, target = request.split(" ")[:2]
            template = url_template(target.split("?", 1)[0])
            requests[request] = (method, template)
            templates.add(template)
        if len(templates) > MAX_TEMPLATES:
            raise Fallback  # the reference counts templates past its limit as {other}
        parsed = 0
        for hour, level, request, status, bucket, n, timed, total in groups.iter_rows():
            parsed += n
            tally = hours.get(hour)
            if tally is None:
                tally = hours[hour] = Tally()
            if level is not None:
                key3 = (service, host, level)
                tally.records[key3] = tally.records.get(key3, 0) + n
            if request is None:
                continue
            method, template = requests[request]
            key5 = (service, host, method, template, status)
            tally.requests[key5] = tally.requests.get(key5, 0) + n
            if timed:
                key4 = (service, host, method, template)
                hist = tally.durations.get(key4)
                if hist is None:
                    hist = tally.durations[key4] = new_histogram()
                hist[bucket] += timed
                hist[-1] += total
        totals.parsed += parsed
        totals.skipped += height - parsed - len(odd_lines)
        if len(odd_lines):
            self._odd(odd_lines.to_list(), fmt, parser, hours, totals)

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
            _merge_hour(hours, hour, tally)

    def _head(self, parser: FileParser, text: str, fmt: LogFormat,
              hours: dict[str | None, Tally], totals: _Totals) -> None:
        """The lines of a file before its first record, in order, as the reference (each
        in the hour of its own timestamp, else of the line before)."""
        for part_hour, part in _line_hours(text, fmt):
            parser.feed(part)
            tally = parser.drain()
            _count(tally, totals)
            _merge_hour(hours, part_hour, tally)


def _line_hours(text: str, fmt: LogFormat) -> list[tuple[str | None, str]]:
    """:func:`split_hours` without its shortcut for chunks in one hour."""
    parts: list[tuple[str | None, str]] = []
    start, hour = 0, None
    for match in HOUR[fmt].finditer(text):
        if match.group(1) != hour:
            if match.start() > start:
                parts.append((hour, text[start:match.start()]))
            start, hour = match.start(), match.group(1)
    parts.append((hour, text[start:]))
    return parts


def _count(tally: Tally, totals: _Totals) -> None:
    totals.parsed += tally.outcome("parsed")
    totals.skipped += tally.outcome("skipped")
    totals.unparsed += tally.outcome("unparsed")
    tally.lines = {}


def _merge_hour(hours: dict[str | None, Tally], hour: str | None, tally: Tally) -> None:
    mine = hours.get(hour)
    if mine is None:
        hours[hour] = tally
    else:
        mine.merge(tally)


def _add(result: FileResult, epoch: float, tally: Tally) -> None:
    mine = result.hours.get(epoch)
    if mine is None:
        result.hours[epoch] = tally
    else:
        mine.merge(tally)


def backfill_columnar(paths: Sequence[Path], threads: int | None = None,
                      host: str | None = None, skip: Callable[[str], bool] | None = None,
                      engine: ColumnarBackfill | None = None) -> Iterator[FileResult]:
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
    engine = engine or ColumnarBackfill(threads)
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
