"""Hourly sums of every series beside its samples: a range over days reads 24 rows a
series a day instead of 1,440 (a week of a big cloud's metric: 168,000 rows, not 10
million).

    rollup_hours (series_id, hour, count, total)   PRIMARY KEY (series_id, hour), no rowid;
                                                   total NULL when not a number
    store_meta   (key, value)                      rollups_from: the first complete hour

``hour`` is ``floor(ts / 3600)``. A write adds each sample newer than its series' newest
to its hour; a sample written again unchanged (a resource not due re-emits its last read
with its timestamp) changes nothing; any other (a backfill, a value written again
changed) has its hour summed again from the samples. Hours from ``rollups_from`` on are
complete: a store made before rollups has them from the hour after its newest sample, and
a prune moves it past the hours it cut into. Exact with one writing process, the store's
rule (another process appending would be counted in neither's plan).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HOUR = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollup_hours (
    series_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    total REAL,  -- NULL: not a number (inf - inf)
    PRIMARY KEY (series_id, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""
_FROM = "rollups_from"



def hour_of(ts: float) -> int:
    return math.floor(ts / HOUR)


def start(conn: sqlite3.Connection) -> None:
    """Create the tables; a store that had samples before rollups has them complete only
    from the hour after its newest sample (summing its past at start-up would take as
    long as a backfill)."""
    had = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollup_hours'").fetchone()
    conn.executescript(SCHEMA)
    if had is None:
        newest = conn.execute("SELECT MAX(ts) FROM samples").fetchone()[0]
        first = 0 if newest is None else hour_of(newest) + 1
        conn.execute("INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)",
                     (_FROM, first))


def complete_from(query: Callable[[str, Sequence[Any]], list[Any]]) -> int:
    """The first hour from which every hour's sums are complete."""
    rows = query("SELECT value FROM store_meta WHERE key = ?", [_FROM])
    return int(rows[0][0]) if rows else 0


@dataclass
class Changes:
    """What a write does to the sums: counts and totals to add, hours to sum again."""

    add: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # [count, total]
    again: set[tuple[int, int]] = field(default_factory=set)


def plan(rows: Iterable[tuple[int, float, float]],
         newest: Mapping[int, tuple[float, float]]) -> Changes:
    """The changes of writing ``rows`` (series id, ts, value; each key once) to series
    whose newest sample before the write is ``newest[series id]`` (time, value)."""
    changes = Changes()
    add, get = changes.add, newest.get
    hours: dict[float, int] = {}  # a run's samples share a few timestamps
    for series_id, ts, value in rows:
        before = get(series_id)
        hour = hours.get(ts)
        if hour is None:
            hour = hours[ts] = hour_of(ts)
        key = (series_id, hour)
        if before is None or ts > before[0]:
            sums = add.get(key)
            if sums is None:
                add[key] = [1, 0.0 + value]
            else:
                sums[0] += 1
                sums[1] += value
        elif ts != before[0] or value != before[1]:
            changes.again.add(key)
    return changes


def apply(conn: sqlite3.Connection, changes: Changes) -> None:
    """Write the changes (after the samples are written)."""
    conn.executemany(
        "INSERT INTO rollup_hours (series_id, hour, count, total) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (series_id, hour) DO UPDATE SET count = count + excluded.count, "
        "total = total + excluded.total",
        [(s, h, c, t) for (s, h), (c, t) in changes.add.items() if (s, h) not in changes.again])
    conn.executemany(
        "INSERT INTO rollup_hours (series_id, hour, count, total) "
        "SELECT ?1, ?2, COUNT(*), TOTAL(value) FROM samples "
        "WHERE series_id = ?1 AND ts >= ?2 * 3600.0 AND ts < (?2 + 1) * 3600.0 "
        "ON CONFLICT (series_id, hour) DO UPDATE SET count = excluded.count, "
        "total = excluded.total", sorted(changes.again))


def prune(conn: sqlite3.Connection, older_than: float) -> int:
    """Drop the sums of every hour that began before ``older_than`` (the one it cuts into
    as well: its samples before the cut are gone); return how many went."""
    cut = hour_of(older_than) + (0 if older_than % HOUR == 0 else 1)
    removed = conn.execute("DELETE FROM rollup_hours WHERE hour < ?", (cut,)).rowcount
    conn.execute("UPDATE store_meta SET value = MAX(value, ?) WHERE key = ?", (cut, _FROM))
    return int(removed)


_HOURS = ("FROM rollup_hours WHERE series_id IN (SELECT value FROM json_each(:ids)) "
          "AND hour >= :first AND hour < :last")
#: the sums of the complete hours ``[:first, :last)`` of the series ``:ids`` as (series,
#: slot, count, total), by ``:step``-wide slot from ``:origin`` (both whole hours)
SLOTS = ("SELECT series_id, CAST((hour * 3600.0 - :origin) / :step AS INTEGER) AS slot, "
         "count AS n, total " + _HOURS)
#: the same hours as (series, the hour's middle, its mean), by series and hour
HOURS = ("SELECT series_id, hour * 3600.0 + 1800.0, CASE WHEN total / count BETWEEN "
         "-1.7976931348623157e308 AND 1.7976931348623157e308 THEN total / count END "
         + _HOURS + " ORDER BY series_id, hour")
