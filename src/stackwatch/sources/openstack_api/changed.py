"""Listings read whole now and then, in between only what changed; per-item work done
once per change.

A big cloud's listings are mostly the same from one cycle to the next: cinder's
``volumes/detail`` (28 MB for 20,000 volumes) and neutron's ports (21 MB) were read,
parsed and turned into series whole every cycle. :class:`ChangedListing` reads a
listing whole every ``full_every`` seconds (600 by default) and in between asks only for
the items changed since the previous read (cinder's ``updated_at=gte:`` from 3.60,
neutron's ``changed_since``), with a window reaching ``OVERLAP_S`` back past the previous
read's start on the service's clock. Neither shows what was deleted, so each read also
proves its result whole (``reconcile``: cinder's ``volumes/summary`` count, neutron's
listing of ids) and reads in full when it cannot: the figures stay exact.

:class:`PerItem` keeps what is derived of each item (parsed fields, label sets) while the
item is the same object, that is, until a read brings it anew.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from stackwatch.errors import SourceError
from stackwatch.sources.openstack_api.client import ApiClient, Json
from stackwatch.sources.openstack_api.compute_life import OVERLAP_S, iso
from stackwatch.sources.openstack_api.server_listing import FULL_EVERY_S

log = logging.getLogger(__name__)

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item
#: the items known, by id -> the exact set now, or None when it cannot be told
Reconcile = Callable[[dict[str, Json]], "dict[str, Json] | None"]


class ChangedListing:
    """Every item of one listing, by id, as its last read left them."""

    def __init__(self, client: ApiClient, service_type: str, what: str,
                 full_every: float = FULL_EVERY_S) -> None:
        self.client = client
        self.service_type = service_type
        self.what = what
        self.full_every = full_every
        self._known: dict[str, Json] = {}
        self._since: float | None = None
        self._full_at = float("-inf")
        self._lock = threading.Lock()
        #: how the latest read went: "full" or "changed" (logs, tests)
        self.last_read = ""

    def read(self, full: Callable[[], Iterable[Json]],
             changed: Callable[[str], Iterable[Json]] | None,
             reconcile: Reconcile) -> list[Json]:
        """Every item now: ``full()`` when due (or when ``changed`` is None: the service
        cannot filter by time), else ``changed(since)`` merged into those known and proven
        whole by ``reconcile``, falling back to ``full()``."""
        with self._lock:
            started = self.client.cloud_now(self.service_type) or time.time()
            known: dict[str, Json] | None = None
            if (changed is not None and self._since is not None
                    and time.monotonic() - self._full_at < self.full_every):
                try:
                    merged = dict(self._known)
                    for item in changed(iso(self._since)):
                        merged[str(item.get("id", ""))] = item
                    known = reconcile(merged)
                except SourceError as exc:  # e.g. a filter this deployment refuses
                    log.info("%s: read of what changed failed, reading in full: %s",
                             self.what, exc)
                if known is None:
                    log.info("%s: items removed or unseen since the last read: in full",
                             self.what)
            if known is None:
                read_at = time.monotonic()
                known = {str(item.get("id", "")): item for item in full()}
                self._full_at = read_at
                self.last_read = "full"
            else:
                self.last_read = "changed"
            self._known, self._since = known, started - OVERLAP_S
            return list(known.values())


def by_count(count: Callable[[], int]) -> Reconcile:
    """Whole when there are as many as the service counts: a merged set holds every item
    that exists (a new one was changed since) and those removed since, so equal counts
    mean none was removed."""
    return lambda merged: merged if len(merged) == count() else None


def by_ids(ids: Callable[[], Iterable[str]]) -> Reconcile:
    """Whole when every id the service lists is known: those it no longer lists leave."""
    def reconcile(merged: dict[str, Json]) -> dict[str, Json] | None:
        exact: dict[str, Json] = {}
        for item_id in ids():
            item = merged.get(item_id)
            if item is None:
                return None  # created between the two reads: seen by the next full one
            exact[item_id] = item
        return exact
    return reconcile


class PerItem(Generic[I, T]):
    """``derive`` of each item, computed again only for an item not seen before (a new
    object: a read brought it)."""

    def __init__(self, derive: Callable[[I], T]) -> None:
        self.derive = derive
        self._memo: dict[int, tuple[I, T]] = {}
        self._lock = threading.Lock()

    def __call__(self, items: Iterable[I]) -> list[T]:
        with self._lock:
            memo, kept = self._memo, {}
            derive = self.derive
            for item in items:
                hit = memo.get(id(item))
                if hit is None or hit[0] is not item:
                    hit = (item, derive(item))
                kept[id(item)] = hit  # the item is held: its id is not reused meanwhile
            self._memo = kept
            return [value for _, value in kept.values()]
