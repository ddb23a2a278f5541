"""Shared by the bus tests: a consumer's configuration, a publisher of oslo.messaging
envelopes, and what the store file holds."""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from kombu.connection import Connection
from kombu.messaging import Producer

from stackwatch.bus.consumer import connection
from stackwatch.sim import notifications as notes
from stackwatch.sim.bus import exchange


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.1)


def counts(path: Path) -> dict[str, int]:
    """Rows of the bus tables and notification events in a SQLite store file."""
    with sqlite3.connect(path, timeout=30) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        if "bus_messages" not in tables:
            return {"messages": 0, "events": 0, "distinct": 0, "poison": 0}
        return {
            "messages": conn.execute("SELECT count(*) FROM bus_messages").fetchone()[0],
            "events": conn.execute(
                "SELECT count(*) FROM events WHERE kind = 'notification'").fetchone()[0],
            "distinct": conn.execute(
                "SELECT count(DISTINCT message_id) FROM bus_messages").fetchone()[0],
            "poison": conn.execute("SELECT count(*) FROM bus_poison").fetchone()[0],
        }


def consumers(url: str, queue: str) -> int:
    """Consumers of ``queue`` now (a passive declare: no CLI to start, nothing created);
    0 when the queue does not exist or the broker does not answer."""
    try:
        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            declared = conn.channel().queue_declare(queue=queue, passive=True)
    except Exception:  # not there yet, or the broker restarting: nobody consumes
        return 0
    return int(declared.consumer_count)


def stream(count: int) -> list[notes.Notification]:
    """``count`` notifications cycling through every recorded type, each its own id."""
    types = sorted(notes.templates())
    now = datetime.now(UTC)
    return [notes.build(types[i % len(types)], now, {}) for i in range(count)]


def publish(url: str, items: Iterable[notes.Notification], retry: bool = False) -> int:
    """Publish as oslo.messaging does (persistent, JSON envelope); with ``retry``, a
    publish that fails (the broker restarting) is tried again on a new connection."""
    sent = 0
    pending = deque(items)
    while pending:
        try:
            with connection(url) as conn:
                producer = Producer(conn.channel())  # type: ignore[no-untyped-call]
                while pending:
                    n = pending[0]
                    producer.publish(notes.envelope(n.message), exchange=exchange(n.exchange),
                                     routing_key=n.routing_key, content_type="application/json",
                                     content_encoding="utf-8", delivery_mode=2, declare=[])
                    pending.popleft()
                    sent += 1
        except Exception:
            if not retry:
                raise
            time.sleep(0.5)
    return sent


def publish_raw(url: str, bodies: Iterable[bytes], ex: str = "nova",
                routing_key: str = "notifications.info") -> None:
    """Publish bodies as they are (malformed ones included)."""
    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        producer = Producer(conn.channel())  # type: ignore[no-untyped-call]
        for body in bodies:
            producer.publish(body, exchange=exchange(ex), routing_key=routing_key,
                             content_type="application/json", content_encoding="binary",
                             delivery_mode=2, declare=[exchange(ex)])
