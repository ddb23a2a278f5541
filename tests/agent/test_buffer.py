"""The agent's on-disk buffer: numbers never reused, whole files only, the oldest dropped
past the bound and counted, one agent per directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackwatch.agent.buffer import Buffer
from stackwatch.errors import ConfigError

pytestmark = pytest.mark.unit


def batch(size: int) -> object:
    return lambda seq: json.dumps({"seq": seq, "pad": "x" * size}).encode()


def test_batches_come_out_in_order_and_leave_when_acknowledged(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, 1 << 20)
    seqs = [buffer.append(batch(10)) for _ in range(5)]  # type: ignore[arg-type]
    assert seqs == [1, 2, 3, 4, 5]
    taken = buffer.take(3)
    assert [seq for seq, _ in taken] == [1, 2, 3]
    assert json.loads(taken[0][1])["seq"] == 1
    buffer.remove([1, 2, 3])
    assert [seq for seq, _ in buffer.take(10)] == [4, 5]
    assert buffer.stats()[0] == 2
    buffer.close()


def test_a_restart_resumes_from_the_files_and_never_reuses_a_number(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, 1 << 20)
    agent = buffer.agent
    for _ in range(4):
        buffer.append(batch(10))  # type: ignore[arg-type]
    buffer.remove([1, 2, 3, 4])  # all delivered: no file left to tell the last number
    buffer.append(batch(10))  # type: ignore[arg-type]
    (tmp_path / "batches" / ".tmp-000000000099.json").write_bytes(b'{"half')  # a cut write
    buffer.close()
    again = Buffer(tmp_path, 1 << 20)
    assert again.agent == agent
    assert [seq for seq, _ in again.take(10)] == [5]
    assert not list((tmp_path / "batches").glob(".tmp-*"))
    assert again.append(batch(10)) == 6  # type: ignore[arg-type]
    again.close()


def test_a_number_a_file_holds_wins_over_an_older_state(tmp_path: Path) -> None:
    """state.json lost its last write (an old copy restored): the files still count."""
    buffer = Buffer(tmp_path, 1 << 20)
    for _ in range(3):
        buffer.append(batch(10))  # type: ignore[arg-type]
    buffer.close()
    state = json.loads((tmp_path / "state.json").read_text())
    (tmp_path / "state.json").write_text(json.dumps({**state, "seq": 1}))
    again = Buffer(tmp_path, 1 << 20)
    assert again.append(batch(10)) == 4  # type: ignore[arg-type]
    again.close()


def test_past_the_bound_the_oldest_go_and_are_counted(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    one = len(batch(1000)(1))  # type: ignore[operator]
    buffer = Buffer(tmp_path, 5 * one)
    for _ in range(8):
        buffer.append(batch(1000))  # type: ignore[arg-type]
    count, size, _ = buffer.stats()
    assert (count, size) == (5, 5 * one)
    assert [seq for seq, _ in buffer.take(10)] == [4, 5, 6, 7, 8]
    assert buffer.state.dropped == 3
    assert sum(p.stat().st_size for p in (tmp_path / "batches").iterdir()) <= 5 * one
    # one line for the first drop; the next ones within a minute are only counted
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1
    buffer.close()
    again = Buffer(tmp_path, 5 * one)
    assert again.state.dropped == 3  # kept across restarts
    again.close()


def test_batches_being_sent_are_not_dropped(tmp_path: Path) -> None:
    one = len(batch(1000)(1))  # type: ignore[operator]
    buffer = Buffer(tmp_path, 3 * one)
    for _ in range(3):
        buffer.append(batch(1000))  # type: ignore[arg-type]
    buffer.take(2)  # 1 and 2 on their way
    buffer.append(batch(1000))  # type: ignore[arg-type]
    assert [seq for seq, _ in buffer.take(10)] == [1, 2, 4]  # 3 went, not those in flight
    buffer.close()


def test_a_refused_batch_goes_and_is_counted(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, 1 << 20)
    buffer.append(batch(1))  # type: ignore[arg-type]
    buffer.append(batch(1))  # type: ignore[arg-type]
    buffer.reject(1)
    assert [seq for seq, _ in buffer.take(10)] == [2]
    assert buffer.state.rejected == 1
    buffer.close()


def test_one_agent_per_directory(tmp_path: Path) -> None:
    first = Buffer(tmp_path, 1 << 20)
    with pytest.raises(ConfigError, match="in use by another agent"):
        Buffer(tmp_path, 1 << 20)
    first.close()
    Buffer(tmp_path, 1 << 20).close()


def test_an_unreadable_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"state\.json is unreadable"):
        Buffer(tmp_path, 1 << 20)


def test_what_matters_is_synced_when_it_matters_not_at_every_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's batch is written, not fsynced; the sequence number goes to disk before a
    push carries it, the waiting batches when a push failed."""
    import os

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    buffer = Buffer(tmp_path, 1 << 20)
    monkeypatch.setattr(os, "fsync", fsync)
    for _ in range(3):
        buffer.append(batch(10))  # type: ignore[arg-type]
    assert synced == []  # three runs written, none fsynced
    buffer.make_durable(2)
    assert [Path(p).name for p in synced] == [".tmp-state.json", tmp_path.name]
    assert json.loads((tmp_path / "state.json").read_text())["seq"] == 3
    synced.clear()
    buffer.make_durable(3)
    assert synced == []  # already on disk
    buffer.remove([1])
    buffer.sync()  # a push failed: what waits goes to disk
    assert [Path(p).name for p in synced] == ["000000000002.json", "000000000003.json",
                                              "batches"]
    synced.clear()
    buffer.sync()
    assert synced == []
    buffer.close()


def test_a_batch_file_a_power_loss_cut_is_dropped_and_counted(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, 1 << 20)
    for _ in range(3):
        buffer.append(batch(10))  # type: ignore[arg-type]
    buffer.close()
    batches = tmp_path / "batches"
    (batches / "000000000001.json").write_bytes(b"")            # allocated, never written
    whole = (batches / "000000000002.json").read_bytes()
    (batches / "000000000002.json").write_bytes(whole[:len(whole) // 2])  # cut
    again = Buffer(tmp_path, 1 << 20)
    assert [seq for seq, _ in again.take(10)] == [3]
    assert again.state.dropped == 2 and again.state.seq == 3
    assert sorted(p.name for p in batches.iterdir()) == ["000000000003.json"]
    again.close()


def test_killed_the_numbers_live_on_in_the_files_or_the_state(tmp_path: Path) -> None:
    """A run writes no state.json (its number is in its file's name); killed (the lock
    let go, nothing closed), the next start resumes after the newest number, and after
    numbers whose files were removed."""
    buffer = Buffer(tmp_path, 1 << 20)
    for _ in range(3):
        buffer.append(batch(10))  # type: ignore[arg-type]
    assert json.loads((tmp_path / "state.json").read_text())["seq"] == 0
    buffer._lockfile.close()  # killed: no close()
    again = Buffer(tmp_path, 1 << 20)
    assert again.append(batch(10)) == 4  # type: ignore[arg-type]
    again.remove([1, 2, 3, 4])  # delivered: the files go, their numbers stay
    again._lockfile.close()
    third = Buffer(tmp_path, 1 << 20)
    assert third.take(10) == [] and third.append(batch(10)) == 5  # type: ignore[arg-type]
    third.close()
