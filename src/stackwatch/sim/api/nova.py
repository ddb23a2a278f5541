"""Shared by the simulated compute API's modules: microversions, formats, errors, links."""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim.routing import ApiContext, json_response, set_microversion
from stackwatch.sim.state import CloudState

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 103)
MAX_LIMIT = 1000  # nova [api] max_limit
BUILD_SECONDS = 1.0  # how long a simulated boot takes

# Statuses that only one vm_state gives (nova.api.openstack.common._STATE_MAP).
VM_STATE_OF_STATUS = {"ERROR": "error", "SHUTOFF": "stopped", "BUILD": "building",
                      "PAUSED": "paused", "SUSPENDED": "suspended",
                      "SHELVED_OFFLOADED": "shelved_offloaded", "VERIFY_RESIZE": "resized"}
PASSWORD_CHARS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
Version = tuple[int, int]


def z_time(value: datetime | None) -> str | None:
    """``2026-11-21T06:17:10Z`` (server created/updated, fault created)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def us_time(value: datetime | None) -> str | None:
    """``2026-11-21T06:17:47.000000`` (launched_at, services, actions, migrations)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _version_headers(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}",
            "X-OpenStack-Nova-API-Version": version,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}


def error(status: int, message: str, version: Version | None = None) -> web.Response:
    """nova's fault bodies: itemNotFound, badRequest, forbidden, conflictingRequest, ..."""
    key = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest",
           501: "notImplemented"}.get(status, "computeFault")
    headers = _version_headers(fmt(version)) if version else None
    # compute/GET___v2.1__servers__{server_id}@latest.404.json: "application/json; charset=UTF-8"
    return json_response({key: {"code": status, "message": message}}, status, headers,
                         charset="UTF-8")


def parse_version(request: web.Request) -> Version | web.Response:
    """The requested microversion, or the 406/400 answer."""
    raw = None
    header = request.headers.get("OpenStack-API-Version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                raw = value.strip()
    if raw is None:
        raw = request.headers.get("X-OpenStack-Nova-API-Version")
    if raw is None:
        return MIN_VERSION
    if raw.lower() == "latest":
        return MAX_VERSION
    match = re.fullmatch(r"(\d+)\.(\d+)", raw)
    if match is None:
        return json_response({"computeFault": {"code": 400, "message": (
            f"API Version String {raw} is of invalid format. Must be of format "
            "MajorNum.MinorNum.")}}, 400)
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        return json_response({"computeFault": {"code": 406, "message": (
            f"Version {raw} is not supported by the API. Minimum is {fmt(MIN_VERSION)} and "
            f"maximum is {fmt(MAX_VERSION)}.")}}, 406, _version_headers(raw), charset="UTF-8")
    return version


Handler = Callable[[web.Request, Version], Awaitable[web.Response]]


def versioned(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Negotiate the microversion, call the handler with it, add the version headers."""
    async def wrapped(request: web.Request) -> web.Response:
        version = parse_version(request)
        if isinstance(version, web.Response):
            return version
        set_microversion(request, fmt(version))
        response = await handler(request, version)
        for key, value in _version_headers(fmt(version)).items():
            response.headers[key] = value
        return response
    return wrapped


def int_arg(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} param must be an integer") from None
    if number < 0:
        raise web.HTTPBadRequest(reason=f"{name} param must be positive")
    return number



@dataclass
class Nova:
    """What the compute modules share: the service context, links, policy answers."""

    api: ApiContext
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    @property
    def state(self) -> CloudState:
        return self.api.state

    @property
    def origin(self) -> str:
        """Bookmark links' root: the service root without ``/v2.1``."""
        return self.api.url("")

    def links(self, kind: str, rid: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": self.api.url(f"/v2.1/{kind}/{rid}")},
                {"rel": "bookmark", "href": f"{self.origin}/{kind}/{rid}"}]

    def next_link(self, request: web.Request, key: str, marker: str) -> list[dict[str, str]]:
        """As nova's ``ViewBuilder._get_next_link``: the request's query sorted by key
        (then value), ``marker`` set in its sorted place or appended (recorded:
        ``os-simple-tenant-usage~...&limit=1@2.103.page1/page2``)."""
        query = dict(sorted(request.query.items()))
        query["marker"] = marker
        path = request.path[len(self.api.spec.prefix):]
        return [{"rel": "next", "href": self.api.url(f"{path}?{urlencode(query)}")}]

    def forbid(self, action: str, version: Version) -> web.Response:
        # compute/GET___v2.1__os-services@latest.403-member.json
        return error(403, f"Policy doesn't allow {action} to be performed.", version)


def accepted(status: int) -> web.Response:
    # ...action@latest.{os-stop,migrate}.json: no body, "Content-Type: application/json"
    return web.Response(status=status, headers={"Content-Type": "application/json"})


def looks_uuid(value: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F-]{32,36}", value) is not None


def parse_time(value: str) -> datetime | None:
    from datetime import UTC

    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"Invalid timestamp {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
