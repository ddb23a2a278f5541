"""Hourly aggregates of log files, written by ``stackwatch logs backfill``.

Months of rotated logs become a few rows per hour, service and operation, for
trends such as requests per hour per API::

    log_hourly_requests (hour, service, host, method, url, status,
                         requests, duration_count, duration_sum)
    log_hourly_records  (hour, service, host, level, records)
    log_backfilled      (fingerprint, path, lines, ingested_at)

Counts are added on conflict, and each file is ingested once (by the fingerprint
of its content), so re-running a backfill over the same directory adds nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stackwatch.errors import StoreError
from stackwatch.logparse.tally import Tally, histogram_count

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_hourly_requests (
    hour REAL NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL, method TEXT NOT NULL,
    url TEXT NOT NULL, status TEXT NOT NULL, requests INTEGER NOT NULL,
    PRIMARY KEY (hour, service, host, method, url, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_hourly_durations (
    hour REAL NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL, method TEXT NOT NULL,
    url TEXT NOT NULL, count INTEGER NOT NULL, total REAL NOT NULL,
    PRIMARY KEY (hour, service, host, method, url)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_hourly_records (
    hour REAL NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL, level TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (hour, service, host, level)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_backfilled (
    fingerprint TEXT PRIMARY KEY, path TEXT NOT NULL, lines INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
"""


def _text(value: str) -> str:
    """Text SQLite can store: bytes that were not UTF-8 in a log line (kept as surrogates
    by the parser) become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class HourlyRequests:
    """Requests of one operation in one hour."""

    hour: float
    service: str
    method: str
    url: str
    requests: int
    mean_seconds: float | None


class LogHistory:
    """Hourly aggregates in the store's SQLite file."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open log history: {exc}") from exc

    def ingested(self, fingerprint: str) -> bool:
        """Whether a file with this content fingerprint was already ingested."""
        row = self._conn.execute("SELECT 1 FROM log_backfilled WHERE fingerprint = ?",
                                 (fingerprint,)).fetchone()
        return row is not None

    def add(self, hours: Mapping[float, Tally],
            files: Iterable[tuple[str, str, int]] = ()) -> None:
        """Add hourly tallies and mark files ``(fingerprint, path, lines)`` as ingested."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for hour, tally in hours.items():
                self._conn.executemany(
                    "INSERT INTO log_hourly_requests VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET requests = requests + excluded.requests",
                    [(hour, *map(_text, key), n) for key, n in tally.requests.items()])
                self._conn.executemany(
                    "INSERT INTO log_hourly_durations VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET count = count + excluded.count, "
                    "total = total + excluded.total",
                    [(hour, *map(_text, key), int(histogram_count(h)), h[-1])
                     for key, h in tally.durations.items()])
                self._conn.executemany(
                    "INSERT INTO log_hourly_records VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET records = records + excluded.records",
                    [(hour, *key, n) for key, n in tally.records.items()])
            self._conn.executemany(
                "INSERT OR IGNORE INTO log_backfilled VALUES (?, ?, ?, ?)",
                [(fp, path, lines, time.time()) for fp, path, lines in files])
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: log history write failed: {exc}") from exc

    def requests_per_hour(self, service: str | None = None) -> list[HourlyRequests]:
        """Requests per hour per operation (all statuses), oldest first."""
        rows = self._conn.execute(
            "SELECT r.hour, r.service, r.method, r.url, sum(r.requests), "
            "  (SELECT d.total / d.count FROM log_hourly_durations d WHERE d.hour = r.hour "
            "   AND d.service = r.service AND d.method = r.method AND d.url = r.url "
            "   AND d.count > 0 LIMIT 1) "
            "FROM log_hourly_requests r WHERE (? IS NULL OR r.service = ?) "
            "GROUP BY r.hour, r.service, r.method, r.url ORDER BY r.hour, r.service, r.url",
            (service, service)).fetchall()
        return [HourlyRequests(*row) for row in rows]

    def service_hours(self, start: float = 0.0) -> list[HourlyRequests]:
        """Requests per hour per service (all operations and statuses) from ``start`` on,
        oldest first: what the trends read."""
        rows = self._conn.execute(
            "SELECT hour, service, sum(requests) FROM log_hourly_requests WHERE hour >= ? "
            "GROUP BY hour, service ORDER BY hour, service", (start,)).fetchall()
        return [HourlyRequests(hour, service, "", "", int(n), None)
                for hour, service, n in rows]

    def records_per_hour(self) -> list[tuple[float, str, str, int]]:
        """``(hour, service, level, records)`` rows, oldest first."""
        return [(r[0], r[1], r[2], r[3]) for r in self._conn.execute(
            "SELECT hour, service, level, sum(records) FROM log_hourly_records "
            "GROUP BY hour, service, level ORDER BY hour")]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
