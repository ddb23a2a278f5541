"""HAProxy ``option httplog`` lines counted a whole chunk at a time, in compiled code.

:func:`scan` walks the bytes of a chunk and takes every *regular* line: one that
the per-line fast path of :mod:`stackwatch.logparse.engine` takes (the same cut
with ``str.split(" ", 19)``, the padded day removed, the same checks), with a
three-digit status and a total time that is ``-…`` or plain digits. It gives each
such line the id of its key (host, frontend, backend, server, status), the same id
for byte-equal fields, and its total time in milliseconds. Every other line is left
to the per-line path (:mod:`.batch` adds the times to the histograms in file order).

Imported only when a chunk is large enough to be worth it (importing numba costs
about half a second, once per process).
"""

from __future__ import annotations

import numpy as np

from stackwatch.logparse.batch import I64, MAX_DIGITS, U8, intern, line_marks, new_table
from stackwatch.logparse.jit import kernel

FIELDS = 5
"""Key fields, as (start, end) pairs in a key's row of ``spans``: host, frontend (its
``~`` cut off), backend, server, status."""
NO_TIME = -1
"""``millis`` of a line whose total time starts with ``-`` (not timed)."""
REJECTED = -1
"""``keys`` of a line left to the per-line path."""


@kernel
def _cut(buf: U8, start: int, end: int, spaces: I64, count: int, fields: I64, haproxy: U8
         ) -> int:
    """Cut one line (``spaces``: its first ``count`` spaces, at most 19); fill ``fields``
    (key spans, then total ms at index 10); return 1 for a regular line, 0 otherwise."""
    shift = 0
    if count >= 18 and spaces[1] == spaces[0] + 1:  # "Nov  1": str.split gives ""
        shift = 1
    if count < 18 + shift:
        return 0

    def field_start(index: int) -> int:
        raw = index + shift if index > 0 else 0
        return start if raw == 0 else spaces[raw - 1] + 1

    def field_end(index: int) -> int:
        raw = index + shift if index > 0 else 0
        return spaces[raw] if raw < count else end

    s4, e4 = field_start(4), field_end(4)
    if e4 - s4 < 8:
        return 0
    for k in range(8):
        if buf[s4 + k] != haproxy[k]:
            return 0
    s6, e6 = field_start(6), field_end(6)
    s17, e17 = field_start(17), field_end(17)
    if e6 == s6 or buf[s6] != 91 or e17 == s17 or buf[s17] != 34:  # "[", '"'
        return 0
    s9, e9 = field_start(9), field_end(9)
    slashes = 0
    last = -1
    for k in range(s9, e9):
        if buf[k] == 47:
            slashes += 1
            last = k
    if slashes != 4:
        return 0
    s8, e8 = field_start(8), field_end(8)
    cut = -1
    for k in range(s8, e8):
        if buf[k] == 47:
            cut = k
            break
    if cut < 0:
        return 0
    s10, e10 = field_start(10), field_end(10)
    if e10 - s10 != 3:
        return 0
    for k in range(s10, e10):
        if buf[k] < 48 or buf[k] > 57:
            return 0
    k = last + 1
    millis = NO_TIME
    if k < e9 and buf[k] == 45:  # "-": not timed, whatever follows
        millis = NO_TIME
    else:
        while k < e9 and buf[k] == 43:  # str.lstrip("+")
            k += 1
        if k == e9 or e9 - k > MAX_DIGITS:
            return 0
        millis = 0
        for j in range(k, e9):
            if buf[j] < 48 or buf[j] > 57:
                return 0
            millis = millis * 10 + (buf[j] - 48)
    s3, e3 = field_start(3), field_end(3)
    s7, e7 = field_start(7), field_end(7)
    if e7 > s7 and buf[e7 - 1] == 126:  # frontend "~" (TLS) cut off
        e7 -= 1
    fields[0], fields[1], fields[2], fields[3] = s3, e3, s7, e7
    fields[4], fields[5], fields[6], fields[7] = s8, cut, cut + 1, e8
    fields[8], fields[9], fields[10] = s10, e10, millis
    return 1


@kernel
def scan(buf: U8, starts: I64, ends: I64, keys: I64, millis: I64, spans: I64) -> int:
    """Cut every line of ``buf`` (whole lines, each ending in ``\\n``).

    Fills, per line: ``starts``/``ends`` (its span without the newline), ``keys`` (key
    id, or :data:`REJECTED`) and ``millis``; per key id: its fields' spans (from its
    first line) in ``spans``. Returns the number of distinct keys."""
    table = new_table(len(starts))
    fields = np.empty(11, np.int64)
    spaces = np.empty(19, np.int64)
    haproxy = np.array([104, 97, 112, 114, 111, 120, 121, 91], np.uint8)  # haproxy[
    distinct = 0
    line = 0
    start = 0
    n = len(buf)
    while start < n and line < len(starts):
        end, count = line_marks(buf, start, 32, spaces)  # str.split(" ", 19)
        starts[line], ends[line] = start, end
        keys[line], millis[line] = REJECTED, NO_TIME
        if _cut(buf, start, end, spaces, count, fields, haproxy):
            key = intern(buf, fields, FIELDS, table, spans, distinct)
            if key == distinct:
                distinct += 1
            keys[line] = key
            millis[line] = fields[10]
        line += 1
        start = end + 1
    return distinct
