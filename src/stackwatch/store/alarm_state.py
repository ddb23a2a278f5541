"""The alarm engine's state in tables of the SQLite store file::

    alarm_states  (alarm, labels, state, severity, since, reason, value, notified)
                                                     PRIMARY KEY(alarm, labels)
    alarm_history (id, ts, alarm, labels, previous, current, severity, reason, value, kind)
    alarm_acks    (alarm, labels, by_whom, reason, at) PRIMARY KEY(alarm, labels)
    alarm_silences (id, matchers, starts, ends, by_whom, reason, created)

Tables are created when missing (the migration of a store file that predates them).
Labels are JSON objects with sorted keys, as in the rest of the store. One connection
under a lock: the engine writes what changed once per cycle; the CLI and the web read.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackwatch.errors import StoreError
from stackwatch.model import Labels
from stackwatch.store.base import AckRecord, AlarmRecord, AlarmTransition, SilenceRecord
from stackwatch.store.sqlite import open_tables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_states (
    alarm TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    value REAL,
    notified REAL NOT NULL,
    PRIMARY KEY (alarm, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    alarm TEXT NOT NULL,
    labels TEXT NOT NULL,
    previous TEXT NOT NULL,
    current TEXT NOT NULL,
    severity TEXT NOT NULL,
    reason TEXT NOT NULL,
    value REAL,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_ts ON alarm_history (ts);
CREATE TABLE IF NOT EXISTS alarm_acks (
    alarm TEXT NOT NULL,
    labels TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (alarm, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm_silences (
    id INTEGER PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts REAL NOT NULL,
    ends REAL NOT NULL,
    by_whom TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@functools.lru_cache(maxsize=1 << 16)
def encode_labels(labels: Labels) -> str:
    # Cached: a cycle saves the same instances' records again as their values move.
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def decode_labels(text: str) -> Labels:
    return tuple(sorted(json.loads(text).items()))


def state_row(r: AlarmRecord) -> tuple[Any, ...]:
    return (r.alarm, encode_labels(r.labels), r.state, r.severity, r.since, r.reason,
            r.value, r.notified)


def transition_row(t: AlarmTransition) -> tuple[Any, ...]:
    return (t.ts, t.alarm, encode_labels(t.labels), t.previous, t.current, t.severity,
            t.reason, t.value, t.kind)


def record_of(row: Sequence[Any]) -> AlarmRecord:
    return AlarmRecord(row[0], decode_labels(row[1]), row[2], row[3], row[4], row[5], row[6],
                       row[7])


def transition_of(row: Sequence[Any]) -> AlarmTransition:
    return AlarmTransition(row[0], row[1], decode_labels(row[2]), row[3], row[4], row[5],
                           row[6], row[7], row[8])


class SQLiteAlarmStore:
    """:class:`~stackwatch.store.base.AlarmStateStore` in the SQLite store file."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_tables(self.path, timeout, _SCHEMA, "the alarm tables")

    def _run(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {what}: {exc}") from exc

    def alarm_states(self) -> list[AlarmRecord]:
        rows = self._run("cannot read alarm states",
                         "SELECT alarm, labels, state, severity, since, reason, value, notified "
                         "FROM alarm_states ORDER BY alarm, labels")
        return [record_of(r) for r in rows]

    def save_alarms(self, changed: Sequence[AlarmRecord], gone: Sequence[tuple[str, Labels]],
                    transitions: Sequence[AlarmTransition]) -> None:
        if not (changed or gone or transitions):
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    "INSERT OR REPLACE INTO alarm_states (alarm, labels, state, severity, "
                    "since, reason, value, notified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [state_row(r) for r in changed])
                self._conn.executemany(
                    "DELETE FROM alarm_states WHERE alarm = ? AND labels = ?",
                    [(a, encode_labels(labels)) for a, labels in gone])
                self._conn.executemany(
                    "INSERT INTO alarm_history (ts, alarm, labels, previous, current, severity,"
                    " reason, value, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [transition_row(t) for t in transitions])
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: cannot save alarm states: {exc}") from exc

    def alarm_history(self, start: float, end: float, alarm: str | None = None,
                      limit: int = 1000) -> list[AlarmTransition]:
        where = "ts BETWEEN ? AND ?" + (" AND alarm = ?" if alarm else "")
        params: list[Any] = [start, end, *([alarm] if alarm else []), limit]
        rows = self._run("cannot read alarm history",
                         "SELECT ts, alarm, labels, previous, current, severity, reason, value,"
                         f" kind FROM alarm_history WHERE {where} ORDER BY ts DESC, id DESC "
                         "LIMIT ?", params)
        return [transition_of(r) for r in rows]

    def acknowledge(self, ack: AckRecord) -> None:
        self._run("cannot acknowledge",
                  "INSERT OR REPLACE INTO alarm_acks (alarm, labels, by_whom, reason, at) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (ack.alarm, encode_labels(ack.labels), ack.by, ack.reason, ack.at))

    def acks(self) -> list[AckRecord]:
        rows = self._run("cannot read acknowledgements",
                         "SELECT alarm, labels, by_whom, reason, at FROM alarm_acks")
        return [AckRecord(r[0], decode_labels(r[1]), r[2], r[3], r[4]) for r in rows]

    def unacknowledge(self, keys: Sequence[tuple[str, Labels]]) -> None:
        if not keys:
            return
        with self._lock:
            try:
                self._conn.executemany("DELETE FROM alarm_acks WHERE alarm = ? AND labels = ?",
                                       [(a, encode_labels(labels)) for a, labels in keys])
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot forget acknowledgements: {exc}") from exc

    def add_silence(self, silence: SilenceRecord) -> int:
        with self._lock:
            try:
                cursor = self._conn.execute(
                    "INSERT INTO alarm_silences (matchers, starts, ends, by_whom, reason, "
                    "created) VALUES (?, ?, ?, ?, ?, ?)",
                    (silence.matchers, silence.starts, silence.ends, silence.by,
                     silence.reason, silence.created))
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot add a silence: {exc}") from exc
        return int(cursor.lastrowid or 0)

    def silences(self, now: float | None = None) -> list[SilenceRecord]:
        where, params = ("WHERE starts <= ? AND ends > ?", [now, now]) if now is not None \
            else ("", [])
        rows = self._run("cannot read silences",
                         "SELECT id, matchers, starts, ends, by_whom, reason, created FROM "
                         f"alarm_silences {where} ORDER BY id", params)
        return [SilenceRecord(*r) for r in rows]

    def end_silence(self, silence_id: int, now: float) -> bool:
        with self._lock:
            try:
                return self._conn.execute(
                    "UPDATE alarm_silences SET ends = ? WHERE id = ? AND ends > ?",
                    (now, silence_id, now)).rowcount > 0
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot end a silence: {exc}") from exc

    def prune_alarms(self, older_than: float) -> int:
        """Delete history and ended silences older than a timestamp."""
        with self._lock:
            try:
                n = self._conn.execute("DELETE FROM alarm_history WHERE ts < ?",
                                       (older_than,)).rowcount
                n += self._conn.execute("DELETE FROM alarm_silences WHERE ends < ?",
                                        (older_than,)).rowcount
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot prune alarm history: {exc}") from exc
        return n

    def close(self) -> None:
        with self._lock:
            self._conn.close()
