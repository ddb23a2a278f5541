"""The memory of recent message ids: bounded by age and by count, oldest forgotten first;
the SQLite store's, read back at open (a kill -9), and a store from before rebuilt."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.test_store_bus import batch_of
from stackwatch.bus.recent import RecentIds
from stackwatch.bus.timings import Timings
from stackwatch.sim import notifications as notes
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit


def test_ids_are_forgotten_by_age_and_count_oldest_first() -> None:
    recent = RecentIds(seconds=60, most=5)
    recent.add({"a", "b"}, 100.0)
    recent.add({"c", "d"}, 130.0)
    assert "a" in recent and "d" in recent and len(recent) == 4
    recent.add({"e", "f"}, 140.0)  # six: the oldest pair goes
    assert "a" not in recent and "b" not in recent and len(recent) == 4
    recent.add({"g"}, 195.0)  # c, d received over 60 s before it
    assert sorted(x for x in "abcdefg" if x in recent) == ["e", "f", "g"]
    recent.add({"h"}, 1000.0)  # the newest group stays whatever its age or size
    assert list(x for x in "abcdefgh" if x in recent) == ["h"]
    big = RecentIds(seconds=60, most=2)
    big.add({"x", "y", "z"}, 1.0)
    assert len(big) == 3


def test_sqlite_store_leaves_out_after_a_restart_what_it_stored(tmp_path: Path) -> None:
    now = time.time()
    items = [notes.build(t, datetime.now(UTC), {}) for t in sorted(notes.templates())[:6]]
    batch = batch_of(items, Timings(), now)
    store = SQLiteStore(tmp_path / "store.sqlite")
    assert store.write_bus(batch) == 6
    # no close: as after a kill -9, the next store reads the newest ids back
    again = SQLiteStore(tmp_path / "store.sqlite")
    try:
        assert again.write_bus(batch) == 0
        other = notes.build("instance.delete.start", datetime.now(UTC), {})
        more = batch_of([other], Timings(), now + 1)
        assert again.write_bus(more) == 1
        assert again._query("SELECT count(*), count(DISTINCT message_id) FROM bus_messages"
                            ) == [(7, 7)]
    finally:
        again.close()
        store.close()


def test_a_store_with_unique_message_ids_is_rebuilt_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # bus_messages as stackwatch made it before
        conn.executescript("""
            CREATE TABLE bus_messages (message_id TEXT NOT NULL UNIQUE, ts REAL NOT NULL,
                received REAL NOT NULL, exchange TEXT NOT NULL, routing_key TEXT NOT NULL,
                event_type TEXT NOT NULL, body TEXT NOT NULL);
            CREATE INDEX bus_messages_received ON bus_messages (received);
            INSERT INTO bus_messages VALUES ('m-1', 1.0, 2.0, 'nova', 'notifications.info',
                'compute.instance.create.end', '{}');
        """)
    store = SQLiteStore(path)
    try:
        assert store._query("SELECT name FROM pragma_index_list('bus_messages') "
                            "WHERE \"unique\"") == []
        assert store._query("SELECT name FROM pragma_index_info('bus_messages_received')"
                            ) == [("received",), ("message_id",)]
        assert store._query("SELECT message_id, body FROM bus_messages") == [("m-1", "{}")]
        assert store.bus_state(0).message_ids == frozenset({"m-1"})
    finally:
        store.close()
