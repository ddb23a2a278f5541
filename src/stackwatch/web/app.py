"""The aiohttp application: ``/metrics`` and the REST API over the store.

Routes::

    GET /metrics                Prometheus text exposition of the latest samples
    GET /api/v1/health          cloud -> service -> member health (HA-aware)
    GET /api/v1/checks          latest check results (?status=CRITICAL,WARNING)
    GET /api/v1/samples?name=   latest samples of a metric; with start=&end= a range
    GET /api/v1/sources         freshness of each source (up, last success, age, errors)
    GET /api/v1/events          events by time, kind, request id or resource id
    POST /api/v1/sources/{source}/collect   run a source now (operator; web/actions.py)
    GET|POST /login, POST /logout           browser sessions (web/auth.py)

Store reads run in worker threads so a slow query never blocks the event loop.
Given an :class:`~stackwatch.web.auth.Access`, every route is behind its rules.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from stackwatch.catalog.loader import Catalog
from stackwatch.health.evaluate import evaluate, expire
from stackwatch.model import CheckResult, Sample, Status, make_labels
from stackwatch.runner import SOURCE_CHECK
from stackwatch.store.base import Store
from stackwatch.web import actions
from stackwatch.web.auth import Access
from stackwatch.web.metrics import SampleCollector, registry_for
from stackwatch.web.serialize import check_dict, event_dict, health_dict, sample_dict

STORE_KEY = web.AppKey("store", Store)
CATALOG_KEY = web.AppKey("catalog", Catalog)
CLOCK_KEY = web.AppKey[Callable[[], float]]("clock")
MAX_AGE_KEY = web.AppKey("max_age", float)
_REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)

_FRESHNESS = {
    "stackwatch_source_up": "up",
    "stackwatch_source_last_success_timestamp_seconds": "last_success",
    "stackwatch_source_duration_seconds": "duration_seconds",
    "stackwatch_source_errors_total": "errors_total",
    "stackwatch_source_samples": "samples",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=1))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of the latest value of every series."""
    registry = request.app[_REGISTRY_KEY]
    body = await asyncio.to_thread(generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _latest_checks(request: web.Request, now: float) -> list[CheckResult]:
    """Latest checks; those older than the app's max age become UNKNOWN ("stale: ...")."""
    found = await asyncio.to_thread(request.app[STORE_KEY].latest_checks)
    return expire(found, now, request.app[MAX_AGE_KEY])


async def health(request: web.Request) -> web.Response:
    """The cloud's health from the latest check results."""
    now = request.app[CLOCK_KEY]()
    checks = await _latest_checks(request, now)
    return _json({"generated_at": now, **health_dict(evaluate(request.app[CATALOG_KEY],
                                                              checks))})


async def checks(request: web.Request) -> web.Response:
    """Latest check results, optionally only some statuses (``?status=CRITICAL,WARNING``)."""
    wanted = request.query.get("status", "")
    try:
        statuses = {Status[s.strip().upper()] for s in wanted.split(",") if s.strip()}
    except KeyError:
        return _error(400, f"status: {wanted!r} is not among {[s.name for s in Status]}")
    now = request.app[CLOCK_KEY]()
    found = await _latest_checks(request, now)
    return _json([check_dict(c, now) for c in found if not statuses or c.status in statuses])


def _float(query: Any, key: str) -> float | None:
    value = query.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{key}: {value!r} is not a number"}),
                                 content_type="application/json") from None


async def samples(request: web.Request) -> web.Response:
    """Latest samples of ``name``; with ``start`` (and ``end``) the samples in that range.

    ``labels`` (a JSON object) narrows a range to one series.
    """
    store = request.app[STORE_KEY]
    name = request.query.get("name")
    if not name:
        return _error(400, "name: required (a metric name, e.g. openstack_nova_total_vms)")
    now = request.app[CLOCK_KEY]()
    start, end = _float(request.query, "start"), _float(request.query, "end")
    raw_labels = request.query.get("labels")
    labels = None
    if raw_labels:
        try:
            parsed = json.loads(raw_labels)
            if not isinstance(parsed, dict):
                raise ValueError
        except ValueError:
            return _error(400, 'labels: expected a JSON object, e.g. {"state": "error"}')
        labels = make_labels(parsed)
    if start is None:
        found = await asyncio.to_thread(store.latest_samples, name)
        if labels is not None:
            found = [s for s in found if s.labels == labels]
    else:
        found = await asyncio.to_thread(store.sample_range, name, start,
                                        now if end is None else end, labels)
    return _json([sample_dict(s, now) for s in found])


async def sources(request: web.Request) -> web.Response:
    """Per source: last run's status and reason, up, last success and its age, errors."""
    store = request.app[STORE_KEY]
    now = request.app[CLOCK_KEY]()

    def gather() -> list[dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for check in store.latest_checks():
            if check.name == SOURCE_CHECK:
                name = dict(check.labels).get("source", "")
                table.setdefault(name, {"source": name}).update(
                    status=check.status.name, message=check.message,
                    checked_at=check.timestamp, age_seconds=round(now - check.timestamp, 3))
        for metric, field in _FRESHNESS.items():
            for sample in store.latest_samples(metric):
                name = sample.label("source")
                table.setdefault(name, {"source": name})[field] = sample.value
        for row in table.values():
            last = row.get("last_success")
            row["last_success_age_seconds"] = (round(now - last, 3) if last else None)
        return [table[k] for k in sorted(table)]

    return _json(await asyncio.to_thread(gather))


async def events(request: web.Request) -> web.Response:
    """Events in time order: ``start``/``end`` (default the last hour), ``kind`` (repeatable
    or comma-separated), ``request_id``, ``resource_id``, ``limit`` (default 1000)."""
    store = request.app[STORE_KEY]
    now = request.app[CLOCK_KEY]()
    start = _float(request.query, "start")
    end = _float(request.query, "end")
    limit = _float(request.query, "limit")
    kinds = [k.strip() for value in request.query.getall("kind", []) for k in value.split(",")
             if k.strip()]
    found = await asyncio.to_thread(
        store.events, now - 3600 if start is None else start, now if end is None else end,
        kinds, request.query.get("request_id") or None, request.query.get("resource_id") or None,
        1000 if limit is None else max(1, int(limit)))
    return _json([event_dict(e) for e in found])


async def index(request: web.Request) -> web.Response:
    """A plain list of the endpoints (until the dashboard takes this path)."""
    lines = ["stackwatch", "", *(f"GET {r}" for r in ("/metrics", "/api/v1/health",
                                                      "/api/v1/checks", "/api/v1/samples?name=",
                                                      "/api/v1/sources", "/api/v1/events"))]
    return web.Response(text="\n".join(lines) + "\n")


def make_app(store: Store, catalog: Catalog, clock: Callable[[], float] = time.time,
             max_age: float = float("inf"), *, access: Access | None = None,
             collect_now: Callable[[str], bool] | None = None) -> web.Application:
    """The application over one store; the /metrics collector is registered once here.

    ``max_age``: checks older than this many seconds count as UNKNOWN in health and checks;
    samples older than that are left out of /metrics (``/api/v1/samples`` keeps them, with
    their age). ``access``: who may use it (:mod:`stackwatch.web.auth`; without, anyone).
    ``collect_now``: the loop's ``request_run``, for the operator's actions.
    """
    app = web.Application(middlewares=[access.middleware()] if access is not None else [])
    app[MAX_AGE_KEY] = max_age
    app[STORE_KEY] = store
    app[CATALOG_KEY] = catalog
    app[CLOCK_KEY] = clock

    def fresh_samples() -> list[Sample]:
        # The store's latest is each source's latest run; a run older than max_age (the
        # loop stuck, a store no server writes any more) is no longer "current" either.
        oldest = clock() - max_age
        return [s for s in store.latest_samples() if s.timestamp >= oldest]

    app[_REGISTRY_KEY] = registry_for(fresh_samples, catalog)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/checks", checks)
    app.router.add_get("/api/v1/samples", samples)
    app.router.add_get("/api/v1/sources", sources)
    app.router.add_get("/api/v1/events", events)
    # --- access control and actions (stackwatch.web.auth, stackwatch.web.actions)
    if access is not None:
        access.add_routes(app)
        app[_REGISTRY_KEY].register(SampleCollector(access.samples, catalog))
    if collect_now is not None:
        actions.add_routes(app, collect_now)
    return app
