"""Marker and limit paging as the optional services do it (heat, octavia, ironic,
designate, manila, magnum, trove, gnocchi, swift): items in a stable order, ``marker``
the id of the last item of the previous page, ``limit`` capped by the service's
maximum; a next link (or, for JSON-array listings, a page shorter than the limit)
whenever the page came back full."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim.routing import ApiContext

T = TypeVar("T")


def page(request: web.Request, items: Sequence[T], ident: Callable[[T], str], *,
         cap: int, default: int | None = None) -> tuple[list[T], bool]:
    """The page ``request`` asks for and whether it is full (a next page may follow).

    400 for a limit that is not a positive integer or a marker that names no item."""
    query = request.query
    try:
        limit = int(query["limit"]) if "limit" in query else (default or cap)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"Invalid limit: {query['limit']!r}") from None
    if limit < 1:
        raise web.HTTPBadRequest(reason=f"Invalid limit: {limit}")
    limit = min(limit, cap)
    start = 0
    marker = query.get("marker")
    if marker:
        position = next((i for i, item in enumerate(items) if ident(item) == marker), None)
        if position is None:
            raise web.HTTPBadRequest(reason=f"Marker {marker} could not be found.")
        start = position + 1
    chosen = list(items[start:start + limit])
    return chosen, len(chosen) == limit


def next_url(api: ApiContext, request: web.Request, marker: str) -> str:
    """The absolute URL of the next page: the same path and query, ``marker`` replaced."""
    params = [(k, v) for k, v in request.query.items() if k != "marker"]
    path = request.path[len(api.spec.prefix):]
    return api.url(path) + "?" + urlencode([*params, ("marker", marker)])


def self_url(api: ApiContext, request: web.Request) -> str:
    """The absolute URL of this page, as asked."""
    path = request.path[len(api.spec.prefix):]
    return api.url(path) + (f"?{request.query_string}" if request.query_string else "")
