"""Timestamps of log lines to seconds since the epoch, memoised per second.

Logs repeat the same second many times, so each converter caches the epoch of
the whole-second text and adds the fraction. oslo.log and MariaDB write local
time without an offset; like most deployments we take it as UTC.
"""

from __future__ import annotations

import calendar
import time

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_ISO_CACHE: dict[str, float] = {}
_CLF_CACHE: dict[str, float] = {}
_MINUTE_CACHE: dict[str, float] = {}
ISO_MINUTES = _MINUTE_CACHE
"""``2026-11-21 06:19`` -> epoch of that minute, for hot loops that inline the fast path
of :func:`iso_epoch` (``minute + float(text[17:23])``, same arithmetic, same result)."""
_CACHE_LIMIT = 100_000
_SCALE = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


def _remember(cache: dict[str, float], key: str, value: float) -> float:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def iso_epoch(text: str) -> float:
    """``2026-11-21 06:19:36.304`` (or ``T`` separator, optional fraction) as UTC epoch."""
    minute = _MINUTE_CACHE.get(text[:16])
    if minute is not None and len(text) == 23 and text[16] == ":" and text[19] == ".":
        try:  # the usual oslo.log form, fast: minute from the cache, "36.304" by float()
            return minute + float(text[17:])
        except ValueError:
            pass
    whole, _, fraction = text.partition(".")
    base = _ISO_CACHE.get(whole)
    if base is None:
        try:
            parsed = _iso_fields(whole)
        except ValueError:
            return 0.0
        base = _remember(_ISO_CACHE, whole, float(calendar.timegm(parsed)))
        if whole[10:11] == " " and len(whole) == 19:
            _remember(_MINUTE_CACHE, whole[:16], base - parsed[5])
    if fraction:
        digits = fraction[:6].rstrip("Z")
        if digits.isdigit():
            return base + int(digits) / _SCALE[len(digits)]
    return base


def _iso_fields(whole: str) -> tuple[int, int, int, int, int, int]:
    """``2026-11-21 06:19:36`` (or ``T``) as (year, month, day, hour, minute, second);
    ``ValueError`` if not a valid time. The zero-padded form by slicing (``time.strptime``
    costs 8 µs and takes a lock every thread parsing logs waits on), any other by
    ``strptime``."""
    if (len(whole) == 19 and whole[4] == whole[7] == "-" and whole[10] in " T"
            and whole[13] == whole[16] == ":"):
        digits = (whole[0:4], whole[5:7], whole[8:10], whole[11:13], whole[14:16],
                  whole[17:19])
        if all(map(str.isdigit, digits)) and all(map(str.isascii, digits)):
            year, month, day, hour, minute, second = map(int, digits)
            if (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
                    and hour <= 23 and minute <= 59 and second <= 61 and year >= 1):
                return year, month, day, hour, minute, second
    parsed = time.strptime(whole.replace("T", " "), "%Y-%m-%d %H:%M:%S")
    return (parsed.tm_year, parsed.tm_mon, parsed.tm_mday, parsed.tm_hour, parsed.tm_min,
            parsed.tm_sec)


def clf_epoch(text: str) -> float:
    """Common Log Format ``21/Nov/2026:06:19:36 +0000`` (fraction allowed) as epoch."""
    stamp, _, zone = text.partition(" ")
    whole, _, fraction = stamp.partition(".")
    key = whole + zone
    base: float | None = _CLF_CACHE.get(key)
    if base is None:
        try:
            day, month, rest = whole.split("/", 2)
            year, hh, mm, ss = rest.split(":")
            base = float(calendar.timegm(
                (int(year), MONTHS[month], int(day), int(hh), int(mm), int(ss), 0, 0, 0)))
            if len(zone) == 5 and zone[0] in "+-" and zone[1:].isdigit():
                offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
                base -= offset if zone[0] == "+" else -offset
        except (ValueError, KeyError, OverflowError):  # overflow: a corrupt huge number
            return 0.0
        _remember(_CLF_CACHE, key, base)
    if fraction.isdigit():
        return base + int(fraction[:6]) / _SCALE[len(fraction[:6])]
    return base


#: How far after "now" a year-less syslog stamp may fall and still be taken as this
#: year's (clock skew, a local time zone ahead of UTC); past it, it is last year's.
SYSLOG_FUTURE_SLACK_S = 2 * 86400.0


def syslog_epoch(text: str, year: int | None = None, now: float | None = None) -> float:
    """RFC 3164 ``Nov 21 06:04:37`` or ISO 8601 as epoch.

    RFC 3164 has no year: unless ``year`` is given, the stamp gets the latest year
    that puts it not after ``now`` (default: the clock) plus
    :data:`SYSLOG_FUTURE_SLACK_S`, so ``Dec 31 23:59:59`` read on 1 January is last
    year's and ``Feb 29`` the last leap year's.
    """
    if text[:4].isdigit():
        return iso_epoch(text[:26].split("+")[0])
    parts = text.split()
    if len(parts) != 3 or parts[0] not in MONTHS:
        return 0.0
    try:
        hh, mm, ss = (int(x) for x in parts[2].split(":"))
        month, day = MONTHS[parts[0]], int(parts[1])
        if not (1 <= day <= 31 and 0 <= hh <= 23 and 0 <= mm <= 59 and 0 <= ss <= 60):
            return 0.0
        if year is not None:
            return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))
        clock = time.time() if now is None else now
        latest = clock + SYSLOG_FUTURE_SLACK_S
        this_year = time.gmtime(clock).tm_year
        for candidate in range(this_year + 1, this_year - 9, -1):
            if day > calendar.monthrange(candidate, month)[1]:
                continue  # Feb 29 of a year that has none
            when = float(calendar.timegm((candidate, month, day, hh, mm, ss, 0, 0, 0)))
            if when <= latest:
                return when
        return 0.0
    except (ValueError, OverflowError):
        return 0.0


def hour_of(epoch: float) -> float:
    """Start of the hour an epoch falls in."""
    return epoch - epoch % 3600
