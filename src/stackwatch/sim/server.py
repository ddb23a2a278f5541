"""The simulator's HTTP server: every service on one aiohttp port, with its middleware.

URL layout (devstack-like, one port; see :data:`stackwatch.sim.routing.SERVICES`)::

    /identity/v3   /compute/v2.1   /placement   /network/v2.0   /image/v2
    /volume/v3/{project_id}        /_sim/...  (control endpoint: faults, status)

The middleware, in order, for each request to a service:

1. assigns a request id (``req-<uuid>``), answered as ``x-openstack-request-id``
   (compute and block-storage also ``x-compute-request-id``; which answers carry
   which, as recorded: :func:`_request_id_headers`);
2. sleeps the configured latency (``asyncio.sleep``: concurrent requests overlap);
3. applies an injected API fault of the service, if any (slow, 500, truncated JSON,
   401, 403 — bodies as the real service writes them), then what a service it needs
   being down makes it answer (:mod:`stackwatch.sim.outages`);
4. checks ``X-Auth-Token`` unless the route is public: 401 with the service's body
   and ``WWW-Authenticate`` as recorded (``api/*/...401-no-token.json``);
5. runs the handler with the caller as the :class:`~stackwatch.sim.state.Actor` of any
   change it makes;
6. hands a :class:`~stackwatch.sim.events.ServedRequest` to every ``on_request`` hook.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from stackwatch.sim import auth as sim_auth
from stackwatch.sim import outages as sim_outages
from stackwatch.sim.events import RequestHook, ServedRequest
from stackwatch.sim.routing import (
    AUTH_KEY,
    MICROVERSION_KEY,
    REQUEST_ID_KEY,
    SERVICES,
    ApiContext,
    Auth,
    Route,
    ServiceSpec,
    json_response,
)
from stackwatch.sim.state import Actor, CloudState, acting

log = logging.getLogger(__name__)

API_FAULT_KINDS = ("slow", "error", "truncated", "unauthorized", "forbidden")


@dataclass(frozen=True, slots=True)
class ApiFault:
    """An injected misbehaviour of one service's API.

    ``kind``: ``slow`` (adds ``delay`` seconds), ``error`` (answers ``status``, 500 by
    default), ``truncated`` (cuts the JSON body in half), ``unauthorized`` (401),
    ``forbidden`` (403). ``ratio`` is the share of requests affected (1.0 = all);
    ``path``, when given, a substring of the path the requests affected have (one
    instance's ``os-instance-actions``, say), the others answered as usual; ``method``,
    when given, the HTTP method they have (``POST``: creations fail, listings work).
    """

    kind: str
    ratio: float = 1.0
    delay: float = 2.0
    status: int = 500
    path: str = ""
    method: str = ""


@dataclass(frozen=True, slots=True)
class _RouteHandler:
    """What the middleware knows of a registered route: its service and auth rule."""

    spec: ServiceSpec
    route: Route


@dataclass
class ControlApi:
    """What the ``/_sim`` endpoints do (set by :class:`~stackwatch.sim.cloud.SimulatedCloud`)."""

    inject: Callable[[str, dict[str, str]], Awaitable[str]]
    clear: Callable[[str], Awaitable[str]]
    status: Callable[[], dict[str, object]]
    key: str = ""


@dataclass
class SimServer:
    """Builds the aiohttp application for a state; holds latency, faults and hooks."""

    state: CloudState
    latency: float = 0.0
    api_faults: dict[str, ApiFault] = field(default_factory=dict)  # service type -> fault
    outages: set[str] = field(default_factory=set)  # what is down: sim.outages.OUTAGES
    hooks: list[RequestHook] = field(default_factory=list)
    control: ControlApi | None = None
    contexts: dict[str, ApiContext] = field(default_factory=dict)
    services: tuple[ServiceSpec, ...] = SERVICES  # plus OPTIONAL_SERVICES when served
    served: int = 0
    hook_errors: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(7))
    _routes: dict[int, _RouteHandler] = field(default_factory=dict)

    def on_request(self, hook: RequestHook) -> Callable[[], None]:
        """Call ``hook`` after every served request; returns a function that removes it."""
        self.hooks.append(hook)

        def remove() -> None:
            if hook in self.hooks:
                self.hooks.remove(hook)

        return remove

    def build_app(self, base_url: str) -> web.Application:
        """Register every available service module's routes under its prefix."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        for spec in self.services:
            try:
                module = importlib.import_module(f"stackwatch.sim.api.{spec.module}")
            except ModuleNotFoundError as exc:
                if exc.name == f"stackwatch.sim.api.{spec.module}":
                    log.warning("simulated %s API not available yet", spec.service_type)
                    continue
                raise
            ctx = ApiContext(spec=spec, state=self.state, base_url=base_url)
            module.register(ctx)
            self.contexts[spec.service_type] = ctx
            for route in ctx.routes:
                paths = [spec.prefix + route.path]
                if route.path == "/":
                    paths.append(spec.prefix)
                for path in paths:
                    added = app.router.add_route(route.method, path, route.handler)
                    self._routes[id(added)] = _RouteHandler(spec, route)
        app.router.add_post("/_sim/faults", self._control_inject)
        app.router.add_delete("/_sim/faults/{name}", self._control_clear)
        app.router.add_get("/_sim/status", self._control_status)
        return app

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        started = time.perf_counter()
        request_id = "req-" + str(uuid.uuid4())
        request[REQUEST_ID_KEY] = request_id
        info = self._routes.get(id(request.match_info.route))
        spec = info.spec if isinstance(info, _RouteHandler) \
            else _spec_by_path(request.path, self.services)
        if spec is None:
            return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        fault = self.api_faults.get(spec.service_type)
        if fault is not None and fault.path and fault.path not in request.path:
            fault = None
        if fault is not None and fault.method and fault.method != request.method:
            fault = None
        if fault is not None and self._rng.random() >= fault.ratio:
            fault = None
        caller = sim_auth.resolve(self.state, request.headers.get("X-Auth-Token"))
        response: web.StreamResponse
        try:
            response = await self._answer(request, handler, spec, info, fault, caller)
        except web.HTTPException as exc:
            response = _http_error(spec, exc, self.contexts.get("identity"))
        except Exception:
            log.exception("simulated %s failed on %s %s", spec.service_type, request.method,
                          request.path)
            response = _service_error(spec, 500)
        for header in _request_id_headers(spec, request.method, request.path, response.status):
            response.headers.setdefault(header, request_id)
        self.served += 1
        if self.hooks:
            self._notify(request, spec, response, started, request_id, caller, fault)
        return response

    async def _answer(
        self, request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        spec: ServiceSpec, info: object, fault: ApiFault | None,
        caller: Auth | None,
    ) -> web.StreamResponse:
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "error":
                return _service_error(spec, fault.status)
            elif fault.kind == "unauthorized":
                return _unauthorized(spec, self.contexts.get("identity"))
            elif fault.kind == "forbidden":
                return _forbidden(spec)
        needs_auth = info.route.auth if isinstance(info, _RouteHandler) else True
        if self.outages:
            down = sim_outages.answer(self.outages, spec, request.method,
                                      request.path[len(spec.prefix):], needs_auth)
            if down is not None:
                return down
        if needs_auth and caller is None:
            return _unauthorized(spec, self.contexts.get("identity"))
        if caller is not None:
            request[AUTH_KEY] = caller
        actor = Actor(
            cause="api", request_id=request[REQUEST_ID_KEY],
            user_id=caller.user_id if caller else None,
            project_id=caller.project_id if caller else None,
        )
        with acting(actor):
            response = await handler(request)
        if fault is not None and fault.kind == "truncated" and isinstance(response, web.Response):
            body = response.body
            if isinstance(body, bytes) and len(body) > 1:
                response.body = body[: len(body) // 2]
        return response

    def _notify(
        self, request: web.Request, spec: ServiceSpec, response: web.StreamResponse,
        started: float, request_id: str, caller: Auth | None, fault: ApiFault | None,
    ) -> None:
        body = response.body if isinstance(response, web.Response) else None
        length = len(body) if isinstance(body, bytes) else (response.content_length or 0)
        path = request.path[len(spec.prefix):] or "/"
        served = ServedRequest(
            service=spec.service_type, method=request.method, path=path,
            status=response.status, length=length, duration=time.perf_counter() - started,
            request_id=request_id, user_id=caller.user_id if caller else None,
            project_id=caller.project_id if caller else None,
            remote_addr=request.remote or "127.0.0.1",
            microversion=request.get(MICROVERSION_KEY), time=datetime.now(UTC),
            query=request.query_string, user_agent=request.headers.get("User-Agent", ""),
            fault=fault.kind if fault else None,
            # a caller's global request id (oslo.context), logged before the local one
            extra={"global_request_id": g} if (
                g := request.headers.get("X-OpenStack-Request-ID", "")) else {},
        )
        for hook in list(self.hooks):
            try:
                hook(served)
            except Exception:  # a hook's bug must not break the API it watches
                self.hook_errors += 1
                log.exception("on_request hook %r failed", hook)

    # ------------------------------------------------------------------ control endpoint

    def _control_allowed(self, request: web.Request) -> bool:
        return self.control is not None and (
            not self.control.key or request.headers.get("X-Sim-Control-Key") == self.control.key
        )

    async def _control_inject(self, request: web.Request) -> web.Response:
        if not self._control_allowed(request) or self.control is None:
            return json_response({"error": "forbidden"}, 403)
        try:
            data = await request.json()
            name = str(data["name"])
            params = {str(k): str(v) for k, v in dict(data.get("params") or {}).items()}
        except (ValueError, KeyError, TypeError):
            return json_response({"error": "body must be {\"name\": ..., \"params\": {...}}"}, 400)
        try:
            message = await self.control.inject(name, params)
        except Exception as exc:  # reported to the CLI user as one line
            return json_response({"error": str(exc)}, 400)
        return json_response({"result": message})

    async def _control_clear(self, request: web.Request) -> web.Response:
        if not self._control_allowed(request) or self.control is None:
            return json_response({"error": "forbidden"}, 403)
        try:
            message = await self.control.clear(request.match_info["name"])
        except Exception as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"result": message})

    async def _control_status(self, request: web.Request) -> web.Response:
        if not self._control_allowed(request) or self.control is None:
            return json_response({"error": "forbidden"}, 403)
        return json_response(self.control.status())


def _bare_root(spec: ServiceSpec, path: str) -> bool:
    """Version documents served before the request-id middleware (nova, neutron, glance).

    Recorded: ``compute/GET___.json``, ``network/GET___.json``, ``image/GET___.json`` and
    ``image/GET___versions.json`` carry no request id; keystone, placement, cinder do.
    """
    if spec.service_type not in ("compute", "network", "image"):
        return False
    rest = path[len(spec.prefix):]
    return rest in ("", "/") or (spec.service_type == "image" and rest == "/versions")


def _request_id_headers(spec: ServiceSpec, method: str, path: str, status: int
                        ) -> tuple[str, ...]:
    """The request-id headers a real service puts on this answer, as recorded.

    * Version documents served before the request-id middleware: none (:func:`_bare_root`).
    * glance's 401s come from keystonemiddleware, ahead of its request-id middleware:
      none (``image/GET___v2__images.401-no-token.json``).
    * cinder adds ``x-compute-request-id`` only on answers of its API resources: not on
      keystonemiddleware's 401s, the removed ``/v2`` (404), nor the empty 202 of a
      ``DELETE`` (``block-storage/GET___v3.json``, ``GET___v2.removed.json``,
      ``DELETE___v3__{project_id}__volumes__{volume_id}@latest.json``), nor the 302 of
      ``/v3`` to ``/v3/`` (``GET___v3.authenticated.json``).
    * nova: both headers on every answer, its 401s included.
    """
    if _bare_root(spec, path) or (spec.service_type == "image" and status == 401):
        return ()
    if spec.service_type == "compute":
        return ("x-openstack-request-id", "x-compute-request-id")
    if spec.service_type == "block-storage":
        removed_v2 = path[len(spec.prefix):].split("/")[1:2] == ["v2"]
        if status in (401, 302) or (method, status) == ("DELETE", 202) or removed_v2:
            return ("x-openstack-request-id",)
        return ("x-openstack-request-id", "x-compute-request-id")
    return ("x-openstack-request-id",)


def _spec_by_path(path: str, services: tuple[ServiceSpec, ...]) -> ServiceSpec | None:
    for spec in services:
        if path == spec.prefix or path.startswith(spec.prefix + "/"):
            return spec
    return None


def _keystone_uri(identity: ApiContext | None, with_v3: bool) -> str:
    root = identity.root_url if identity is not None else ""
    return f'Keystone uri="{root}/v3"' if with_v3 else f'Keystone uri="{root}/"'


def _unauthorized(spec: ServiceSpec, identity: ApiContext | None) -> web.Response:
    """401 as each service's keystonemiddleware (or keystone itself) writes it."""
    message = "The request you have made requires authentication."
    if spec.service_type == "identity":
        # identity/GET___v3__projects.401-no-token.json
        return json_response(
            {"error": {"code": 401, "message": message, "title": "Unauthorized"}}, 401,
            {"WWW-Authenticate": _keystone_uri(identity, True), "Vary": "X-Auth-Token"})
    if spec.service_type == "image":
        # image/GET___v2__images.401-no-token.json (webob's text, as JSON)
        return json_response(
            {"message": "This server could not verify that you are authorized to access the "
             "document you requested. Either you supplied the wrong credentials (e.g., bad "
             "password), or your browser does not understand how to supply the credentials "
             "required.<br /><br />\n\n\n", "code": "401 Unauthorized",
             "title": "Unauthorized"}, 401, {"WWW-Authenticate": _keystone_uri(identity, False)})
    # compute/network/placement/block-storage ...401-no-token.json
    return json_response(
        {"error": {"code": 401, "title": "Unauthorized", "message": message}}, 401,
        {"WWW-Authenticate": _keystone_uri(identity, False)})


def _forbidden(spec: ServiceSpec, policy: str = "") -> web.Response:
    """403 in each service's error format (recorded ...403-member.json files)."""
    action = policy or f"{spec.name}:simulated"
    if spec.service_type == "identity":
        return json_response({"error": {
            "code": 403, "title": "Forbidden",
            "message": f"You are not authorized to perform the requested action: {action}."}},
            403)
    if spec.service_type == "placement":
        return json_response({"errors": [{
            "status": 403, "title": "Forbidden", "code": "placement.undefined_code",
            "detail": "Access was denied to this resource.\n\n Policy does not allow "
                      f"{action} to be performed.  "}]}, 403)
    if spec.service_type == "network":
        return json_response({"NeutronError": {
            "type": "HTTPForbidden", "detail": "",
            "message": f"rule:{action} is disallowed by policy"}}, 403)
    if spec.service_type == "image":
        return json_response({"message": "You are not authorized to complete this action.",
                              "code": "403 Forbidden", "title": "Forbidden"}, 403)
    return json_response({"forbidden": {
        "code": 403, "message": f"Policy doesn't allow {action} to be performed."}}, 403,
        content_type="application/json")


def _service_error(spec: ServiceSpec, status: int) -> web.Response:
    """A server-side error in the service's own format."""
    if spec.service_type == "compute":
        # compute/GET___v2.1__servers__detail@latest.500-neutron-down.json
        return json_response({"computeFault": {
            "code": status, "message": "Unexpected API Error. Please report this at "
            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n"
            "<class 'oslo_db.exception.DBConnectionError'>"}}, status)
    if spec.service_type == "block-storage":
        return json_response({"computeFault": {
            "code": status, "message": "The server has either erred or is incapable of "
            "performing the requested operation."}}, status)
    if spec.service_type == "network":
        return json_response({"NeutronError": {
            "type": "HTTPInternalServerError", "detail": "",
            "message": "Request Failed: internal server error while processing your request."}},
            status)
    if spec.service_type == "placement":
        return json_response({"errors": [{
            "status": status, "title": "Internal Server Error", "code": "placement.undefined_code",
            "detail": "The server has either erred or is incapable of performing the requested "
                      "operation."}]}, status)
    return json_response({"error": {
        "code": status, "title": "Internal Server Error",
        "message": "An unexpected error prevented the server from fulfilling your request."}},
        status)


def _http_error(
    spec: ServiceSpec, exc: web.HTTPException, identity: ApiContext | None
) -> web.Response:
    """aiohttp's own errors (no such route, method not allowed) in the service's format."""
    if exc.status == 401:
        return _unauthorized(spec, identity)
    if exc.status == 403:
        return _forbidden(spec)
    if exc.status >= 500:
        return _service_error(spec, exc.status)
    if spec.service_type in ("compute", "block-storage"):
        key = "itemNotFound" if exc.status == 404 else "badRequest"
        return json_response({key: {"code": exc.status, "message": exc.reason}}, exc.status)
    if spec.service_type == "network":
        return json_response({"NeutronError": {
            "type": "HTTPNotFound" if exc.status == 404 else "HTTPBadRequest",
            "message": "The resource could not be found." if exc.status == 404 else exc.reason,
            "detail": ""}}, exc.status)
    if spec.service_type == "placement":
        return json_response({"errors": [{
            "status": exc.status, "title": exc.reason, "detail": exc.reason,
            "code": "placement.undefined_code"}]}, exc.status)
    return json_response({"error": {"code": exc.status, "title": exc.reason,
                                    "message": exc.reason}}, exc.status)
