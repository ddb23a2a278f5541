"""What the engine's batch paths share: interning keys by their bytes, and histogram
sums added in file order.

A batch path (a compiled scan of a whole chunk) counts its lines per distinct key
(:func:`intern`: a hash table of key ids whose probes compare the bytes, so two keys
never merge); the response times of those lines still have to reach the histograms in
file order, with the lines the scan left to the per-line path in between: float
additions in another order would give another sum in the last bits. :class:`InOrderSums`
adds them up to a given line, each time the per-line path is about to take one.

Imported only with a batch path (importing numba costs about half a second).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stackwatch.logparse.jit import kernel
from stackwatch.logparse.tally import BUCKETS, Histogram

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
BOUNDS = np.array(BUCKETS, np.float64)


@kernel
def _same(buf: U8, fields: I64, spans: I64, key: int, count: int) -> bool:
    for f in range(count):
        a, b = fields[2 * f], spans[key, 2 * f]
        length = fields[2 * f + 1] - a
        if length != spans[key, 2 * f + 1] - b:
            return False
        for k in range(length):
            if buf[a + k] != buf[b + k]:
                return False
    return True


@kernel
def intern(buf: U8, fields: I64, count: int, table: I64, spans: I64, distinct: int) -> int:
    """The id of the key made of ``count`` byte spans (``fields``: start, end pairs): the
    id of the first key with byte-equal fields, else ``distinct`` (a new key: its spans
    are copied to ``spans[distinct]``). ``table`` is an open-addressing hash table of
    key ids (-1: free), its length a power of two, larger than the number of keys."""
    digest = np.uint64(14695981039346656037)  # FNV-1a over the fields, separated
    for f in range(count):
        for k in range(fields[2 * f], fields[2 * f + 1]):
            digest = (digest ^ np.uint64(buf[k])) * np.uint64(1099511628211)
        digest = (digest ^ np.uint64(0x1F)) * np.uint64(1099511628211)
    mask = len(table) - 1
    slot = np.int64(digest & np.uint64(mask))
    while True:
        key = table[slot]
        if key < 0:
            table[slot] = distinct
            spans[distinct, :2 * count] = fields[:2 * count]
            return distinct
        if _same(buf, fields, spans, key, count):
            return int(key)
        slot = (slot + 1) & mask


MAX_DIGITS = 15
"""Longest run of digits a kernel reads as a time (exact as a double); longer ones are left
to the per-line path."""


@kernel
def line_marks(buf: U8, start: int, byte: int, marks: I64) -> tuple[int, int]:
    """The line starting at ``start``: (where it ends, at its ``\\n`` or the buffer's end;
    how many of its first ``len(marks)`` ``byte`` s were found, their offsets in
    ``marks``), as ``str.split(chr(byte), len(marks))`` would cut it."""
    n = len(buf)
    end = start
    count = 0
    while end < n and count < len(marks):
        value = buf[end]
        if value == 10:
            return end, count
        if value == byte:
            marks[count] = end
            count += 1
        end += 1
    while end < n and buf[end] != 10:
        end += 1
    return end, count


@kernel
def new_table(lines: int) -> I64:
    """An empty :func:`intern` table for up to ``lines`` keys."""
    size = 1
    while size < 2 * lines + 2:
        size *= 2
    return np.full(size, -1, np.int64)


@kernel
def add_seconds(keys: I64, seconds: F64, group: I64, bounds: F64, counts: I64, sums: F64,
                first: int, stop: int) -> None:
    """Add the seconds of each line of ``first:stop`` with a key and a time (not NaN) to
    its histogram ``group[key]``: a count in its bucket (``le`` semantics, as
    ``bisect_left``) and the seconds to ``sums[group]``, one line after the other."""
    for line in range(first, stop):
        key = keys[line]
        value = seconds[line]
        if key < 0 or value != value:
            continue
        bucket = 0
        while bucket < len(bounds) and bounds[bucket] < value:
            bucket += 1
        target = group[key]
        counts[target, bucket] += 1
        sums[target] += value


class InOrderSums:
    """Adds a chunk's per-line seconds to histograms, in file order, up to a line."""

    def __init__(self, keys: I64, seconds: F64, group: I64, histograms: list[Histogram]
                 ) -> None:
        self.keys, self.seconds, self.group = keys, seconds, group
        self.histograms = histograms
        self.done = 0

    def add_until(self, stop: int) -> None:
        """Add the lines before ``stop`` not added yet."""
        if stop <= self.done or not self.histograms:
            self.done = max(self.done, stop)
            return
        counts = np.zeros((len(self.histograms), len(BUCKETS) + 1), np.int64)
        sums = np.array([hist[-1] for hist in self.histograms], np.float64)
        add_seconds(self.keys, self.seconds, self.group, BOUNDS, counts, sums, self.done,
                    stop)
        for hist, row, total in zip(self.histograms, counts.tolist(), sums.tolist(),
                                    strict=True):
            for bucket, count in enumerate(row):
                if count:
                    hist[bucket] += count
            hist[-1] = total
        self.done = stop


def ascii_array(text: str) -> U8:
    """The bytes of an ASCII text, one per character."""
    return np.frombuffer(text.encode("ascii"), np.uint8)


def line_span_arrays(count: int, fields: int) -> tuple[I64, I64, I64, I64]:
    """Empty per-line arrays for a scan: starts, ends, keys, and key spans
    (``count`` rows of ``2 * fields``: at most one distinct key per line)."""
    return (np.empty(count, np.int64), np.empty(count, np.int64), np.empty(count, np.int64),
            np.empty((count, 2 * fields), np.int64))
