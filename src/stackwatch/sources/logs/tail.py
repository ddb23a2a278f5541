"""Following one log file through rotations, without losing or repeating a line.

A *stream* is the content of one log file from its first byte, whatever it is
called now: ``nova-api.log`` renamed to ``nova-api.log.1`` (rename-and-create) or
copied there before truncation (copytruncate), later perhaps compressed to
``nova-api.log.2.gz``. A stream is recognised by its first bytes (up to
:data:`HEAD`, at least one whole line; a copy may be shorter than what was seen of
the original), not by name or inode, so it is found again after any of these;
its offset counts the bytes of complete lines already handed over.

Each :meth:`TailGroup.poll` looks at the active file and its rotated siblings,
oldest first:

* a file whose head matches a known stream is read from that stream's offset
  (when a stream is present twice — the copy made by copytruncate and the
  not-yet-truncated original — the larger file is read, once);
* a file matching no stream was created since the last poll (or was truncated and
  written again) and is read from its start, ``.gz`` included;
* on the very first poll the rotated siblings are history (``stackwatch logs
  backfill`` reads them) and the active file is read from ``start`` (its
  beginning by default).

A partial last line is left for the next poll, except in a rotated file whose
size did not change between two polls: nobody will finish that line.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEAD = 1024
BUDGET = 1 << 30
"""Bytes one poll reads at most (about: whole chunks) from one logical file: a day of a busy
API log in one first collection (a second one would insert into a table that has rows, its
indexes kept up row by row). Memory is bounded by a chunk (the source writes each chunk's
index rows as it comes), time by the collection's deadline."""
FORGET_AFTER = 20
"""Polls a stream may go unseen before it is forgotten (its files were deleted)."""
MAX_GONE = 1000
"""Unseen streams remembered at most (streams whose files are there are all kept)."""
DONE_HEAD = 256
"""Bytes of head kept for a stream never to be read again (history, a read ``.gz``):
enough to recognise it, small in a checkpoint with years of rotated files."""
CHUNK = 4 << 20
ROTATED = re.compile(r"^(?:\.\d+|-\d{8}(?:\d{2})?|\.\d{8}(?:\d{2})?|-\d{4}-\d\d-\d\d)(?:\.gz)?$")
"""Suffixes logrotate adds: ``.1``, ``.2.gz``, ``-20261121`` (dateext), ``-2026-11-21``."""

Sink = Callable[[str, int, int], None]
"""``sink(text, byte_offset, stream_id)``: whole lines of one stream."""


@dataclass
class Stream:
    """What is known of one stream: its first bytes and how far it was read."""

    head: bytes
    """Up to :data:`HEAD` first bytes; grows with the file until it is that long."""
    offset: int
    size: int = -1
    """Size seen at the previous poll (to decide that a rotated file is finished)."""
    rotated: bool = False
    """Seen under a rotated name at the previous poll."""
    missing: int = 0
    """Consecutive polls that did not find it (a rename in progress hides a file)."""
    done: bool = False
    """History never to be read (rotated files present at the first poll), or a fully
    read ``.gz``."""

    @property
    def ident(self) -> int:
        """A stable 60-bit id from the first line (for deduplicating indexed records)."""
        first = self.head[:self.head.find(b"\n") + 1] or self.head
        return int(hashlib.sha1(first).hexdigest()[:15], 16)

    def common(self, head: bytes) -> int:
        """Length of the shared beginning with a file's head when one is a prefix of the
        other and it holds a whole line; 0 when the file is not this stream."""
        length = min(len(self.head), len(head))
        if length == 0 or head[:length] != self.head[:length] or b"\n" not in head[:length]:
            return 0
        return length

    def to_json(self) -> list[Any]:
        return [base64.b64encode(self.head).decode("ascii"), self.offset, self.size,
                self.rotated, self.missing, self.done]

    @classmethod
    def from_json(cls, row: list[Any]) -> Stream:
        return cls(base64.b64decode(str(row[0])), int(row[1]), int(row[2]), bool(row[3]),
                   int(row[4]), bool(row[5]))


@dataclass
class _Candidate:
    path: Path
    size: int
    mtime: float
    compressed: bool
    head: bytes
    active: bool


def _read_head(path: Path, compressed: bool) -> bytes:
    try:
        if compressed:
            with gzip.open(path, "rb") as handle:
                return handle.read(HEAD)
        with open(path, "rb") as handle:
            return handle.read(HEAD)
    except (OSError, EOFError, zlib.error) as exc:
        log.warning("%s: cannot read: %s", path, exc)
        return b""


def rotated_siblings(active: Path) -> list[Path]:
    """Rotated copies of ``active`` in its directory (``.1``, ``.2.gz``, dateext)."""
    try:
        names = os.listdir(active.parent)
    except OSError:
        return []
    prefix = active.name
    return [active.parent / name for name in names
            if name.startswith(prefix) and ROTATED.match(name[len(prefix):])]


class TailGroup:
    """One logical log file (its active path) and the streams seen in it."""

    def __init__(self, active: Path, streams: list[Stream] | None = None,
                 start: str = "beginning", chunk: int = CHUNK) -> None:
        self.active = active
        self.streams: list[Stream] = streams or []
        self.started = streams is not None
        self.start = start
        self.chunk = chunk
        self._heads: dict[tuple[str, int, int, int], bytes] = {}
        self.cut_short = False  # the last poll stopped at ``stop()`` with more to read
        self._stop: Callable[[], bool] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"streams": [s.to_json() for s in self.streams]}

    @classmethod
    def from_json(cls, active: Path, data: dict[str, Any], start: str = "beginning"
                  ) -> TailGroup:
        return cls(active, [Stream.from_json(r) for r in data.get("streams", [])], start)

    def _candidates(self) -> list[_Candidate]:
        found: list[_Candidate] = []
        for path in [self.active, *rotated_siblings(self.active)]:
            try:
                info = path.stat()
            except OSError:
                continue
            compressed = path.name.endswith(".gz")
            key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
            head = self._heads.get(key)
            if head is None:
                head = _read_head(path, compressed)
                if (path != self.active and len(head) == HEAD) or compressed:
                    self._heads[key] = head  # a rotated file's head, read once
                    if len(self._heads) > 4 * MAX_GONE:
                        self._heads.clear()
            if not head:
                continue
            if b"\n" not in head and len(head) < HEAD:
                continue  # not even one whole line yet: nothing to read, nothing to know
            found.append(_Candidate(path, info.st_size, info.st_mtime, compressed, head,
                                    path == self.active))
        # Oldest first: rotated files by age, the active file last.
        found.sort(key=lambda c: (c.active, *_age(c)))
        return found

    def _match(self, candidate: _Candidate) -> Stream | None:
        best: Stream | None = None
        longest = 0
        for stream in self.streams:
            length = stream.common(candidate.head)
            if length > longest:
                best, longest = stream, length
        return best

    def poll(self, sink: Sink, budget: int = BUDGET,
             stop: Callable[[], bool] | None = None) -> int:
        """Hand new complete lines to ``sink``; return the number of bytes read.

        At most about ``budget`` bytes are read (a whole chunk past it at worst), so that a
        first look at a huge file returns in bounded time; the rest comes next poll. Once
        ``stop()`` is true (the run's deadline) no further chunk is read and
        :attr:`cut_short` is set: the place is kept, the rest comes next poll too."""
        self.cut_short = False
        self._stop = stop
        candidates = self._candidates()
        first = not self.started
        self.started = True
        if first:
            self.streams = []
        matched: dict[int, tuple[Stream, _Candidate]] = {}
        for candidate in candidates:  # oldest first, the active file last
            stream = self._match(candidate)
            if stream is None:
                # New since the last poll (or history, on the first one). A copy and its
                # original both new are one stream: the second matches the first here.
                stream = _new_stream(candidate)
                if first and not candidate.active:
                    stream.done, stream.head = True, stream.head[:DONE_HEAD]
                self.streams.append(stream)
            if first and candidate.active:
                stream.done, stream.head = False, candidate.head
                stream.offset = _last_line_end(candidate) if self.start == "end" else 0
            previous = matched.get(id(stream))
            if previous is None or _larger(candidate, previous[1]):
                matched[id(stream)] = (stream, candidate)
        order = sorted(matched.values(), key=lambda pair: candidates.index(pair[1]))
        total = 0
        for stream, candidate in order:
            if total < budget:
                total += self._read(stream, candidate, sink, budget - total)
        # A stream not seen is kept a while: logrotate renames files one by one, and a
        # file between two names is missed by one listing. Forgetting it would read it
        # again from its start when it shows up under its new name.
        live = {id(stream) for stream, _ in matched.values()}
        for stream in self.streams:
            stream.missing = 0 if id(stream) in live else stream.missing + 1
        gone = [s for s in self.streams if 0 < s.missing <= FORGET_AFTER][-MAX_GONE:]
        self.streams = [s for s in self.streams if s.missing == 0] + gone
        return total

    def _read(self, stream: Stream, candidate: _Candidate, sink: Sink, budget: int) -> int:
        if stream.done:
            return 0
        finished = not candidate.active and stream.rotated and candidate.size == stream.size
        stream.size = candidate.size
        stream.rotated = not candidate.active
        if len(stream.head) < len(candidate.head) and candidate.head.startswith(stream.head):
            stream.head = candidate.head
        if not candidate.compressed and candidate.size <= stream.offset and not finished:
            return 0
        if candidate.compressed:
            return self._read_compressed(stream, candidate, sink)
        read = 0
        try:
            with open(candidate.path, "rb") as handle:
                # The path may name another file by now (rotated since we looked), and a
                # copytruncate may happen while we read: each block is used only if the
                # file still starts with this stream's head once the block is in hand.
                if not _same_head(handle.fileno(), stream):
                    return 0
                handle.seek(stream.offset)
                pending = b""
                while read < budget:
                    if self._stop is not None and self._stop():
                        self.cut_short = True
                        break
                    block = handle.read(self.chunk)
                    if not block or not _same_head(handle.fileno(), stream):
                        break
                    pending, cut = _emit_lines(pending + block, stream, sink)
                    read += cut
                if pending and finished and read < budget and not self.cut_short:
                    read += _emit_last(pending, stream, sink)
        except OSError as exc:
            log.warning("%s: read stopped at byte %d: %s", candidate.path, stream.offset, exc)
        return read

    def _read_compressed(self, stream: Stream, candidate: _Candidate, sink: Sink) -> int:
        """A ``.gz`` is final: read it from the offset to its end once, then never again."""
        read = 0
        try:
            with gzip.open(candidate.path, "rb") as handle:
                # logrotate may have shifted names since we looked (.2.gz -> .3.gz)
                if stream.common(handle.read(len(stream.head))) == 0:
                    return 0
                handle.seek(stream.offset)
                pending = b""
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        break
                    pending, cut = _emit_lines(pending + block, stream, sink)
                    read += cut
                if pending:
                    read += _emit_last(pending, stream, sink)
            stream.done, stream.head = True, stream.head[:DONE_HEAD]
        except (OSError, EOFError, zlib.error) as exc:
            # Still being written by the compressor, or damaged: try again next poll.
            log.info("%s: read stopped at byte %d: %s", candidate.path, stream.offset, exc)
        return read


def _emit_lines(data: bytes, stream: Stream, sink: Sink) -> tuple[bytes, int]:
    """Hand the complete lines of ``data`` to ``sink`` at the stream's offset and advance it.

    Returns the unterminated tail (kept for the next block) and how many bytes went out.
    """
    cut = data.rfind(b"\n") + 1
    if cut:
        sink(data[:cut].decode("utf-8", "surrogateescape"), stream.offset, stream.ident)
        stream.offset += cut
    return data[cut:], cut


def _emit_last(tail: bytes, stream: Stream, sink: Sink) -> int:
    """Hand a final line that has no newline (the file is finished) to ``sink``."""
    sink(tail.decode("utf-8", "surrogateescape") + "\n", stream.offset, stream.ident)
    stream.offset += len(tail)
    return len(tail)


def _same_head(fd: int, stream: Stream) -> bool:
    return stream.common(os.pread(fd, len(stream.head), 0)) > 0


def _age(candidate: _Candidate) -> tuple[int, float]:
    """Sort key, oldest first: ``.3`` before ``.2``; ``-20261120`` before ``-20261121``."""
    match = re.search(r"[.-](\d+)(?:\.gz)?$", candidate.path.name)
    if match is None or candidate.active:
        return (2, candidate.mtime)
    number = int(match.group(1))
    return (0, -number) if number < 10_000 else (1, number)


def _larger(a: _Candidate, b: _Candidate) -> bool:
    if a.compressed != b.compressed:
        return not a.compressed
    return a.size > b.size


def _new_stream(candidate: _Candidate) -> Stream:
    return Stream(candidate.head, 0)


def _last_line_end(candidate: _Candidate) -> int:
    if candidate.compressed:
        return 0
    with open(candidate.path, "rb") as handle:
        position = max(0, candidate.size - CHUNK)
        handle.seek(position)
        data = handle.read(candidate.size - position)
    return position + data.rfind(b"\n") + 1
