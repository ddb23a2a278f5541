"""Year-less syslog stamps get the year that puts them in the past, whatever the date."""

from __future__ import annotations

import calendar

import pytest

from stackwatch.logparse.system import parse_syslog
from stackwatch.logparse.timestamps import SYSLOG_FUTURE_SLACK_S, syslog_epoch


def utc(year: int, month: int, day: int, hh: int = 0, mm: int = 0, ss: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)))


@pytest.mark.parametrize(("stamp", "now", "expected"), [
    # read on New Year's Day: yesterday's line is last year's, not a year ahead
    ("Dec 31 23:59:59", utc(2027, 1, 1, 0, 0, 5), utc(2026, 12, 31, 23, 59, 59)),
    # an ordinary day: this year's
    ("Jun 15 12:00:00", utc(2026, 6, 15, 12, 30), utc(2026, 6, 15, 12)),
    # one-digit day, padded
    ("Dec  4 20:00:01", utc(2026, 12, 4, 21), utc(2026, 12, 4, 20, 0, 1)),
    # a writer's clock a little ahead of ours on 31 December: next year's first second
    ("Jan  1 00:00:03", utc(2026, 12, 31, 23, 59, 58), utc(2027, 1, 1, 0, 0, 3)),
    # later in the year than now (beyond the slack): last year's
    ("Mar  1 00:00:00", utc(2026, 2, 1), utc(2025, 3, 1)),
    # Feb 29 read in a year without one: the last leap year's, not 1 March
    ("Feb 29 10:00:00", utc(2026, 3, 10), utc(2024, 2, 29, 10)),
    ("Feb 29 10:00:00", utc(2028, 3, 10), utc(2028, 2, 29, 10)),
])
def test_syslog_year_is_the_latest_not_after_now(stamp: str, now: float,
                                                 expected: float) -> None:
    assert syslog_epoch(stamp, now=now) == expected
    assert syslog_epoch(stamp, now=now) <= now + SYSLOG_FUTURE_SLACK_S


def test_syslog_every_day_of_the_year_lands_in_the_last_year() -> None:
    """Read on any day, a line stamped any day of the year is at most a year old and not
    in the future (beyond the slack)."""
    for reading_day in range(0, 366, 7):
        now = utc(2026, 1, 1, 12) + reading_day * 86400
        for line_day in range(0, 365):
            line = utc(2025, 1, 1, 8) + line_day * 86400
            month = calendar.month_abbr[int(_gm(line)[1])]
            stamp = f"{month} {_gm(line)[2]:2d} 08:00:00"
            when = syslog_epoch(stamp, now=now)
            assert now - 366 * 86400 <= when <= now + SYSLOG_FUTURE_SLACK_S, (stamp, now)


def _gm(epoch: float) -> tuple[int, int, int]:
    import time

    t = time.gmtime(epoch)
    return t.tm_year, t.tm_mon, t.tm_mday


def test_explicit_year_and_bad_stamps() -> None:
    assert syslog_epoch("Dec 31 23:59:59", year=2030) == utc(2030, 12, 31, 23, 59, 59)
    assert syslog_epoch("Feb 30 00:00:00", now=utc(2026, 6, 1)) == 0.0
    assert syslog_epoch("Dec 32 00:00:00", now=utc(2026, 6, 1)) == 0.0
    assert syslog_epoch("Dec 31 25:00:00", now=utc(2026, 6, 1)) == 0.0


def test_parse_syslog_takes_the_reference_time() -> None:
    line = parse_syslog("Dec 31 23:59:59 compute1 kernel: I/O error, dev sdb, sector 8",
                        now=utc(2027, 1, 1, 0, 0, 5))
    assert line is not None and line.timestamp == utc(2026, 12, 31, 23, 59, 59)
    assert line.device == "sdb"
