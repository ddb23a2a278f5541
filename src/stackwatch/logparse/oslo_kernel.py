"""oslo.log records cut a whole chunk at a time, in compiled code.

:func:`scan` walks the bytes of a chunk and cuts every *regular* line: the first line
of a record, as the per-line path of :mod:`stackwatch.logparse.engine` cuts it
(``str.split(" ", 5)``: date, time, pid, level, logger, rest; the same checks, the
level upper-case letters only), with a ``[context]``, and, where the per-line path
would read a request (``requestlog`` / eventlet wsgi, or eventlet's default format),
one that its string-splitting fast path takes, with a time that is a plain decimal
number. For each it gives the spans the engine slices its index row from (level,
logger, message, instance, request id, global request id), the id of its request key
(method, path without the query, status) and the response time in seconds (the same
double as Python's ``float``: at most 15 digits, one exact division). Lines with the
same prefix but no context (traceback and continuation lines) are marked with the
start of their message. Every other line is left to the per-line path, in order.

Imported only when a chunk is large enough to be worth it.
"""

from __future__ import annotations

import numpy as np

from stackwatch.logparse.batch import F64, I64, MAX_DIGITS, U8, intern, line_marks, new_table
from stackwatch.logparse.bytescan import find
from stackwatch.logparse.jit import kernel

FIELDS = 3
"""Request key fields, as (start, end) pairs in a key's row of ``spans``: method, path,
status."""
WIDTH = 13
"""Columns of ``info``, one row per line; spans after ``FLAGS`` are relative to the
line's start (small numbers: Python keeps one object for each below 257)."""
START, END, FLAGS, LEVEL, LEVEL_END, LOGGER_END, MESSAGE = range(7)
INSTANCE, INSTANCE_END, REQUEST_ID, REQUEST_ID_END, GLOBAL_ID, GLOBAL_ID_END = range(7, 13)
KEEP, STAMP, UNAUTHORIZED, REGULAR, MAYBE_REQUEST, CONTINUATION = 1, 2, 4, 8, 16, 32
"""``FLAGS`` bits: the line makes an index row; its time is ``YYYY-MM-DD HH:MM:SS.fff``
(iso_epoch's fast path may apply); its status is 401; it is regular; not regular, it holds
``" status: `` or `` - - [`` (the per-line path may read a request in it); it has the
prefix of a record but no context: a traceback or continuation line while a record is
open (its message from ``MESSAGE``). Lines with neither ``REGULAR`` nor ``CONTINUATION``
are left to the per-line path."""
MAX_TOKENS = 32
_POW10 = (1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
          1e15)
"""Powers of ten, exact as doubles."""

_MARK = np.frombuffer(b'" status: ', np.uint8)
_DEFAULT = np.frombuffer(b" - - [", np.uint8)
_SERVERS = np.frombuffer(b"/servers/", np.uint8)
_REQ = np.frombuffer(b"req-", np.uint8)
_NONE = np.frombuffer(b"None", np.uint8)
_INSTANCE = np.frombuffer(b"[instance: ", np.uint8)
_STATUS = np.frombuffer(b"status:", np.uint8)
_LEN = np.frombuffer(b"len:", np.uint8)
_TIME = np.frombuffer(b"time:", np.uint8)
_ERROR = np.frombuffer(b"ERROR", np.uint8)
_CRITICAL = np.frombuffer(b"CRITICAL", np.uint8)
"""Byte strings the kernels look for (global arrays: numba freezes them as constants)."""


@kernel
def _find_bytes(buf: U8, start: int, end: int, pattern: U8) -> int:
    """First position of ``pattern`` in ``buf[start:end]``, or -1."""
    size = len(pattern)
    for at in range(start, end - size + 1):
        k = 0
        while k < size and buf[at + k] == pattern[k]:
            k += 1
        if k == size:
            return at
    return -1


@kernel
def _marks(buf: U8, start: int, end: int) -> int:
    """Bit 1: ``" status: `` is in ``buf[start:end]``; bit 2: `` - - [`` is (one pass)."""
    found = 0
    for at in range(start, end):
        byte = buf[at]
        if byte == 34 and not found & 1 and _equals(buf, at, min(at + 10, end), _MARK):
            found |= 1
        elif byte == 32 and not found & 2 and buf[at + 1] == 45 and \
                _equals(buf, at, min(at + 6, end), _DEFAULT):
            found |= 2
    return found


@kernel
def _equals(buf: U8, start: int, end: int, pattern: U8) -> bool:
    if end - start != len(pattern):
        return False
    for k in range(len(pattern)):  # noqa: SIM110 (a loop numba compiles, not all())
        if buf[start + k] != pattern[k]:
            return False
    return True


@kernel
def _upper(buf: U8, start: int, end: int) -> bool:
    """Non-empty, A-Z only (then ``str.isupper`` holds)."""
    if end <= start:
        return False
    for k in range(start, end):  # noqa: SIM110
        if buf[k] < 65 or buf[k] > 90:
            return False
    return True


@kernel
def _digits(buf: U8, start: int, end: int) -> bool:
    if end <= start:
        return False
    for k in range(start, end):  # noqa: SIM110
        if buf[k] < 48 or buf[k] > 57:
            return False
    return True


@kernel
def _seconds(buf: U8, start: int, end: int) -> float:
    """``float(text)`` of ``digits[.digits]`` with at most 15 digits (an integer below
    2**53 divided by an exact power of ten: one rounding, as Python's); NaN otherwise."""
    mantissa = 0
    digits = 0
    scale = -1
    for k in range(start, end):
        byte = buf[k]
        if byte == 46 and scale < 0 and k > start and k < end - 1:
            scale = 0
            continue
        if byte < 48 or byte > 57:
            return np.nan
        mantissa = mantissa * 10 + (byte - 48)
        digits += 1
        if scale >= 0:
            scale += 1
    if digits == 0 or digits > MAX_DIGITS:
        return np.nan
    if scale <= 0:
        return float(mantissa)
    return mantissa / _POW10[scale]


@kernel
def _request(buf: U8, start: int, end: int, eventlet_default: bool, out: I64,
             tokens: I64) -> float:
    """The request in a message ``buf[start:end]`` cut as the per-line fast path cuts it:
    ``out`` gets method, path (query cut off) and status spans. Returns the seconds (NaN:
    no time); ``out[0] = -1`` when the fast path (or this kernel) would not take it."""
    out[0] = -1
    q0 = find(buf, 34, start, end)
    q1 = find(buf, 34, q0 + 1, end) if q0 >= 0 else -1
    if q1 < 0 or find(buf, 34, q1 + 1, end) >= 0:  # str.split('"'): exactly 3 parts
        return np.nan
    sp1 = find(buf, 32, q0 + 1, q1)
    if sp1 < 0:
        return np.nan
    sp2 = find(buf, 32, sp1 + 1, q1)
    if sp2 >= 0 and find(buf, 32, sp2 + 1, q1) >= 0:
        return np.nan
    if eventlet_default and sp2 < 0:  # "GET /p HTTP/1.1": three parts
        return np.nan
    if not _upper(buf, q0 + 1, sp1):
        return np.nan
    path_end = sp2 if sp2 >= 0 else q1
    count = 0  # str.split(): runs of whitespace; only spaces taken here
    at = q1 + 1
    while at < end:
        byte = buf[at]
        if byte == 32:
            at += 1
            continue
        if (9 <= byte <= 13) or (28 <= byte <= 31):
            return np.nan
        if count == MAX_TOKENS:
            return np.nan
        tokens[2 * count] = at
        while at < end and buf[at] != 32:
            if (9 <= buf[at] <= 13) or (28 <= buf[at] <= 31):
                return np.nan
            at += 1
        tokens[2 * count + 1] = at
        count += 1
    seconds = np.nan
    if eventlet_default:
        if count != 3 or tokens[1] - tokens[0] != 3 or not _digits(buf, tokens[0], tokens[1]):
            return np.nan
        if find(buf, 46, tokens[4], tokens[5]) < 0:
            return np.nan
        seconds = _seconds(buf, tokens[4], tokens[5])
        if seconds != seconds:
            return np.nan
        status, status_end = tokens[0], tokens[1]
    else:
        if count < 4 or not _equals(buf, tokens[0], tokens[1], _STATUS) or \
                not _equals(buf, tokens[4], tokens[5], _LEN) or \
                tokens[3] - tokens[2] != 3 or not _digits(buf, tokens[2], tokens[3]):
            return np.nan
        if _equals(buf, tokens[2 * count - 4], tokens[2 * count - 3], _TIME):
            seconds = _seconds(buf, tokens[2 * count - 2], tokens[2 * count - 1])
            if seconds != seconds:
                return np.nan
        status, status_end = tokens[2], tokens[3]
    query = find(buf, 63, sp1 + 1, path_end)
    out[0], out[1], out[2] = q0 + 1, sp1, sp1 + 1
    out[3] = query if query >= 0 else path_end
    out[4], out[5] = status, status_end
    return seconds


@kernel
def _context_ids(buf: U8, start: int, end: int, ids: I64) -> None:
    """Request id, then global request id spans of a context ``buf[start:end]`` into
    ``ids`` (zeros: none)."""
    space = find(buf, 32, start, end)
    offset = space - start if space >= 0 else -1
    if offset > 0 and end - (space + 1) >= 4 and _equals(buf, space + 1, space + 5,
                                                         _REQ):
        if not (offset >= 4 and _equals(buf, start, start + 4, _NONE)):
            ids[2], ids[3] = start, space
        second = find(buf, 32, space + 1, end)
        ids[0], ids[1] = space + 1, (second if second >= 0 else end)
    elif end - start >= 4 and _equals(buf, start, start + 4, _REQ):
        ids[0], ids[1] = start, (space if offset > 0 else end)


@kernel
def _cut(buf: U8, start: int, end: int, spaces: I64, count: int, index: bool,
         count_requests: bool, info: I64, line: int, seconds: F64, request: I64,
         tokens: I64, ids: I64) -> int:
    """Fill ``info[line]`` for a regular line; return 1, or 2 when its request is to be
    interned (spans in ``request``); 3 for a continuation line (``START``, ``END``,
    ``FLAGS``, ``MESSAGE`` filled); 0 for any other line."""
    if count < 5:
        return 0
    if spaces[0] - start < 5 or buf[start + 4] != 45:  # f[0][4:5] == "-"
        return 0
    if spaces[1] - spaces[0] - 1 < 3 or buf[spaces[0] + 3] != 58:  # f[1][2:3] == ":"
        return 0
    if not _digits(buf, spaces[1] + 1, spaces[2]) or not _upper(buf, spaces[2] + 1, spaces[3]):
        return 0
    if spaces[4] == spaces[3] + 1:  # empty logger
        return 0
    rest = spaces[4] + 1
    close = -1
    if rest < end and buf[rest] == 91 and not (  # "[" opens a context, "[instance:" not
            end - rest >= 10 and _equals(buf, rest, rest + 10, _INSTANCE[:10])):
        close = find(buf, 93, rest, end)
    if close < 0:  # no context: continues the open record
        message = min(rest, end)
        if end - message >= 48 and _equals(buf, message, message + 11, _INSTANCE) and \
                buf[message + 47] == 93:
            message = min(message + 49, end)
        info[line, START], info[line, END], info[line, FLAGS] = start, end, CONTINUATION
        info[line, MESSAGE] = message - start
        return 3
    message = min(close + 2, end)
    instance = instance_end = 0
    if end - message >= 48 and _equals(buf, message, message + 11, _INSTANCE) and \
            buf[message + 47] == 93:
        instance, instance_end = message + 11, message + 47
        message = min(message + 49, end)
    flags = REGULAR
    if end - start >= 23 and buf[start + 16] == 58 and buf[start + 19] == 46:
        flags |= STAMP
    seconds[line] = np.nan
    marks = _marks(buf, message, end)
    parse = default = False
    if marks & 1 and (count_requests or (index and instance_end == 0 and
                                         _find_bytes(buf, message, end, _SERVERS) >= 0)):
        parse = True
    elif marks & 2:
        parse = default = True
    intern_it = False
    if parse:
        value = _request(buf, message, end, default, request, tokens)
        if request[0] < 0:
            return 0  # the per-line path tries its pattern
        path, path_end = request[2], request[3]
        if index and instance_end == 0:
            found = _find_bytes(buf, path, path_end, _SERVERS)
            if found >= 0:
                at = found + 9
                if at + 8 < path_end and buf[at + 8] == 45 and at + 23 < path_end and \
                        buf[at + 23] == 45:
                    instance, instance_end = at, min(at + 36, path_end)
        if count_requests:
            seconds[line] = value
            intern_it = True
            status = request[4]
            if buf[status] == 52 and buf[status + 1] == 48 and buf[status + 2] == 49:
                flags |= UNAUTHORIZED
    notable = _equals(buf, spaces[2] + 1, spaces[3], _ERROR) or \
        _equals(buf, spaces[2] + 1, spaces[3], _CRITICAL)
    ids[:] = 0
    context, context_end = rest + 1, close
    if (index or notable) and context_end > context and not (
            context_end - context == 1 and buf[context] == 45):
        _context_ids(buf, context, context_end, ids)
    if (index and (ids[1] > ids[0] or instance_end > 0)) or notable:
        flags |= KEEP
    info[line, START], info[line, END], info[line, FLAGS] = start, end, flags
    info[line, LEVEL], info[line, LEVEL_END] = spaces[2] + 1 - start, spaces[3] - start
    info[line, LOGGER_END], info[line, MESSAGE] = spaces[4] - start, message - start
    if instance_end:
        info[line, INSTANCE], info[line, INSTANCE_END] = instance - start, instance_end - start
    else:
        info[line, INSTANCE] = info[line, INSTANCE_END] = 0
    for k in range(4):
        info[line, REQUEST_ID + k] = ids[k] - start if ids[k] else 0
    return 2 if intern_it else 1


@kernel
def scan(buf: U8, index: bool, count_requests: bool, info: I64, keys: I64, seconds: F64,
         spans: I64) -> int:
    """Cut every line of ``buf`` (whole lines, each ending in ``\\n``) into ``info`` (one
    row per line, columns as named above), ``keys`` (request key id, -1: none) and
    ``seconds`` (NaN: no time); request keys interned into ``spans``. Returns the number
    of distinct request keys."""
    table = new_table(len(info))
    spaces = np.empty(5, np.int64)
    request = np.empty(2 * FIELDS, np.int64)
    tokens = np.empty(2 * MAX_TOKENS, np.int64)
    fields = np.empty(2 * FIELDS, np.int64)
    ids = np.empty(4, np.int64)
    distinct = 0
    line = 0
    start = 0
    n = len(buf)
    while start < n and line < len(info):
        end, count = line_marks(buf, start, 32, spaces)  # str.split(" ", 5)
        keys[line] = -1
        cut = _cut(buf, start, end, spaces, count, index, count_requests, info, line,
                   seconds, request, tokens, ids)
        if cut == 0 or cut == 3:
            if cut == 0:
                info[line, START], info[line, END], info[line, FLAGS] = start, end, 0
            if _marks(buf, start, end) != 0:
                info[line, FLAGS] |= MAYBE_REQUEST
            seconds[line] = np.nan
        elif cut == 2:
            for k in range(2 * FIELDS):
                fields[k] = request[k]
            key = intern(buf, fields, FIELDS, table, spans, distinct)
            if key == distinct:
                distinct += 1
            keys[line] = key
        line += 1
        start = end + 1
    return distinct
