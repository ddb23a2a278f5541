"""A backlog's index rows are written chunk by chunk while the poll reads (memory bounded
by a chunk, not by the backlog), and a first poll reads a day's log in one collection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from stackwatch.logparse.engine import IndexRow
from stackwatch.sources.logs import LogsSource, tail
from stackwatch.sources.logs import source as source_module

pytestmark = pytest.mark.unit


class Spy:
    """A record sink that notes how far the file had been read at each write."""

    def __init__(self, source: list[LogsSource]) -> None:
        self.source = source
        self.read_at: list[int] = []
        self.rows = 0

    def add(self, service: str, host: str, stream: int, rows: Sequence[IndexRow]) -> int:
        group = next(iter(self.source[0]._groups.values()))
        self.read_at.append(group.streams[0].offset)
        self.rows += len(rows)
        return len(rows)

    def prune(self, older_than: float) -> int:
        return 0

    def build_indexes(self) -> None:
        self.built = self.rows


def test_rows_are_written_while_the_backlog_is_read(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "CHUNK", 4096)
    line = ("2026-11-21 10:00:{s:02d}.{n:06d} 7 INFO nova.api.openstack.requestlog "
            "[req-{n:08d}-0000-0000-0000-000000000000 - - - - - -] done {n}\n")
    text = "".join(line.format(s=n % 60, n=n) for n in range(2000))
    (tmp_path / "nova").mkdir()
    (tmp_path / "nova" / "nova-api.log").write_text(text)
    holder: list[LogsSource] = []
    spy = Spy(holder)
    holder.append(LogsSource("nova", tmp_path, ["nova/*.log"], None, host="h", index=spy))
    holder[0].collect()
    assert spy.rows == 2000
    assert len(spy.read_at) > 10
    # the first chunk's rows were written before the second chunk was read
    assert spy.read_at[0] < len(text) // 10


def test_a_first_poll_reads_a_days_log() -> None:
    # a day of a busy control plane's nova-api.log (5M lines of all logs, about 600 MB)
    assert tail.BUDGET >= 1 << 30


class LockedIndex(Spy):
    """A request index whose writes fail now and then, as a store locked by its writer."""

    def add(self, service: str, host: str, stream: int, rows: Sequence[IndexRow]) -> int:
        from stackwatch.errors import StoreError

        if self.rows % 2 == 0:
            self.rows += 1
            raise StoreError("s.db: request index write failed: database is locked")
        self.rows += 1
        return len(rows)


def test_a_failed_index_write_loses_no_count_and_counts_none_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "CHUNK", 4096)
    line = ("2026-11-21 10:00:{s:02d}.{n:06d} 7 INFO nova.api.openstack.requestlog "
            "[req-{n:08d}-0000-0000-0000-000000000000 - - - - - -] done {n}\n")
    (tmp_path / "nova").mkdir()
    (tmp_path / "nova" / "nova-api.log").write_text(
        "".join(line.format(s=n % 60, n=n) for n in range(2000)))
    holder: list[LogsSource] = []
    index = LockedIndex(holder)
    holder.append(LogsSource("nova", tmp_path, ["nova/*.log"], None, host="h", index=index))

    def info_records() -> float:
        found = holder[0].collect()
        return sum(s.value for s in found.samples
                   if s.name == "openstack_log_records_total" and s.label("level") == "INFO")

    assert info_records() == 2000
    assert info_records() == 2000  # nothing re-read, nothing counted twice
    assert holder[0].index_errors > 0


def test_an_odd_host_name_is_stored(tmp_path: Path) -> None:
    """A syslog line's host is the line's own text: undecodable bytes and NUL included."""
    from stackwatch.store.request_index import RequestIndex

    index = RequestIndex(tmp_path / "s.db")
    try:
        row = (0, 1.0, "ERROR", "kernel", "req-1", "", "", "boom")
        for offset, host in enumerate(("node\udcff1", "node\x002", "o'brien")):
            assert index.add("syslog", host, 1, [(offset, *row[1:])]) == 1
        assert index.count() == 3
    finally:
        index.close()
