"""``POST /api/v1/ingest``: agents push their runs here (docs/agent.md); ``GET
/api/v1/agents`` says which agents did, and when last.

The HTTP side of :class:`~stackwatch.agent.ingest.Ingest`: who may push, how much may be
sent, and the answer. The body is read up to ``server.max_push_bytes`` (413 past it,
before it is all read when ``Content-Length`` says so); the push is parsed, checked and
stored in a worker thread; every push's time from first byte to answer goes into
``stackwatch_ingest_duration_seconds``. A server without ``server.accept_agents``
answers 404.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from stackwatch.agent.ingest import Ingest, Refused
from stackwatch.agent.wire import Ack, Push
from stackwatch.query import agents
from stackwatch.web.api.endpoint import Endpoint, error_response

INGEST_KEY = web.AppKey("ingest", Ingest)
_ACK = Endpoint("POST", "/api/v1/ingest", "", "agents", Ack).adapter


async def _body(request: web.Request, ingest: Ingest) -> bytes:
    limit = ingest.config.max_push_bytes

    def too_large() -> Refused:
        return ingest.refuse(413, "too_large", f"the push is over {limit} bytes "
                             "(server.max_push_bytes); send fewer batches at once")

    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)


async def ingest(request: web.Request) -> web.StreamResponse:
    """Take one push: every batch stored (or known) and acknowledged, or none."""
    service = request.app.get(INGEST_KEY)
    if service is None:
        return error_response(404, "this server takes no pushes from agents "
                                   "(server.accept_agents is false)")
    started = time.monotonic()
    try:
        body = await _body(request, service)
        ack = await asyncio.to_thread(service.accept, body)
    except Refused as exc:
        response = error_response(exc.status, str(exc))
    else:
        response = web.Response(body=_ACK.dump_json(ack), content_type="application/json")
    service.observe(time.monotonic() - started)
    return response


#: the access rules' refusals of a push (web/auth.py answers them before the handler)
_ACCESS_REFUSALS = {401: "token", 403: "role", 429: "rate_limited"}


def refusals_counted(service: Ingest) -> Middleware:
    """A middleware (outside the access rules) counting their refusals of pushes in
    ``stackwatch_ingest_refused_total`` too: a fleet's bad token shows beside the rest."""
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/api/v1/ingest" and response.status in _ACCESS_REFUSALS:
            service.refuse(response.status, _ACCESS_REFUSALS[response.status], "")
        return response
    return count


ENDPOINTS = (
    Endpoint("POST", "/api/v1/ingest", "An agent's push: its batches, stored once each",
             "agents", Ack, role="agent", body=Push, serve=ingest,
             description="Every batch of the push is stored, in one transaction, or none; "
                         "a batch stored before (same agent and sequence) is acknowledged "
                         "again and not stored twice. Refused: 400 (not JSON, not a push, "
                         "a timestamp too far ahead), 401/403 (token, role), 413 (too "
                         "large), 503 (the store could not write: push again later)."),
    Endpoint("GET", "/api/v1/agents", "The agents pushing here: batches kept, sequence "
             "numbers missing, when each last pushed", "agents", list[agents.AgentView],
             lambda ctx, _: agents.agents(ctx)),
)
