"""What the consumer writes besides events: raw messages, poison and operations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stackwatch.model import Event


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One accepted notification as received: its id (dedup key) and payload JSON (pruned
    after ``bus.raw_retention_hours``)."""

    message_id: str
    timestamp: float
    received: float
    exchange: str
    routing_key: str
    event_type: str
    body: str


@dataclass(frozen=True, slots=True)
class PoisonMessage:
    """A message set aside: why, where it came from, and its first bytes."""

    received: float
    reason: str
    exchange: str
    routing_key: str
    size: int
    body: str


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation on one resource, from its ``.start`` to its ``.end`` or ``.error``
    (``ended`` None while open; ``started`` None when only its end or failure was seen).
    ``outcome``: ``open``, ``success`` or ``failure``."""

    resource_id: str
    #: what pairs the start with the end (``create``, ``resize``, ``volume_create``)
    span: str
    request_id: str
    started: float | None
    ended: float | None = None
    outcome: str = "open"
    host: str = ""
    fault: str = ""
    #: the first notification of the request (nova-api's), for the whole request's time
    request_started: float | None = None
    #: launched_at - created_at of a create (seconds), when the payload had both
    build_seconds: float | None = None
    #: the name shown when it differs from the span (a resize keeping its flavor: migrate)
    renamed: str = ""

    @property
    def operation(self) -> str:
        return self.renamed or self.span

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.resource_id, self.span, self.request_id)

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started)


@dataclass(frozen=True, slots=True)
class BusBatch:
    """What one consumer batch writes in one transaction."""

    messages: Sequence[RawMessage] = ()
    events: Sequence[Event] = ()
    poison: Sequence[PoisonMessage] = ()
    operations: Sequence[Operation] = ()


@dataclass(frozen=True, slots=True)
class BusState:
    """What the consumer reloads at start: recent message ids and open operations."""

    message_ids: frozenset[str] = frozenset()
    open_operations: tuple[Operation, ...] = ()
    closed: tuple[tuple[str, str, str], ...] = field(default=())
