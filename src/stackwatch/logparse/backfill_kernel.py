"""Compiled kernels of the backfill: one pass over a piece of a log file (``uint8`` bytes),
each line judged by :func:`stackwatch.logparse.backfill_matchers.classify` and, when counted,
its fields grouped in an open-addressing table; lines the patterns do not take are handed
back as odd (the reference parser takes them).

A group is keyed by byte spans of the piece (hour, level, method + path without its
query) with status and histogram bucket; a probe compares the bytes, never just the
hash, so two keys never merge. The piece's bytes are checked as they are scanned
(``\\r``, NUL, ASCII), a block ahead, while the block is in the cache.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stackwatch.logparse.backfill_matchers import (
    ACCESS,
    BUCKET,
    COUNT,
    COUNTED,
    HAPROXY,
    HOUR,
    HOUR_LEN,
    LEVEL,
    LEVEL_LEN,
    NONE,
    ODD,
    OSLO,
    REQUEST,
    REQUEST_LEN,
    STATUS,
    WIDTH,
    Ints,
    classify,
)
from stackwatch.logparse.bytescan import Bytes, check, find, is_ascii, load8
from stackwatch.logparse.jit import kernel

__all__ = ["ACCESS", "BAD", "BUCKET", "CLEAN", "COUNT", "HAPROXY", "HOUR", "HOUR_LEN",
           "LEVEL", "LEVEL_LEN", "NONE", "NOT_ASCII", "OSLO", "REQUEST", "REQUEST_LEN",
           "STATUS", "WIDTH", "check", "scan"]

CLEAN, BAD, NOT_ASCII = 0, 1, 2
"""Verdicts of :func:`scan` on a piece's bytes."""
_BLOCK = 1 << 18
Floats = npt.NDArray[np.float64]


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
            if load8(base + a + k) != load8(base + b + k):
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
            h = (h ^ load8(base + start + k)) * prime
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
        e = find(buf, 10, s, size)
        if e < 0:  # the caller hands whole lines: never
            e = size
        lines += 1
        fate, seconds = ODD, -1.0
        if ascii_only or is_ascii(buf, s, e):
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
