"""Events by time, kind, request id or resource id."""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Severity
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import EventView

#: the most events one query reads from the store
MAX_EVENTS = 10000


def events(ctx: Context, start: float, end: float, kinds: Sequence[str] = (),
           request_id: str = "", resource_id: str = "", severity: str = "",
           service: str = "", host: str = "", limit: int = MAX_EVENTS,
           newest_first: bool = False) -> list[EventView]:
    """Events in ``[start, end]`` in time order (``newest_first``: the newest first),
    filtered; ``severity``: at least that."""
    if end < start:
        raise BadQuery(f"end: {end} is before start {start}")
    try:
        floor = Severity[severity.upper()] if severity else None
    except KeyError:
        raise BadQuery(f"severity: {severity!r} is not among "
                       f"{[s.name for s in Severity]}") from None
    # filtered in the store: a filter applied after the limit would miss what it cut
    found = ctx.store.events(start, end, list(kinds), request_id or None, resource_id or None,
                             min(limit, MAX_EVENTS), min_severity=floor,
                             service=service or None, host=host or None,
                             newest_first=newest_first)
    return [EventView.of(e) for e in found]
