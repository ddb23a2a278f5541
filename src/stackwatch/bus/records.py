"""What the consumer writes besides events: raw messages, poison and operations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from stackwatch.model import Event, Severity


class Note(NamedTuple):
    """One accepted notification as written: its raw message (``message_id`` the dedup
    key, ``body`` the JSON kept until ``bus.raw_retention_hours``) and its event's columns
    (``attributes`` a JSON object of sorted keys). A plain tuple: the consumer makes one
    per message."""

    message_id: str
    timestamp: float
    received: float
    exchange: str
    routing_key: str
    event_type: str
    body: str
    severity: int
    service: str
    host: str
    message: str
    request_id: str
    resource_ids: tuple[str, ...]
    attributes: str

    def event(self) -> Event:
        """The note's event as the store gives it back."""
        return Event("notification", self.event_type, self.timestamp, Severity(self.severity),
                     self.service, self.host, self.message, self.request_id,
                     self.resource_ids, tuple(sorted(orjson.loads(self.attributes).items())))


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

    notes: Sequence[Note] = ()
    poison: Sequence[PoisonMessage] = ()
    operations: Sequence[Operation] = ()


@dataclass(frozen=True, slots=True)
class BusState:
    """What the consumer reloads at start: recent message ids and open operations."""

    message_ids: frozenset[str] = frozenset()
    open_operations: tuple[Operation, ...] = ()
    closed: tuple[tuple[str, str, str], ...] = field(default=())
