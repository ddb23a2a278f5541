"""Compiled kernels of the backfill: one pass over a piece of a log file (``uint8`` bytes),
each line validated by a hand-written matcher of its format's strict pattern
(:mod:`stackwatch.sources.logs.compiled` holds the patterns, the specification) and, when
it matches, its fields grouped in an open-addressing table; lines that do not match are
handed back as odd (the reference parser takes them).

Matchers assume ASCII lines without ``\\r`` or NUL (:func:`scan` checks the piece as it
goes; a line with a byte >= 0x80 is odd), so a byte is a character. A group is keyed by
byte spans of the piece (hour, level, method + path without its query) with status and
histogram bucket; a probe compares the bytes, never just the hash, so two keys never
merge. Searches use glibc's ``memchr`` and eight-byte words (SWAR) where they pay.
"""

# numba compiles loops and comparisons, not all()/any() over generators: loops stay loops
# ruff: noqa: SIM109, SIM110

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from stackwatch.logparse.jit import kernel
from stackwatch.logparse.tally import BUCKETS

OSLO, ACCESS, HAPROXY = 0, 1, 2
"""Format codes of :func:`scan`."""
COUNTED, SKIPPED, ODD = 0, 1, 2
"""A line's fate (:func:`classify`)."""
CLEAN, BAD, NOT_ASCII = 0, 1, 2
"""Verdicts of :func:`scan` on a piece's bytes."""
_BLOCK = 1 << 18
NONE = -1
"""A key field a line has not (level of an access line, request of a record...)."""
HOUR, HOUR_LEN, LEVEL, LEVEL_LEN, REQUEST, REQUEST_LEN, STATUS, BUCKET, COUNT = range(9)
"""Columns of a group: byte spans of the key in the piece, status, bucket, lines."""
WIDTH = 9

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_SP, _QUOTE, _OPEN, _CLOSE = 32, 34, 91, 93
_BIG = 1 << 53
# numba freezes global arrays into the machine code
_POW10 = np.array([10.0 ** k for k in range(23)])
_BOUNDS = np.array(BUCKETS)


def _text(text: bytes) -> Bytes:
    return np.frombuffer(text, np.uint8).copy()


_MARK = _text(b'" status: ')
_LEN = _text(b"len: ")
_MICRO = _text(b" microversion: ")
_TIME = _text(b" time: ")
_DASHES = _text(b" - - [")
_INSTANCE = _text(b"[instance: ")
_TAG = _text(b" haproxy[")


@kernel
def _digit(b: int) -> bool:
    return 48 <= b <= 57


@kernel
def _upper(b: int) -> bool:
    return 65 <= b <= 90


@kernel
def _digits(buf: Bytes, i: int, e: int) -> int:
    """End of the run of digits at ``i``."""
    while i < e and 48 <= buf[i] <= 57:
        i += 1
    return i


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_SPACES = np.uint64(0x2020202020202020)
_QUOTES = np.uint64(0x2222222222222222)
_RETURNS = np.uint64(0x0D0D0D0D0D0D0D0D)


@kernel
def _zeros(word: np.uint64) -> np.uint64:
    """The high bit of each zero byte of ``word`` (exact up to the first one: the lowest
    set bit is the first zero byte)."""
    return (word - _ONES) & ~word & _HIGHS


@kernel
def _first(found: np.uint64) -> int:
    """Index of the byte of the lowest set bit."""
    return int(np.int64(_trailing_zeros(found)) // 8)


@kernel
def _word(buf: Bytes, i: int, e: int) -> int:
    """End of the run at ``i`` of bytes that are neither space nor quote (eight bytes at
    a time)."""
    base = buf.ctypes.data
    while i + 8 <= e:
        word = _load8(base + i)
        found = _zeros(word ^ _SPACES) | _zeros(word ^ _QUOTES)
        if found:
            return i + _first(found)
        i += 8
    while i < e and buf[i] != _SP and buf[i] != _QUOTE:
        i += 1
    return i


@kernel
def _token(buf: Bytes, i: int, e: int) -> int:
    """End of the run of non-space bytes at ``i`` (eight bytes at a time)."""
    base = buf.ctypes.data
    while i + 8 <= e:
        found = _zeros(_load8(base + i) ^ _SPACES)
        if found:
            return i + _first(found)
        i += 8
    while i < e and buf[i] != _SP:
        i += 1
    return i


@kernel
def _literal(buf: Bytes, i: int, e: int, text: Bytes) -> bool:
    if i + text.size > e:
        return False
    for k in range(text.size):
        if buf[i + k] != text[k]:
            return False
    return True


@kernel
def _number(buf: Bytes, i: int, e: int) -> float:
    """``[0-9]+(\\.[0-9]+)?`` filling ``[i, e)`` as Python's ``float`` reads it (exact:
    an integer mantissa below 2**53 over a power of ten up to 1e22), else -1."""
    mantissa = 0
    places = -1
    if i >= e:
        return -1.0
    for k in range(i, e):
        b = buf[k]
        if 48 <= b <= 57:
            mantissa = mantissa * 10 + (b - 48)
            if mantissa >= _BIG:
                return -1.0
            if places >= 0:
                places += 1
        elif b == 46 and places < 0 and k > i and k + 1 < e:
            places = 0
        else:
            return -1.0
    if places <= 0:
        return float(mantissa)
    if places > 22:
        return -1.0
    return float(mantissa / _POW10[places])


@kernel
def _bucket(seconds: float) -> int:
    """Index of the first bound >= ``seconds`` (``bisect_left``)."""
    index = 0
    while index < _BOUNDS.size and _BOUNDS[index] < seconds:
        index += 1
    return index


def _memchr_intrinsic() -> Any:
    """``memchr(address, byte, size)`` of the C library as a numba intrinsic (an address,
    0 if not found): glibc's vectorised search, far faster than a byte loop. A call by
    symbol name, so numba can cache the machine code."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def memchr(typingctx: Any, address: Any, byte: Any, size: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            pointer = ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
                builder.module, ir.FunctionType(pointer, [pointer, ir.IntType(32),
                                                          ir.IntType(64)]), "memchr")
            found = builder.call(function, [builder.inttoptr(args[0], pointer),
                                            builder.trunc(args[1], ir.IntType(32)), args[2]])
            return builder.ptrtoint(found, ir.IntType(64))

        return types.intp(types.intp, types.intp, types.intp), codegen

    return intrinsic(memchr)


_memchr = _memchr_intrinsic()


def _trailing_zeros_intrinsic() -> Any:
    from numba.cpython.unsafe.numbers import trailing_zeros

    return trailing_zeros


def _load8_intrinsic() -> Any:
    """The 8 bytes at an address as one little-endian word (unaligned load)."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    def load8(typingctx: Any, address: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            word = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
            return builder.load(word, align=1)

        return types.uint64(types.intp), codegen

    return intrinsic(load8)


_load8 = _load8_intrinsic()
_trailing_zeros = _trailing_zeros_intrinsic()


@kernel
def _find(buf: Bytes, byte: int, i: int, e: int) -> int:
    """Position of the first ``byte`` in ``[i, e)``, else -1."""
    if i >= e:
        return -1
    base = buf.ctypes.data
    found = _memchr(base + i, byte, e - i)
    return -1 if found == 0 else int(found - base)


@kernel
def _mark(buf: Bytes, i: int, e: int) -> bool:
    """Whether ``[i, e)`` holds ``" status: ``."""
    i = _find(buf, _QUOTE, i, e)
    while i >= 0:
        if _literal(buf, i, e, _MARK):
            return True
        i = _find(buf, _QUOTE, i + 1, e)
    return False


@kernel
def _dashes(buf: Bytes, s: int, e: int) -> bool:
    """Whether ``[s, e)`` holds `` - - [``."""
    i = _find(buf, _OPEN, s + 5, e)
    while i >= 0:
        if _literal(buf, i - 5, e, _DASHES):
            return True
        i = _find(buf, _OPEN, i + 1, e)
    return False


# -- oslo.log -------------------------------------------------------------------------

@kernel
def oslo_prefix(buf: Bytes, s: int, e: int) -> tuple[int, int, int]:
    """``(level start, level end, logger end)`` when ``[s, e)`` starts with
    ``OSLO_PREFIX``, else ``(-1, -1, -1)``."""
    if e - s < 27:
        return -1, -1, -1
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        if not _digit(buf[s + k]):
            return -1, -1, -1
    if buf[s + 4] != 45 or buf[s + 7] != 45 or buf[s + 10] != _SP or buf[s + 13] != 58 \
            or buf[s + 16] != 58:
        return -1, -1, -1
    i = s + 19
    if buf[i] == 46:
        j = _digits(buf, i + 1, e)
        if j == i + 1:
            return -1, -1, -1
        i = j
    if i >= e or buf[i] != _SP:
        return -1, -1, -1
    j = _digits(buf, i + 1, e)
    if j == i + 1 or j >= e or buf[j] != _SP:
        return -1, -1, -1
    level = j + 1
    i = level
    while i < e and _upper(buf[i]):
        i += 1
    if i == level or i >= e or buf[i] != _SP:
        return -1, -1, -1
    end = _word(buf, i + 1, e)
    if end == i + 1:
        return -1, -1, -1
    return level, i, end


@kernel
def oslo_context(buf: Bytes, logger_end: int, e: int) -> int:
    """Position of the context's ``]`` when an ``OSLO_RECORD`` context follows the
    logger, else -1."""
    i = logger_end
    if i + 3 > e or buf[i] != _SP or buf[i + 1] != _OPEN:
        return -1
    first = buf[i + 2]
    if first == 105 or first == _CLOSE or first == _QUOTE:
        return -1
    end = _find(buf, _CLOSE, i + 3, e)
    if end < 0 or _find(buf, _QUOTE, i + 3, end) >= 0:
        return -1
    return end


@kernel
def _message(buf: Bytes, p: int, e: int) -> int:
    """Start of the run ``[^ "]+`` of ``_MESSAGE`` after the context's ``]`` at ``p``, else
    -1 (a ``[instance: …]`` there must be one of 36 characters: the other reading of the
    pattern is left to the reference)."""
    if p + 2 >= e or buf[p + 1] == _QUOTE:
        return -1
    if not _literal(buf, p + 2, e, _INSTANCE):
        return p + 2
    if p + 51 >= e or buf[p + 49] != _CLOSE:
        return -1
    for k in range(p + 13, p + 51):
        if buf[k] == _QUOTE:
            return -1
    return p + 51


@kernel
def _request(buf: Bytes, q: int, e: int, parts: int) -> tuple[int, int, int]:
    """``"[A-Z]+ [^ "]+( [^ "]+)?"`` at the quote ``q`` (``parts`` 2: protocol optional,
    3: required): ``(end of method + path without query, closing quote, ok)``."""
    i = q + 1
    while i < e and _upper(buf[i]):
        i += 1
    if i == q + 1 or i >= e or buf[i] != _SP:
        return 0, 0, 0
    path = i + 1
    end = _word(buf, path, e)
    if end == path or end >= e:
        return 0, 0, 0
    cut = path
    while cut < end and buf[cut] != 63:
        cut += 1
    if buf[end] == _SP:
        after = _word(buf, end + 1, e)
        if after == end + 1 or after >= e or buf[after] != _QUOTE:
            return 0, 0, 0
        return cut, after, 1
    if parts == 3:
        return 0, 0, 0
    return cut, end, 1


@kernel
def oslo_request(buf: Bytes, p: int, e: int) -> tuple[int, int, int, int, float]:
    """The rest of ``OSLO_REQUEST`` after the context's ``]`` at ``p``: ``(ok, method +
    path end, quote, status, seconds)`` (seconds -1: no time)."""
    run = _message(buf, p, e)
    if run < 0:
        return 0, 0, 0, 0, -1.0
    end = _word(buf, run, e)
    if end == run or end + 1 >= e or buf[end] != _SP or buf[end + 1] != _QUOTE:
        return 0, 0, 0, 0, -1.0
    q = end + 1
    cut, closed, ok = _request(buf, q, e, 2)
    if not ok or not _literal(buf, closed, e, _MARK):
        return 0, 0, 0, 0, -1.0
    i = closed + 10
    if i + 3 > e or not (_digit(buf[i]) and _digit(buf[i + 1]) and _digit(buf[i + 2])):
        return 0, 0, 0, 0, -1.0
    status = (buf[i] - 48) * 100 + (buf[i + 1] - 48) * 10 + (buf[i + 2] - 48)
    i += 3
    j = i
    while j < e and buf[j] == _SP:
        j += 1
    if j == i or not _literal(buf, j, e, _LEN):
        return 0, 0, 0, 0, -1.0
    i = j + _LEN.size
    j = _digits(buf, i, e)
    if j == i:
        return 0, 0, 0, 0, -1.0
    i = j
    if _literal(buf, i, e, _MICRO):
        j = i + _MICRO.size
        while j < e and 33 <= buf[j] <= 126 and buf[j] != _QUOTE:
            j += 1
        if j == i + _MICRO.size:
            return 0, 0, 0, 0, -1.0
        i = j
    seconds = -1.0
    if i < e:
        if not _literal(buf, i, e, _TIME):
            return 0, 0, 0, 0, -1.0
        seconds = _number(buf, i + _TIME.size, e)
        if seconds < 0:
            return 0, 0, 0, 0, -1.0
    return 1, cut, q, status, seconds


@kernel
def oslo_default(buf: Bytes, p: int, e: int) -> tuple[int, int, int, int, float]:
    """The rest of ``OSLO_DEFAULT`` after the context's ``]`` at ``p``: ``(ok, method +
    path end, quote, status, seconds)``."""
    run = _message(buf, p, e)
    if run < 0:
        return 0, 0, 0, 0, -1.0
    end = _word(buf, run, e)
    if end == run or not _literal(buf, end, e, _DASHES):
        return 0, 0, 0, 0, -1.0
    q = end + _DASHES.size
    while q < e and buf[q] != _QUOTE:
        q += 1
    if q >= e or q - 2 < end + _DASHES.size or buf[q - 2] != _CLOSE or buf[q - 1] != _SP:
        return 0, 0, 0, 0, -1.0
    cut, closed, ok = _request(buf, q, e, 3)
    i = closed + 1
    if not ok or i + 5 > e or buf[i] != _SP or buf[i + 4] != _SP:
        return 0, 0, 0, 0, -1.0
    if not (_digit(buf[i + 1]) and _digit(buf[i + 2]) and _digit(buf[i + 3])):
        return 0, 0, 0, 0, -1.0
    status = (buf[i + 1] - 48) * 100 + (buf[i + 2] - 48) * 10 + (buf[i + 3] - 48)
    i += 5
    if i < e and buf[i] == 45:
        j = i + 1
    else:
        j = _digits(buf, i, e)
        if j == i:
            return 0, 0, 0, 0, -1.0
    if j >= e or buf[j] != _SP:
        return 0, 0, 0, 0, -1.0
    k = _digits(buf, j + 1, e)
    if k == j + 1 or k >= e or buf[k] != 46:
        return 0, 0, 0, 0, -1.0
    seconds = _number(buf, j + 1, e)
    if seconds < 0:
        return 0, 0, 0, 0, -1.0
    return 1, cut, q, status, seconds


# -- Apache combined + time, HAProxy httplog ------------------------------------------

@kernel
def access_line(buf: Bytes, s: int, e: int) -> tuple[int, int, int, int, int, float]:
    """``ACCESS_LINE``: ``(ok, hour start, method + path end, quote, status, seconds)``."""
    i = s
    for _ in range(3):
        j = i
        while j < e and buf[j] != _SP and buf[j] != _QUOTE and buf[j] != _OPEN:
            j += 1
        if j == i or j >= e or buf[j] != _SP:
            return 0, 0, 0, 0, 0, -1.0
        i = j + 1
    if i + 15 > e or buf[i] != _OPEN:
        return 0, 0, 0, 0, 0, -1.0
    hour = i + 1
    for k in (1, 2, 8, 9, 10, 11, 13, 14):
        if not _digit(buf[i + k]):
            return 0, 0, 0, 0, 0, -1.0
    if buf[i + 3] != 47 or buf[i + 7] != 47 or buf[i + 12] != 58:
        return 0, 0, 0, 0, 0, -1.0
    for k in (4, 5, 6):
        b = buf[i + k]
        if not (_digit(b) or _upper(b) or 97 <= b <= 122 or b == 95):
            return 0, 0, 0, 0, 0, -1.0
    j = _word(buf, i + 15, e)
    if j >= e or buf[j] != _SP:
        return 0, 0, 0, 0, 0, -1.0
    k = _word(buf, j + 1, e)
    if k == j + 1 or k + 1 >= e or buf[k] != _SP or buf[k + 1] != _QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    q = k + 1
    i = q + 1
    while i < e and _upper(buf[i]):
        i += 1
    if i == q + 1 or i + 1 >= e or buf[i] != _SP:
        return 0, 0, 0, 0, 0, -1.0
    path = i + 1
    if buf[path] == 47:
        end = _word(buf, path + 1, e)
    elif buf[path] == 42:
        end = path + 1
    else:
        return 0, 0, 0, 0, 0, -1.0
    if end >= e:
        return 0, 0, 0, 0, 0, -1.0
    cut = path
    while cut < end and buf[cut] != 63:
        cut += 1
    if buf[end] == _SP:
        after = _word(buf, end + 1, e)
        if after == end + 1:
            return 0, 0, 0, 0, 0, -1.0
        end = after
    if end >= e or buf[end] != _QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    i = end + 1
    if i + 6 > e or buf[i] != _SP or buf[i + 4] != _SP:
        return 0, 0, 0, 0, 0, -1.0
    if not (_digit(buf[i + 1]) and _digit(buf[i + 2]) and _digit(buf[i + 3])):
        return 0, 0, 0, 0, 0, -1.0
    status = (buf[i + 1] - 48) * 100 + (buf[i + 2] - 48) * 10 + (buf[i + 3] - 48)
    j = _word(buf, i + 5, e)
    if j == i + 5 or j + 1 >= e or buf[j] != _SP or buf[j + 1] != _QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    j += 1  # the referer's opening quote
    for field in range(2):  # referer, then agent: "[^"]*"
        j = _find(buf, _QUOTE, j + 1, e)
        if j < 0:
            return 0, 0, 0, 0, 0, -1.0
        if field == 0:
            if j + 2 >= e or buf[j + 1] != _SP or buf[j + 2] != _QUOTE:
                return 0, 0, 0, 0, 0, -1.0
            j += 2
    j += 1
    seconds = -1.0
    if j < e:
        if buf[j] != _SP:
            return 0, 0, 0, 0, 0, -1.0
        seconds = _number(buf, j + 1, e)
        if seconds < 0:
            return 0, 0, 0, 0, 0, -1.0
        dot = j + 1
        while dot < e and buf[dot] != 46:
            dot += 1
        if dot == e:
            seconds = seconds / 1e6
    return 1, hour, cut, q, status, seconds


@kernel
def haproxy_line(buf: Bytes, s: int, e: int) -> bool:
    """``HAPROXY_LINE`` (a prefix of the line)."""
    if e - s < 16 or not _upper(buf[s]) or not (97 <= buf[s + 1] <= 122) \
            or not (97 <= buf[s + 2] <= 122) or buf[s + 3] != _SP:
        return False
    if not ((buf[s + 4] == _SP or _digit(buf[s + 4])) and _digit(buf[s + 5])) \
            or buf[s + 6] != _SP:
        return False
    for k in (7, 8, 10, 11, 13, 14):
        if not _digit(buf[s + k]):
            return False
    if buf[s + 9] != 58 or buf[s + 12] != 58 or buf[s + 15] != _SP:
        return False
    i = _token(buf, s + 16, e)  # host
    if i == s + 16 or not _literal(buf, i, e, _TAG):
        return False
    i += _TAG.size
    j = _digits(buf, i, e)
    if j == i or j + 3 > e or buf[j] != _CLOSE or buf[j + 1] != 58 or buf[j + 2] != _SP:
        return False
    i = j + 3
    tokens = 0
    while tokens < 12:  # client, [accepted], frontend, backend/server, timers, status, 6
        j = _token(buf, i, e)
        if j == i or j >= e:
            return False
        if tokens == 1 and (buf[i] != _OPEN or buf[j - 1] != _CLOSE or j - i < 2):
            return False
        if tokens == 3:
            slash = i
            while slash < j and buf[slash] != 47:
                slash += 1
            if slash == i or slash == j:
                return False
        if tokens == 4:
            slashes = 0
            last = i
            for k in range(i, j):
                if buf[k] == 47:
                    slashes += 1
                    last = k + 1
            if slashes != 4:
                return False
            if last < j and (buf[last] == 45 or buf[last] == 43):
                if buf[last] == 43 and last + 1 < j and buf[last + 1] == 45:
                    return False
                last += 1
            if last == j or _digits(buf, last, j) != j:
                return False
        if tokens == 5 and (j - i != 3 or not (_digit(buf[i]) and _digit(buf[i + 1])
                                                and _digit(buf[i + 2]))):
            return False
        i = j + 1
        tokens += 1
    if i >= e or buf[i] != _QUOTE:
        return False
    return _token(buf, i, e) < e


# -- one pass over a piece ------------------------------------------------------------

@kernel
def classify(buf: Bytes, s: int, e: int, fmt: int, count_requests: bool, key: Ints
             ) -> tuple[int, float]:
    """The fate of line ``[s, e)`` (:data:`COUNTED`, :data:`SKIPPED`, :data:`ODD`) and its
    seconds (-1: none); a counted line's group key is written in ``key``."""
    key[:] = NONE
    if s == e:
        return SKIPPED, -1.0
    if fmt == HAPROXY:
        return (COUNTED if haproxy_line(buf, s, e) else ODD), -1.0
    if fmt == ACCESS:
        ok, hour, cut, q, status, seconds = access_line(buf, s, e)
        if not ok:
            return ODD, -1.0
        key[HOUR] = hour
        key[HOUR_LEN] = 14
        key[REQUEST] = q + 1
        key[REQUEST_LEN] = cut - q - 1
        key[STATUS] = status
        if seconds >= 0:
            key[BUCKET] = _bucket(seconds)
        return COUNTED, seconds
    level, level_end, logger_end = oslo_prefix(buf, s, e)
    p = oslo_context(buf, logger_end, e) if level >= 0 else -1
    seconds = -1.0
    if p >= 0:
        if count_requests:
            # as the patterns are tried: a line with '" status: ' is a requestlog line or
            # goes to the reference, then one with ' - - [' an eventlet default line
            ok, cut, q, status, seconds = oslo_request(buf, p, e)
            if not ok:
                if _mark(buf, p, e):
                    return ODD, -1.0
                if _dashes(buf, s, e):
                    ok, cut, q, status, seconds = oslo_default(buf, p, e)
                    if not ok:
                        return ODD, -1.0
            if not ok:
                seconds = -1.0
            else:
                key[REQUEST] = q + 1
                key[REQUEST_LEN] = cut - q - 1
                key[STATUS] = status
                if seconds >= 0:
                    key[BUCKET] = _bucket(seconds)
        key[HOUR] = s
        key[HOUR_LEN] = 13
        key[LEVEL] = level
        key[LEVEL_LEN] = level_end - level
        return COUNTED, seconds
    if level >= 0 and (logger_end == e or buf[logger_end] == _SP):  # prefixed
        if logger_end + 1 < e and buf[logger_end + 1] == _OPEN and not _literal(
                buf, logger_end + 1, e, _INSTANCE[:10]):
            return ODD, -1.0  # a context the record pattern did not take
    elif e - s > 4 and buf[s + 4] == 45:
        return ODD, -1.0
    if count_requests and (_mark(buf, s, e) or _dashes(buf, s, e)):
        return ODD, -1.0  # a request line without a record
    return SKIPPED, -1.0  # a traceback or continuation line: part of the record above


@kernel
def _ascii(buf: Bytes, s: int, e: int) -> bool:
    for k in range(s, e):
        if buf[k] >= 128:
            return False
    return True


@kernel
def _grow_rows(rows: Ints) -> Ints:
    bigger = np.empty((rows.shape[0] * 2, rows.shape[1]), np.int64)
    bigger[:rows.shape[0]] = rows
    return bigger


@kernel
def _grow_floats(values: Floats) -> Floats:
    bigger = np.zeros(values.size * 2, np.float64)
    bigger[:values.size] = values
    return bigger


@kernel
def _grow_hashes(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    bigger = np.empty(values.size * 2, np.uint64)
    bigger[:values.size] = values
    return bigger


@kernel
def _rehash(hashes: npt.NDArray[np.uint64], used: int, size: int) -> Ints:
    slots = np.full(size, -1, np.int64)
    mask = np.uint64(size - 1)
    for g in range(used):
        slot = np.int64(hashes[g] & mask)
        while slots[slot] >= 0:
            slot = (slot + 1) & (size - 1)
        slots[slot] = g
    return slots


@kernel
def _same(buf: Bytes, group: Ints, key: Ints) -> bool:
    """Whether a group's key has the same bytes, status and bucket as ``key``."""
    if group[STATUS] != key[STATUS] or group[BUCKET] != key[BUCKET]:
        return False
    base = buf.ctypes.data
    for field in (HOUR, LEVEL, REQUEST):
        size = key[field + 1]
        if group[field + 1] != size:
            return False
        a, b = group[field], key[field]
        k = 0
        while k + 8 <= size:  # a word at a time, then the last bytes
            if _load8(base + a + k) != _load8(base + b + k):
                return False
            k += 8
        for rest in range(k, size):
            if buf[a + rest] != buf[b + rest]:
                return False
    return True


@kernel
def _hash(buf: Bytes, key: Ints) -> np.uint64:
    """FNV-1a over the key's spans a word at a time (lengths and status and bucket mixed
    in), then murmur3's finaliser: the slot is taken from the low bits."""
    prime = np.uint64(1099511628211)
    h = np.uint64(14695981039346656037)
    base = buf.ctypes.data
    for field in (HOUR, LEVEL, REQUEST):
        start, size = key[field], key[field + 1]
        k = 0
        while k + 8 <= size:
            h = (h ^ _load8(base + start + k)) * prime
            k += 8
        for rest in range(k, size):
            h = (h ^ np.uint64(buf[start + rest])) * prime
        h = (h ^ np.uint64(size + 1)) * prime
    h = (h ^ np.uint64(key[STATUS] + 2)) * prime
    h = (h ^ np.uint64(key[BUCKET] + 2)) * prime
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@kernel
def scan(buf: Bytes, fmt: int, count_requests: bool, ascii_only: bool
         ) -> tuple[int, Ints, Floats, Ints, int]:
    """Every line of a piece ending in ``\\n``: ``(lines, groups, their sums of seconds,
    odd lines' (start, end), verdict)``. A group row holds its key's spans in ``buf``
    (those of its first line), status, bucket and line count (:data:`COUNT`); the counted
    lines of a HAProxy log, which have no key, are one group.

    ``ascii_only``: the piece is checked as it is scanned, a block ahead (while the block
    is in the cache), and the scan stops at the first ``\\r`` or NUL (verdict
    :data:`BAD`) or byte above 127 (:data:`NOT_ASCII`: scan again with ``ascii_only``
    false, which sends each such line to the reference); else (the caller checked the
    piece) the verdict is :data:`CLEAN`."""
    key = np.empty(WIDTH, np.int64)
    groups = np.empty((64, WIDTH), np.int64)
    sums = np.zeros(64, np.float64)
    hashes = np.empty(64, np.uint64)
    slots = np.full(256, -1, np.int64)
    odd = np.empty((64, 2), np.int64)
    g = 0
    used = odd_used = lines = plain = 0
    s = 0
    size = buf.size
    checked = size if not ascii_only else 0
    while s < size:
        if checked < size and s + 4096 > checked:
            verdict = _check_block(buf, checked, min(size, checked + _BLOCK))
            if verdict != CLEAN:
                return lines, groups[:0], sums[:0], odd[:0], verdict
            checked = min(size, checked + _BLOCK)
        e = _find(buf, 10, s, size)
        if e < 0:  # the caller hands whole lines: never
            e = size
        lines += 1
        fate, seconds = ODD, -1.0
        if ascii_only or _ascii(buf, s, e):
            fate, seconds = classify(buf, s, e, fmt, count_requests, key)
        if fate == ODD:
            if odd_used == odd.shape[0]:
                odd = _grow_rows(odd)
            odd[odd_used, 0], odd[odd_used, 1] = s, e
            odd_used += 1
        elif fate == COUNTED and fmt == HAPROXY:
            plain += 1  # no key: one group, made at the end
        elif fate == COUNTED:
            h = _hash(buf, key)
            mask = np.uint64(slots.size - 1)
            slot = np.int64(h & mask)
            while True:
                g = slots[slot]
                if g < 0:
                    if used == groups.shape[0]:
                        groups = _grow_rows(groups)
                        sums = _grow_floats(sums)
                        hashes = _grow_hashes(hashes)
                    groups[used, :] = key
                    groups[used, COUNT] = 0
                    hashes[used] = h
                    slots[slot] = g = used
                    used += 1
                    if used * 2 > slots.size:
                        slots = _rehash(hashes, used, slots.size * 2)
                    break
                if hashes[g] == h and _same(buf, groups[g], key):
                    break
                slot = (slot + 1) & (slots.size - 1)
            groups[g, COUNT] += 1
            if seconds >= 0:
                sums[g] += seconds
        s = e + 1
    if plain:
        groups[0, :] = NONE
        groups[0, COUNT] = plain
        used = 1
    if checked < size:
        verdict = _check_block(buf, checked, size)
        if verdict != CLEAN:
            return lines, groups[:0], sums[:0], odd[:0], verdict
    return lines, groups[:used], sums[:used], odd[:odd_used], CLEAN


@kernel
def _check_block(buf: Bytes, start: int, end: int) -> int:
    bad, ascii_only = check(buf[start:end])
    return BAD if bad else CLEAN if ascii_only else NOT_ASCII


@kernel
def check(buf: Bytes) -> tuple[bool, bool]:
    """``(holds \\r or NUL, is ASCII)`` of a piece, in one pass eight bytes at a time."""
    base = buf.ctypes.data
    words = buf.size // 8
    high = bad = np.uint64(0)
    for k in range(words):
        word = _load8(base + 8 * k)
        high |= word
        bad |= _zeros(word ^ _RETURNS) | _zeros(word)
    for k in range(words * 8, buf.size):
        high |= np.uint64(buf[k])
        bad |= np.uint64(buf[k] == 13 or buf[k] == 0)
    return bad != 0, (high & _HIGHS) == 0
