"""Hand-written matchers of the backfill's strict patterns (:mod:`stackwatch.sources.logs.
compiled` holds the patterns, the specification), for numba: each takes a line ``[s, e)``
of ASCII bytes, accepts exactly the lines its pattern takes (or fewer: a line left out
goes to the reference parser, which is always right) and cuts their fields;
:func:`classify` tries them in the engine's order and writes a counted line's group key.
"""

# comparisons stay explicit for numba (``x in (a, b)`` builds a tuple)
# ruff: noqa: SIM109

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stackwatch.logparse.bytescan import (
    CLOSE,
    OPEN,
    QUOTE,
    SP,
    Bytes,
    digits,
    find,
    is_digit,
    is_upper,
    literal,
    number,
    token,
    word,
)
from stackwatch.logparse.jit import kernel
from stackwatch.logparse.tally import BUCKETS

OSLO, ACCESS, HAPROXY = 0, 1, 2
"""Format codes (of :func:`classify` and :func:`stackwatch.logparse.backfill_kernel.scan`)."""
COUNTED, SKIPPED, ODD = 0, 1, 2
"""A line's fate (:func:`classify`)."""
NONE = -1
"""A key field a line has not (level of an access line, request of a record...)."""
HOUR, HOUR_LEN, LEVEL, LEVEL_LEN, REQUEST, REQUEST_LEN, STATUS, BUCKET, COUNT = range(9)
"""Columns of a group: byte spans of the key in the piece, status, bucket, lines."""
WIDTH = 9

Ints = npt.NDArray[np.int64]

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
def bucket(seconds: float) -> int:
    """Index of the first bound >= ``seconds`` (``bisect_left``)."""
    index = 0
    while index < _BOUNDS.size and _BOUNDS[index] < seconds:
        index += 1
    return index


@kernel
def has_mark(buf: Bytes, i: int, e: int) -> bool:
    """Whether ``[i, e)`` holds ``" status: ``."""
    i = find(buf, QUOTE, i, e)
    while i >= 0:
        if literal(buf, i, e, _MARK):
            return True
        i = find(buf, QUOTE, i + 1, e)
    return False


@kernel
def has_dashes(buf: Bytes, s: int, e: int) -> bool:
    """Whether ``[s, e)`` holds `` - - [``."""
    i = find(buf, OPEN, s + 5, e)
    while i >= 0:
        if literal(buf, i - 5, e, _DASHES):
            return True
        i = find(buf, OPEN, i + 1, e)
    return False


# -- oslo.log -------------------------------------------------------------------------

@kernel
def oslo_prefix(buf: Bytes, s: int, e: int) -> tuple[int, int, int]:
    """``(level start, level end, logger end)`` when ``[s, e)`` starts with
    ``OSLO_PREFIX``, else ``(-1, -1, -1)``."""
    if e - s < 27:
        return -1, -1, -1
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        if not is_digit(buf[s + k]):
            return -1, -1, -1
    if buf[s + 4] != 45 or buf[s + 7] != 45 or buf[s + 10] != SP or buf[s + 13] != 58 \
            or buf[s + 16] != 58:
        return -1, -1, -1
    i = s + 19
    if buf[i] == 46:
        j = digits(buf, i + 1, e)
        if j == i + 1:
            return -1, -1, -1
        i = j
    if i >= e or buf[i] != SP:
        return -1, -1, -1
    j = digits(buf, i + 1, e)
    if j == i + 1 or j >= e or buf[j] != SP:
        return -1, -1, -1
    level = j + 1
    i = level
    while i < e and is_upper(buf[i]):
        i += 1
    if i == level or i >= e or buf[i] != SP:
        return -1, -1, -1
    end = word(buf, i + 1, e)
    if end == i + 1:
        return -1, -1, -1
    return level, i, end


@kernel
def oslo_context(buf: Bytes, logger_end: int, e: int) -> int:
    """Position of the context's ``]`` when an ``OSLO_RECORD`` context follows the
    logger, else -1."""
    i = logger_end
    if i + 3 > e or buf[i] != SP or buf[i + 1] != OPEN:
        return -1
    first = buf[i + 2]
    if first == 105 or first == CLOSE or first == QUOTE:
        return -1
    end = find(buf, CLOSE, i + 3, e)
    if end < 0 or find(buf, QUOTE, i + 3, end) >= 0:
        return -1
    return end


@kernel
def _message(buf: Bytes, p: int, e: int) -> int:
    """Start of the run ``[^ "]+`` of ``_MESSAGE`` after the context's ``]`` at ``p``, else
    -1 (a ``[instance: …]`` there must be one of 36 characters: the other reading of the
    pattern is left to the reference)."""
    if p + 2 >= e or buf[p + 1] == QUOTE:
        return -1
    if not literal(buf, p + 2, e, _INSTANCE):
        return p + 2
    if p + 51 >= e or buf[p + 49] != CLOSE:
        return -1
    for k in range(p + 13, p + 51):
        if buf[k] == QUOTE:
            return -1
    return p + 51


@kernel
def _request(buf: Bytes, q: int, e: int, parts: int) -> tuple[int, int, int]:
    """``"[A-Z]+ [^ "]+( [^ "]+)?"`` at the quote ``q`` (``parts`` 2: protocol optional,
    3: required): ``(end of method + path without query, closing quote, ok)``."""
    i = q + 1
    while i < e and is_upper(buf[i]):
        i += 1
    if i == q + 1 or i >= e or buf[i] != SP:
        return 0, 0, 0
    path = i + 1
    end = word(buf, path, e)
    if end == path or end >= e:
        return 0, 0, 0
    cut = path
    while cut < end and buf[cut] != 63:
        cut += 1
    if buf[end] == SP:
        after = word(buf, end + 1, e)
        if after == end + 1 or after >= e or buf[after] != QUOTE:
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
    end = word(buf, run, e)
    if end == run or end + 1 >= e or buf[end] != SP or buf[end + 1] != QUOTE:
        return 0, 0, 0, 0, -1.0
    q = end + 1
    cut, closed, ok = _request(buf, q, e, 2)
    if not ok or not literal(buf, closed, e, _MARK):
        return 0, 0, 0, 0, -1.0
    i = closed + 10
    if i + 3 > e or not (is_digit(buf[i]) and is_digit(buf[i + 1]) and is_digit(buf[i + 2])):
        return 0, 0, 0, 0, -1.0
    status = (buf[i] - 48) * 100 + (buf[i + 1] - 48) * 10 + (buf[i + 2] - 48)
    i += 3
    j = i
    while j < e and buf[j] == SP:
        j += 1
    if j == i or not literal(buf, j, e, _LEN):
        return 0, 0, 0, 0, -1.0
    i = j + _LEN.size
    j = digits(buf, i, e)
    if j == i:
        return 0, 0, 0, 0, -1.0
    i = j
    if literal(buf, i, e, _MICRO):
        j = i + _MICRO.size
        while j < e and 33 <= buf[j] <= 126 and buf[j] != QUOTE:
            j += 1
        if j == i + _MICRO.size:
            return 0, 0, 0, 0, -1.0
        i = j
    seconds = -1.0
    if i < e:
        if not literal(buf, i, e, _TIME):
            return 0, 0, 0, 0, -1.0
        seconds = number(buf, i + _TIME.size, e)
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
    end = word(buf, run, e)
    if end == run or not literal(buf, end, e, _DASHES):
        return 0, 0, 0, 0, -1.0
    q = end + _DASHES.size
    while q < e and buf[q] != QUOTE:
        q += 1
    if q >= e or q - 2 < end + _DASHES.size or buf[q - 2] != CLOSE or buf[q - 1] != SP:
        return 0, 0, 0, 0, -1.0
    cut, closed, ok = _request(buf, q, e, 3)
    i = closed + 1
    if not ok or i + 5 > e or buf[i] != SP or buf[i + 4] != SP:
        return 0, 0, 0, 0, -1.0
    if not (is_digit(buf[i + 1]) and is_digit(buf[i + 2]) and is_digit(buf[i + 3])):
        return 0, 0, 0, 0, -1.0
    status = (buf[i + 1] - 48) * 100 + (buf[i + 2] - 48) * 10 + (buf[i + 3] - 48)
    i += 5
    if i < e and buf[i] == 45:
        j = i + 1
    else:
        j = digits(buf, i, e)
        if j == i:
            return 0, 0, 0, 0, -1.0
    if j >= e or buf[j] != SP:
        return 0, 0, 0, 0, -1.0
    k = digits(buf, j + 1, e)
    if k == j + 1 or k >= e or buf[k] != 46:
        return 0, 0, 0, 0, -1.0
    seconds = number(buf, j + 1, e)
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
        while j < e and buf[j] != SP and buf[j] != QUOTE and buf[j] != OPEN:
            j += 1
        if j == i or j >= e or buf[j] != SP:
            return 0, 0, 0, 0, 0, -1.0
        i = j + 1
    if i + 15 > e or buf[i] != OPEN:
        return 0, 0, 0, 0, 0, -1.0
    hour = i + 1
    for k in (1, 2, 8, 9, 10, 11, 13, 14):
        if not is_digit(buf[i + k]):
            return 0, 0, 0, 0, 0, -1.0
    if buf[i + 3] != 47 or buf[i + 7] != 47 or buf[i + 12] != 58:
        return 0, 0, 0, 0, 0, -1.0
    for k in (4, 5, 6):
        b = buf[i + k]
        if not (is_digit(b) or is_upper(b) or 97 <= b <= 122 or b == 95):
            return 0, 0, 0, 0, 0, -1.0
    j = word(buf, i + 15, e)
    if j >= e or buf[j] != SP:
        return 0, 0, 0, 0, 0, -1.0
    k = word(buf, j + 1, e)
    if k == j + 1 or k + 1 >= e or buf[k] != SP or buf[k + 1] != QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    q = k + 1
    i = q + 1
    while i < e and is_upper(buf[i]):
        i += 1
    if i == q + 1 or i + 1 >= e or buf[i] != SP:
        return 0, 0, 0, 0, 0, -1.0
    path = i + 1
    if buf[path] == 47:
        end = word(buf, path + 1, e)
    elif buf[path] == 42:
        end = path + 1
    else:
        return 0, 0, 0, 0, 0, -1.0
    if end >= e:
        return 0, 0, 0, 0, 0, -1.0
    cut = path
    while cut < end and buf[cut] != 63:
        cut += 1
    if buf[end] == SP:
        after = word(buf, end + 1, e)
        if after == end + 1:
            return 0, 0, 0, 0, 0, -1.0
        end = after
    if end >= e or buf[end] != QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    i = end + 1
    if i + 6 > e or buf[i] != SP or buf[i + 4] != SP:
        return 0, 0, 0, 0, 0, -1.0
    if not (is_digit(buf[i + 1]) and is_digit(buf[i + 2]) and is_digit(buf[i + 3])):
        return 0, 0, 0, 0, 0, -1.0
    status = (buf[i + 1] - 48) * 100 + (buf[i + 2] - 48) * 10 + (buf[i + 3] - 48)
    j = word(buf, i + 5, e)
    if j == i + 5 or j + 1 >= e or buf[j] != SP or buf[j + 1] != QUOTE:
        return 0, 0, 0, 0, 0, -1.0
    j += 1  # the referer's opening quote
    for field in range(2):  # referer, then agent: "[^"]*"
        j = find(buf, QUOTE, j + 1, e)
        if j < 0:
            return 0, 0, 0, 0, 0, -1.0
        if field == 0:
            if j + 2 >= e or buf[j + 1] != SP or buf[j + 2] != QUOTE:
                return 0, 0, 0, 0, 0, -1.0
            j += 2
    j += 1
    seconds = -1.0
    if j < e:
        if buf[j] != SP:
            return 0, 0, 0, 0, 0, -1.0
        seconds = number(buf, j + 1, e)
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
    if e - s < 16 or not is_upper(buf[s]) or not (97 <= buf[s + 1] <= 122) \
            or not (97 <= buf[s + 2] <= 122) or buf[s + 3] != SP:
        return False
    if not ((buf[s + 4] == SP or is_digit(buf[s + 4])) and is_digit(buf[s + 5])) \
            or buf[s + 6] != SP:
        return False
    for k in (7, 8, 10, 11, 13, 14):
        if not is_digit(buf[s + k]):
            return False
    if buf[s + 9] != 58 or buf[s + 12] != 58 or buf[s + 15] != SP:
        return False
    i = token(buf, s + 16, e)  # host
    if i == s + 16 or not literal(buf, i, e, _TAG):
        return False
    i += _TAG.size
    j = digits(buf, i, e)
    if j == i or j + 3 > e or buf[j] != CLOSE or buf[j + 1] != 58 or buf[j + 2] != SP:
        return False
    i = j + 3
    tokens = 0
    while tokens < 12:  # client, [accepted], frontend, backend/server, timers, status, 6
        j = token(buf, i, e)
        if j == i or j >= e:
            return False
        if tokens == 1 and (buf[i] != OPEN or buf[j - 1] != CLOSE or j - i < 2):
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
            if last == j or digits(buf, last, j) != j:
                return False
        if tokens == 5 and (j - i != 3 or not (is_digit(buf[i]) and is_digit(buf[i + 1])
                                                and is_digit(buf[i + 2]))):
            return False
        i = j + 1
        tokens += 1
    if i >= e or buf[i] != QUOTE:
        return False
    return token(buf, i, e) < e


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
            key[BUCKET] = bucket(seconds)
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
                if has_mark(buf, p, e):
                    return ODD, -1.0
                if has_dashes(buf, s, e):
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
                    key[BUCKET] = bucket(seconds)
        key[HOUR] = s
        key[HOUR_LEN] = 13
        key[LEVEL] = level
        key[LEVEL_LEN] = level_end - level
        return COUNTED, seconds
    if level >= 0 and (logger_end == e or buf[logger_end] == SP):  # prefixed
        if logger_end + 1 < e and buf[logger_end + 1] == OPEN and not literal(
                buf, logger_end + 1, e, _INSTANCE[:10]):
            return ODD, -1.0  # a context the record pattern did not take
    elif e - s > 4 and buf[s + 4] == 45:
        return ODD, -1.0
    if count_requests and (has_mark(buf, s, e) or has_dashes(buf, s, e)):
        return ODD, -1.0  # a request line without a record
    return SKIPPED, -1.0  # a traceback or continuation line: part of the record above
