"""The buffered frame reader: deliveries whole however the bytes arrive, every other frame
to py-amqp, a partial frame kept across a timeout, a bad frame end refused."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from amqp.exceptions import UnexpectedFrame

from stackwatch.bus.frames import BASIC_DELIVER, Delivery, FrameReader

pytestmark = pytest.mark.unit


def frame(kind: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + bytes([end])


def short(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def delivery(channel: int, tag: int, body: bytes, parts: int = 1) -> bytes:
    """basic.deliver, its content header and the body in ``parts`` body frames."""
    method = BASIC_DELIVER + short("ctag") + struct.pack(">QB", tag, 0) + short("nova") + \
        short("notifications.info")
    header = struct.pack(">HHQH", 60, 0, len(body), 0)
    step = max(1, -(-len(body) // parts))
    bodies = b"".join(frame(3, channel, body[i:i + step]) for i in range(0, len(body), step))
    return frame(1, channel, method) + frame(2, channel, header) + bodies


class Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._read_buffer = b""
        self.connected = True

    @contextlib.contextmanager
    def having_timeout(self, timeout: float) -> Iterator[socket.socket]:
        self.sock.settimeout(timeout)
        yield self.sock


class Connection:
    """What the reader uses of py-amqp's connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.transport = Transport(sock)
        self.bytes_recv = 0
        self.frames: list[tuple[int, int, bytes]] = []

    def on_inbound_frame(self, frame: Any) -> None:
        self.frames.append(frame)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_deliveries_whole_whatever_the_cuts(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, broker = pair
    conn = Connection(ours)
    got: list[Delivery] = []
    reader = FrameReader(conn, 1, got.append)
    heartbeat = frame(8, 0, b"")
    other = frame(1, 1, b"\x00\x3c\x00\x15" + short("ctag"))  # basic.consume-ok: py-amqp's
    stream = (delivery(1, 1, b'{"a": 1}') + heartbeat + delivery(1, 2, b"x" * 1000, parts=3)
              + other + delivery(2, 9, b"on another channel") + delivery(1, 3, b""))
    for cut in (5, 7, 8, 13, 300):  # bytes arriving in pieces: frames split anywhere
        for i in range(0, len(stream), cut):
            broker.sendall(stream[i:i + cut])
            reader.pump(1.0)
        while reader.pump(0.01):
            pass
        assert got == [Delivery(1, "nova", "notifications.info", b'{"a": 1}'),
                       Delivery(2, "nova", "notifications.info", b"x" * 1000),
                       Delivery(3, "nova", "notifications.info", b"")]
        assert [f[:2] for f in conn.frames] == [(8, 0), (1, 1), (1, 2), (2, 2), (3, 2)]
        assert conn.bytes_recv == 3  # each delivery counts for the heartbeat check
        got.clear()
        conn.frames.clear()
        conn.bytes_recv = 0
    assert not reader.pump(0.01)  # nothing more: timed out


def test_py_amqps_own_waits_read_through_it(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, broker = pair
    conn = Connection(ours)
    conn.transport._read_buffer = frame(8, 0, b"")  # what py-amqp had read already
    got: list[Delivery] = []
    FrameReader(conn, 1, got.append)
    broker.sendall(delivery(1, 7, b"body") + frame(1, 1, b"\x00\x32\x00\x0b"))
    ours.settimeout(1.0)
    read = conn.transport.read_frame  # type: ignore[attr-defined]
    assert read()[0] == 8
    assert read() == (1, 1, b"\x00\x32\x00\x0b")  # the delivery before it taken on the way
    assert got == [Delivery(7, "nova", "notifications.info", b"body")]


def test_a_bad_frame_end_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, broker = pair
    reader = FrameReader(Connection(ours), 1, print)
    broker.sendall(frame(8, 0, b"", end=0x00))
    with pytest.raises(UnexpectedFrame):
        reader.pump(1.0)


def test_a_closed_connection_is_an_error(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, broker = pair
    conn = Connection(ours)
    reader = FrameReader(conn, 1, print)
    broker.close()
    with pytest.raises(OSError, match="closed"):
        reader.pump(1.0)
    assert conn.transport.connected is False
