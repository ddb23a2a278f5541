"""How fast the notification consumer takes notifications into the store, against a bare
kombu consumer on the same broker (the ceiling).

Publishes ``--count`` notifications (every recorded type in turn, each its own message id,
oslo.messaging's envelope, persistent) once to a real RabbitMQ; each message is routed to
two sets of queues: the bare consumer's and stackwatch's own (``<prefix>.<topic>``). Then:

1. the bare consumer drains its queue: the best plain consumer of the same library
   (kombu's connection and channel, py-amqp underneath) as stackwatch's consumer does it
   (same prefetch, frames read 256 KiB at a time and deliveries taken apart there,
   :mod:`stackwatch.bus.frames`: py-amqp's own reading costs 9 times more CPU), each
   ``batch`` messages acknowledged at once with ``multiple=True``, decoding nothing,
   storing nothing. Its wall rate is what the broker delivers to one consumer;
2. :class:`~stackwatch.bus.consumer.NotificationConsumer` drains its queues end to end:
   decoded, distilled into events, paired into operations, written to a SQLite store
   (events, raw payloads, operations) and acknowledged after each write.

Prints, for both, messages/s (wall), the CPU seconds of this process while it consumed
(all its threads; ``time.process_time``), messages per CPU-second and the share of one
core used; the ratio; and the machine's load (1-minute load average over its CPUs)
before and after, since the broker shares the machine. ``--cpu N`` pins this process to
CPU N (one core for the consumer; the broker runs wherever the kernel puts it).

    python3 bench/notifications.py [--count 200000] [--url amqp://...] [--prefetch 2000]
                                   [--batch 1000] [--cpu N]

Without ``--url`` a RabbitMQ is started for the run (tests/servers.py: Debian's
``rabbitmq-server``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from amqp.basic_message import Message
from kombu.connection import Connection
from kombu.entity import Queue, binding

from stackwatch.bus.consumer import NotificationConsumer, connection
from stackwatch.bus.frames import FrameReader
from stackwatch.config import BusConfig
from stackwatch.sim import notifications as notes
from stackwatch.sim.bus import exchange
from stackwatch.store.sqlite import SQLiteStore

BARE = "bench.bare"


@contextlib.contextmanager
def broker(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from servers import start_rabbitmq

    with tempfile.TemporaryDirectory() as tmp, start_rabbitmq(Path(tmp), management=False) as rmq:
        yield rmq.url


def bodies(count: int, random_ids: bool = False) -> list[tuple[str, str, bytes]]:
    """(exchange, routing key, body) of ``count`` notifications; with ``random_ids``,
    message and request ids are random UUIDs as oslo.messaging's (scattered in the
    indexes) rather than numbered."""
    now = datetime.now(UTC)
    protos = [notes.build(t, now, {}) for t in sorted(notes.templates())]
    out = []
    for i in range(count):
        n = protos[i % len(protos)]
        message = dict(n.message)
        message["message_id"] = str(uuid.uuid4()) if random_ids else f"bench-{i:09d}"
        message["_unique_id"] = f"{i:032x}"
        if "_context_request_id" in message:
            group = str(i // 4)  # four messages per request
            message["_context_request_id"] = (
                f"req-{uuid.uuid5(uuid.NAMESPACE_OID, group)}" if random_ids
                else f"req-bench-{group}")
        envelope = {"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()}
        out.append((n.exchange, n.routing_key, orjson.dumps(envelope)))
    return out


def bare_queue(config: BusConfig) -> Queue:
    return Queue(BARE, bindings=[binding(exchange(ex), routing_key=topic)  # type: ignore[no-untyped-call]
                                 for ex in config.exchanges for topic in config.topics],
                 durable=True, auto_delete=False)


def publish(url: str, items: list[tuple[str, str, bytes]]) -> float:
    started = time.perf_counter()
    with connection(url) as conn:
        channel = conn.channel()  # py-amqp's basic_publish: no kombu Producer per message
        for name, key, body in items:
            channel.basic_publish(Message(body, content_type="application/json",
                                          content_encoding="utf-8", delivery_mode=2),
                                  exchange=name, routing_key=key)
    return time.perf_counter() - started


def declare(url: str, config: BusConfig) -> None:
    from stackwatch.bus.consumer import queues

    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        channel = conn.channel()
        for q in [*queues(config), bare_queue(config)]:
            for b in q.bindings:
                b.exchange(channel).declare()
            q(channel).declare()


def bare(url: str, count: int, config: BusConfig, buffered: bool = True) -> tuple[float, float]:
    """Drain the bare queue: (wall seconds, CPU seconds)."""
    got = 0
    pending: list[Any] = []
    with connection(url) as conn:
        channel = conn.channel()
        channel.basic_qos(0, config.prefetch, False)
        amqp = conn.connection
        # as stackwatch's consumer: frames read CHUNK bytes at a time, each delivery taken
        # apart there (no py-amqp Message, no kombu wrapper); the channel's basic.consume
        reader = FrameReader(amqp, channel.channel_id, pending.append) if buffered else None
        cpu, wall = time.process_time(), time.perf_counter()
        channel.basic_consume(queue=BARE, callback=pending.append, no_ack=False)
        while got < count:
            if reader is not None:
                reader.pump(config.batch_seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    amqp.drain_events(timeout=config.batch_seconds)
            if len(pending) >= config.batch_size or (pending and got + len(pending) >= count):
                channel.basic_ack(pending[-1].delivery_tag, multiple=True)
                got += len(pending)
                pending.clear()
        return time.perf_counter() - wall, time.process_time() - cpu


def ours(count: int, config: BusConfig, store_path: Path, page_size: int = 0
         ) -> tuple[float, float, int]:
    """Drain stackwatch's queues into a store: (wall seconds, CPU seconds, events).
    ``page_size``: the SQLite file made with pages of that size first (SQLite's default,
    4096, otherwise: what ``stackwatch`` makes)."""
    if page_size:
        made = sqlite3.connect(store_path)
        made.execute(f"PRAGMA page_size = {int(page_size)}")
        made.execute("VACUUM")  # an empty file takes the page size at its first write
        made.close()
    store = SQLiteStore(store_path)
    consumer = NotificationConsumer(config, store, "bus")
    thread = threading.Thread(target=consumer.run, daemon=True)
    cpu, wall = time.process_time(), time.perf_counter()
    thread.start()
    while consumer.counters.consumed < count:
        time.sleep(0.01)
    elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    consumer.stop()
    thread.join(30)
    events = store._query("SELECT count(*) FROM events")[0][0]
    store.close()
    return elapsed, used, int(events)


def load() -> str:
    """The 1-minute load average, and per CPU."""
    one = os.getloadavg()[0]
    return f"{one:.1f} ({one / (os.cpu_count() or 1):.1f} per CPU)"


def rates(count: int, wall: float, cpu: float) -> str:
    return (f"{count / wall:>9,.0f} msg/s wall, {cpu:.1f} CPU-s in {wall:.1f} s "
            f"({count / cpu:,.0f} msg per CPU-s = {1e6 * cpu / count:.0f} us each, "
            f"{cpu / wall:.0%} of one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--url", default=None)
    parser.add_argument("--prefetch", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to CPU N")
    parser.add_argument("--random-ids", action="store_true",
                        help="random message and request ids (UUIDs), as real ones")
    parser.add_argument("--page-size", type=int, default=0,
                        help="make the store's SQLite file with pages of this size")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    print(f"machine: {os.cpu_count()} CPUs, load {load()}; consumer on CPUs "
          f"{sorted(os.sched_getaffinity(0))}")
    with broker(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        config = BusConfig(url=url, queue_prefix="bench", prefetch=args.prefetch,
                           batch_size=args.batch)
        items = bodies(args.count, args.random_ids)
        declare(url, config)
        took = publish(url, items)
        print(f"published {args.count} notifications in {took:.1f} s "
              f"({args.count / took:,.0f}/s), to both queue sets")
        bare_wall, bare_cpu = bare(url, args.count, config)
        print(f"bare kombu consumer (ack only):  {rates(args.count, bare_wall, bare_cpu)}; "
              f"load {load()}")
        wall, cpu, events = ours(args.count, config, Path(tmp) / "store.sqlite",
                                 args.page_size)
        print(f"stackwatch consume into SQLite:  {rates(args.count, wall, cpu)}, "
              f"{events} events; load {load()}"
              + (f"; pages of {args.page_size} bytes" if args.page_size else ""))
        ratio = bare_wall / wall
        print(f"ratio: {ratio:.0%} of the bare consumer's rate")
        # on a machine shared with other work the wall rate is what the consumer's share of
        # it allowed; messages per CPU-second is the rate on one core of its own
        per_cpu = args.count / cpu
        print(f"goal (>= 20,000 msg per CPU-s and >= 50 % of the bare rate): "
              f"{'met' if per_cpu >= 20_000 and ratio >= 0.5 else 'NOT met'} "
              f"({per_cpu:,.0f} msg per CPU-s, {ratio:.0%})")
        assert events == args.count, "every notification must be stored once"


if __name__ == "__main__":
    main()
