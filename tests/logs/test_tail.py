"""Tailing through rotations: rename-and-create, copytruncate, compression, restarts."""

from __future__ import annotations

import gzip
import os
import random
import shutil
from pathlib import Path

import pytest

from stackwatch.sources.logs.tail import TailGroup, rotated_siblings

pytestmark = pytest.mark.unit


class Collector:
    """A sink remembering every line handed over."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str, offset: int, stream: int) -> None:
        assert text.endswith("\n")
        self.lines.extend(text.splitlines())


def write(path: Path, start: int, count: int, tail: str = "") -> int:
    with open(path, "a", encoding="utf-8") as handle:
        for n in range(start, start + count):
            handle.write(f"line {n:06d} some text\n")
        handle.write(tail)
    return start + count


def expected(total: int) -> list[str]:
    return [f"line {n:06d} some text" for n in range(total)]


def test_rename_and_create(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 10)
    group.poll(sink)
    n = write(log, n, 5)
    log.rename(tmp_path / "app.log.1")
    n = write(log, n, 7)
    group.poll(sink)
    assert sink.lines == expected(n)


def test_writer_keeps_writing_to_renamed_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 3)
    group.poll(sink)
    log.rename(tmp_path / "app.log.1")
    n = write(tmp_path / "app.log.1", n, 2)  # before the writer reopens its file
    group.poll(sink)
    n = write(log, n, 4)
    group.poll(sink)
    assert sink.lines == expected(n)


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 10)
    group.poll(sink)
    n = write(log, n, 5)
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    n = write(log, n, 40)  # more than we had read: a size check alone would miss it
    group.poll(sink)
    assert sink.lines == expected(n)


def test_poll_between_copy_and_truncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 10)
    group.poll(sink)
    shutil.copyfile(log, tmp_path / "app.log.1")
    n = write(log, n, 3)  # lands in the original before the truncation
    group.poll(sink)  # the same stream is in two files: read once
    os.truncate(log, 0)
    n = write(log, n, 2)
    group.poll(sink)
    assert sink.lines == expected(n)


def test_several_rotations_and_compression_between_polls(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 5)
    group.poll(sink)
    n = write(log, n, 5)
    log.rename(tmp_path / "app.log.1")
    n = write(log, n, 5)
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
    log.rename(tmp_path / "app.log.1")
    with open(tmp_path / "app.log.2", "rb") as raw, gzip.open(tmp_path / "app.log.2.gz",
                                                            "wb") as packed:
        shutil.copyfileobj(raw, packed)
    (tmp_path / "app.log.2").unlink()
    n = write(log, n, 5)
    group.poll(sink)
    assert sink.lines == expected(n)
    assert sorted(p.name for p in rotated_siblings(log)) == ["app.log.1", "app.log.2.gz"]


def test_partial_last_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    write(log, 0, 2, tail="line 000002 some")
    group.poll(sink)
    assert len(sink.lines) == 2
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(" text\n")
    group.poll(sink)
    assert sink.lines == expected(3)


def test_partial_line_of_a_finished_rotated_file_is_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    write(log, 0, 2, tail="line 000002 some text")
    group.poll(sink)
    log.rename(tmp_path / "app.log.1")
    group.poll(sink)  # rotated, but it may still grow: wait
    assert len(sink.lines) == 2
    group.poll(sink)  # unchanged since: nobody will finish that line
    assert sink.lines == expected(3)


def test_restart_from_saved_state(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    sink = Collector()
    group = TailGroup(log)
    n = write(log, 0, 10)
    group.poll(sink)
    saved = group.to_json()
    n = write(log, n, 3)
    log.rename(tmp_path / "app.log.1")
    n = write(log, n, 3)
    again = TailGroup.from_json(log, saved)
    again.poll(sink)
    assert sink.lines == expected(n)


def test_first_poll_skips_history_and_can_start_at_end(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(tmp_path / "app.log.1", 0, 5)
    n = write(log, 5, 5)
    sink = Collector()
    TailGroup(log).poll(sink)
    assert sink.lines == expected(n)[5:]
    at_end = Collector()
    group = TailGroup(log, start="end")
    group.poll(at_end)
    write(log, n, 1)
    group.poll(at_end)
    assert at_end.lines == ["line 000010 some text"]


def test_missing_and_empty_files(tmp_path: Path) -> None:
    sink = Collector()
    group = TailGroup(tmp_path / "absent.log")
    assert group.poll(sink) == 0
    (tmp_path / "empty.log").touch()
    assert TailGroup(tmp_path / "empty.log").poll(sink) == 0
    assert sink.lines == []


@pytest.mark.parametrize("seed", range(40))
def test_random_rotations_and_crashes(tmp_path: Path, seed: int) -> None:
    """Writes, both rotation kinds, compression and polls in random order; the reader
    "crashes" now and then, restarting from its last saved state (its lines since
    that save are forgotten, as a killed process's would be)."""
    rnd = random.Random(seed)
    log = tmp_path / "app.log"
    log.touch()
    sink = Collector()
    group = TailGroup(log)
    group.poll(sink)
    saved, saved_lines = group.to_json(), 0
    handle = open(log, "a", encoding="utf-8")  # noqa: SIM115 - reopened on rotation
    n = 0

    def maybe_poll() -> None:
        nonlocal group, saved, saved_lines
        if rnd.random() < 0.5:
            group.poll(sink)
        if rnd.random() < 0.3:
            saved, saved_lines = group.to_json(), len(sink.lines)
        if rnd.random() < 0.1:
            group = TailGroup.from_json(log, saved)
            del sink.lines[saved_lines:]

    for rotation in range(10):
        for _ in range(rnd.randint(1, 3)):
            handle.write("".join(f"line {k:06d} some text\n" for k in range(n, n + 4)))
            handle.flush()
            n += 4
            maybe_poll()
        numbered = sorted((p for p in tmp_path.iterdir() if p.name[8:].split(".")[0].isdigit()),
                          key=lambda p: -int(p.name[8:].split(".")[0]))
        for path in numbered:
            number = int(path.name[8:].split(".")[0])
            path.rename(tmp_path / path.name.replace(f".{number}", f".{number + 1}", 1))
        if rotation % 2 == 0:
            log.rename(tmp_path / "app.log.1")
            maybe_poll()
            n = write(tmp_path / "app.log.1", n, 1)
            handle.close()
            handle = open(log, "a", encoding="utf-8")  # noqa: SIM115
        else:
            shutil.copyfile(log, tmp_path / "app.log.1")
            maybe_poll()
            os.truncate(log, 0)
        maybe_poll()
        if (tmp_path / "app.log.2").exists():
            with open(tmp_path / "app.log.2", "rb") as raw, \
                    gzip.open(tmp_path / "app.log.2.gz", "wb") as packed:
                shutil.copyfileobj(raw, packed)
            (tmp_path / "app.log.2").unlink()
        maybe_poll()
    handle.close()
    for _ in range(3):
        group.poll(sink)
    assert sorted(sink.lines) == expected(n)


def test_a_poll_reads_at_most_its_budget(tmp_path: Path) -> None:
    """A first look at a huge file returns in bounded time; the rest comes next poll."""
    log = tmp_path / "app.log"
    n = write(log, 0, 50)  # 22 bytes a line
    sink = Collector()
    group = TailGroup(log, chunk=100)
    polls = 0
    while len(sink.lines) < n:
        read = group.poll(sink, budget=300)
        assert 0 < read <= 300 + 100
        polls += 1
    assert polls >= 3
    assert sink.lines == expected(n)


def test_history_streams_stay_small(tmp_path: Path) -> None:
    """Years of rotated files must not make a checkpoint of megabytes."""
    log = tmp_path / "app.log"
    for day in range(40):
        with gzip.open(tmp_path / f"app.log-202601{day:02d}.gz", "wt") as packed:
            packed.write("".join(f"line {day:03d}{k:03d} of an old day, padded a bit\n"
                                 for k in range(60)))
    n = write(log, 0, 100)
    sink = Collector()
    group = TailGroup(log)
    group.poll(sink)
    assert sink.lines == expected(n)  # history is left to backfill
    done = [s for s in group.streams if s.done]
    assert len(done) == 40 and all(len(s.head) <= 256 for s in done)
    assert len(str(group.to_json())) < 40 * 600 + 3000
    group.poll(sink)  # and it is still recognised
    assert sink.lines == expected(n)
