"""Servers and programs that misbehave, for the failure tests of the infrastructure sources.

* :class:`FaultyServer` — a TCP server on 127.0.0.1 that answers every connection
  the same way: fixed bytes (an HTTP status, garbage, a body cut short), or
  nothing at all (``hang``: it accepts and never answers).
* :func:`fake_program` — an executable script that hangs, prints garbage or
  fails, put in place of ``crm_mon``, ``ceph``... through the piece's ``command``.
"""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path


def http_answer(status: int, body: bytes, content_type: str = "application/json",
                length: int | None = None) -> bytes:
    """Raw HTTP/1.1 answer; ``length`` may claim more than ``body`` (cut short)."""
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              500: "Internal Server Error"}.get(status, "Other")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


class FaultyServer:
    """Answers each connection with ``answer`` (after reading what it is sent), or hangs."""

    def __init__(self, answer: bytes | None, speaks_first: bool = False) -> None:
        self.answer = answer           # None: hang
        self.speaks_first = speaks_first  # as a MySQL server does: no waiting for a request
        self.received: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)  # accept() wakes up to see the stop
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._held:
            conn.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            if not self.speaks_first:
                with contextlib.suppress(OSError):
                    self.received.append(conn.recv(65536))
            if self.answer is None:
                self._held.append(conn)  # never answered, closed at the end
                continue
            with contextlib.suppress(OSError):
                conn.sendall(self.answer)
            conn.close()


def fake_program(directory: Path, name: str, script: str) -> Path:
    """An executable ``directory/name`` running the shell ``script``."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@contextlib.contextmanager
def serving(answer: bytes | None, speaks_first: bool = False) -> Iterator[FaultyServer]:
    """A :class:`FaultyServer` for the block."""
    with FaultyServer(answer, speaks_first) as server:
        yield server
