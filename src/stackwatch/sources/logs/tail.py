"""Following one log file through rotations, without losing or repeating a line.

A *stream* is the content of one log file from its first byte, whatever it is
called now: ``nova-api.log`` renamed to ``nova-api.log.1`` (rename-and-create) or
copied there before truncation (copytruncate), later perhaps compressed to
``nova-api.log.2.gz``. A stream is recognised by a hash of its first bytes (up to
:data:`HEAD`), not by name or inode, so it is found again after any of these;
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
CHUNK = 4 << 20
ROTATED = re.compile(r"^(?:\.\d+|-\d{8}(?:\d{2})?|\.\d{8}(?:\d{2})?|-\d{4}-\d\d-\d\d)(?:\.gz)?$")
"""Suffixes logrotate adds: ``.1``, ``.2.gz``, ``-20261121`` (dateext), ``-2026-11-21``."""

Sink = Callable[[str, int, int], None]
"""``sink(text, byte_offset, stream_id)``: whole lines of one stream."""


@dataclass
class Stream:
    """What is known of one stream: its head fingerprint and how far it was read."""

    head_len: int
    head_hash: str
    offset: int
    size: int = -1
    """Size seen at the previous poll (to decide that a rotated file is finished)."""
    done: bool = False
    """History never to be read (rotated files present at the first poll)."""

    @property
    def ident(self) -> int:
        """A stable 60-bit id (for deduplicating indexed records)."""
        return int(self.head_hash[:15], 16)

    def to_json(self) -> list[Any]:
        return [self.head_len, self.head_hash, self.offset, self.size, self.done]

    @classmethod
    def from_json(cls, row: list[Any]) -> Stream:
        return cls(int(row[0]), str(row[1]), int(row[2]), int(row[3]), bool(row[4]))


@dataclass
class _Candidate:
    path: Path
    size: int
    mtime: float
    compressed: bool
    head: bytes
    active: bool
    _hashes: dict[int, str]

    def digest(self, length: int) -> str | None:
        if len(self.head) < length:
            return None
        if length not in self._hashes:
            self._hashes[length] = hashlib.sha1(self.head[:length]).hexdigest()
        return self._hashes[length]


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
                 start: str = "beginning") -> None:
        self.active = active
        self.streams: list[Stream] = streams or []
        self.started = streams is not None
        self.start = start
        self.lost_rotations = 0

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
            head = _read_head(path, compressed)
            if not head:
                continue
            found.append(_Candidate(path, info.st_size, info.st_mtime, compressed, head,
                                    path == self.active, {}))
        # Oldest first: rotated files by age, the active file last.
        found.sort(key=lambda c: (c.active, c.mtime, -_rotation_number(c.path)))
        return found

    def _match(self, candidate: _Candidate) -> Stream | None:
        best: Stream | None = None
        for stream in self.streams:
            if (best is None or stream.head_len > best.head_len) and \
                    candidate.digest(stream.head_len) == stream.head_hash:
                best = stream
        return best

    def poll(self, sink: Sink) -> int:
        """Hand every new complete line to ``sink``; return the number of bytes read."""
        candidates = self._candidates()
        matched: dict[int, tuple[Stream, _Candidate]] = {}
        fresh: list[_Candidate] = []
        for candidate in candidates:
            stream = self._match(candidate)
            if stream is None:
                fresh.append(candidate)
                continue
            previous = matched.get(id(stream))
            if previous is None or _larger(candidate, previous[1]):
                matched[id(stream)] = (stream, candidate)
        if not self.started:
            self.started = True
            kept: list[Stream] = []
            for candidate in fresh:
                stream = _new_stream(candidate)
                if not candidate.active:
                    stream.done = True
                elif self.start == "end":
                    stream.offset = _last_line_end(candidate)
                kept.append(stream)
                matched[id(stream)] = (stream, candidate)
            self.streams = kept
            fresh = []
        for candidate in fresh:
            stream = _new_stream(candidate)
            self.streams.append(stream)
            matched[id(stream)] = (stream, candidate)
        order = sorted(matched.values(), key=lambda pair: candidates.index(pair[1]))
        total = 0
        for stream, candidate in order:
            total += self._read(stream, candidate, sink)
        live = {id(stream) for stream, _ in matched.values()}
        self.streams = [s for s in self.streams if id(s) in live]
        return total

    def _read(self, stream: Stream, candidate: _Candidate, sink: Sink) -> int:
        if stream.done:
            return 0
        finished = not candidate.active and candidate.size == stream.size
        stream.size = candidate.size
        if stream.head_len < HEAD and len(candidate.head) > stream.head_len:
            stream.head_len = len(candidate.head)
            stream.head_hash = hashlib.sha1(candidate.head).hexdigest()
        if not candidate.compressed and candidate.size <= stream.offset and not finished:
            return 0
        read = 0
        try:
            opener = gzip.open if candidate.compressed else open
            with opener(candidate.path, "rb") as handle:
                handle.seek(stream.offset)
                pending = b""
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        break
                    data = pending + block
                    cut = data.rfind(b"\n") + 1
                    if cut:
                        sink(data[:cut].decode("utf-8", "surrogateescape"), stream.offset,
                             stream.ident)
                        stream.offset += cut
                        read += cut
                    pending = data[cut:]
                if pending and (finished or candidate.compressed):
                    sink(pending.decode("utf-8", "surrogateescape") + "\n", stream.offset,
                         stream.ident)
                    stream.offset += len(pending)
                    read += len(pending)
        except (OSError, EOFError, zlib.error) as exc:
            log.warning("%s: read stopped at byte %d: %s", candidate.path, stream.offset, exc)
        if candidate.compressed:
            stream.done = True
        return read


def _rotation_number(path: Path) -> int:
    match = re.search(r"\.(\d+)(?:\.gz)?$", path.name)
    return int(match.group(1)) if match else 0


def _larger(a: _Candidate, b: _Candidate) -> bool:
    if a.compressed != b.compressed:
        return not a.compressed
    return a.size > b.size


def _new_stream(candidate: _Candidate) -> Stream:
    return Stream(len(candidate.head), hashlib.sha1(candidate.head).hexdigest(), 0,
                  -1, False)


def _last_line_end(candidate: _Candidate) -> int:
    if candidate.compressed:
        return 0
    with open(candidate.path, "rb") as handle:
        position = max(0, candidate.size - CHUNK)
        handle.seek(position)
        data = handle.read(candidate.size - position)
    return position + data.rfind(b"\n") + 1
