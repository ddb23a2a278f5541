"""The latest check results, filtered."""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Status
from stackwatch.query.context import Context
from stackwatch.query.errors import BadQuery
from stackwatch.query.models import CheckView


def latest_checks(ctx: Context, statuses: Sequence[str] = (), name: str = "",
                  labels: dict[str, str] | None = None) -> list[CheckView]:
    """The latest checks (stale ones UNKNOWN), worst first; only ``statuses`` (names,
    any case), checks named ``name``, and those carrying every label in ``labels``."""
    try:
        wanted = {Status[s.upper()] for s in statuses}
    except KeyError:
        raise BadQuery(f"status: {','.join(statuses)!r} is not among "
                       f"{[s.name for s in Status]}") from None
    rank = {Status.CRITICAL: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.OK: 3}
    found = [c for c in ctx.checks()
             if (not wanted or c.status in wanted) and (not name or c.name == name)
             and all(dict(c.labels).get(k) == v for k, v in (labels or {}).items())]
    found.sort(key=lambda c: (rank[c.status], c.name, c.labels))
    return [CheckView.of(c, ctx.now) for c in found]
