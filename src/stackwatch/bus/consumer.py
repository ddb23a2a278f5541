"""The notification consumer: its own durable queues, batches stored then acknowledged.

For each topic (``notifications.info``…) the consumer declares the durable queue
``<queue_prefix>.<topic>`` bound to every notification exchange on that routing key: the
broker copies each message to it and to Ceilometer's ``notifications.info`` alike, so the
consumer never takes a message from anyone. Messages arrive ``prefetch`` at a time on one
channel; every ``batch_size`` messages (or ``batch_seconds``) they are decoded, distilled,
paired and written in ONE store transaction (:meth:`~stackwatch.store.base.Store.write_bus`),
and only then acknowledged, all at once (``basic.ack`` of the last delivery tag with
``multiple=True``). A crash before the ack redelivers the batch; the ids of the messages
stored lately, remembered in memory and reloaded from the store at start
(:mod:`stackwatch.bus.recent`), leave the second copy out. A poison message is stored
aside with its reason and acknowledged with the others, never requeued. A lost broker (or
a failed write) drops the unacknowledged batch, reloads the state from the store and
connects again.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding

from stackwatch.bus.events import distilled, note
from stackwatch.bus.frames import Delivery, FrameReader
from stackwatch.bus.metrics import Counters, operation_samples
from stackwatch.bus.recent import RecentIds
from stackwatch.bus.records import BusBatch, Note, Operation, PoisonMessage
from stackwatch.bus.timings import Timings
from stackwatch.bus.wire import Poison, decode
from stackwatch.config import BusConfig
from stackwatch.errors import StackwatchError
from stackwatch.model import Collection
from stackwatch.redact import redact
from stackwatch.store.base import Store

log = logging.getLogger(__name__)

#: first bytes of a poison message kept with its reason
POISON_KEEP = 64 * 1024
#: seconds between two writes of the consumer's metrics
METRICS_EVERY = 10.0
#: seconds between two prunes of the raw payloads
PRUNE_EVERY = 3600.0


class _Writer:
    """Two threads behind the connection's: one prepares batches (decoded, distilled,
    paired, the Python work), the other stores them (SQLite's work, the GIL released),
    so that receiving, preparing the next batch and storing the last overlap. Batches are
    stored in order, and the receiving thread acknowledges each once stored (py-amqp is
    not thread-safe)."""

    def __init__(self, consumer: NotificationConsumer) -> None:
        self.consumer = consumer
        self._todo: queue.Queue[list[Delivery] | None] = queue.Queue(maxsize=2)
        self._prepared: queue.Queue[_Prepared | None] = queue.Queue(maxsize=2)
        self._done: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        self._outstanding = 0
        self._threads = [threading.Thread(target=run, name=f"stackwatch-bus-{name}",
                                          daemon=True)
                         for run, name in ((self._prepare, "prepare"), (self._store, "store"))]
        for thread in self._threads:
            thread.start()

    def _prepare(self) -> None:
        failed = False
        while True:
            taken = self._todo.get()
            if taken is None:
                self._prepared.put(None)
                return
            if failed:  # the receiver learns it from _done and stops handing over
                continue
            try:
                prepared = self.consumer.prepare_batch(taken)
            except BaseException as exc:  # reported to the receiving thread, which reconnects
                self._done.put(exc)
                failed = True
                continue
            self._prepared.put(prepared)

    def _store(self) -> None:
        failed = False
        while True:
            try:
                prepared = self._prepared.get(timeout=1.0)
            except queue.Empty:
                if not failed:
                    self.consumer._write_metrics()
                continue
            if prepared is None:
                return
            if failed:
                continue
            try:
                self.consumer.store_batch(prepared)
            except BaseException as exc:  # reported to the receiving thread, which reconnects
                self._done.put(exc)
                failed = True
                continue
            self._done.put(prepared.last_tag)
            self.consumer._write_metrics()

    def put(self, taken: list[Delivery], channel: Any) -> None:
        while True:  # wait for room, acknowledging what was stored meanwhile
            try:
                self._todo.put(taken, timeout=0.05)
                self._outstanding += 1
                return
            except queue.Full:
                self.acknowledge(channel)  # raises the writer's failure
                if not all(thread.is_alive() for thread in self._threads):
                    raise StackwatchError("bus: the writer stopped") from None

    def acknowledge(self, channel: Any) -> None:
        """Acknowledge every batch written so far (one basic.ack, multiple=True)."""
        last = None
        while True:
            try:
                done = self._done.get_nowait()
            except queue.Empty:
                break
            if isinstance(done, BaseException):
                raise done
            last = done
            self._outstanding -= 1
        if last is not None:
            channel.basic_ack(last, multiple=True)

    def drain(self, channel: Any) -> None:
        """Wait for the batches handed over, acknowledging them (a clean stop)."""
        deadline = time.monotonic() + 60
        while self._outstanding > 0 and time.monotonic() < deadline:
            self.acknowledge(channel)
            time.sleep(0.01)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):  # a failed stage skips what comes after
            self._todo.put(None, timeout=60)
        for thread in self._threads:
            thread.join(60)


class _Prepared(NamedTuple):
    """A batch ready to store: what it writes, how many messages, the last delivery tag."""

    batch: BusBatch
    messages: int
    last_tag: int
    newest: float


#: py-amqp gives up on a socket whose sent bytes stay unacknowledged 1 s (TCP_USER_TIMEOUT
#: 1000 ms): a broker busy for a second (flow control, a loaded host) broke connections
USER_TIMEOUT_MS = 30_000


def _bypassed(message: Any) -> None:
    """basic.consume's callback, never called: the frame reader takes the deliveries."""
    raise StackwatchError("bus: a delivery reached py-amqp's callback")


def connection(url: str) -> Connection:
    """A kombu connection to the bus as the consumer (and the bench) use it."""
    return Connection(url, connect_timeout=10, heartbeat=30,  # type: ignore[no-untyped-call]
                      transport_options={"socket_settings": {
                          socket.TCP_USER_TIMEOUT: USER_TIMEOUT_MS}})


def queues(config: BusConfig) -> list[Queue]:
    """The consumer's own durable queues, one per topic, bound to every exchange."""
    out = []
    for topic in config.topics:
        bindings = [binding(Exchange(name, type="topic", durable=False),  # type: ignore[no-untyped-call]
                            routing_key=topic) for name in config.exchanges]
        out.append(Queue(f"{config.queue_prefix}.{topic}", bindings=bindings, durable=True,  # type: ignore[no-untyped-call]
                         auto_delete=False))
    return out


class NotificationConsumer:
    """Consumes notifications into the store until :meth:`stop` (see the module docstring).

    ``source`` names the consumer's metrics in the store (``bus``, ``bus.<cloud>``)."""

    def __init__(self, config: BusConfig, store: Store, source: str = "bus",
                 clock: Callable[[], float] = time.time) -> None:
        if not config.url:
            raise StackwatchError("bus: no url configured: nothing to consume")
        self.url: str = config.url
        self.config = config
        self.store = store
        self.source = source
        self.counters = Counters()
        self._clock = clock
        self._stop = threading.Event()
        self._timings = Timings()
        #: message ids stored lately (redeliveries and publishers' retries come within
        #: minutes): a copy is left out before it is decoded further
        self._seen = RecentIds()
        self._pending: list[Delivery] = []
        self._channel: Any = None
        self._metrics_at = 0.0
        self._depths_at = 0.0
        self._pruned_at = clock()
        self._thread: threading.Thread | None = None
        self.where = redact(config.url)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> NotificationConsumer:
        """Consume on a thread of its own (``stackwatch server``)."""
        self._thread = threading.Thread(target=self.run, name="stackwatch-bus", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """Consume until stopped, reconnecting after any loss of the broker or the store."""
        while not self._stop.is_set():
            try:
                self._resume()
                self._consume()
            except StackwatchError as exc:  # the store refused a write
                log.warning("bus: %s; reconnecting in %.0fs", exc, self.config.reconnect_seconds)
            except Exception as exc:  # kombu/amqp/socket errors: all mean "broker gone"
                log.warning("bus: %s: %s: %s; reconnecting in %.0fs", self.where,
                            type(exc).__name__, exc, self.config.reconnect_seconds)
            if self._stop.is_set():
                break
            self.counters.connected = False
            self.counters.reconnects += 1
            self._write_metrics(force=True)
            self._stop.wait(self.config.reconnect_seconds)
        self.counters.connected = False
        self._write_metrics(force=True)

    def _resume(self) -> None:
        """The dedup ids and the open operations, from the store (a restart's state)."""
        now = self._clock()
        self._seen = RecentIds()
        state = self.store.bus_state(now - min(self._seen.seconds,
                                               self.config.raw_retention_hours * 3600))
        self._seen.add(state.message_ids, now)
        self._timings = Timings()
        self._timings.resume(state.open_operations, state.closed)
        self._pending = []

    def _consume(self) -> None:
        with connection(self.url) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            self._channel = channel
            mine = queues(self.config)
            for q in mine:
                for b in q.bindings:
                    b.exchange(channel).declare()
                q(channel).declare()  # type: ignore[no-untyped-call]
            channel.basic_qos(0, self.config.prefetch, False)
            # frames cut out of CHUNK-sized reads, each delivery taken apart there and
            # handed to _received (py-amqp's Message and kombu's wrapper left out: most of
            # the cost of receiving); py-amqp does all the rest
            reader = FrameReader(conn.connection, channel.channel_id, self._received)
            for q in mine:
                channel.basic_consume(queue=q.name, callback=_bypassed, no_ack=False)
            writer = _Writer(self)
            self.counters.connected = True
            log.info("bus: consuming %s from %s", ", ".join(q.name for q in mine), self.where)
            try:
                self._receive(conn, reader, channel, mine, writer)
            finally:
                writer.close()  # what it still holds is written (and redelivered: seen)

    def _receive(self, conn: Any, reader: FrameReader, channel: Any, mine: list[Queue],
                 writer: _Writer) -> None:
        """Receive into batches handed to the writer; acknowledge what it wrote."""
        deadline = time.monotonic() + self.config.batch_seconds
        while not self._stop.is_set():
            writer.acknowledge(channel)
            left = deadline - time.monotonic()
            if left > 0 and len(self._pending) < self.config.batch_size:
                if not reader.pump(min(left, 0.05)):
                    conn.heartbeat_check()
                continue
            if self._pending:
                taken, self._pending = self._pending, []
                writer.put(taken, channel)
            deadline = time.monotonic() + self.config.batch_seconds
            if self._clock() - self._depths_at >= METRICS_EVERY:
                self._depths_at = self._clock()
                self._queue_depths(channel, mine)
        if self._pending:
            writer.put(self._pending, channel)
            self._pending = []
        writer.drain(channel)

    # ------------------------------------------------------------------ batches
    def _received(self, delivery: Delivery) -> None:
        self._pending.append(delivery)

    def prepare_batch(self, taken: list[Delivery]) -> _Prepared:
        """One batch prepared (on the preparing thread); its ids are taken as seen at once
        (a write that fails reconnects, and the ids are reloaded from the store)."""
        batch, fresh, newest = self.prepare(taken)
        self._seen.add(fresh, self._clock())
        return _Prepared(batch, len(taken), taken[-1].delivery_tag, newest)

    def store_batch(self, prepared: _Prepared) -> None:
        """Store one prepared batch (on the storing thread)."""
        self.store.write_bus(prepared.batch)  # raises: nothing acknowledged, redelivered
        self.counters.consumed += prepared.messages
        self.counters.stored += len(prepared.batch.notes)
        if prepared.newest:
            self.counters.lag = max(0.0, self._clock() - prepared.newest)
        if self._clock() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = self._clock()
            self.store.prune_bus(self._pruned_at - self.config.raw_retention_hours * 3600)

    def prepare(self, messages: list[Delivery]) -> tuple[BusBatch, set[str], float]:
        """The store batch of received messages: (batch, new ids, newest time)."""
        received = self._clock()
        notes: list[Note] = []
        poison: list[PoisonMessage] = []
        operations: dict[tuple[str, str, str], Operation] = {}
        fresh: set[str] = set()
        seen = self._seen.ids
        feed = self._timings.feed_fields
        newest = 0.0
        limit = self.config.max_message_bytes
        for _, exchange, routing_key, body in messages:
            try:
                n = decode(body, limit)
            except Poison as bad:
                reason = bad.reason.split(":", 1)[0]
                self.counters.poison[reason] = self.counters.poison.get(reason, 0) + 1
                poison.append(PoisonMessage(received, bad.reason, exchange, routing_key,
                                            len(body),
                                            body[:POISON_KEEP].decode("utf-8", "replace")))
                continue
            mid = n.message_id
            if mid in seen or mid in fresh:
                self.counters.duplicates += 1
                continue
            fresh.add(mid)
            d = distilled(n, exchange)
            if n.timestamp > newest:
                newest = n.timestamp
            notes.append(note(n, d, exchange, routing_key, received))
            for op in feed(n.event_type, n.timestamp, d.request_id,
                           d.resource_ids[0] if d.resource_ids else "", d.host, d.attributes):
                operations[op.key] = op
        return BusBatch(notes, poison, list(operations.values())), fresh, newest

    # ------------------------------------------------------------------ metrics
    def _queue_depths(self, channel: Any, mine: list[Queue]) -> None:
        for q in mine:
            try:
                declared = q(channel).queue_declare(passive=True)  # type: ignore[no-untyped-call]
                self.counters.queues[q.name] = int(declared.message_count)
            except Exception:  # a depth is a nicety: the next tick tries again
                log.debug("bus: no depth for %s", q.name, exc_info=True)

    def _write_metrics(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._metrics_at < METRICS_EVERY:
            return
        self._metrics_at = now
        try:
            ended = self.store.bus_operations(now - self.config.metrics_window_seconds, now)
            samples = self.counters.samples(now) + operation_samples(
                [op for op in ended if op.outcome != "open"], self._timings.open.values(), now)
            self.store.write(Collection(samples=tuple(samples)), self.source)
        except StackwatchError as exc:
            log.warning("bus: metrics not written: %s", exc)

