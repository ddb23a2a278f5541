"""The message ids stored lately, remembered in memory to leave a second copy out.

A message can come again after it was stored in two ways only: redelivered, when it was
stored but not yet acknowledged (a crash, a lost broker: at most ``bus.prefetch`` of the
newest), and published again by a publisher retrying (within minutes). So the consumer
and the SQLite store remember the ids of the newest messages, in time order, rather than
keep a unique index of every id: a random id lands on a random page of such an index,
and its commit writes one more page per message. At start both reload the newest ids
from the store (time ordered, :meth:`~stackwatch.store.base.Store.bus_state`), so a
``kill -9`` and a restart store nothing twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection

#: seconds an id is remembered after its message was received
SECONDS = 3600.0
#: ids remembered at most (a batch more while the oldest goes): an hour at 140 messages
#: a second, 25 seconds at 20,000; about 100 bytes each
MOST = 500_000


class RecentIds:
    """Ids added within ``seconds`` of the newest added, at most ``most`` (the oldest
    forgotten first, a whole added group at a time). Not thread-safe. ``ids`` is the set
    itself, changed in place, for loops to test (not to change)."""

    def __init__(self, seconds: float = SECONDS, most: int = MOST) -> None:
        self.seconds = seconds
        self.most = most
        self.ids: set[str] = set()
        self._groups: deque[tuple[float, Collection[str]]] = deque()
        self._count = 0

    def __contains__(self, message_id: object) -> bool:
        return message_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Collection[str], when: float) -> None:
        """Remember ``ids`` (new ones: not remembered already) received at ``when``."""
        if not ids:
            return
        self.ids.update(ids)
        self._groups.append((when, ids))
        self._count += len(ids)
        groups = self._groups
        while len(groups) > 1 and (self._count > self.most
                                   or groups[0][0] < when - self.seconds):
            _, gone = groups.popleft()
            self._count -= len(gone)
            self.ids.difference_update(gone)
