"""The kernel's log (``/dev/kmsg``) read as it grows: the disk I/O errors still in its ring.

Opening ``/dev/kmsg`` starts at the oldest record of the ring buffer; reading the whole
ring at every run costs one system call per record (thousands on a node up for weeks).
:class:`KernelLogTail` keeps its descriptor open and reads only the records written
since its last read (``Documentation/ABI/testing/dev-kmsg``: one record per ``read``,
``EAGAIN`` when none is left, ``EPIPE`` when the ring overwrote the next one: the
reader then goes on from the oldest left). It keeps the records that name a disk
(:func:`stackwatch.logparse.system.disk_device`), as long as the ring still holds them:
the oldest record's number comes from a second descriptor's first read, so what it
reports is what a whole read of the ring would find.
"""

from __future__ import annotations

import os
from pathlib import Path

from stackwatch.logparse.system import disk_device
from stackwatch.sources.node.procfs import KernelRecord, parse_kmsg

#: a record is at most this long (the kernel's CONSOLE_EXT_LOG_MAX is 8 KiB)
RECORD_MAX = 8192


def _read_records(fd: int) -> bytes:
    """Every record the descriptor has not read yet (none left: ``EAGAIN``)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, RECORD_MAX)
        except BlockingIOError:
            break
        except BrokenPipeError:
            continue  # overwritten before we read it: the next read is the oldest left
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class KernelLogTail:
    """The disk I/O error records still in the kernel's ring (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._disk: dict[int, KernelRecord] = {}  # by sequence number

    def _oldest(self) -> int | None:
        """The sequence number of the oldest record in the ring (``None``: it is empty)."""
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            first = parse_kmsg(_read_one(fd))
        finally:
            os.close(fd)
        return first[0].sequence if first else None

    def records(self) -> list[KernelRecord]:
        """The records naming a disk, oldest first; ``OSError`` when the log cannot be
        opened (``PermissionError``: ``kernel.dmesg_restrict``)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        text = _read_records(self._fd).decode("utf-8", errors="replace")
        for record in parse_kmsg(text):
            if disk_device(record.message):
                self._disk[record.sequence] = record
        if self._disk:
            oldest = self._oldest()
            self._disk = {seq: r for seq, r in self._disk.items()
                          if oldest is not None and seq >= oldest}
        return [self._disk[seq] for seq in sorted(self._disk)]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_one(fd: int) -> str:
    try:
        return os.read(fd, RECORD_MAX).decode("utf-8", errors="replace")
    except (BlockingIOError, BrokenPipeError):
        return ""
