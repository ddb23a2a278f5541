"""One API endpoint as data: method, path, parameters model, response type, the view it
runs. :func:`handler` turns one into an aiohttp handler with validation and errors.

Parameters (path and query together) are a pydantic model, so a bad value is a 400
naming the parameter; the view runs in a worker thread (store reads never block the
event loop); the result is serialized by the response type's adapter, so what is sent
is what the OpenAPI document says. Errors are always
``{"error": {"status": 404, "message": "..."}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from stackwatch.query.context import Context
from stackwatch.query.errors import QueryError

Role = Literal["read", "operator", "agent"]


class NoParams(BaseModel):
    """An endpoint without parameters (unknown ones are refused)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Endpoint:
    """``run(context, params)`` answers ``method path``; ``response`` is its result type."""

    method: str
    path: str
    summary: str
    tag: str
    response: Any
    run: Callable[[Context, Any], Any] | None = None
    params: type[BaseModel] = NoParams
    status: int = 200
    #: who may call it: every authenticated reader, operators only, or agents (and
    #: operators) pushing results
    role: Role = "read"
    description: str = ""
    #: the type of its JSON request body (documented as the ``requestBody``)
    body: Any = None
    #: a handler of its own, for an endpoint that is no query over the store (it reads,
    #: checks and refuses its body itself); ``run`` is then not used
    serve: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    #: error statuses it may answer besides the usual ones, and why (documented)
    errors: tuple[tuple[int, str], ...] = ()

    @property
    def adapter(self) -> TypeAdapter[Any]:
        return _adapter(self.response)


_ADAPTERS: dict[int, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(id(kind))
    if found is None:
        found = _ADAPTERS[id(kind)] = TypeAdapter(kind)
    return found


def error_response(status: int, message: str) -> web.Response:
    """The API's one error shape."""
    return web.json_response({"error": {"status": status, "message": message}},
                             status=status)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "parameters"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _raw_params(request: web.Request) -> dict[str, str]:
    raw: dict[str, str] = {}
    for key in request.query:
        if key not in raw:
            raw[key] = ",".join(request.query.getall(key))
    raw.update(request.match_info)
    return raw


ContextFactory = Callable[[web.Request], Context]


def handler(endpoint: Endpoint, context: ContextFactory
            ) -> Callable[[web.Request], Any]:
    """The aiohttp handler of one endpoint."""
    if endpoint.serve is not None:
        return endpoint.serve
    run = endpoint.run
    assert run is not None, f"{endpoint.method} {endpoint.path}: neither run nor serve"

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            params = endpoint.params.model_validate(_raw_params(request))
        except ValidationError as exc:
            return error_response(400, _validation_message(exc))
        ctx = context(request)
        try:
            result = await asyncio.to_thread(run, ctx, params)
        except QueryError as exc:
            return error_response(exc.status, str(exc))
        body = endpoint.adapter.dump_json(result, indent=1)
        return web.Response(body=body, status=endpoint.status,
                            content_type="application/json")

    return handle
