"""The simulated cloud's message bus: its notifications, published like oslo.messaging does.

:class:`NotificationBus` follows the state's change feed and publishes, for every
lifecycle change, the notifications of :mod:`stackwatch.sim.notifications`, plus the
periodic ``compute.instance.exists`` audit (``audit_every`` seconds, nova's
``instance_usage_audit_period``; :meth:`NotificationBus.audit` runs one now). Wire
format as the rabbit driver of oslo.messaging 17 writes it: the body is the JSON string
``{"oslo.version": "2.0", "oslo.message": "<json>"}``, ``content_type
application/json``, ``content_encoding utf-8``, ``delivery_mode 2``, ``priority 0``,
no headers; topic exchanges ``nova``, ``openstack`` (cinder!), ``neutron``, ``glance``,
``keystone``, not durable (``amqp_durable_queues = False``); routing keys
``notifications.info|error`` and (nova) ``versioned_notifications.info|error``.

Transport: kombu's in-memory ``memory://`` by default (consumers in the same process
see the messages), or a real RabbitMQ (``amqp_url``). Publishing happens on a thread
of its own, so the API's event loop never waits for the broker; :meth:`flush` waits.

Like a real notifier without ``notifications.*`` consumers, the simulator declares no
queue: messages reach only the queues consumers bound. The scenario
``queue-no-consumers`` (real RabbitMQ only) declares one (``queue``, default
``notifications.info``) bound to every exchange on its routing key, and leaves it
without a consumer: its depth grows with the cloud's activity, as in a cloud whose
telemetry consumer died.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.entity import Queue as KombuQueue
from kombu.messaging import Producer

from stackwatch.errors import SimulatorError
from stackwatch.sim import notifications as notes
from stackwatch.sim.events import Change, ServedRequest
from stackwatch.sim.state import CloudState

log = logging.getLogger(__name__)

EXCHANGES = ("nova", "openstack", "neutron", "glance", "keystone")
ROUTING_KEYS = (
    "notifications.info",
    "notifications.error",
    "versioned_notifications.info",
    "versioned_notifications.error",
)
MEMORY_URL = "memory://"

_Item = Change | list[notes.Notification] | threading.Event | Callable[[], None] | None


def exchange(name: str) -> Exchange:
    """A notification exchange as oslo.messaging declares it."""
    return Exchange(name, type="topic", durable=False, auto_delete=False)  # type: ignore[no-untyped-call]


class NotificationBus:
    """Publishes the simulated cloud's notifications (see the module docstring)."""

    def __init__(
        self,
        state: CloudState,
        amqp_url: str | None = None,
        *,
        audit_every: float = 3600.0,
    ) -> None:
        self.state = state
        self.url = amqp_url or MEMORY_URL
        self.audit_every = audit_every
        self.published = 0
        self.errors = 0
        self.by_event: dict[str, int] = {}
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._conn: Any = None
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._idle_queues: dict[str, Any] = {}
        self._last_audit = datetime.now(UTC)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> NotificationBus:
        """Connect, declare the exchanges, follow the change feed."""
        self._connect()
        self._unsubscribe = self.state.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._run, name="sim-bus", daemon=True)
        self._thread.start()
        return self

    def _connect(self) -> None:
        try:
            self._conn = Connection(self.url, connect_timeout=5)  # type: ignore[no-untyped-call]
            self._conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
            channel = self._conn.channel()
            for name in EXCHANGES:
                exchange(name)(channel).declare()  # type: ignore[no-untyped-call]
            self._producer = Producer(channel)  # type: ignore[no-untyped-call]
        except Exception as exc:  # kombu/amqp raise many kinds; all mean "no bus"
            where = self._conn.as_uri() if self._conn is not None else self.url
            raise SimulatorError(f"cannot publish notifications to {where}: {exc}") from None

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self._conn is not None:
            self._conn.release()
            self._conn = None

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until everything queued so far is published."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise SimulatorError(f"notifications not published within {timeout:.0f}s")

    # ------------------------------------------------------------------ publishing

    def on_request(self, served: ServedRequest) -> None:
        """``on_request`` hook: keystone's CADF failure event for a refused login."""
        batch = notes.for_request(served)
        if batch:
            self._queue.put(batch)

    def _on_change(self, change: Change) -> None:
        self._queue.put(change)  # mapped and published on the bus thread

    def publish(self, items: list[notes.Notification]) -> None:
        """Queue notifications for publishing (any thread)."""
        self._queue.put(items)

    def audit(self) -> int:
        """Queue one usage audit now (``*.exists`` for every server on a host); returns count."""
        now = datetime.now(UTC)
        begin = now.replace(minute=0, second=0, microsecond=0)
        if begin == now:
            begin -= timedelta(hours=1)
        servers: list[Any] = []
        for _ in range(5):
            try:
                servers = list(self.state.servers)
                break
            except RuntimeError:  # the loop thread changed the table while we copied it
                time.sleep(0.01)
        batch = notes.audit(servers, begin, now)
        self.publish(batch)
        self._last_audit = now
        return len(batch)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._guard(self._maybe_audit)
                continue
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, Change):
                self._send(self._guard(notes.for_change, item) or [])
            elif isinstance(item, list):
                self._send(item)
            elif callable(item):
                self._guard(item)
            self._guard(self._maybe_audit)

    def _maybe_audit(self) -> None:
        if (datetime.now(UTC) - self._last_audit).total_seconds() >= self.audit_every:
            self.audit()

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # one bad change must not stop the bus
            self.errors += 1
            log.exception("notification bus job %r failed", fn)
            return None

    def _send(self, items: list[notes.Notification]) -> None:
        for n in items:
            for attempt in (1, 2):
                try:
                    self._producer.publish(
                        notes.envelope(n.message),
                        exchange=exchange(n.exchange),
                        routing_key=n.routing_key,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        priority=0,
                        headers={},
                        declare=[],
                    )
                    self.published += 1
                    self.by_event[n.event_type] = self.by_event.get(n.event_type, 0) + 1
                    break
                except Exception:  # broker gone: reconnect once, then count and drop
                    if attempt == 2:
                        self.errors += 1
                        log.exception("publishing %s failed", n.event_type)
                    else:
                        time.sleep(0.2)
                        self._reconnect()

    def _reconnect(self) -> None:
        try:
            if self._conn is not None:
                self._conn.release()
            self._connect()
        except SimulatorError:
            log.warning("notification bus: broker still unreachable at %s", self.url)

    # ------------------------------------------------------------------ scenario

    def inject(self, name: str, params: Mapping[str, str]) -> str:
        """``queue-no-consumers``: declare a queue bound to every exchange, never consumed."""
        if name != "queue-no-consumers":
            raise SimulatorError(f"the bus knows no scenario {name!r}")
        if self.url == MEMORY_URL:
            raise SimulatorError(
                "queue-no-consumers needs a real RabbitMQ (--amqp-url); "
                "not running with kombu's memory:// transport"
            )
        qname = params.get("queue", "notifications.info")
        done = threading.Event()

        def declare() -> None:
            channel = self._conn.channel()
            bindings = [
                KombuQueue(qname, exchange(ex), routing_key=qname, durable=False, auto_delete=False)  # type: ignore[no-untyped-call]
                for ex in EXCHANGES
            ]
            for binding in bindings:
                binding(channel).declare()  # type: ignore[no-untyped-call]
            self._idle_queues[qname] = bindings[0]
            done.set()

        self._queue.put(declare)
        if not done.wait(30):
            raise SimulatorError(f"queue-no-consumers: could not declare {qname}")
        return f"queue-no-consumers: {qname} bound to {', '.join(EXCHANGES)}, no consumer"

    def clear(self, name: str) -> str:
        if name != "queue-no-consumers":
            raise SimulatorError(f"the bus knows no scenario {name!r}")
        names = list(self._idle_queues)

        def delete() -> None:
            channel = self._conn.channel()
            for qname in names:
                self._idle_queues.pop(qname)(channel).delete()

        self._queue.put(delete)
        self.flush()
        return f"queue-no-consumers: deleted {', '.join(names) or 'nothing'}"
