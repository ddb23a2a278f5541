"""The store contract: what the runner writes and what health, web and CLI read.

The embedded implementation is SQLite (WAL); a PostgreSQL store can implement
the same protocol for a central server. The store knows nothing of alarms.
:class:`TokenStore` is the web's access tokens, kept beside the data
(:mod:`stackwatch.store.tokens`), only ever as digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from stackwatch.model import CheckResult, Collection, Event, Item, Labels, Sample


@dataclass(frozen=True, slots=True)
class Statistics:
    """Statistics of one series over a period (Aodh/Ceilometer semantics)."""

    count: int
    minimum: float
    maximum: float
    average: float
    total: float
    last: float


class Store(Protocol):
    """Keeps samples, check results, events and items; answers the queries the rest needs."""

    def write(self, collection: Collection, source: str = "") -> None:
        """Persist everything in one collection, atomically; with ``source``, the collection
        is that source's latest run and replaces its previous one in the latest reads
        (samples, checks, items)."""
        ...

    def retain(self, sources: Iterable[str]) -> None:
        """Only these sources are current: the latest of any other leaves the latest reads."""
        ...

    def latest_samples(self, name: str | None = None) -> list[Sample]:
        """The newest sample of every series the latest run of a source emitted (of one
        metric, when ``name`` is given)."""
        ...

    def sample_range(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> list[Sample]:
        """Samples of one metric in ``[start, end]``, optionally one label set only."""
        ...

    def range_points(
        self, name: str, start: float, end: float, step: float = 0.0, match: Labels = ()
    ) -> list[tuple[Labels, list[tuple[float, float | None]]]]:
        """Each series of ``name`` carrying every label of ``match``, by labels, with its
        points in ``[start, end]`` in time order: every sample as ``(time, value)`` with
        ``step`` 0, else the mean of each ``step``-wide bucket at the bucket's middle,
        buckets aligned on multiples of ``step``; a value that is not a finite number is
        None (JSON has none). Series without a point are left out."""
        ...

    def statistics(
        self, name: str, start: float, end: float, labels: Labels | None = None
    ) -> Statistics | None:
        """Count/min/max/avg/sum/last of one series over a period; ``None`` when empty."""
        ...

    def latest_checks(self) -> list[CheckResult]:
        """The checks of the latest run of each source."""
        ...

    def latest_items(self, kind: str | None = None) -> list[Item]:
        """The items the latest run of each source listed (of one kind when ``kind`` is
        given), by kind and id. Items are current state only: no history is kept."""
        ...

    def events(
        self,
        start: float,
        end: float,
        kinds: Sequence[str] = (),
        request_id: str | None = None,
        resource_id: str | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        """Events in time order, filtered by kind, request id or resource id."""
        ...

    def prune(self, older_than: float) -> int:
        """Delete what is older than a timestamp; return how many rows went."""
        ...

    def close(self) -> None:
        """Release the connection(s)."""
        ...


def write_all(store: Store, collections: Iterable[Collection]) -> None:
    """Write several collections (convenience for tests and backfills)."""
    for collection in collections:
        store.write(collection)


class Role(StrEnum):
    """What a web client may do: ``read`` GETs; ``operator`` also acts (POST, PUT...)."""

    READ = "read"
    OPERATOR = "operator"

    def may(self, method: str) -> bool:
        """True when this role may send a request with this HTTP method."""
        return self is Role.OPERATOR or method in ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One access token as stored: its SHA-256 ``digest``, never the token itself."""

    name: str
    role: Role
    digest: str
    created: float
    expires: float | None = None
    last_used: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now


class TokenStore(Protocol):
    """Keeps the web's access tokens (as digests) by name."""

    def add(self, token: TokenRecord) -> None:
        """Keep a new token; :class:`~stackwatch.errors.StoreError` when the name is taken."""
        ...

    def tokens(self) -> list[TokenRecord]:
        """Every token, by name."""
        ...

    def revoke(self, name: str) -> bool:
        """Forget the token of that name; False when there was none."""
        ...

    def touch(self, name: str, when: float) -> None:
        """Note that the token was used at ``when``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
