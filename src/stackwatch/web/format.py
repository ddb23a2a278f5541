"""How numbers, ages and statuses read on the pages (Jinja2 filters)."""

from __future__ import annotations

import time
from typing import Any

#: what a missing value reads as (an en dash)
NONE = "\u2013"
_BYTES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(value: float | None) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if value is None:
        return NONE
    size, unit = float(value), 0
    while abs(size) >= 1024 and unit < len(_BYTES) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.0f} {_BYTES[unit]}" if unit == 0 else f"{size:.1f} {_BYTES[unit]}"


def human_number(value: float | None, digits: int = 1) -> str:
    """``12345`` -> ``12.3k``; small numbers as they are."""
    if value is None:
        return NONE
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.{digits}f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def human_seconds(value: float | None) -> str:
    """A duration: ``0.0123`` -> ``12 ms``, ``95`` -> ``1 min 35 s``."""
    if value is None:
        return NONE
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    if value < 86400:
        return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"
    return f"{int(value // 86400)} d {int(value % 86400 // 3600)} h"


def human_percent(value: float | None) -> str:
    """A share 0..1 as ``42 %``."""
    return NONE if value is None else f"{value * 100:.0f} %"


def clock(timestamp: float | None) -> str:
    """``22:50:22`` (UTC) of an epoch time, with the date when not today."""
    if not timestamp:
        return "never"
    now = time.gmtime()
    moment = time.gmtime(timestamp)
    if moment[:3] == now[:3]:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def precise_clock(timestamp: float | None) -> str:
    """``22:50:22.125`` (UTC, milliseconds) of an epoch time, with the date when not today:
    the steps of one request are milliseconds apart."""
    if not timestamp:
        return NONE
    seconds, millis = divmod(round(timestamp * 1000), 1000)
    moment = time.gmtime(seconds)
    day = "" if moment[:3] == time.gmtime()[:3] else time.strftime("%Y-%m-%d ", moment)
    return f"{day}{time.strftime('%H:%M:%S', moment)}.{millis:03d}"


def status_class(status: Any) -> str:
    """The CSS class of a status name (``st-critical``...)."""
    return f"st-{str(status).lower()}"


FILTERS = {"bytes": human_bytes, "number": human_number, "seconds": human_seconds,
           "percent": human_percent, "clock": clock, "precise_clock": precise_clock,
           "status_class": status_class}
