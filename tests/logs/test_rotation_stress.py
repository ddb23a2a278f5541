"""1M lines, 100 rotations of both kinds while a reader process tails them, killed with
SIGKILL five times in the middle: every line counted exactly once.

Each line carries its sequence number as its response time, so the histogram sum
is the exact sum of the sequence numbers; with the count and the counts per
method and status (three and seven residues), a lost line and a line counted twice
cannot hide each other.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackwatch.logparse.tally import Tally
from stackwatch.sources.logs.checkpoint import load_checkpoint

pytestmark = pytest.mark.integration

LINES = 1_000_000
ROTATIONS = 100
PER_ROTATION = LINES // ROTATIONS
BATCH = 500
METHODS = ("GET", "POST", "PUT")
READER = Path(__file__).with_name("tail_reader.py")
KILL_AT = (13, 33, 52, 71, 89)


def line(i: int) -> str:
    return (f'10.0.{i % 250}.{i % 7} - - [21/Nov/2026:06:19:36 +0000] "{METHODS[i % 3]} '
            f'/v2.1/servers/detail HTTP/1.1" {200 + i % 7} 100 "-" "t" {i}.0\n')


def shift(log: Path) -> None:
    """logrotate's numbering: .N(.gz) -> .N+1(.gz); then compress .2 (delaycompress)."""
    numbered = []
    for path in log.parent.iterdir():
        rest = path.name[len(log.name) + 1:]
        if path.name.startswith(log.name + ".") and rest.split(".")[0].isdigit():
            numbered.append((int(rest.split(".")[0]), path))
    for number, path in sorted(numbered, reverse=True):
        suffix = ".gz" if path.name.endswith(".gz") else ""
        path.rename(log.with_name(f"{log.name}.{number + 1}{suffix}"))


def compress(path: Path) -> None:
    if not path.exists():
        return
    with open(path, "rb") as raw, gzip.open(path.with_name(path.name + ".gz"), "wb",
                                            compresslevel=1) as packed:
        shutil.copyfileobj(raw, packed)
    path.unlink()


def start_reader(root: Path, checkpoint: Path, done: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(READER), str(root), str(checkpoint),
                             str(done)])


def test_million_lines_hundred_rotations_and_sigkill(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.mkdir()
    log = root / "app-access.log"
    log.touch()
    checkpoint = tmp_path / "checkpoint.json"
    done = tmp_path / "done"
    reader = start_reader(root, checkpoint, done)
    kills = 0
    try:
        # On its very first poll a reader takes rotated files as history (backfill's
        # job): start writing once it has looked.
        deadline = time.monotonic() + 60
        while not checkpoint.exists():
            assert time.monotonic() < deadline and reader.poll() is None
            time.sleep(0.01)
        handle = open(log, "a", encoding="ascii")  # noqa: SIM115 - reopened on rotation
        i = 0
        for rotation in range(ROTATIONS):
            for _ in range(PER_ROTATION // BATCH):
                handle.write("".join(line(n) for n in range(i, i + BATCH)))
                handle.flush()
                i += BATCH
                time.sleep(0.001)
            if rotation % 2 == 0:  # rename and create, the writer reopening a moment later
                shift(log)
                log.rename(log.with_name(log.name + ".1"))
                handle.write(line(i))
                handle.flush()
                i += 1
                handle.close()
                handle = open(log, "a", encoding="ascii")  # noqa: SIM115
            else:  # copytruncate
                shift(log)
                shutil.copyfile(log, log.with_name(log.name + ".1"))
                os.truncate(log, 0)
            compress(log.with_name(log.name + ".2"))
            if rotation in KILL_AT:
                assert checkpoint.exists(), "the reader made no progress before the kill"
                reader.send_signal(signal.SIGKILL)
                reader.wait(timeout=30)
                kills += 1
                reader = start_reader(root, checkpoint, done)
        handle.close()
        done.touch()
        assert reader.wait(timeout=240) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert kills == len(KILL_AT)
    total = i
    assert total >= LINES
    data = load_checkpoint(checkpoint)
    assert data is not None
    tally = Tally.from_json(data["tally"])
    assert tally.outcome("unparsed") == 0
    assert tally.line_total() == total
    assert sum(tally.requests.values()) == total
    histograms = list(tally.durations.values())
    assert sum(sum(h[:-1]) for h in histograms) == total
    # every sequence number exactly once
    assert sum(h[-1] for h in histograms) == float(sum(range(total)))
    by_method = {m: 0 for m in METHODS}
    by_status = {str(200 + r): 0 for r in range(7)}
    for (_, _, method, _, status), n in tally.requests.items():
        by_method[method] += n
        by_status[status] += n
    assert by_method == {m: len(range(k, total, 3)) for k, m in enumerate(METHODS)}
    assert by_status == {str(200 + r): len(range(r, total, 7)) for r in range(7)}
