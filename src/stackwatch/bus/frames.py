"""Buffered AMQP frame reading for a py-amqp connection, deliveries taken apart directly.

py-amqp reads each frame with three ``recv`` calls of exactly the bytes it needs (header,
payload, end octet) under a timeout context manager, then builds a ``Message`` for each
delivery (its properties decoded, its arguments parsed by format string, a
``delivery_info`` dict): most of a bare consumer's time. :class:`FrameReader` takes the
connection's ``transport.read_frame`` over: it receives up to :data:`CHUNK` bytes at once
and cuts the frames out of its buffer, so py-amqp's own waits (``channel.wait`` of a
declare) read through it too. On the channel given, the three frames of each
``basic.deliver`` (method, content header, body frames; AMQP 0-9-1 section 4.2.6) become
one :class:`Delivery` handed to ``on_delivery`` (the properties are not read: nothing
uses them), whichever path read them; every other frame goes to py-amqp.
:meth:`FrameReader.pump` hands every whole buffered frame on under one timeout. A timeout
leaves a partial frame buffered.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from amqp.exceptions import UnexpectedFrame

#: bytes asked of the socket at once
CHUNK = 256 * 1024
#: frame-end octet (AMQP 0-9-1 section 4.2.3)
FRAME_END = 0xCE
#: class 60 (basic), method 60 (deliver)
BASIC_DELIVER = b"\x00\x3c\x00\x3c"
METHOD, HEADER, BODY = 1, 2, 3
_HEAD = struct.Struct(">BHI")
_LONGLONG = struct.Struct(">Q")


class Delivery(NamedTuple):
    """One message delivered by ``basic.deliver``."""

    delivery_tag: int
    exchange: str
    routing_key: str
    body: bytes


def _deliver_args(payload: bytes) -> tuple[int, str, str]:
    """(delivery tag, exchange, routing key) of a basic.deliver method frame's payload:
    consumer-tag (shortstr), delivery-tag (longlong), redelivered (octet), exchange and
    routing-key (shortstr)."""
    at = 5 + payload[4]
    tag = _LONGLONG.unpack_from(payload, at)[0]
    at += 9
    end = at + 1 + payload[at]
    exchange = payload[at + 1:end].decode()
    return tag, exchange, payload[end + 1:end + 1 + payload[end]].decode()


class FrameReader:
    """Frames of one py-amqp connection out of a buffer filled :data:`CHUNK` at a time;
    with ``channel`` and ``on_delivery``, that channel's deliveries handed to it whole."""

    def __init__(self, connection: Any, channel: int | None = None,
                 on_delivery: Callable[[Delivery], object] | None = None) -> None:
        self._connection = connection
        transport = connection.transport
        self._transport = transport
        self._sock: socket.socket = transport.sock
        # what py-amqp buffered already (the frames after a consume-ok) is read first
        self._buf: bytes = bytes(transport._read_buffer)
        transport._read_buffer = b""
        self._pos = 0
        self._channel = channel if on_delivery is not None else None
        self._on_delivery = on_delivery
        #: the delivery being received: (tag, exchange, routing key), body size, parts
        self._args: tuple[int, str, str] | None = None
        self._size = 0
        self._parts: list[bytes] = []
        self._got = 0
        self._frames = 0
        transport.read_frame = self.read_frame

    def _next(self) -> tuple[int, int, bytes] | None:
        """The next whole buffered frame that is not part of a delivery, or None."""
        buf = self._buf
        while True:
            pos = self._pos
            if len(buf) - pos < 8:
                return None
            frame_type, channel, size = _HEAD.unpack_from(buf, pos)
            end = pos + 7 + size
            if len(buf) <= end:
                return None
            if buf[end] != FRAME_END:
                raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
            self._pos = end + 1
            self._frames += 1
            if channel != self._channel or not self._take(frame_type, buf, pos + 7, end):
                return frame_type, channel, buf[pos + 7:end]

    def _take(self, frame_type: int, buf: bytes, start: int, end: int) -> bool:
        """Whether the frame was part of a delivery (and taken)."""
        if frame_type == METHOD:
            if buf[start:start + 4] != BASIC_DELIVER:
                return False
            self._args = _deliver_args(buf[start:end])
            return True
        if self._args is None:
            return False
        if frame_type == HEADER:
            self._size = _LONGLONG.unpack_from(buf, start + 4)[0]
            self._parts, self._got = [], 0
            if self._size == 0:
                self._done(b"")
            return True
        if frame_type == BODY:
            part = buf[start:end]
            if not self._parts and len(part) >= self._size:  # the usual: one body frame
                self._done(part)
                return True
            self._parts.append(part)
            self._got += len(part)
            if self._got >= self._size:
                self._done(b"".join(self._parts))
            return True
        return False

    def _done(self, body: bytes) -> None:
        args, self._args, self._parts = self._args, None, []
        assert args is not None and self._on_delivery is not None
        self._connection.bytes_recv += 1  # what py-amqp's heartbeat check counts
        self._on_delivery(Delivery(args[0], args[1], args[2], body))

    def _fill(self) -> None:
        """Receive what the socket has (up to CHUNK bytes); socket.timeout keeps the buffer."""
        chunk = self._sock.recv(CHUNK)
        if not chunk:
            self._transport.connected = False
            raise OSError("Server unexpectedly closed connection")
        self._buf = self._buf[self._pos:] + chunk if self._pos < len(self._buf) else chunk
        self._pos = 0

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """One frame (py-amqp's ``transport.read_frame``, under its own timeout)."""
        while True:
            frame = self._next()
            if frame is not None:
                return frame
            self._fill()

    def pump(self, timeout: float) -> bool:
        """Hand on every whole buffered frame; when there was none, receive once (waiting
        up to ``timeout`` seconds) and hand on what came. False when nothing came."""
        if self._drain():
            return True
        with self._transport.having_timeout(timeout):
            try:
                self._fill()
            except TimeoutError:
                return False
        self._drain()
        return True

    def _drain(self) -> bool:
        """Hand on the whole buffered frames; whether there was any."""
        handle = self._connection.on_inbound_frame
        before = self._frames
        frame = self._next()
        while frame is not None:
            handle(frame)
            frame = self._next()
        return self._frames != before
