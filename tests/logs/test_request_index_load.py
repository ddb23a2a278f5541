"""The request index loads an empty table without its secondary indexes and builds them
when they are needed: a query, a prune with something to delete, close, the next open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stackwatch.logparse.engine import IndexRow
from stackwatch.store.request_index import RequestIndex

pytestmark = pytest.mark.unit

NAMES = {"log_records_request", "log_records_global", "log_records_instance", "log_records_ts"}
VM = "8a90fa0e-5b1c-4d2e-9f3a-0b1c2d3e4f50"


def _rows(start: int, count: int, when: float = 1000.0) -> list[IndexRow]:
    return [IndexRow(start + i, when + i, "INFO", "nova.compute.manager", f"req-{i:04d}",
                     "req-global" if i % 2 else "", VM if i % 3 == 0 else "",
                     f"message {i} caf\u00e9" if i % 5 == 0 else f"message {i}")
            for i in range(count)]


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_records'")
            if name in NAMES}


def test_load_then_query_builds_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    index = RequestIndex(path)
    assert index.add("nova", "cmp1", 7, _rows(0, 300)) == 300
    assert index.add("nova", "cmp1", 7, _rows(0, 300)) == 0  # a replay adds nothing
    assert not index.indexed and _indexes(path) == set()
    assert index.prune(999.0) == 0  # nothing that old: still deferred
    assert not index.indexed
    story = index.story(VM)
    assert index.indexed and _indexes(path) == NAMES
    assert {r.request_id for r in story} >= {"req-0000", "req-0003"}
    assert {r.service for r in story} == {"nova"} and {r.host for r in story} == {"cmp1"}
    assert "message 0 caf\u00e9" in {r.message for r in story}
    asked: list[str] = []
    index._conn.set_trace_callback(asked.append)
    index.story("req-0001")
    index._conn.set_trace_callback(None)
    with sqlite3.connect(path) as conn:  # each of the story's queries reads an index
        plans = [" ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
                 for sql in asked if sql.startswith("SELECT")]
    assert plans and all("USING INDEX log_records_" in plan for plan in plans), plans
    assert index.add("nova", "cmp1", 8, _rows(0, 10)) == 10  # indexed from now on
    assert index.prune(1005.0) == 10  # stream 7's 0-4 and stream 8's 0-4
    index.close()


def test_close_or_reopen_builds_them(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    index = RequestIndex(path)
    index.add("nova", "cmp1", 1, _rows(0, 50))
    index.close()
    assert _indexes(path) == NAMES
    with sqlite3.connect(path) as conn:
        for name in NAMES:  # as a process killed before building them leaves the file
            conn.execute(f"DROP INDEX {name}")
    reopened = RequestIndex(path)
    assert reopened.indexed and _indexes(path) == NAMES
    assert reopened.count() == 50
    reopened.close()


def test_prune_with_something_to_delete(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path / "store.sqlite")
    index.add("nova", "cmp1", 1, _rows(0, 20))
    assert index.prune(1010.0) == 10
    assert index.indexed and index.count() == 10
    index.close()


def test_service_and_host_quoted(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path / "store.sqlite")
    assert index.add("o'neil", "h'1", 3, _rows(0, 3)) == 3
    assert {(r.service, r.host) for r in index.story("req-0001")} == {("o'neil", "h'1")}
    index.close()


def test_new_file_gets_large_pages(tmp_path: Path) -> None:
    index = RequestIndex(tmp_path / "store.sqlite")
    index.add("nova", "cmp1", 1, _rows(0, 5))
    index.close()
    with sqlite3.connect(tmp_path / "store.sqlite") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_source_builds_them_once_the_backlog_is_read(tmp_path: Path) -> None:
    import time

    from stackwatch.sources.logs import LogsSource

    (tmp_path / "nova").mkdir()
    (tmp_path / "nova" / "nova-api.log").write_text("".join(
        f"2026-11-21 10:00:00.{n:06d} 7 INFO nova.api.openstack.requestlog "
        f"[req-{n:08d}-0000-0000-0000-000000000000 - - - - - -] done {n}\n"
        for n in range(500)))
    path = tmp_path / "store.sqlite"
    index = RequestIndex(path)
    source = LogsSource("nova", tmp_path, ["nova/*.log"], None, host="h", index=index)
    source.collect_until(time.monotonic() - 1)  # the deadline passed: the backlog waits
    assert not index.indexed and _indexes(path) == set()
    source.collect()  # read to the end: the trace readers get their indexes
    assert index.count() == 500
    assert index.indexed and _indexes(path) == NAMES
    index.close()
