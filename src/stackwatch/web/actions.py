"""What an operator may ask the running monitor to do (the operator role; docs/security.md).

Routes::

    POST /api/v1/sources/{source}/collect   run that source now: 202, or 404 when unknown

``collect_now`` is :meth:`stackwatch.runner.Loop.request_run`: it only wakes the
loop, so the answer does not wait for the run (its result shows in
``/api/v1/sources`` once written).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from stackwatch.web.auth import identity, json_error

log = logging.getLogger(__name__)


def add_routes(app: web.Application, collect_now: Callable[[str], bool]) -> None:
    """Register the action routes over the monitor's loop."""

    async def collect(request: web.Request) -> web.Response:
        """Ask the loop to run one source now."""
        source = request.match_info["source"]
        if not collect_now(source):
            return json_error(404, f"source {source!r}: no such source (see /api/v1/sources)")
        who = identity(request)
        log.info("web: %s asked for a run of %s", who.name if who else "someone", source)
        return web.json_response({"source": source, "status": "requested"}, status=202)

    # a source name may hold '/' (several clouds: east/api.compute)
    app.router.add_post("/api/v1/sources/{source:.+}/collect", collect)
