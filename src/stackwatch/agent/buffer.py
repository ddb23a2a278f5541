"""Batches on disk until the server has them: one file each, oldest first, bounded in bytes.

Layout of ``buffer_dir``::

    lock                   held (flock) by the one agent using the directory
    state.json             {"agent": "<id>", "seq": <last used>, "dropped": n, "rejected": n}
    batches/<seq>.json     one batch each (wire.encode_batch), named by its sequence

Durability. A batch is written to a temporary file renamed into ``batches/``, so a file
there is always whole; its sequence number is in its name until ``state.json`` is
written (before a push carries it, before its file goes, at close), so a number is
never used twice:
killed at any point (``kill -9``), the agent restarts from what is here and loses at
most the run it was writing. A batch leaves only when the server has acknowledged it
(:meth:`Buffer.remove`). Against a power loss, what matters is on disk (fsync) when it
matters, not at every run (four fsyncs a batch were most of the agent's buffer cost):
``state.json`` before a push carries a number past the last one synced
(:meth:`Buffer.make_durable`: a number the server has is never used again, even after
a crash; a crash may leave a gap, the server takes gaps), and the waiting batches when
a push fails (:meth:`Buffer.sync`: the server away, they may wait long). A batch file
a power loss left empty or cut is dropped at start, counted.

Bound. When the files exceed ``max_bytes``, the oldest not being sent go first, each
counted in ``dropped`` (kept in ``state.json``, reported as
``stackwatch_agent_dropped_batches_total``); the first drop and then at most one line a
minute are logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from stackwatch.errors import ConfigError

log = logging.getLogger(__name__)

DROP_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class State:
    """What survives a restart besides the batches."""

    agent: str
    seq: int = 0
    dropped: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """One batch waiting in the buffer."""

    seq: int
    size: int
    written: float  # epoch seconds the file was written


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """``data`` in ``path``, whole or not at all; on disk when this returns if ``durable``
    (else in the page cache: it outlives the process, not a power loss)."""
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Buffer:
    """The agent's on-disk queue of batches (thread-safe: the loop appends, the sender
    reads and removes)."""

    def __init__(self, directory: Path, max_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._dir = self.directory / "batches"
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._lockfile = open(self.directory / "lock", "a+")  # noqa: SIM115 (held)
        except OSError as exc:
            raise ConfigError(f"agent.buffer_dir: {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise ConfigError(f"agent.buffer_dir: {self.directory} is in use by another "
                              "agent; give each agent its own") from None
        self._entries: dict[int, Entry] = {}
        self._unsynced: set[int] = set()  # batch files not fsynced yet
        self._synced_seq = self._written_seq = 0
        try:
            self._state = self._load_state()
            self._scan()
        except BaseException:
            self.close()
            raise
        self._bytes = sum(e.size for e in self._entries.values())
        self._inflight: set[int] = set()
        self._synced_seq = self._state.seq  # state.json on disk says at least this
        self._written_seq = self._state.seq  # ... and in the page cache
        self._last_drop_log = -DROP_LOG_EVERY_S
        self._unlogged_drops = 0

    # ----------------------------------------------------------------- start-up
    def _load_state(self) -> State:
        path = self.directory / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = State(str(data["agent"]), int(data["seq"]), int(data.get("dropped", 0)),
                          int(data.get("rejected", 0)))
        except FileNotFoundError:
            state = State(uuid.uuid4().hex)
            log.info("agent: new agent id %s (buffer %s)", state.agent, self.directory)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"agent.buffer_dir: {path} is unreadable ({exc}); move it "
                              "away to start as a new agent") from None
        _write_atomic(path, json.dumps(asdict(state)).encode())
        return state

    def _scan(self) -> None:
        broken = 0
        for path in self._dir.iterdir():
            if path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)  # a write the last run did not finish
                continue
            stem, _, ext = path.name.partition(".")
            if not stem.isdigit() or ext != "json":
                continue
            stat = path.stat()
            if not _whole(path):
                broken += 1  # a power loss before it was synced: never a batch to send
                path.unlink(missing_ok=True)
                continue
            self._entries[int(stem)] = Entry(int(stem), stat.st_size, stat.st_mtime)
        self._entries = dict(sorted(self._entries.items()))
        if broken:
            log.warning("agent: %d batch files in %s were empty or cut (a power loss before "
                        "they were synced); dropped", broken, self._dir)
            self._save(replace(self._state, dropped=self._state.dropped + broken))
        if self._entries:
            newest = max(self._entries)
            if newest > self._state.seq:  # never reuse a number a file holds
                self._save(replace(self._state, seq=newest))
            log.info("agent: %d batches (%d bytes) waiting in %s from an earlier run",
                     len(self._entries), sum(e.size for e in self._entries.values()),
                     self.directory)

    def _save(self, state: State, durable: bool = True) -> None:
        _write_atomic(self.directory / "state.json", json.dumps(asdict(state)).encode(),
                      durable)
        self._state = state
        self._written_seq = state.seq
        if durable:
            self._synced_seq = state.seq

    def _path(self, seq: int) -> Path:
        return self._dir / f"{seq:012d}.json"

    # ---------------------------------------------------------------- reading
    @property
    def agent(self) -> str:
        """The agent's id (made once, kept in ``state.json``)."""
        return self._state.agent

    @property
    def state(self) -> State:
        return self._state

    def stats(self) -> tuple[int, int, float | None]:
        """(batches, bytes, when the oldest was written) of what waits."""
        with self._lock:
            oldest = next(iter(self._entries.values()), None)
            return len(self._entries), self._bytes, None if oldest is None else oldest.written

    def take(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` batches, marked as being sent until :meth:`remove` or
        :meth:`release`."""
        out: list[tuple[int, bytes]] = []
        with self._lock:
            for seq in list(self._entries)[:limit]:
                try:
                    out.append((seq, self._path(seq).read_bytes()))
                except FileNotFoundError:  # removed by hand: nothing to send
                    self._forget(seq)
            self._inflight = {seq for seq, _ in out}
        return out

    def release(self) -> None:
        """What :meth:`take` gave was not delivered: it may be dropped again."""
        with self._lock:
            self._inflight.clear()

    # ---------------------------------------------------------------- writing
    def append(self, encode: Callable[[int], bytes]) -> int:
        """Write the batch ``encode(seq)`` under a new sequence number; return the number."""
        with self._lock:
            seq = self._state.seq + 1
            # the number lives in its file's name until state.json is written (before a
            # push carries it, or its file goes): _scan finds the newest file's number
            self._state = replace(self._state, seq=seq)
            data = encode(seq)
            _write_atomic(self._path(seq), data, durable=False)
            self._unsynced.add(seq)
            self._entries[seq] = Entry(seq, len(data), self._clock())
            self._bytes += len(data)
            self._bound()
        return seq

    def make_durable(self, seq: int) -> None:
        """``state.json`` on disk says at least ``seq`` (before a push carries it: a number
        the server has must never be used again, even after a power loss)."""
        with self._lock:
            if self._synced_seq < seq:
                self._save(self._state)

    def sync(self) -> None:
        """Every batch waiting, and ``state.json``, on disk (a push failed: they may wait
        long)."""
        with self._lock:
            pending = sorted(self._unsynced & self._entries.keys())
            for seq in pending:
                with contextlib.suppress(FileNotFoundError):  # removed by hand
                    _fsync_file(self._path(seq))
            if pending:
                _fsync_dir(self._dir)
            self._unsynced.clear()
            if self._synced_seq < self._state.seq:
                self._save(self._state)

    def remove(self, seqs: list[int]) -> None:
        """The server has these: they leave the disk."""
        with self._lock:
            if seqs and self._written_seq < max(seqs):
                self._save(self._state, durable=False)  # their numbers outlive their files
            for seq in seqs:
                self._forget(seq)
                self._inflight.discard(seq)

    def reject(self, seq: int) -> None:
        """The server refused this batch as invalid (it never will take it): it goes,
        counted in ``rejected``."""
        with self._lock:
            self._forget(seq)
            self._inflight.discard(seq)
            self._save(replace(self._state, rejected=self._state.rejected + 1))

    def _forget(self, seq: int) -> None:
        self._unsynced.discard(seq)
        entry = self._entries.pop(seq, None)
        if entry is not None:
            self._bytes -= entry.size
            self._path(seq).unlink(missing_ok=True)

    def _bound(self) -> None:
        """Drop the oldest batches not being sent until the files fit ``max_bytes``."""
        dropped: list[int] = []
        for seq in list(self._entries):
            if self._bytes <= self.max_bytes:
                break
            if seq in self._inflight:
                continue
            self._forget(seq)
            dropped.append(seq)
        if not dropped:
            return
        self._save(replace(self._state, dropped=self._state.dropped + len(dropped)))
        self._unlogged_drops += len(dropped)
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_EVERY_S:
            log.warning("agent: buffer over %d bytes: dropped the %d oldest batches not sent "
                        "(the newest of them seq %d; %d dropped in all)",
                        self.max_bytes, self._unlogged_drops, dropped[-1], self._state.dropped)
            self._last_drop_log = now
            self._unlogged_drops = 0

    def close(self) -> None:
        """Let another agent use the directory (``state.json`` written first)."""
        with contextlib.suppress(OSError):
            if hasattr(self, "_state") and self._written_seq < self._state.seq:
                self._save(self._state)
        with contextlib.suppress(OSError):
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
        self._lockfile.close()


def _whole(path: Path) -> bool:
    """Whether a batch file holds one whole JSON object (one cut by a power loss does not)."""
    data = path.read_bytes()
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False
