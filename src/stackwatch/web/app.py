"""The aiohttp application: the dashboard, the REST API and ``/metrics`` over the store.

Paths::

    /                         redirects to /overview
    /overview, /services/x…   the dashboard's pages (pages/site.py); each has a .json twin
    /api/v1/…                 the REST API (api/routes.py), documented at
    /api/v1/openapi.json      (and readable at /api/v1/docs); /api/v1/ingest takes the
                              agents' pushes (given an Ingest)
    /metrics                  Prometheus text exposition of the latest samples
    /static/…                 the pages' stylesheet and script, shipped in the package
    /login, /logout           browser sessions (web/auth.py, which guards every path)

Views run in worker threads so a slow store read never blocks the event loop; each
request sees the store at one moment (:class:`~stackwatch.query.context.Context`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from stackwatch.agent.ingest import Ingest
from stackwatch.catalog.loader import Catalog
from stackwatch.exposition import CONTENT_TYPE, Exposition, render
from stackwatch.model import Sample
from stackwatch.query.context import Context, HealthMemo
from stackwatch.store.base import AlarmStateStore, Store
from stackwatch.web.api.endpoint import Endpoint, error_response
from stackwatch.web.api.endpoint import handler as api_handler
from stackwatch.web.api.ingest import INGEST_KEY, refusals_counted
from stackwatch.web.api.openapi import document
from stackwatch.web.api.routes import ENDPOINTS
from stackwatch.web.auth import Access
from stackwatch.web.pages.page import Site, environment, handlers
from stackwatch.web.pages.site import PAGES

STORE_KEY = web.AppKey("store", Store)
CATALOG_KEY = web.AppKey("catalog", Catalog)
CLOCK_KEY = web.AppKey[Callable[[], float]]("clock")
MAX_AGE_KEY = web.AppKey("max_age", float)
EXTRAS_KEY = web.AppKey[dict[str, Callable[[], object]]]("extras")
#: the exposition of the store's latest samples (the server warms it after its writes)
EXPOSITION_KEY = web.AppKey("exposition", Exposition)
#: the server's own counters, rendered at each scrape
_LIVE_KEY = web.AppKey("live_samples", tuple)
_MEMO_KEY = web.AppKey("health_memo", HealthMemo)
ALARM_STATES_KEY: web.AppKey[AlarmStateStore | None] = web.AppKey("alarm_states")
STATIC = Path(__file__).parent / "static"
OPENAPI_PATH = "/api/v1/openapi.json"


class Banner(BaseModel):
    """The cloud's status in every page's header."""

    status: str
    message: str


def context(request: web.Request) -> Context:
    """The store at this moment, as the request's views see it."""
    app = request.app
    return Context(app[STORE_KEY], app[CATALOG_KEY], app[CLOCK_KEY](), app[MAX_AGE_KEY],
                   app[EXTRAS_KEY], app[_MEMO_KEY], app[ALARM_STATES_KEY])


def banner(ctx: Context) -> Banner:
    health = ctx.health()
    return Banner(status=health.status.name, message=health.message)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of the latest value of every series: the store's, rendered
    once per change (:class:`~stackwatch.exposition.Exposition`), then the server's own
    counters (ingest, access), rendered at each scrape; gzip when the scraper asks."""
    exposition = request.app[EXPOSITION_KEY]
    zipped = "gzip" in request.headers.get("Accept-Encoding", "")
    stored = await asyncio.to_thread(exposition.gzipped if zipped else exposition.body)
    own = [s for live in request.app[_LIVE_KEY] for s in live()]
    body = stored
    if own:
        extra = render(own, request.app[CATALOG_KEY])
        body = stored + (gzip.compress(extra, 1, mtime=0) if zipped else extra)
    headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"  # gzip members concatenated are one stream
    return web.Response(body=body, headers=headers)


@web.middleware
async def api_errors(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
    """Unknown API paths and methods answer in the API's error shape, not HTML."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            response = error_response(exc.status, exc.reason)
            if "Allow" in exc.headers:  # a 405 says which methods are (RFC 9110 15.5.6)
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise


def make_app(store: Store, catalog: Catalog, clock: Callable[[], float] = time.time,
             max_age: float = float("inf"),
             extras: dict[str, Callable[[], object]] | None = None,
             middlewares: Iterable[Any] = (), *, access: Access | None = None,
             actions: Sequence[Endpoint] = (), ingest: Ingest | None = None,
             alarm_states: AlarmStateStore | None = None) -> web.Application:
    """The application over one store; the /metrics collector is registered once here.

    ``max_age``: checks older than this many seconds count as UNKNOWN in health and
    checks; samples older than that are left out of /metrics (the samples API keeps
    them, with their age). ``extras``: more state the pages may show (the demo's story).
    ``access``: who may use it (:mod:`stackwatch.web.auth`; without, anyone).
    ``actions``: endpoints bound to a running monitor (:mod:`stackwatch.web.api.actions`).
    ``ingest``: take agents' pushes at ``POST /api/v1/ingest`` (404 without).
    ``alarm_states``: the alarm engine's state, for /alarms and /api/v1/alarms.
    """
    guard = [access.middleware()] if access is not None else []
    if ingest is not None:
        guard.insert(0, refusals_counted(ingest))
    app = web.Application(middlewares=[*guard, *middlewares, api_errors])
    app[MAX_AGE_KEY] = max_age
    app[STORE_KEY] = store
    app[CATALOG_KEY] = catalog
    app[CLOCK_KEY] = clock
    app[EXTRAS_KEY] = dict(extras or {})
    app[_MEMO_KEY] = HealthMemo()
    app[ALARM_STATES_KEY] = alarm_states

    # The store's latest is each source's latest run; a run older than max_age (the loop
    # stuck, a store no server writes any more) is no longer "current" either.
    app[EXPOSITION_KEY] = exposition = Exposition(store, catalog, clock, max_age)

    async def stop_warming(_: web.Application) -> None:
        await asyncio.to_thread(exposition.close)

    app.on_cleanup.append(stop_warming)
    live: list[Callable[[], list[Sample]]] = []
    if ingest is not None:
        app[INGEST_KEY] = ingest
        live.append(ingest.samples)
    app.router.add_get("/metrics", metrics)
    if access is not None:  # /login, /logout, and the refusals on /metrics
        access.add_routes(app)
        live.append(access.samples)
    app[_LIVE_KEY] = tuple(live)
    endpoints = (*ENDPOINTS, *actions)
    spec = document(endpoints)
    spec_body = json.dumps(spec, indent=1)

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(text=spec_body, content_type="application/json")

    app.router.add_get(OPENAPI_PATH, openapi)
    for endpoint in endpoints:
        route = api_handler(endpoint, context)
        if endpoint.method == "GET":
            app.router.add_get(endpoint.path, route)  # and HEAD
        else:
            app.router.add_route(endpoint.method, endpoint.path, route)
    site = Site(PAGES, environment())

    async def docs(request: web.Request) -> web.Response:
        text = site.env.get_template("api.html").render(
            spec=spec, site=site, path=request.path, banner=None, refresh=0,
            page=None, params=None, error="", query="", who=None)
        return web.Response(text=text, content_type="text/html")

    app.router.add_get("/api/v1/docs", docs)
    for page in PAGES:
        html, twin = handlers(site, page, context, banner)
        app.router.add_get(page.path + ".json", twin)
        app.router.add_get(page.path, html)

    async def root(_: web.Request) -> web.Response:
        raise web.HTTPFound("/overview")

    app.router.add_get("/", root)

    async def favicon(_: web.Request) -> web.FileResponse:
        # a browser asks /favicon.ico of any page without a <link rel=icon> (the JSON twins)
        return web.FileResponse(STATIC / "favicon.svg", headers={
            "Content-Type": "image/svg+xml"})

    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static", STATIC)
    return app
