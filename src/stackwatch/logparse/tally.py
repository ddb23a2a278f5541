"""Cumulative aggregates of parsed log lines, keyed by label tuples.

A :class:`Tally` is what the log source persists in its checkpoint (so counters
survive restarts) and turns into samples. Keys are tuples of label values, in
the order given by each field's comment; histograms are lists of bucket counts
(``le`` = :data:`BUCKETS`, then ``+Inf``) followed by the sum.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Response-time histogram bounds in seconds (``le``); one more bucket is ``+Inf``."""

Histogram = list[float]


def new_histogram() -> Histogram:
    """Empty bucket counts and a zero sum."""
    return [0.0] * (len(BUCKETS) + 2)


def observe(histogram: Histogram, seconds: float) -> None:
    """Count one observation (bucket ``le`` semantics: ``seconds <= bound``)."""
    histogram[bisect_left(BUCKETS, seconds)] += 1
    histogram[-1] += seconds


def histogram_count(histogram: Histogram) -> float:
    """Number of observations in a histogram."""
    return sum(histogram[:-1])


def quantile(histogram: Histogram, q: float) -> float | None:
    """Estimate a quantile by linear interpolation inside the bucket (Prometheus style)."""
    total = histogram_count(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(histogram[:-1]):
        if count and seen + count >= rank:
            lower = BUCKETS[index - 1] if index > 0 else 0.0
            if index >= len(BUCKETS):
                return BUCKETS[-1]
            upper = BUCKETS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return BUCKETS[-1]


def _add_counts(target: dict[Any, int], source: dict[Any, int]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def _add_histograms(target: dict[Any, Histogram], source: dict[Any, Histogram]) -> None:
    for key, values in source.items():
        mine = target.get(key)
        if mine is None:
            target[key] = list(values)
        else:
            for index, value in enumerate(values):
                mine[index] += value


@dataclass
class Tally:
    """Counters and histograms of one or more files."""

    requests: dict[tuple[str, str, str, str, str], int] = field(default_factory=dict)
    """(service, host, method, url template, status) -> requests."""
    durations: dict[tuple[str, str, str, str], Histogram] = field(default_factory=dict)
    """(service, host, method, url template) -> response-time histogram."""
    records: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(service, host, level) -> log records (a multi-line traceback is one record)."""
    tracebacks: dict[tuple[str, str], int] = field(default_factory=dict)
    """(service, host) -> records that carried a traceback."""
    haproxy: dict[tuple[str, str, str, str, str], int] = field(default_factory=dict)
    """(host, frontend, backend, server, status) -> HTTP responses."""
    haproxy_time: dict[tuple[str, str, str], Histogram] = field(default_factory=dict)
    """(host, frontend, backend) -> total time (Ta) histogram."""
    disk_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    """(host, device) -> disk I/O error reports."""
    lines: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(service, file, outcome) -> lines; outcome is parsed, skipped or unparsed."""
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)
    """(service, reason) -> lines deliberately skipped."""

    _COUNTERS = ("requests", "records", "tracebacks", "haproxy", "disk_errors", "lines",
                 "skipped")
    _HISTOGRAMS = ("durations", "haproxy_time")

    def merge(self, other: Tally) -> None:
        """Add another tally into this one."""
        for name in self._COUNTERS:
            _add_counts(getattr(self, name), getattr(other, name))
        for name in self._HISTOGRAMS:
            _add_histograms(getattr(self, name), getattr(other, name))

    def line_total(self) -> int:
        """All lines counted, whatever their outcome."""
        return sum(self.lines.values())

    def outcome(self, outcome: str) -> int:
        """Lines with one outcome (parsed, skipped, unparsed)."""
        return sum(v for (_, _, o), v in self.lines.items() if o == outcome)

    def to_json(self) -> dict[str, list[list[Any]]]:
        """A JSON-ready form: each field a list of ``[*key, value]`` rows."""
        return {
            name: [[*key, value] for key, value in getattr(self, name).items()]
            for name in (*self._COUNTERS, *self._HISTOGRAMS)
        }

    @classmethod
    def from_json(cls, data: dict[str, Iterable[list[Any]]]) -> Tally:
        """Rebuild a tally written by :meth:`to_json`."""
        tally = cls()
        for name in (*cls._COUNTERS, *cls._HISTOGRAMS):
            target = getattr(tally, name)
            for row in data.get(name, ()):
                target[tuple(row[:-1])] = row[-1]
        return tally

    def dumps(self) -> str:
        """Compact JSON text."""
        return json.dumps(self.to_json(), separators=(",", ":"))


K = TypeVar("K")


def merge_into(tallies: dict[K, Tally], key: K, tally: Tally) -> None:
    """``tallies[key]`` merged with ``tally`` (which becomes it where there was none)."""
    mine = tallies.get(key)
    if mine is None:
        tallies[key] = tally
    else:
        mine.merge(tally)
