"""Access lines (combined + response time) counted a whole chunk at a time, in compiled
code.

:func:`scan` walks the bytes of a chunk and takes every *regular* line: one that the
per-line fast path of :mod:`stackwatch.logparse.engine` takes (six quotes; before the
first, five spaces and a ``[`` opening the fourth field; the request an upper-case
method and a target starting with ``/`` or being ``*``, one or two spaces; after it
three spaces around a three-digit status), ending in a space-led response time that
is plain digits (Apache ``%D``, microseconds) or digits with one ``.`` inside
(gunicorn ``%(L)s``, seconds). It gives each such line the id of its key (method,
path without the query, status) and its time. Every other line is left to the
per-line path.

Imported only when a chunk is large enough to be worth it.
"""

from __future__ import annotations

import numpy as np

from stackwatch.logparse.batch import I64, MAX_DIGITS, U8, intern, line_marks, new_table
from stackwatch.logparse.bytescan import find
from stackwatch.logparse.jit import kernel

FIELDS = 3
"""Key fields, as (start, end) pairs in a key's row of ``spans``: method, path, status."""
REJECTED = -1
"""``keys`` of a line left to the per-line path."""
DECIMAL = -1
"""``micros`` of a line whose time is decimal seconds (its span in ``decimals``)."""


@kernel
def _count(buf: U8, start: int, end: int, byte: int) -> int:
    found = 0
    for k in range(start, end):
        if buf[k] == byte:
            found += 1
    return found


@kernel
def _cut(buf: U8, start: int, end: int, quotes: I64, fields: I64) -> int:
    """Cut one line with its six quotes at ``quotes``: fill ``fields`` (key spans, then
    the time: microseconds at 6, or -1 and the decimal's span at 7, 8); 1 when regular."""
    q0, q1, q2, q5 = quotes[0], quotes[1], quotes[2], quotes[5]
    if _count(buf, start, q0, 32) != 5:
        return 0
    third = start - 1
    for _ in range(3):
        third = find(buf, 32, third + 1, q0)
    if buf[third + 1] != 91:  # "[" opens the time
        return 0
    spaces = _count(buf, q0 + 1, q1, 32)
    if spaces != 1 and spaces != 2:
        return 0
    split = find(buf, 32, q0 + 1, q1)
    if split == q0 + 1:
        return 0
    for k in range(q0 + 1, split):
        if buf[k] < 65 or buf[k] > 90:  # method: A-Z only (isupper and isalpha)
            return 0
    target_end = find(buf, 32, split + 1, q1)
    if target_end < 0:
        target_end = q1
    slash = target_end > split + 1 and buf[split + 1] == 47
    star = target_end == split + 2 and buf[split + 1] == 42
    if not slash and not star:
        return 0
    path_end = find(buf, 63, split + 1, target_end)  # "?"
    if path_end < 0:
        path_end = target_end
    if _count(buf, q1 + 1, q2, 32) != 3:
        return 0
    first = find(buf, 32, q1 + 1, q2)
    second = find(buf, 32, first + 1, q2)
    if second - first != 4:
        return 0
    for k in range(first + 1, second):
        if buf[k] < 48 or buf[k] > 57:
            return 0
    fields[0], fields[1], fields[2], fields[3] = q0 + 1, split, split + 1, path_end
    fields[4], fields[5] = first + 1, second
    begin = q5 + 2  # the time: what follows the space after the last quote
    if begin >= end or buf[q5 + 1] != 32:
        return 0
    dots = 0
    for k in range(begin, end):
        if buf[k] == 46:
            dots += 1
        elif buf[k] < 48 or buf[k] > 57:
            return 0
    if dots == 0:
        if end - begin > MAX_DIGITS:
            return 0
        value = 0
        for k in range(begin, end):
            value = value * 10 + (buf[k] - 48)
        fields[6] = value
        return 1
    if dots != 1 or buf[begin] == 46 or buf[end - 1] == 46:
        return 0
    fields[6], fields[7], fields[8] = DECIMAL, begin, end
    return 1


@kernel
def scan(buf: U8, starts: I64, ends: I64, keys: I64, micros: I64, decimals: I64,
         spans: I64) -> int:
    """Cut every line of ``buf`` (whole lines, each ending in ``\\n``).

    Fills, per line: ``starts``/``ends`` (its span without the newline), ``keys`` (key
    id, or :data:`REJECTED`), ``micros`` (or :data:`DECIMAL`, the span then in
    ``decimals[line]``); per key id: its fields' spans (from its first line) in
    ``spans``. Returns the number of distinct keys."""
    table = new_table(len(starts))
    fields = np.empty(9, np.int64)
    quotes = np.empty(7, np.int64)
    distinct = 0
    line = 0
    start = 0
    n = len(buf)
    while start < n and line < len(starts):
        end, count = line_marks(buf, start, 34, quotes)  # str.split('"')
        starts[line], ends[line] = start, end
        keys[line], micros[line] = REJECTED, 0
        if count == 6 and _cut(buf, start, end, quotes, fields):
            key = intern(buf, fields, FIELDS, table, spans, distinct)
            if key == distinct:
                distinct += 1
            keys[line] = key
            micros[line] = fields[6]
            if fields[6] == DECIMAL:
                decimals[line, 0], decimals[line, 1] = fields[7], fields[8]
        line += 1
        start = end + 1
    return distinct
