"""The simulator's change feed: what changed in the ground truth, and what the API served.

Every mutation of :class:`~stackwatch.sim.state.CloudState` goes through one of its
methods, which hands a frozen :class:`Change` to each subscriber (synchronously, in
the thread that mutated, which is the simulator's event-loop thread). The HTTP server
hands a :class:`ServedRequest` to each ``on_request`` hook after every request.

Subscribers (sim-world's DB sync, log writer and notification publisher) must be quick
and must not raise: an exception is logged and counted, never propagated into the API.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ChangeKind(enum.StrEnum):
    """What happened to a record."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Change:
    """One mutation of one record of the ground truth.

    ``resource`` is the record kind (``"server"``, ``"compute_service"``, ``"port"``, ...:
    the ``KIND`` of the record class). ``before`` is ``None`` for a creation, ``after``
    is ``None`` for a deletion; both are frozen records, safe to keep. ``fields`` names
    the attributes an update changed. ``request_id`` is set when the change was made
    by an API request (so logs and notifications can carry it); ``cause`` says what
    made it otherwise (``"generate"``, ``"life"``, ``"churn"``, ``"fault:<name>"``).
    """

    kind: ChangeKind
    resource: str
    before: Any
    after: Any
    time: datetime
    fields: tuple[str, ...] = ()
    request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    cause: str = "api"

    @property
    def record(self) -> Any:
        """The record as it is now (``after``), or as it was when deleted."""
        return self.after if self.after is not None else self.before

    @property
    def id(self) -> str:
        """The record's id."""
        return str(self.record.id)


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request the simulated API answered (after the response was sent).

    ``service`` is the service type (``compute``, ``identity``, ``network``, ``image``,
    ``block-storage``, ``placement``); ``path`` is the path as the real service saw it
    (without the simulator's prefix, e.g. ``/v2.1/servers/detail``) and ``query`` the
    query string. ``length`` is the body length in bytes, ``duration`` seconds from
    arrival to the last byte, ``microversion`` the negotiated one (``"2.103"``) or
    ``None``. ``fault`` names the injected fault that shaped the answer, if any.
    """

    service: str
    method: str
    path: str
    status: int
    length: int
    duration: float
    request_id: str
    user_id: str | None
    project_id: str | None
    remote_addr: str
    microversion: str | None
    time: datetime
    query: str = ""
    user_agent: str = ""
    fault: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class ChangeSubscriber(Protocol):
    """Called with each change, in order, as it happens."""

    def __call__(self, change: Change) -> None: ...


class RequestHook(Protocol):
    """Called with each served request, after its response was sent."""

    def __call__(self, served: ServedRequest) -> None: ...
