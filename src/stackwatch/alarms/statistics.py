"""The statistics an alarm takes of one series' points in one period.

``points`` are ``(time, value)`` in time order, values finite (None ones are left out by
the caller). ``rate`` and ``increase`` treat the series as a counter: a drop is a reset
(the value after it counts from zero), as PromQL's ``increase`` does, without its
extrapolation to the window's edges; ``rate`` is the increase per second between the
first and the last point. Percentiles interpolate linearly between closest ranks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

Points = Sequence[tuple[float, float]]


def _increase(points: Points) -> float:
    total = 0.0
    for (_, before), (_, after) in pairwise(points):
        total += after - before if after >= before else after
    return total


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def statistic(name: str, points: Points) -> float | None:
    """The statistic ``name`` (``last``... ``increase``, ``pNN``) of ``points``; None when
    there are too few (none; fewer than two for rate and increase)."""
    if not points:
        return None
    values = [v for _, v in points]
    if name == "last":
        return values[-1]
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    if name == "avg":
        return math.fsum(values) / len(values)
    if name == "sum":
        return math.fsum(values)
    if name == "count":
        return float(len(values))
    if name in ("rate", "increase"):
        if len(points) < 2:
            return None
        increase = _increase(points)
        if name == "increase":
            return increase
        span = points[-1][0] - points[0][0]
        return increase / span if span > 0 else None
    if name.startswith("p"):
        return _percentile(values, float(name[1:]))
    raise ValueError(f"unknown statistic {name!r}")


def combine(how: str, values: Sequence[float]) -> float:
    """The value of a group from its series' values (sum, max, min, avg)."""
    if how == "sum":
        return math.fsum(values)
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return math.fsum(values) / len(values)
