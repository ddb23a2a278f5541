"""What an operator may ask of the running monitor (the operator role, docs/security.md).

::

    POST /api/v1/sources/{source}/collect   run that source now: 202, or 404 when unknown

These endpoints act on the monitor's loop, so :func:`endpoints` makes them when the
server starts (a store read by another process has no loop to ask). The answer
does not wait for the run: its result shows in ``/api/v1/sources`` once written. A
source name holding ``/`` (several clouds: ``east/api.compute``) is written
``east%2Fapi.compute`` in the path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from stackwatch.query.context import Context
from stackwatch.query.errors import NotFound
from stackwatch.web.api.core import SourceName
from stackwatch.web.api.endpoint import Endpoint


class CollectRequested(BaseModel):
    """A run was asked for; the loop starts it within a moment."""

    source: str
    status: Literal["requested"] = "requested"


def endpoints(collect_now: Callable[[str], bool]) -> tuple[Endpoint, ...]:
    """The action endpoints over ``collect_now`` (:meth:`stackwatch.runner.Loop.request_run`)."""

    def collect(_: Context, query: SourceName) -> CollectRequested:
        if not collect_now(query.source):
            raise NotFound(f"source {query.source!r}: no such source (see /api/v1/sources)")
        return CollectRequested(source=query.source)

    return (
        Endpoint("POST", "/api/v1/sources/{source}/collect", "Run a source now", "sources",
                 CollectRequested, collect, SourceName, status=202, role="operator",
                 description="Wakes the monitor's loop to run the source at once (again "
                             "after the run under way, if any); its result shows in "
                             "/api/v1/sources once written."),
    )
