"""The chunk parser: whole buffers of lines in, aggregates and indexed records out.

Two paths give the same results. The *batch* path takes a large ASCII chunk
(:data:`BATCH_BYTES` or more) of oslo.log, HAProxy or access lines: a compiled kernel
(``*_kernel.py``, numba) walks its bytes once and cuts the lines it knows to be regular
into spans and interned request keys; Python counts per distinct key, slices index rows
from the spans, and adds response times to the histograms in file order (``batch.py``),
so sums are the same floats added in the same order. Every line a kernel does not take
goes through the *per-line* path, in order: the prefix cut with ``str.split`` and a
compiled pattern as the judge of anything unusual; lines no pattern takes are
recognised (continuation of a multi-line record, a known non-metric format, blank) or
counted as unparseable with a bounded sample. Counters are plain dicts keyed by short
tuples; service and host are added once per drain, not per line. URL templates and
timestamps are memoised. Every line ends up in exactly one of parsed / skipped /
unparsed, and nothing raises on bad input.
"""

from __future__ import annotations

import codecs
import enum
import re
import sys
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, NamedTuple, cast

from stackwatch.logparse import access, haproxy, oslo, other, swift, system
from stackwatch.logparse.numbers import decimal_seconds, scaled
from stackwatch.logparse.tally import BUCKETS, Histogram, Tally, new_histogram, observe
from stackwatch.logparse.timestamps import ISO_MINUTES, clf_epoch, iso_epoch, syslog_epoch
from stackwatch.logparse.urls import TemplateCache

if TYPE_CHECKING:
    from stackwatch.logparse.batch import F64, I64, InOrderSums


class LogFormat(enum.StrEnum):
    """The line formats stackwatch reads."""

    OSLO = "oslo"
    ACCESS = "access"
    UWSGI = "uwsgi"
    HAPROXY = "haproxy"
    LIBVIRT = "libvirt"
    SYSLOG = "syslog"
    GUNICORN = "gunicorn"
    RABBITMQ = "rabbitmq"
    MARIADB = "mariadb"
    SWIFT_PROXY = "swift_proxy"
    TEXT = "text"


PRIMARY: dict[LogFormat, re.Pattern[str] | None] = {
    LogFormat.OSLO: oslo.LINE,
    LogFormat.ACCESS: access.COMBINED,
    LogFormat.UWSGI: access.UWSGI,
    LogFormat.HAPROXY: haproxy.HTTPLOG,
    LogFormat.LIBVIRT: system.LIBVIRT,
    LogFormat.SYSLOG: system.SYSLOG,
    LogFormat.GUNICORN: other.GUNICORN,
    LogFormat.RABBITMQ: None,
    LogFormat.MARIADB: None,
    LogFormat.SWIFT_PROXY: swift.PROXY,
    LogFormat.TEXT: None,
}

# Formats whose unrecognised lines are the daemon's free text (banners, help), not errors.
FREE_TEXT = {LogFormat.RABBITMQ: "rabbitmq-text", LogFormat.MARIADB: "mariadb-text",
             LogFormat.TEXT: "daemon-output"}

SKIP_ALL = {LogFormat.RABBITMQ: "rabbitmq", LogFormat.MARIADB: "mariadb"}
"""Formats whose own recogniser (``other.RECOGNISERS``) takes no line an earlier one could
(gunicorn's lines start with ``[``; RabbitMQ's time has a fraction and an offset, MariaDB's
neither; neither is blank): a chunk of their lines only is skipped in one count, as line
by line."""
_LINE_STARTS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}
"""Those recognisers matching at every line start (compiled on first use)."""

# Formats where a record may span several lines.
MULTILINE = frozenset({LogFormat.OSLO, LogFormat.GUNICORN, LogFormat.LIBVIRT})

LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "AUDIT": "INFO", "TRACE": "TRACE"}
NOTABLE_LEVELS = frozenset({"ERROR", "CRITICAL"})
OPEN = ("", "")
"""The open-record marker of the oslo loop (any non-None value: the record is open)."""
SAMPLE_LIMIT = 20
MESSAGE_LIMIT = 2000
NOTABLE_LIMIT = 500
BATCH_BYTES = 1 << 18
"""Chunks at least this large go through the batch paths (their ASCII lines)."""
BATCHED = frozenset({LogFormat.OSLO, LogFormat.ACCESS, LogFormat.HAPROXY})
"""Formats with a batch path."""
NON_ASCII_MARK = "stackwatch-non-ascii-as-nul"
"""A codec error handler: each non-ASCII character encoded as one NUL byte."""


def _mark_non_ascii(text: str) -> bytes:
    """``text`` as ASCII bytes, one per character, NUL where a character is not ASCII (and
    where it was NUL already): ``find(0)`` then gives character positions."""
    try:
        codecs.lookup_error(NON_ASCII_MARK)
    except LookupError:
        codecs.register_error(NON_ASCII_MARK, lambda error: (
            "\0" * (error.end - error.start), error.end))  # type: ignore[attr-defined]
    return text.encode("ascii", NON_ASCII_MARK)


def _epoch(stamp: object) -> float:
    """Row timestamps are kept as text until handed over (most rows never need it)."""
    if isinstance(stamp, float):
        return stamp
    text = str(stamp)
    if text[:1].isdigit() and text[4:5] == "-":
        return iso_epoch(text)
    if text[:1] == "[" or text[2:3] == "/":
        return clf_epoch(text.strip("[]"))
    return syslog_epoch(text)


_HAPROXY_TIMINGS: dict[str, tuple[int, float]] = {}
"""HAProxy total-time field (milliseconds) -> (histogram bucket, seconds)."""


def _haproxy_timing(total: str) -> tuple[int, float] | None:
    """(bucket, seconds) of a total time, ``None`` when it is not a number."""
    seconds = scaled(total.lstrip("+"), 1000)
    if seconds is None:
        return None
    if len(_HAPROXY_TIMINGS) >= 65536:
        _HAPROXY_TIMINGS.clear()
    timing = _HAPROXY_TIMINGS[total] = (bisect_left(BUCKETS, seconds), seconds)
    return timing


def _haproxy_fields(line: str) -> list[str]:
    """An HAProxy line cut at its first 19 spaces (the request's method is field 17, its
    path 18), the padding of a one-digit day (``Dec  4``) not counted as a field."""
    f = line.split(" ", 19)
    if len(f) > 1 and f[1] == "":  # "Dec  4": one more cut, so the path stays alone
        f = line.split(" ", 20)
        del f[1]
    return f


def _token_url(template: str, method: str) -> bool:
    return method == "POST" and template.endswith(("/v3/auth/tokens", "/v2.0/tokens"))


def detect_format(path: str | PurePath, head: str = "") -> LogFormat:
    """The format of a log file, from its name, else from its first lines."""
    name = PurePath(path).name.lower()
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    parent = PurePath(path).parent.name.lower()
    rules: tuple[tuple[bool, LogFormat], ...] = (
        ("haproxy" in name, LogFormat.HAPROXY),
        ("uwsgi" in name, LogFormat.UWSGI),
        ("access" in name, LogFormat.ACCESS),
        ("gunicorn" in name, LogFormat.GUNICORN),
        (name.startswith("libvirtd") or (parent == "libvirt" and name.startswith("libvirt")),
         LogFormat.LIBVIRT),
        (name.startswith(("kern.log", "syslog", "messages", "dmesg")), LogFormat.SYSLOG),
        ("rabbit" in name or parent == "rabbitmq", LogFormat.RABBITMQ),
        ("mariadb" in name or "mysql" in name or parent == "mysql", LogFormat.MARIADB),
        ("proxy-server" in name or (parent == "swift" and name.startswith("proxy")),
         LogFormat.SWIFT_PROXY),
        (".stdout" in name or ".stderr" in name, LogFormat.TEXT),
    )
    for matched, fmt in rules:
        if matched:
            return fmt
    lines = [line for line in head.splitlines() if line.strip()][:20]
    for fmt in (LogFormat.OSLO, LogFormat.ACCESS, LogFormat.UWSGI, LogFormat.HAPROXY,
                LogFormat.SWIFT_PROXY, LogFormat.LIBVIRT, LogFormat.GUNICORN,
                LogFormat.SYSLOG):
        pattern = PRIMARY[fmt]
        if pattern is not None and lines and sum(
                pattern.match(line) is not None for line in lines) * 2 > len(lines):
            return fmt
    return LogFormat.OSLO


class IndexRow(NamedTuple):
    """One record worth keeping: carries a request id or instance, or is an error.

    A named tuple: one is made for nearly every line of an API log."""

    offset: int
    timestamp: float
    level: str
    logger: str
    request_id: str
    global_request_id: str
    instance: str
    message: str


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """A 401 on a token URL: what the brute-force detector counts per address."""

    timestamp: float
    remote: str


class FileParser:
    """Parses the complete lines of one file (one format, one service, one host).

    ``feed`` takes text made of whole lines (each ending in ``\\n``) and the byte
    offset of its first character; ``drain`` hands over what was counted since
    the last drain. ``count_requests=False`` keeps request lines out of the request
    metrics (nova writes a ``requestlog`` line *and* an access line per call: the
    source counts the access log where there is one). ``index=True`` keeps an
    :class:`IndexRow` for every record that carries a request id or instance uuid.
    ``compiled=False`` never takes the batch paths (numba is then never imported).
    """

    batch_bytes = BATCH_BYTES
    """Chunks at least this long go through the batch paths (tests set it lower)."""

    def __init__(self, fmt: LogFormat, service: str, host: str, file: str, *,
                 count_requests: bool = True, index: bool = False,
                 templates: TemplateCache | None = None, compiled: bool = True) -> None:
        if not compiled:
            self.batch_bytes = sys.maxsize
        self.format = fmt
        self.service = service
        self.host = host
        self.file = file
        self.count_requests = count_requests
        self.index = index
        self.templates = templates or TemplateCache()
        self._rows_raw: list[tuple[int, str | float, str, str, str, str, str, str]] = []
        # position in _rows_raw -> the node its line names (syslog), when not self.host
        self._row_hosts: dict[int, str] = {}
        self.failures: list[AuthFailure] = []
        self.unparsed_sample: deque[str] = deque(maxlen=SAMPLE_LIMIT)
        """The latest unparseable lines (for ``stackwatch logs parse``)."""
        self.unparsed_new: list[str] = []
        """Unparseable lines since the source last took them (at most SAMPLE_LIMIT)."""
        self._pattern = PRIMARY[fmt]
        self._open: tuple[str, str] | None = None  # (pid, logger) of the open record
        self._open_traceback = False
        self._open_row = False
        self._reset()

    def _reset(self) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        self._durations: dict[tuple[str, str], Histogram] = {}
        self._levels: dict[str, int] = {}
        self._tracebacks = 0
        self._haproxy: dict[tuple[str, str, str, str, str], int] = {}
        self._haproxy_time: dict[tuple[str, str, str], Histogram] = {}
        self._disk: dict[tuple[str, str], int] = {}
        self._parsed = 0
        self._unparsed = 0
        self._skipped: dict[str, int] = {}

    # -- feeding ---------------------------------------------------------------

    def feed(self, text: str, offset: int = 0) -> None:
        """Parse whole lines; ``offset`` is the byte position of ``text[0]`` in the file."""
        if not text:
            return
        if not text.endswith("\n"):
            text += "\n"
        self._ascii = text.isascii()
        self._base = offset
        self._text = text
        self._mark = (0, offset)
        pattern = self._pattern
        if pattern is None:
            if not self._skip_all(text):
                self._other(text, 0, len(text))
        elif not self._ascii and self.format in BATCHED and len(text) >= self.batch_bytes:
            self._feed_mixed(text, pattern)
        else:
            self._dispatch(text, pattern)
        self._text = ""

    def _skip_all(self, text: str) -> bool:
        """A RabbitMQ or MariaDB chunk whose every line is of its format: skipped in one
        count (``False``, nothing done, when a line is not)."""
        reason = SKIP_ALL.get(self.format)
        if reason is None:
            return False
        starts = _LINE_STARTS.get(reason)
        if starts is None:  # "^…" as "\n…" (no line of these formats can hold a "\n"):
            # the regex engine then jumps from newline to newline, twice as fast as a
            # MULTILINE "^" tried at every character
            head = dict(other.RECOGNISERS)[reason]
            starts = _LINE_STARTS[reason] = (head, re.compile("\n" + head.pattern[1:]))
        lines = text.count("\n")
        first, after_newline = starts
        if first.match(text) is None or len(after_newline.findall(text)) != lines - 1:
            return False
        self._skipped[reason] = self._skipped.get(reason, 0) + lines
        return True

    def _dispatch(self, text: str, pattern: re.Pattern[str]) -> None:
        if self.format is LogFormat.OSLO:
            self._feed_oslo(text, pattern)
        elif self.format is LogFormat.ACCESS:
            self._feed_access(text, pattern)
        elif self.format is LogFormat.HAPROXY:
            self._feed_haproxy(text, pattern)
        else:
            self._feed_generic(text, pattern)

    def _feed_mixed(self, text: str, pattern: re.Pattern[str]) -> None:
        """A large chunk with non-ASCII characters: its runs of ASCII lines through the
        batch paths (each with its own byte offset), the lines holding the others line by
        line, in order."""
        marked = _mark_non_ascii(text)  # one byte per character: NUL for the others
        position = 0
        while (found := marked.find(0, position)) >= 0:
            start = text.rfind("\n", 0, found) + 1
            end = text.index("\n", found) + 1
            while (found := marked.find(0, end)) >= 0 and text.rfind("\n", 0, found) + 1 == end:
                end = text.index("\n", found) + 1  # the next line has some too
            if start > position:
                self._feed_ascii(text, position, start, pattern)
            lines = text[start:end - 1].split("\n")
            if self.format is LogFormat.OSLO:
                self._oslo_lines(lines, start)  # offsets from the whole chunk's text
            elif self.format is LogFormat.ACCESS:
                self._access_lines(lines, pattern)
            else:
                self._haproxy_lines(lines, pattern)
            position = end
        if position < len(text):
            self._feed_ascii(text, position, len(text), pattern)

    def _feed_ascii(self, text: str, start: int, end: int, pattern: re.Pattern[str]) -> None:
        """``text[start:end]`` (whole lines, all ASCII) as a chunk of its own."""
        outer = (self._base, text)
        base = self._byte_offset(start)
        mark = self._mark
        self._ascii, self._base, self._text, self._mark = True, base, text[start:end], (0, base)
        self._dispatch(self._text, pattern)
        self._ascii, (self._base, self._text), self._mark = False, outer, mark

    def _byte_offset(self, position: int) -> int:
        if self._ascii:
            return self._base + position
        last_pos, last_byte = self._mark
        if position < last_pos:
            last_pos, last_byte = 0, self._base
        byte = last_byte + len(self._text[last_pos:position].encode("utf-8", "surrogateescape"))
        self._mark = (position, byte)
        return byte

    def _feed_oslo(self, text: str, pattern: re.Pattern[str]) -> None:
        """Large ASCII chunks through the compiled kernel, the rest line by line."""
        if self._ascii and len(text) >= self.batch_bytes and self._oslo_batch(text):
            return
        lines = text.split("\n")
        lines.pop()
        self._oslo_lines(lines, 0)

    def _oslo_lines(self, lines: list[str], position: int) -> None:
        """oslo.log lines, the first at character ``position`` of the chunk."""
        levels: list[str] = []
        level_append = levels.append
        requests = self._requests
        durations = self._durations
        template = self.templates
        cached = template.cache.get
        buckets = BUCKETS
        count_requests = self.count_requests
        index = self.index
        mark = oslo.REQUEST_MARK
        request_re = oslo.REQUEST
        default_re = oslo.EVENTLET_DEFAULT
        notable = NOTABLE_LEVELS
        rows_append = self._rows_raw.append
        new_row = tuple.__new__  # skips the named tuple's Python-level __new__
        minutes = ISO_MINUTES.get
        ascii_text = self._ascii
        base = self._base
        line_fast = oslo.LINE_FAST
        parsed = continued = 0
        opened = self._open
        open_row, in_tb = self._open_row, self._open_traceback  # kept local in the loop
        for line in lines:
            start = position
            position += len(line) + 1
            # The prefix cut with str.split (several times faster than the pattern); the
            # pattern judges whatever does not look like "date time pid LEVEL logger".
            f = line.split(" ", 5)
            if len(f) > 4 and f[2].isdigit() and f[0][4:5] == "-" and f[1][2:3] == ":" \
                    and f[3].isupper() and f[4]:
                level, logger = f[3], f[4]
                rest = f[5] if len(f) == 6 else ""
            else:
                match = line_fast.match(line)
                if match is None:
                    self._open, self._open_row, self._open_traceback = opened, open_row, in_tb
                    self._other_lines((line,))
                    opened, open_row, in_tb = self._open, self._open_row, self._open_traceback
                    continue
                level, logger, rest = match.groups()
            # split_rest(), inlined: this loop runs once per line.
            context = None
            if rest[:1] == "[" and rest[:10] != "[instance:":
                end = rest.find("]")
                if end > 0:
                    context = rest[1:end]
                    rest = rest[end + 2:]
            instance = ""
            if rest[:11] == "[instance: " and rest[47:48] == "]":
                instance = rest[11:47]
                rest = rest[49:]
            # oslo.log writes no context on traceback lines (logging_exception_prefix),
            # and never ERROR-level ones of their own: they continue the open record,
            # even when another worker's lines came in between — or one read before: a
            # reader restarted from a checkpoint inside a traceback, a file rotated in
            # the middle of one.
            if context is None:
                continued += 1
                if not in_tb and rest[:22] == "Traceback (most recent":
                    in_tb = True
                    self._tracebacks += 1
                if open_row:
                    self._extend_row(rest)
                continue
            parsed += 1
            opened = OPEN
            in_tb = open_row = False
            level_append(level)
            method = ""
            if mark in rest and (count_requests or (index and not instance and
                                                    "/servers/" in rest)):
                # requestlog / eventlet: 'ip "GET /path" status: 200 len: 1 ... time: 0.1'
                q = rest.split('"')
                r = q[1].split(" ") if len(q) == 3 else q[:0]
                t = q[2].split() if len(r) in (2, 3) else q[:0]
                if len(t) >= 4 and t[0] == "status:" and t[2] == "len:" and \
                        len(t[1]) == 3 and t[1].isdigit() and r[0].isupper():
                    method, path, status = r[0], r[1], t[1]
                    duration = t[-1] if t[-2] == "time:" else None
                    remote = q[0][:q[0].find(" ")]
                else:
                    req = request_re.match(rest)
                    if req is not None:
                        remote, method, path, status, _, _, duration = req.groups()
            elif " - - [" in rest:
                # eventlet default (glance): 'ip - - [date] "GET /p HTTP/1.1" 200 1682 0.0012'
                q = rest.split('"')
                r = q[1].split(" ") if len(q) == 3 else q[:0]
                t = q[2].split() if len(r) == 3 else q[:0]
                if len(t) == 3 and len(t[0]) == 3 and t[0].isdigit() and "." in t[2] and \
                        r[0].isupper():
                    method, path, status, duration = r[0], r[1], t[0], t[2]
                    remote = q[0][:q[0].find(" ")]
                else:
                    req = default_re.match(rest)
                    if req is not None:
                        remote, method, path, status, _, duration = req.groups()
            if method:
                query = path.find("?")
                if query >= 0:
                    path = path[:query]
                if index and not instance:
                    at = path.find("/servers/") + 9
                    if at > 8 and path[at + 8:at + 9] == "-" and path[at + 23:at + 24] == "-":
                        instance = path[at:at + 36]
                if count_requests:
                    tpl = cached(path) or template(path)
                    key = (method, tpl, status)
                    requests[key] = requests.get(key, 0) + 1
                    # "time: abc" (or nan, 1e3...): a request without a time
                    seconds = decimal_seconds(duration) if duration else None
                    if seconds is not None:
                        hkey = (method, tpl)
                        hist = durations.get(hkey)
                        if hist is None:
                            hist = durations[hkey] = new_histogram()
                        hist[bisect_left(buckets, seconds)] += 1
                        hist[-1] += seconds
                    if status == "401" and _token_url(tpl, method):
                        self.failures.append(
                            AuthFailure(iso_epoch(line[:23]), remote))
            request_id = global_id = ""
            if (index or level in notable) and context and context != "-":
                # [global request] or [request user ...] (older oslo.log without global)
                space = context.find(" ")
                if space > 0 and context.startswith("req-", space + 1):
                    if context[:4] != "None":
                        global_id = context[:space]
                    end = context.find(" ", space + 1)
                    request_id = context[space + 1:end] if end > 0 else context[space + 1:]
                elif context[:4] == "req-":
                    request_id = context[:space] if space > 0 else context
            if (index and (request_id or instance)) or level in notable:
                # iso_epoch(line[:23]), its fast path inlined (one call less per row)
                minute = minutes(line[:16])
                if minute is not None and line[16:17] == ":" and line[19:20] == "." and \
                        len(line) >= 23:
                    try:
                        when = minute + float(line[17:23])
                    except ValueError:
                        when = iso_epoch(line[:23])
                else:
                    when = iso_epoch(line[:23])
                rows_append(new_row(IndexRow, (
                    base + start if ascii_text else self._byte_offset(start), when, level,
                    logger, request_id, global_id, instance, rest[:MESSAGE_LIMIT])))
                open_row = True
        self._open, self._open_row, self._open_traceback = opened, open_row, in_tb
        self._parsed += parsed
        self._skipped["continuation"] = self._skipped.get("continuation", 0) + continued
        for level, count in Counter(levels).items():
            self._levels[level] = self._levels.get(level, 0) + count

    def _oslo_batch(self, text: str) -> bool:
        """A chunk cut by :mod:`.oslo_kernel`: its regular lines (first lines of records)
        become levels, requests and rows from the kernel's spans, in file order with the
        other lines, which go through the per-line path (the times of the requests before
        them added first: same float additions, same order). ``False`` (nothing done) when
        most lines are not regular, or when the new URL templates could reach the cap (which
        templates become ``{other}`` depends on the order they come in)."""
        import numpy as np

        from stackwatch.logparse import oslo_kernel as kernel
        from stackwatch.logparse.batch import ascii_array

        count = text.count("\n")
        info = np.empty((count, kernel.WIDTH), np.int64)
        keys = np.empty(count, np.int64)
        seconds = np.empty(count, np.float64)
        spans = np.empty((count, 2 * kernel.FIELDS), np.int64)
        distinct = kernel.scan(ascii_array(text), self.index, self.count_requests, info, keys,
                               seconds, spans)
        flags = info[:, kernel.FLAGS]
        others = count - int(np.count_nonzero(flags & (kernel.REGULAR | kernel.CONTINUATION)))
        requests = int(np.count_nonzero(flags & kernel.MAYBE_REQUEST))
        if others * 4 > count * 3 or 0 < self.templates.room() <= distinct + requests:
            return False
        unauthorized, sums = self._oslo_requests(text, keys, seconds, spans, distinct)
        self._oslo_rows(text, info, keys, unauthorized, sums)
        return True

    def _oslo_requests(self, text: str, keys: I64, seconds: F64, spans: I64, distinct: int
                       ) -> tuple[set[int], InOrderSums | None]:
        """Count the kernel's request keys; return the keys of 401s on a token URL, and the
        sums to add the times with (a histogram is made only for an operation with a
        time, as line by line)."""
        import numpy as np

        from stackwatch.logparse.batch import InOrderSums

        unauthorized: set[int] = set()
        if not distinct:
            return unauthorized, None
        taken = keys >= 0
        requests, durations, template = self._requests, self._durations, self.templates
        group = np.empty(distinct, np.int64)
        operations: dict[tuple[str, str], int] = {}
        counts = np.bincount(keys[taken], minlength=distinct).tolist()
        for key, (a, b, c, d, e, f) in enumerate(spans[:distinct].tolist()):
            method, status = text[a:b], text[e:f]
            tpl = template(text[c:d])
            fields = (method, tpl, status)
            requests[fields] = requests.get(fields, 0) + counts[key]
            group[key] = operations.setdefault((method, tpl), len(operations))
            if status == "401" and _token_url(tpl, method):
                unauthorized.add(key)
        timed = np.zeros(len(operations), np.bool_)
        timed[group[keys[taken & ~np.isnan(seconds)]]] = True
        hists = [durations.setdefault(operation, new_histogram()) if used else new_histogram()
                 for operation, used in zip(operations, timed.tolist(), strict=True)]
        return unauthorized, InOrderSums(keys, seconds, group, hists)

    def _oslo_rows(self, text: str, info: I64, keys: I64, unauthorized: set[int],
                   sums: InOrderSums | None) -> None:
        """Levels, 401s and index rows of the kernel's regular lines; runs of other lines
        through the per-line path, all in file order. Continuation lines (a third of a
        real log: tracebacks) are taken a run at a time, never one Python step each."""
        import numpy as np

        from stackwatch.logparse import oslo_kernel as kernel  # loaded by the batch path

        levels: list[str] = []
        level_append = levels.append
        rows_append = self._rows_raw.append
        new_row = tuple.__new__  # skips the named tuple's Python-level __new__
        minutes = ISO_MINUTES.get
        base = self._base
        keep, stamp, status_401 = kernel.KEEP, kernel.STAMP, kernel.UNAUTHORIZED
        regular, continuation = kernel.REGULAR, kernel.CONTINUATION
        flags_column = info[:, kernel.FLAGS]
        known = ((flags_column & (regular | continuation)) != 0).tolist()
        heads = np.flatnonzero((flags_column & continuation) == 0)
        count = len(info)
        # continuation lines between a line and the next line that is not one
        run_ends = [*heads[1:].tolist(), count] if len(heads) else []
        first_head = int(heads[0]) if len(heads) else count
        starts = info[:, kernel.START].tolist()
        ends = info[:, kernel.END].tolist()
        messages = info[:, kernel.MESSAGE].tolist()
        parsed = continued = 0
        run = -1  # first line of a run of other lines, or -1
        opened, open_row, in_tb = self._open, self._open_row, self._open_traceback

        def continue_record(a: int, b: int) -> None:
            """Continuation lines ``a``..``b - 1`` of the open record, in order."""
            nonlocal continued, opened, open_row, in_tb
            while a < b and opened is None:  # no record open: the per-line path decides
                self._open, self._open_row, self._open_traceback = opened, open_row, in_tb
                self._oslo_other(text[starts[a]:ends[a]], starts[a], a, sums)
                opened, open_row, in_tb = self._open, self._open_row, self._open_traceback
                a += 1
            if a >= b:
                return
            continued += b - a
            if not in_tb and "Traceback (most recent" in text[starts[a]:ends[b - 1]]:
                for k in range(a, b):
                    begin = starts[k] + messages[k]
                    if text[begin:begin + 22] == "Traceback (most recent":
                        in_tb = True
                        self._tracebacks += 1
                        break
            if open_row and self._rows_raw:
                row = self._rows_raw[-1]
                if len(row[7]) < MESSAGE_LIMIT:
                    parts, size = [row[7]], len(row[7])
                    for k in range(a, b):
                        parts.append(text[starts[k] + messages[k]:ends[k]])
                        size += 1 + len(parts[-1])
                        if size >= MESSAGE_LIMIT:
                            break
                    longer = "\n".join(parts)[:MESSAGE_LIMIT]
                    # the same type back: an IndexRow (oslo) or a raw tuple (other formats)
                    self._rows_raw[-1] = tuple.__new__(type(row), (*row[:7], longer))

        continue_record(0, first_head)
        # a row's columns in the kernel's order: START, END, FLAGS, LEVEL, LEVEL_END,
        # LOGGER_END, MESSAGE, INSTANCE(_END), REQUEST_ID(_END), GLOBAL_ID(_END)
        for number, after, (s, e, flags, ls, le, ge, ms, i1, i2, r1, r2, g1, g2) in zip(
                heads.tolist(), run_ends, info[heads].tolist(), strict=True):
            if not flags & regular:  # left to the per-line path, a run at a time
                if run < 0:
                    run = number
                if number + 1 < count and not known[number + 1]:
                    continue  # the next line is another of them
                first = starts[run]
                self._open, self._open_row, self._open_traceback = opened, open_row, in_tb
                self._oslo_other(text[first:e], first, run, sums)
                opened, open_row, in_tb = self._open, self._open_row, self._open_traceback
                run = -1
                continue_record(number + 1, after)
                continue
            parsed += 1
            opened = OPEN
            in_tb = open_row = False
            line = text[s:e]
            level = line[ls:le]
            level_append(level)
            if flags & status_401 and int(keys[number]) in unauthorized:
                rest = line[ms:]
                before = rest[:rest.find('"')]
                self.failures.append(AuthFailure(iso_epoch(line[:23]),
                                                 before[:before.find(" ")]))
            if flags & keep:
                minute = minutes(line[:16]) if flags & stamp else None
                if minute is not None:
                    try:  # iso_epoch(line[:23]), its fast path inlined
                        when = minute + float(line[17:23])
                    except ValueError:
                        when = iso_epoch(line[:23])
                else:
                    when = iso_epoch(line[:23])
                rows_append(new_row(IndexRow, (
                    base + s, when, level, line[le + 1:ge], line[r1:r2], line[g1:g2],
                    line[i1:i2], line[ms:ms + MESSAGE_LIMIT])))
                open_row = True
            if number + 1 < after:
                continue_record(number + 1, after)
        self._open, self._open_row, self._open_traceback = opened, open_row, in_tb
        if sums is not None:
            sums.add_until(count)
        self._parsed += parsed
        self._skipped["continuation"] = self._skipped.get("continuation", 0) + continued
        for level, n in Counter(levels).items():
            self._levels[level] = self._levels.get(level, 0) + n

    def _oslo_other(self, text: str, position: int, number: int, sums: InOrderSums | None
                    ) -> None:
        """A run of lines the kernel left (``number``: the first's), line by line; the
        batch's times before it added first when it may hold a timed request."""
        if sums is not None and (oslo.REQUEST_MARK in text or " - - [" in text):
            sums.add_until(number)
        self._oslo_lines(text.split("\n"), position)

    def _keep(self, start: int, stamp: str, level: str, logger: str, request_id: str,
              global_id: str, instance: str, message: str) -> None:
        self._rows_raw.append((self._byte_offset(start), stamp, level, logger, request_id,
                               global_id, instance, message[:MESSAGE_LIMIT]))
        self._open_row = True

    def _extend_row(self, message: str) -> None:
        """Add a continuation line to the message of the latest kept record."""
        if not self._rows_raw:
            return
        row = self._rows_raw[-1]
        if len(row[7]) < MESSAGE_LIMIT:
            longer = (row[7] + "\n" + message)[:MESSAGE_LIMIT]
            # the same type back: an IndexRow (oslo) or a raw tuple (the other formats)
            self._rows_raw[-1] = tuple.__new__(type(row), (*row[:7], longer))

    def _feed_access(self, text: str, pattern: re.Pattern[str]) -> None:
        """Large ASCII chunks through the compiled kernel, the rest line by line."""
        if self._ascii and len(text) >= self.batch_bytes and self._access_batch(text, pattern):
            return
        lines = text.split("\n")
        lines.pop()
        self._access_lines(lines, pattern)

    def _access_lines(self, lines: list[str], pattern: re.Pattern[str]) -> None:
        """Combined + time, cut with ``str.split`` (several times faster than the pattern,
        which still decides every line this fast path does not take)."""
        requests = self._requests
        durations = self._durations
        template = self.templates
        cached = template.cache.get
        buckets = BUCKETS
        count_requests = self.count_requests
        rest_duration = access.rest_duration
        parsed = 0
        for line in lines:
            q = line.split('"')
            empty: list[str] = []
            head = q[0].split(" ") if len(q) == 7 else empty
            status_len = q[2].split(" ") if len(head) == 6 and head[3][:1] == "[" else empty
            request = q[1].split(" ") if len(status_len) == 4 else empty
            status = status_len[1] if len(request) in (2, 3) else ""
            if len(status) == 3 and status.isdigit() and request[0].isupper() and \
                    request[0].isalpha() and (request[1][:1] == "/" or request[1] == "*"):
                method, target, remote, rest = request[0], request[1], head[0], q[6]
            else:
                match = pattern.match(line)
                if match is None:
                    self._other_lines((line,))
                    continue
                remote, _, method, target, status, _, rest = match.groups()
            parsed += 1
            if not count_requests:
                continue
            query = target.find("?")
            path = target if query < 0 else target[:query]
            tpl = cached(path) or template(path)
            key = (method, tpl, status)
            requests[key] = requests.get(key, 0) + 1
            seconds = rest[1:] if rest[:1] == " " else ""  # the time is its own field
            # isdecimal, not isdigit: "²" is a digit that int() and float() refuse
            if seconds.isdecimal():  # Apache %D, microseconds
                duration: float | None = scaled(seconds, 1e6)
            elif seconds[:1].isdecimal() and seconds[-1:].isdecimal() and \
                    seconds.count(".") == 1 and seconds.replace(".", "").isdecimal():
                duration = float(seconds)  # gunicorn %(L)s, seconds
            else:
                duration = rest_duration(rest)
            if duration is not None:
                hkey = (method, tpl)
                hist = durations.get(hkey)
                if hist is None:
                    hist = durations[hkey] = new_histogram()
                hist[bisect_left(buckets, duration)] += 1
                hist[-1] += duration
            if status == "401" and _token_url(tpl, method):
                self._access_401(line, remote)
        self._parsed += parsed

    def _access_401(self, line: str, remote: str) -> None:
        stamp = line[line.find("[") + 1:line.find("]")]
        self.failures.append(AuthFailure(clf_epoch(stamp), remote))

    def _access_batch(self, text: str, pattern: re.Pattern[str]) -> bool:
        """The regular lines of a chunk counted by :mod:`.access_kernel`, per distinct key;
        the others (and the brute-force part of 401s) line by line, in file order, the
        times of the lines before each added first (same float additions, same order).
        ``False`` (nothing done) when most lines are not regular, or when the new URL
        templates could reach the cap (which templates become ``{other}`` depends on the
        order they come in)."""
        import numpy as np

        from stackwatch.logparse import access_kernel as kernel
        from stackwatch.logparse.batch import InOrderSums, ascii_array, line_span_arrays

        count = text.count("\n")
        starts, ends, keys, spans = line_span_arrays(count, kernel.FIELDS)
        micros = np.empty(count, np.int64)
        decimals = np.empty((count, 2), np.int64)
        distinct = kernel.scan(ascii_array(text), starts, ends, keys, micros, decimals, spans)
        slow = keys < 0
        others = int(np.count_nonzero(slow))
        if others * 8 > count or 0 < self.templates.room() <= distinct + others:
            return False
        self._parsed += count - others
        unauthorized: list[int] = []
        sums: InOrderSums | None = None
        if self.count_requests:
            requests, durations, template = self._requests, self._durations, self.templates
            group = np.empty(distinct, np.int64)
            hists: list[Histogram] = []
            groups: dict[tuple[str, str], int] = {}
            counts = np.bincount(keys[~slow], minlength=distinct).tolist()
            for key, (a, b, c, d, e, f) in enumerate(spans[:distinct].tolist()):
                method, status = text[a:b], text[e:f]
                tpl = template(text[c:d])
                fields = (method, tpl, status)
                requests[fields] = requests.get(fields, 0) + counts[key]
                index = groups.get(fields[:2])
                if index is None:
                    index = groups[(method, tpl)] = len(hists)
                    hists.append(durations.setdefault((method, tpl), new_histogram()))
                group[key] = index
                if status == "401" and _token_url(tpl, method):
                    unauthorized.append(key)
            seconds = micros / 1e6
            decimal = micros == kernel.DECIMAL
            for line, (a, b) in zip(np.flatnonzero(decimal).tolist(),
                                    decimals[decimal].tolist(), strict=True):
                seconds[line] = float(text[a:b])
            sums = InOrderSums(keys, seconds, group, hists)
        if unauthorized:
            slow |= np.isin(keys, unauthorized)
        for line in np.flatnonzero(slow).tolist():
            text_line = text[starts[line]:ends[line]]
            if keys[line] >= 0:  # a regular 401 on a token URL: the detector's part
                self._access_401(text_line, text_line[:text_line.find(" ")])
                continue
            if sums is not None:  # the per-line path may take it, and add to a sum
                sums.add_until(line)
            self._access_lines([text_line], pattern)
        if sums is not None:
            sums.add_until(count)
        return True

    def _feed_generic(self, text: str, pattern: re.Pattern[str]) -> None:
        position = 0
        handle = getattr(self, f"_line_{self.format.value}")
        for match in pattern.finditer(text):
            start = match.start()
            if start != position:
                self._other(text, position, start)
            position = match.end() + 1
            handle(match)
        if position < len(text):
            self._other(text, position, len(text))

    def _line_uwsgi(self, match: re.Match[str]) -> None:
        self._parsed += 1
        remote, stamp, method, path, _, msecs, status = match.groups()
        self._count_request(remote, method, path, status, scaled(msecs, 1000),
                            access.uwsgi_epoch(stamp))

    def _line_swift_proxy(self, match: re.Match[str]) -> None:
        client, _, method, path, status, _, _, seconds, source, _, end = match.groups()
        if source != "-":  # a middleware's subrequest, not a client's request
            self._skip("swift-subrequest")
            return
        self._parsed += 1
        self._count_request(client, method, swift.swift_path(path), status,
                            decimal_seconds(seconds), decimal_seconds(end) or 0.0)

    def _count_request(self, remote: str, method: str, path: str, status: str,
                       duration: float | None, when: float) -> None:
        if not self.count_requests:
            return
        tpl = self.templates(path)
        key = (method, tpl, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        if duration is not None:
            hist = self._durations.get((method, tpl))
            if hist is None:
                hist = self._durations[(method, tpl)] = new_histogram()
            observe(hist, duration)
        if status == "401" and _token_url(tpl, method):
            self.failures.append(AuthFailure(when, remote))

    def _access_other(self, line: str) -> bool:
        """uWSGI lines and Apache ``%v:%p``-prefixed lines in an access log."""
        match = access.UWSGI.match(line)
        if match is not None:
            self._line_uwsgi(match)
            return True
        stripped = access.VHOST.sub("", line, count=1)
        combined = access.COMBINED.match(stripped) if stripped != line else None
        if combined is None:
            return False
        self._parsed += 1
        remote, stamp, method, path, status, _, rest = combined.groups()
        self._count_request(remote, method, path, status, access.rest_duration(rest),
                            clf_epoch(stamp))
        return True

    def _feed_haproxy(self, text: str, pattern: re.Pattern[str]) -> None:
        """Large ASCII chunks through the compiled kernel, the rest line by line."""
        if self._ascii and len(text) >= self.batch_bytes:
            self._haproxy_batch(text, pattern)
            return
        lines = text.split("\n")
        lines.pop()
        self._haproxy_lines(lines, pattern)

    def _haproxy_lines(self, lines: list[str], pattern: re.Pattern[str]) -> None:
        """``option httplog`` lines cut with ``str.split``; the pattern decides the rest."""
        responses = self._haproxy
        times = self._haproxy_time
        own_host = self.host
        timings = _HAPROXY_TIMINGS
        parsed = 0
        for line in lines:
            f = _haproxy_fields(line)
            timing: tuple[int, float] | None = None
            fast = len(f) > 18 and f[4][:8] == "haproxy[" and f[6][:1] == "[" and \
                f[17][:1] == '"' and f[9].count("/") == 4 and "/" in f[8]
            if fast:
                timers = f[9]
                total = timers[timers.rfind("/") + 1:]
                if total[:1] != "-":  # not a number: the pattern decides
                    timing = timings.get(total) or _haproxy_timing(total)
                    fast = timing is not None
            if fast:
                host, frontend = f[3], f[7]
                backend, _, server = f[8].partition("/")
                status = f[10]
                if status == "401":  # the rest only for the brute-force detector
                    method, path = f[17][1:], f[18].split("?", 1)[0]
                    client, accepted = f[5][:f[5].rfind(":")], f[6][1:-1]
            else:
                match = pattern.match(line)
                if match is None:
                    self._other_lines((line,))
                    continue
                (host, iso_host, client, accepted, frontend, backend, server, total, status,
                 method, path) = match.groups()
                host = host or iso_host or own_host
                if total[:1] != "-":
                    timing = timings.get(total) or _haproxy_timing(total)
            parsed += 1
            if frontend[-1:] == "~":
                frontend = frontend[:-1]
            key = (host, frontend, backend, server, status)
            responses[key] = responses.get(key, 0) + 1
            tkey = (host, frontend, backend)
            hist = times.get(tkey)
            if hist is None:
                hist = times[tkey] = new_histogram()
            if timing is not None:
                hist[timing[0]] += 1
                hist[-1] += timing[1]
            if status == "401":
                self._haproxy_401(method, path, accepted, client)
        self._parsed += parsed

    def _haproxy_401(self, method: str, path: str, accepted: str, client: str) -> None:
        if method == "POST" and path.endswith("/tokens") and \
                _token_url(self.templates(path), method):
            self.failures.append(AuthFailure(clf_epoch(accepted), client))

    def _haproxy_batch(self, text: str, pattern: re.Pattern[str]) -> None:
        """The regular lines of a chunk counted by :mod:`.haproxy_kernel`, per distinct key;
        the others (and the brute-force part of 401s) line by line, in file order, the
        times of the lines before each added first (same float additions, same order). A
        chunk of mostly other lines goes line by line."""
        import numpy as np

        from stackwatch.logparse import haproxy_kernel as kernel
        from stackwatch.logparse.batch import InOrderSums, ascii_array, line_span_arrays

        count = text.count("\n")
        starts, ends, keys, spans = line_span_arrays(count, kernel.FIELDS)
        millis = np.empty(count, np.int64)
        distinct = kernel.scan(ascii_array(text), starts, ends, keys, millis, spans)
        slow = keys < 0
        others = int(np.count_nonzero(slow))
        if others * 8 > count:  # another shape (ISO time): line by line
            lines = text.split("\n")
            lines.pop()
            self._haproxy_lines(lines, pattern)
            return
        self._parsed += count - others
        responses, times = self._haproxy, self._haproxy_time
        group = np.empty(distinct, np.int64)
        hists: list[Histogram] = []
        groups: dict[tuple[str, str, str], int] = {}
        unauthorized: list[int] = []
        counts = np.bincount(keys[~slow], minlength=distinct).tolist()
        for key, (a, b, c, d, e, f, g, h, i, j) in enumerate(spans[:distinct].tolist()):
            host, frontend, backend, status = text[a:b], text[c:d], text[e:f], text[i:j]
            fields = (host, frontend, backend, text[g:h], status)
            responses[fields] = responses.get(fields, 0) + counts[key]
            index = groups.get(fields[:3])
            if index is None:
                index = groups[(host, frontend, backend)] = len(hists)
                hists.append(times.setdefault((host, frontend, backend), new_histogram()))
            group[key] = index
            if status == "401":
                unauthorized.append(key)
        seconds = np.where(millis >= 0, millis / 1000, np.nan)
        sums = InOrderSums(keys, seconds, group, hists)
        if unauthorized:
            slow |= np.isin(keys, unauthorized)
        for line in np.flatnonzero(slow).tolist():
            text_line = text[starts[line]:ends[line]]
            if keys[line] >= 0:  # a regular 401, already counted: the detector's part
                f = _haproxy_fields(text_line)
                self._haproxy_401(f[17][1:], f[18].split("?", 1)[0], f[6][1:-1],
                                  f[5][:f[5].rfind(":")])
            else:  # the per-line path may take it, and add to a histogram's sum
                sums.add_until(line)
                self._haproxy_lines([text_line], pattern)
        sums.add_until(count)

    def _line_libvirt(self, match: re.Match[str]) -> None:
        self._parsed += 1
        stamp, _, level, _, message = match.groups()
        self._record(level.upper(), "libvirtd", stamp, message, start=match.start())
        device = system.disk_device(message)
        if device:
            key = (self.host, device)
            self._disk[key] = self._disk.get(key, 0) + 1

    def _line_gunicorn(self, match: re.Match[str]) -> None:
        self._parsed += 1
        stamp, pid, level, message = match.groups()
        self._record(level, "gunicorn", stamp, message, pid, match.start())

    def _record(self, level: str, logger: str, stamp: str, message: str, pid: str = "",
                start: int = 0) -> None:
        level = LEVEL_ALIASES.get(level, level)
        self._levels[level] = self._levels.get(level, 0) + 1
        self._open = (pid, logger)
        self._open_traceback = False
        self._open_row = False
        if level in NOTABLE_LEVELS:
            # its own offset: the index keeps one record per (file, offset)
            self._keep(start, stamp, level, logger, "", "", "", message)

    def _line_syslog(self, match: re.Match[str]) -> None:
        stamp, host, program, message, dmesg = match.groups()
        if dmesg is not None:
            program, message = "kernel", dmesg
        device = system.disk_device(message) if program == "kernel" else ""
        if not device:
            self._skip("syslog-other")
            return
        self._parsed += 1
        key = (host or self.host, device)
        self._disk[key] = self._disk.get(key, 0) + 1
        when = 0.0 if stamp is None else (
            iso_epoch(stamp[:19]) if stamp[:4].isdigit() else syslog_epoch(stamp))
        if host and host != self.host:
            self._row_hosts[len(self._rows_raw)] = host
        self._rows_raw.append((self._byte_offset(match.start()), when, "ERROR", "kernel", "", "",
                               "", message[:MESSAGE_LIMIT]))

    # -- the slow path ---------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self._skipped[reason] = self._skipped.get(reason, 0) + 1

    def _other(self, text: str, start: int, end: int) -> None:
        """Lines the primary pattern did not take: continuation, known, blank or bad."""
        self._other_lines(text[start:end].split("\n")[:-1])

    def _other_lines(self, lines: Iterable[str]) -> None:
        free_text = FREE_TEXT.get(self.format)
        multiline = self.format in MULTILINE
        for line in lines:
            if self.format is LogFormat.ACCESS and self._access_other(line):
                continue
            reason = other.recognise(line)
            if reason and reason != "blank":
                self._skip(reason)
                if multiline:
                    self._open = ("", reason)
                    self._open_row = False
                continue
            if multiline and self._open is not None:
                self._skip("continuation")
                if not self._open_traceback and line.startswith("Traceback (most recent"):
                    self._open_traceback = True
                    self._tracebacks += 1
                if self._open_row:
                    self._extend_row(line)
            elif reason:
                self._skip(reason)
            elif free_text is not None:
                self._skip(free_text)
            else:
                self._unparsed += 1
                self.unparsed_sample.append(line[:500])
                if len(self.unparsed_new) < SAMPLE_LIMIT:
                    self.unparsed_new.append(line[:500])

    # -- results ---------------------------------------------------------------

    def take_rows(self) -> list[IndexRow]:
        """Index rows (and error records) kept since the last call, in file order."""
        raw, self._rows_raw = self._rows_raw, []
        self._open_row = False  # later continuation lines no longer reach its message
        if self.format is LogFormat.OSLO:  # the oslo loop makes them whole
            return cast(list[IndexRow], raw)
        return [IndexRow(row[0], _epoch(row[1]), *row[2:]) for row in raw]

    def take_rows_by_host(self) -> list[tuple[str, list[IndexRow]]]:
        """:meth:`take_rows` grouped by the node each record came from: the one its line
        names where the format carries it (syslog), else the parser's ``host``."""
        hosts, self._row_hosts = self._row_hosts, {}
        rows = self.take_rows()
        if not hosts:
            return [(self.host, rows)] if rows else []
        groups: dict[str, list[IndexRow]] = {}
        for position, row in enumerate(rows):
            groups.setdefault(hosts.get(position, self.host), []).append(row)
        return list(groups.items())

    def drain(self) -> Tally:
        """What was counted since the last drain, keyed with service and host."""
        service, host, file = self.service, self.host, self.file
        tally = Tally()
        tally.requests = {(service, host, m, t, s): n for (m, t, s), n in self._requests.items()}
        tally.durations = {(service, host, m, t): h for (m, t), h in self._durations.items()}
        tally.records = {(service, host, level): n for level, n in self._levels.items()}
        if self._tracebacks:
            tally.tracebacks = {(service, host): self._tracebacks}
        tally.haproxy = dict(self._haproxy)
        tally.haproxy_time = dict(self._haproxy_time)
        tally.disk_errors = dict(self._disk)
        skipped_total = sum(self._skipped.values())
        if self._parsed or skipped_total or self._unparsed:
            # all three, zeros included: an alert on unparsed lines needs the series
            for outcome, count in (("parsed", self._parsed), ("skipped", skipped_total),
                                   ("unparsed", self._unparsed)):
                tally.lines[(service, file, outcome)] = count
        tally.skipped = {(service, reason): n for reason, n in self._skipped.items() if n}
        self._reset()
        return tally


_WARM_UP = (
    (LogFormat.HAPROXY, "Nov 21 06:19:36 lb1 haproxy[1]: 10.0.0.5:1 [21/Nov/2026:06:19:36.123] "
     'fe be/s 0/0/0/0/1 200 12 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"\n'),
    (LogFormat.ACCESS, '10.0.0.9 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 5 '
     '"-" "a" 1\n'),
    (LogFormat.OSLO, "2026-11-21 06:19:36.304 590 INFO neutron.wsgi [None req-1 u p - - d d] "
     '10.0.0.1 "GET /v2.0/ports HTTP/1.1" status: 200  len: 1 time: 0.01\n'),
)


def warm_up() -> None:
    """Load the batch paths' compiled kernels now rather than at the first large chunk:
    numba's import (about half a second) and, the first time on a machine, their
    compilation (cached on disk). A one-time cost per process."""
    for fmt, line in _WARM_UP:
        parser = FileParser(fmt, "warm-up", "", "")
        parser.batch_bytes = 0
        parser.feed(line * 16)
