"""The notification consumer's reads, the same SQL on SQLite and PostgreSQL.

:class:`BusReads` is mixed into both stores; each gives its parameter placeholder
(``?`` or ``%s``) and its ``_query``. The operation rows' columns and decoder are here
too, for the stores' writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from stackwatch.bus.recent import MOST
from stackwatch.bus.records import BusState, Operation, PoisonMessage

OPERATION_COLUMNS = ("resource_id, span, request_id, renamed, started, ended, outcome, host, "
                     "fault, request_started, build_seconds")


def operation(row: Sequence[Any]) -> Operation:
    """An :class:`Operation` from a row of :data:`OPERATION_COLUMNS`."""
    return Operation(resource_id=row[0], span=row[1], request_id=row[2], renamed=row[3],
                     started=row[4], ended=row[5], outcome=row[6], host=row[7], fault=row[8],
                     request_started=row[9], build_seconds=row[10])


class BusReads:
    """``bus_state``, ``bus_operations``, ``bus_poison`` and ``bus_raw`` of a store."""

    #: the driver's parameter placeholder
    _placeholder: ClassVar[str]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def bus_state(self, since: float) -> BusState:
        """The newest message ids received since ``since`` (at most
        :data:`~stackwatch.bus.recent.MOST`), open operations, keys closed since."""
        p = self._placeholder
        ids = frozenset(r[0] for r in self._query(
            f"SELECT message_id FROM bus_messages WHERE received >= {p} "
            f"ORDER BY received DESC LIMIT {p}", (since, MOST)))
        rows = self._query(f"SELECT {OPERATION_COLUMNS} FROM bus_operations "
                           "WHERE outcome = 'open'")
        closed = self._query("SELECT resource_id, span, request_id FROM bus_operations "
                             f"WHERE outcome <> 'open' AND ended >= {p}", (since,))
        return BusState(ids, tuple(operation(r) for r in rows),
                        tuple((r[0], r[1], r[2]) for r in closed))

    def bus_operations(self, start: float, end: float, resource_id: str | None = None,
                       request_id: str | None = None) -> list[Operation]:
        """Operations closed in ``[start, end]`` (and open ones started then), by time."""
        p = self._placeholder
        clauses = [f"COALESCE(ended, started) BETWEEN {p} AND {p}"]
        params: list[Any] = [start, end]
        for column, value in (("resource_id", resource_id), ("request_id", request_id)):
            if value:
                clauses.append(f"{column} = {p}")
                params.append(value)
        rows = self._query(f"SELECT {OPERATION_COLUMNS} FROM bus_operations WHERE "
                           f"{' AND '.join(clauses)} ORDER BY COALESCE(ended, started)", params)
        return [operation(r) for r in rows]

    def bus_poison(self, limit: int = 100) -> list[PoisonMessage]:
        """The newest poison messages set aside, newest first."""
        rows = self._query("SELECT received, reason, exchange, routing_key, size, body "
                           f"FROM bus_poison ORDER BY id DESC LIMIT {self._placeholder}",
                           (limit,))
        return [PoisonMessage(*r) for r in rows]

    def bus_raw(self, message_id: str) -> str | None:
        """The kept payload of one message (until ``bus.raw_retention_hours``); in SQLite a
        scan (no index by message id: nothing in stackwatch reads one by id)."""
        rows = self._query(
            f"SELECT body FROM bus_messages WHERE message_id = {self._placeholder}",
            (message_id,))
        return str(rows[0][0]) if rows else None
