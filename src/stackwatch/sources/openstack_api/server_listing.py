"""Nova's servers, read whole now and then and in between only what changed.

``servers/detail?all_tenants=1`` is the largest listing of a cloud (20 pages of 1,000
servers on the big simulated one). Between full reads, every ``full_every`` seconds (600
by default), one ``changes-since`` listing (nova API reference: "only servers whose
``updated_at`` is at or after the time given, deleted ones included") brings what
changed: a server it gives replaces the one known, a ``DELETED`` one leaves. The window
reaches ``OVERLAP_S`` back past the previous read's start, on the compute API's clock
(its ``Date`` header) when it sent one. The full read catches what a changes-since
listing cannot show: a deleted row purged (``nova-manage db archive_deleted_rows``)
before it was seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.openstack_api.compute_life import OVERLAP_S, iso

#: seconds between full reads of the servers (a changes-since read in between)
FULL_EVERY_S = 600.0

S = TypeVar("S")


class ServerListing(Generic[S]):
    """Every server known, as ``parse`` makes it of a ``servers/detail`` entry."""

    def __init__(self, client: ApiClient, parse: Callable[[Mapping[str, Any]], S],
                 key: Callable[[S], str], status: Callable[[S], str],
                 full_every: float = FULL_EVERY_S) -> None:
        self.client = client
        self.parse = parse
        self.key = key
        self.status = status
        self.full_every = full_every
        self._known: dict[str, S] = {}
        self._since: float | None = None
        self._full_at = float("-inf")
        self._lock = threading.Lock()
        #: how the latest read went: "full" or "changes-since" (logs, tests)
        self.last_read = ""

    def read(self) -> list[S]:
        """Every server now: a full listing when due, else the changes since the last."""
        with self._lock:
            started = self.client.cloud_now("compute") or time.time()
            incremental = (self._since is not None
                           and time.monotonic() - self._full_at < self.full_every)
            params: dict[str, object] = {"all_tenants": 1}
            if incremental:
                assert self._since is not None
                params["changes-since"] = iso(self._since)
            read_at = time.monotonic()
            servers = [self.parse(d) for d in self.client.list_all(
                "compute", "servers/detail", "servers", params=params)]
            if incremental:
                known = dict(self._known)
                for server in servers:
                    if self.status(server) == "DELETED":
                        known.pop(self.key(server), None)
                    else:
                        known[self.key(server)] = server
            else:
                known = {self.key(s): s for s in servers}
                self._full_at = read_at
            self._known, self._since = known, started - OVERLAP_S
            self.last_read = "changes-since" if incremental else "full"
            return list(known.values())
