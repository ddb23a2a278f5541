"""Each run's items kept to a number per kind: the runner's cap on the inventory.

A cloud with 50,000 servers in ERROR must not put 50,000 rows in the store at each
collection, nor on a page: each run of a source keeps at most :data:`MAX_PER_KIND`
items of each kind (the first ones: a source lists the most telling first) and one
item per kind and id. What is left out is counted
(``stackwatch_source_items_left_out``) and logged once per source and kind while it
lasts. The samples still count every one (``openstack_nova_servers{status="ERROR"}``),
so a page can say "1,000 of 50,000 shown".
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from stackwatch.model import Item

log = logging.getLogger(__name__)

#: items of one kind one run of a source may hand over
MAX_PER_KIND = 5000


class ItemCap:
    """Keeps each run's items to ``limit`` per kind, one per (kind, id)."""

    def __init__(self, limit: int = MAX_PER_KIND) -> None:
        self.limit = limit
        self._capped: set[tuple[str, str]] = set()  # (source, kind) logged, still capped
        self._lock = threading.Lock()

    def admit(self, source: str, items: Iterable[Item]
              ) -> tuple[tuple[Item, ...], Counter[str]]:
        """The items kept, and how many of each kind were left out for the cap."""
        kept: list[Item] = []
        seen: set[tuple[str, str]] = set()
        per_kind: Counter[str] = Counter()
        left_out: Counter[str] = Counter()
        for item in items:
            key = (item.kind, item.id)
            if key in seen:
                continue  # one item per id: the store keeps one, the first is kept here
            seen.add(key)
            if per_kind[item.kind] >= self.limit:
                left_out[item.kind] += 1
                continue
            per_kind[item.kind] += 1
            kept.append(item)
        with self._lock:
            for kind in per_kind:
                if kind not in left_out:
                    self._capped.discard((source, kind))
            for kind, count in left_out.items():
                if (source, kind) not in self._capped:
                    self._capped.add((source, kind))
                    log.warning("source %s: %d %s items left out, %d kept (the cap per kind; "
                                "counted in stackwatch_source_items_left_out)", source, count,
                                kind, self.limit)
        return tuple(kept), left_out
