"""How an API module plugs into the simulator's HTTP server (the route contract).

One port serves every service under a devstack-like prefix (see :data:`SERVICES`)::

    /identity/v3/...                 keystone
    /compute/v2.1/...                nova
    /placement/...                   placement
    /network/v2.0/...                neutron
    /image/v2/...                    glance
    /volume/v3/{project_id}/...      cinder

and, with the optional services (:data:`OPTIONAL_SERVICES`, ``optional_services=True``)::

    /heat-api/v1/{project_id}/...    heat          /load-balancer/v2/...   octavia
    /baremetal/v1/...                ironic        /dns/v2/...             designate
    /share/v2/...                    manila        /container-infra/v1/... magnum
    /database/v1.0/{project_id}/...  trove         /metric/v1/...          gnocchi
    /object-store/v1/AUTH_{project_id}             swift (and /object-store/info)

Each ``stackwatch.sim.api.<module>`` defines one function::

    def register(api: ApiContext) -> None:
        api.route("GET", "/v2.0/agents", list_agents)          # path after the prefix
        api.route("GET", "/", versions, auth=False)

Handlers are plain aiohttp handlers (``async def h(request) -> web.StreamResponse``).
The server's middleware has already checked the token (401 if missing or invalid,
unless ``auth=False``), assigned the request id and applied injected faults. In the
handler: :func:`auth_of` gives the caller, :func:`request_id_of` the request id,
:func:`set_microversion` records the negotiated microversion for logs, and
``api.state`` is the ground truth (mutate only through its methods, inside the
handler: the change is attributed to the request automatically). ``api.url(path)``
makes absolute links (``api.url("/v2.0/ports?marker=...")``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from stackwatch.sim.state import CloudState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One simulated service: where it lives on the port and what the catalog says."""

    service_type: str  # catalog type: "compute"
    name: str  # catalog name / codename: "nova"
    module: str  # "compute" -> stackwatch.sim.api.compute
    prefix: str  # "/compute"
    endpoint_suffix: str  # appended to the prefix in the catalog: "/v2.1"
    project_in_url: bool = False  # cinder: "/v3/{project_id}" (filled per token)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("identity", "keystone", "identity", "/identity", "/v3/"),
    ServiceSpec("compute", "nova", "compute", "/compute", "/v2.1"),
    ServiceSpec("placement", "placement", "placement", "/placement", ""),
    ServiceSpec("network", "neutron", "network", "/network", ""),
    ServiceSpec("image", "glance", "image", "/image", ""),
    ServiceSpec("block-storage", "cinderv3", "block_storage", "/volume", "/v3/", True),
)

#: Served only when asked (``SimulatedCloud(optional_services=True)``): the services a
#: cloud may run, whose sources watch them only while the catalog lists them.
OPTIONAL_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("orchestration", "heat", "orchestration", "/heat-api", "/v1/", True),
    ServiceSpec("load-balancer", "octavia", "load_balancer", "/load-balancer", ""),
    ServiceSpec("baremetal", "ironic", "baremetal", "/baremetal", ""),
    ServiceSpec("dns", "designate", "dns", "/dns", ""),
    ServiceSpec("shared-file-system", "manilav2", "shared_file_system", "/share", "/v2"),
    ServiceSpec("container-infra", "magnum", "container_infra", "/container-infra", "/v1"),
    ServiceSpec("database", "trove", "database", "/database", "/v1.0/", True),
    ServiceSpec("metric", "gnocchi", "metric", "/metric", ""),
    ServiceSpec("object-store", "swift", "object_store", "/object-store", "/v1/AUTH_", True),
)


def spec_for(service_type: str) -> ServiceSpec:
    for spec in SERVICES + OPTIONAL_SERVICES:
        if spec.service_type == service_type:
            return spec
    raise KeyError(service_type)


@dataclass(frozen=True, slots=True)
class Auth:
    """The caller, from a valid token."""

    token_id: str
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    domain_id: str
    roles: tuple[str, ...]  # role names

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # after the prefix
    handler: Handler
    auth: bool = True


@dataclass
class ApiContext:
    """What a service module gets to register its routes and answer requests."""

    spec: ServiceSpec
    state: CloudState
    base_url: str = ""  # "http://127.0.0.1:PORT" once the server listens
    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, path: str, handler: Handler, *, auth: bool = True) -> None:
        """Serve ``method path`` (path after the service prefix; ``{name}`` placeholders)."""
        self.routes.append(Route(method.upper(), path, handler, auth))

    @property
    def root_url(self) -> str:
        """The service's root, e.g. ``http://127.0.0.1:PORT/compute``."""
        return self.base_url + self.spec.prefix

    def url(self, path: str) -> str:
        """Absolute URL of a path of this service (``"/v2.1/servers/x"``)."""
        return self.root_url + path


AUTH_KEY = web.RequestKey("sim.auth", Auth)
REQUEST_ID_KEY = web.RequestKey("sim.request_id", str)
MICROVERSION_KEY = web.RequestKey("sim.microversion", str)


def auth_of(request: web.Request) -> Auth:
    """The authenticated caller (only on routes registered with ``auth=True``)."""
    auth = request.get(AUTH_KEY)
    if not isinstance(auth, Auth):
        raise web.HTTPUnauthorized()
    return auth


def maybe_auth_of(request: web.Request) -> Auth | None:
    auth = request.get(AUTH_KEY)
    return auth if isinstance(auth, Auth) else None


def request_id_of(request: web.Request) -> str:
    return str(request.get(REQUEST_ID_KEY, "req-00000000-0000-0000-0000-000000000000"))


def set_microversion(request: web.Request, version: str) -> None:
    """Record the microversion the handler answered with (for logs and hooks)."""
    request[MICROVERSION_KEY] = version


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None,
    content_type: str = "application/json", charset: str | None = None,
) -> web.Response:
    """A JSON answer serialised as the Python services do (``json.dumps`` separators).

    ``charset`` adds ``; charset=...`` (nova's error answers: ``application/json;
    charset=UTF-8``).
    """
    all_headers = dict(headers or {})
    all_headers["Content-Type"] = f"{content_type}; charset={charset}" if charset else content_type
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)
