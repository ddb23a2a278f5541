"""Numbers of log fields, read strictly: a field that is not plainly a number is no
number (``None``), never an exception and never what ``float()`` would also take
(``-5``, ``1e3``, ``1_000``, ``inf``, ``nan``: one ``nan`` makes an hour's sum ``nan``)."""

from __future__ import annotations

import math


def scaled(digits: str, unit: float) -> float | None:
    """``int(digits) / unit`` (a time in micro- or milliseconds, in seconds), or ``None``
    when no float holds it: a corrupt field of hundreds of digits is no time, not a crash."""
    try:
        return int(digits) / unit
    except (ValueError, OverflowError):
        return None


def decimal_seconds(text: str) -> float | None:
    """``12`` or ``0.0823`` (digits, at most one dot between digits) as a float, else
    ``None``; the same double as ``float(text)`` where it is one."""
    whole, dot, fraction = text.partition(".")
    if not whole.isdecimal() or (dot and not fraction.isdecimal()):
        return None
    value = float(text)
    return value if math.isfinite(value) else None
