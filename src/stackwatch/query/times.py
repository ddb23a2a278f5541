"""Times as the API shows them: epoch seconds beside ISO 8601 (UTC), and time ranges."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from pydantic import BaseModel, computed_field

_RANGE = re.compile(r"^([0-9]+)([mhdw])$")
#: what :func:`range_seconds` accepts, as a JSON-schema pattern (the API documents it)
RANGE_PATTERN = r"^\s*0*[1-9][0-9]*[mhdw]\s*$"
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
#: the ranges the dashboard offers (any ``<n><m|h|d|w>`` is accepted)
RANGES = ("15m", "1h", "6h", "24h", "7d", "30d")


def iso(timestamp: float) -> str:
    """``2026-12-04T22:50:22.125Z`` (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def finite(value: float) -> float | None:
    """The value, or None for NaN and infinities (JSON has no such numbers)."""
    return value if math.isfinite(value) else None


def range_seconds(text: str) -> float:
    """``"6h"`` -> 21600.0; ValueError naming the accepted form otherwise."""
    match = _RANGE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a time range like 15m, 6h, 7d or 2w")
    return float(int(match.group(1)) * _UNIT_S[match.group(2)])


class Stamped(BaseModel):
    """Anything with a time: ``timestamp`` (epoch seconds) and ``time`` (ISO 8601)."""

    timestamp: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time(self) -> str:
        """The timestamp in ISO 8601, UTC."""
        return iso(self.timestamp)
