"""``iso_epoch`` without ``time.strptime`` on its usual form: the same seconds, the same
rejections, as ``strptime`` gives (every field at and past its limits)."""

from __future__ import annotations

import calendar
import itertools
import time

from stackwatch.logparse import timestamps
from stackwatch.logparse.timestamps import iso_epoch


def by_strptime(whole: str) -> float | None:
    try:
        parsed = time.strptime(whole.replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


def test_same_as_strptime_at_every_limit() -> None:
    years, months = ("0000", "0001", "1970", "2024", "2026", "9999"), ("00", "01", "02", "12", "13")
    days = ("00", "01", "28", "29", "30", "31", "32")
    hours, minutes, seconds = ("00", "23", "24"), ("00", "59", "60"), ("00", "59", "60", "61", "62")
    for y, mo, d, h, mi, s, sep in itertools.product(years, months, days, hours, minutes,
                                                     seconds, " T"):
        whole = f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}"
        timestamps._ISO_CACHE.clear()
        timestamps._MINUTE_CACHE.clear()
        expected = by_strptime(whole)
        assert iso_epoch(whole + ".250") == (0.0 if expected is None else expected + 0.25), whole


def test_other_forms_still_by_strptime() -> None:
    for whole in ("2026-1-5 3:04:05", "2026-01-05 3:04:05", "\uff12026-01-05 03:04:05",
                  "2026-01-05 03:04:0x", "2026/01/05 03:04:05", "2026-01-05  03:04:05"):
        timestamps._ISO_CACHE.clear()
        timestamps._MINUTE_CACHE.clear()
        expected = by_strptime(whole)
        assert iso_epoch(whole) == (0.0 if expected is None else expected), whole
