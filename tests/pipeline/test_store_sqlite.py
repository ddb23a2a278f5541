"""What only the SQLite store has: its file, its WAL, its errors, its older layouts."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from stackwatch.errors import StoreError
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def test_the_store_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite")
    try:
        assert store._writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_sqlite_failure_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite")
    try:
        with pytest.raises(StoreError, match="write failed"), store._transaction() as conn:
            conn.execute("INSERT INTO nowhere VALUES (1)")
    finally:
        store.close()


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a dir")
    with pytest.raises(StoreError, match="cannot open store"):
        SQLiteStore(tmp_path / "file" / "store.sqlite")


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError):
        SQLiteStore(path)


def test_a_store_from_before_per_source_checks_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE latest_checks (name TEXT NOT NULL, labels TEXT NOT NULL, "
                     "check_id INTEGER NOT NULL, ts REAL NOT NULL, PRIMARY KEY (name, labels)) "
                     "WITHOUT ROWID")
        conn.execute("INSERT INTO latest_checks VALUES ('c', '{}', 1, 0)")
    conn.close()
    store = SQLiteStore(path)
    assert store.latest_checks() == []
    store.write(Collection(checks=(CheckResult("c", Status.OK, "", timestamp=T0),)), "sql.nova")
    assert [c.name for c in store.latest_checks()] == ["c"]
    store.close()


def test_labels_are_spelled_as_json_dumps_spells_them(tmp_path: Path) -> None:
    """A series keeps one spelling whatever wrote it first (orjson on plain ASCII, json's
    escapes for the rest): the label sets an older store holds are found again."""
    import json

    from stackwatch.model import Sample, make_labels
    from stackwatch.store.sqlite import _encode_labels

    odd = ["plain", "é", "😀", "\x7f", "\x00\x1f\t\n", 'a"b\\c', "a/b <>&"]
    for value in odd:
        labels = make_labels(z=value, a="1")
        assert _encode_labels(labels) == json.dumps(dict(labels), sort_keys=True,
                                                    separators=(",", ":"))
    store = SQLiteStore(tmp_path / "store.sqlite")
    try:
        samples = tuple(Sample("m", float(i), make_labels(v=v), T0) for i, v in enumerate(odd))
        store.write(Collection(samples), "api.x")
        store.write(Collection(tuple(Sample(s.name, s.value + 1, s.labels, T0 + 60)
                                     for s in samples)), "api.x")
        assert store._writer.execute("SELECT COUNT(*) FROM series").fetchone()[0] == len(odd)
        for i, value in enumerate(odd):
            points = store.sample_range("m", T0, T0 + 60, make_labels(v=value))
            assert [p.value for p in points] == [i, i + 1]
    finally:
        store.close()


def _held_read(store: SQLiteStore, release: threading.Event,
               outcome: dict[str, object]) -> threading.Thread:
    """A thread that reads the latest rows, stops after the first one until ``release``,
    then reads the rest (a /metrics rendering under way when the server stops)."""
    started = threading.Event()

    def read() -> None:
        try:
            rows = store.latest_rows()
            count = 1 if next(rows) else 0
            started.set()
            release.wait(10)
            outcome["rows"] = count + sum(1 for _ in rows)
        except StoreError as exc:
            outcome["error"] = str(exc)
        finally:
            started.set()

    thread = threading.Thread(target=read)
    thread.start()
    assert started.wait(10)
    return thread


def _many(n: int) -> Collection:
    return Collection(tuple(Sample("openstack_nova_total_vms", float(i),
                                   make_labels(region=f"r{i}"), T0) for i in range(n)))


def test_close_waits_for_a_read_under_way_on_another_thread(tmp_path: Path) -> None:
    """Closing a connection under a query running on another thread crashed the process
    (a segfault in CI: the server stopped while /metrics was being rendered). close()
    waits for that read, which finishes whole; a read after close is a StoreError."""
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.write(_many(25_000), "api.compute")  # more than one batch of the read
    release, outcome = threading.Event(), {}
    reader = _held_read(store, release, outcome)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive(), "close() did not wait for the read under way"
    release.set()
    reader.join(10)
    closer.join(10)
    assert not closer.is_alive()
    assert outcome == {"rows": 25_000}
    with pytest.raises(StoreError, match="closed"):
        store.latest_samples()
    with pytest.raises(StoreError, match="closed"):
        store.generation()


def test_close_gives_up_on_a_read_past_its_patience_and_leaves_it_whole(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A read still going after ``patience`` keeps its connection (closing it would crash);
    close() says so and returns."""
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.write(_many(12_000), "api.compute")
    release, outcome = threading.Event(), {}
    reader = _held_read(store, release, outcome)
    with caplog.at_level("WARNING", "stackwatch.store.sqlite"):
        store.close(patience=0.2)
    assert "reads still under way" in caplog.text
    release.set()
    reader.join(10)
    assert outcome == {"rows": 12_000}


def test_a_read_on_the_closing_thread_does_not_block_close(tmp_path: Path) -> None:
    """A read left unfinished on the thread that closes (a generator not consumed) is not
    waited for: nothing else can be using that connection."""
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.write(_many(3), "api.compute")
    rows = store.latest_rows()
    next(rows)
    started = time.monotonic()
    store.close(patience=5)
    assert time.monotonic() - started < 1
    rows.close()
