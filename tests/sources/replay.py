"""Replay the recorded OpenStack 2026.1 answers over real HTTP, with injectable faults.

One aiohttp site per service on 127.0.0.1 (free ports), serving the files of
``tests/data/recorded/api/<service_type>/`` (then ``.../fidelity/<service_type>/``).
A request is answered with the recording of the same method and path whose query
matches (ignoring paging and time-window parameters) and whose microversion matches the one asked
(the ``latest`` recordings answer the service's maximum). When the page size
asked differs from the recorded one, the paging links are dropped: the
recording is then the whole answer. ``POST /v3/auth/tokens`` issues a fresh
token that expires in an hour, with a catalog pointing at the replay ports.

Faults (per service, optionally per path substring): an HTTP status with an
OpenStack error body, ``truncate`` (half the body, Content-Length of the
whole), ``body`` (200 with the given bytes: a malformed answer), ``slow`` (sleep
before answering), ``down`` (the port stops listening), and removing a service
from the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

# The answers of the real 2026.1 services that stackwatch's sources ask for, recorded by
# scripts/record_fixtures.py (tests/data/recorded/README.md) ...
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "recorded" / "api"
# ... and, for what they ask at other microversions (and the error answers), the wider
# set of scripts/record_fidelity.py; REFERENCE's answer wins where both have one.
EXTRA: tuple[Path, ...] = (REFERENCE.parent / "fidelity",)
ORIGINAL_PORTS = {"identity": 5000, "compute": 8774, "placement": 8778, "network": 9696,
                  "image": 9292, "block-storage": 8776}
MICROVERSION_NAMES = {"compute": "compute", "placement": "placement", "block-storage": "volume"}
IGNORED_QUERY = {"limit", "marker", "start", "end", "fields", "visibility", "is_public",
                 "changes-since",
                 "detailed"}
MAX_VERSION = {"compute": "2.103", "placement": "1.39", "block-storage": "3.71"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Recording:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    version: str          # microversion the answer was given at ("" if none)
    status: int
    headers: dict[str, str]
    body: Any
    variant: str


@dataclass
class Fault:
    kind: str             # "status" | "truncate" | "body" | "slow" | "down"
    status: int = 0
    delay: float = 0.0
    path: str = ""        # substring of the path; "" = every request
    body: bytes = b""     # the answer of a "body" fault


def _variant(stem: str) -> str:
    """``.401-no-token`` of ``GET___v2.0__networks.401-no-token`` ("" when none)."""
    if "@" in stem:
        after = stem.split("@", 1)[1]           # "latest.active" / "2.87"
        after = re.sub(r"^(latest|\d+\.\d+)", "", after)
        return after.lstrip(".")
    last = re.sub(r"v\d+\.\d+", "", stem.split("__")[-1])
    found = re.search(r"\.([A-Za-z0-9][\w.-]*)$", last)
    return found.group(1) if found else ""


def recorded_body(service: str, pattern: str, folder: Path | None = None) -> Any:
    """The answer body of the one recording of ``service`` (in ``folder``, default
    :data:`REFERENCE`) whose file name matches the glob ``pattern``: what a test expects
    to read is taken from the recordings, not written into it."""
    files = sorted(((folder or REFERENCE) / service).glob(pattern))
    assert len(files) == 1, f"{service}/{pattern}: {[f.name for f in files]}"
    return json.loads(files[0].read_text())["body"]


def _load(service: str, folder: Path | None = None) -> list[Recording]:
    rows = []
    if folder is not None:
        files = sorted((folder / service).glob("*.json"))
    else:
        files = sorted((REFERENCE / service).glob("*.json"))
        for extra in EXTRA:
            files += sorted((extra / service).glob("*.json"))
    for file in files:
        data = json.loads(file.read_text())
        request = data["request"]
        path, _, query = request["url"].partition("?")
        version = ""
        for name, value in data["headers"].items():
            if name.lower() == "openstack-api-version":
                version = value.split()[-1]
        variant = _variant(file.name[: -len(".json")])
        rows.append(Recording(request["method"], path.rstrip("/") or "/",
                              tuple(sorted(parse_qsl(query))), version, data["status"],
                              dict(data["headers"]), data["body"], variant))
    return rows


@dataclass
class ReplayCloud:
    """The recorded cloud, served on 127.0.0.1; use as a context manager."""

    workdir: Path
    max_version: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    tokens_issued: int = 0
    #: services beyond the recorded six, in the catalog too: service type -> (the folder
    #: holding ``<service type>/*.json``, the catalog URL's path; ``{project_id}`` is the
    #: token's project)
    more: dict[str, tuple[Path, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._recordings = {s: _load(s) for s in ORIGINAL_PORTS}
        self._recordings.update({s: _load(s, folder) for s, (folder, _) in self.more.items()})
        self._loop = asyncio.new_event_loop()
        self._runners: dict[str, web.AppRunner] = {}
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ReplayCloud:
        self._thread.start()
        for service in self._recordings:
            self.ports[service] = free_port()
            self._call(self._start(service))
        self.clouds_yaml.write_text(json.dumps({"clouds": {"replay": {
            "auth": {"auth_url": f"{self.url('identity')}/v3", "username": "admin",
                     "password": "secret", "project_name": "admin",
                     "user_domain_id": "default", "project_domain_id": "default"},
            "region_name": "RegionOne", "identity_api_version": 3}}}))
        return self

    def __exit__(self, *exc: object) -> None:
        for service in list(self._runners):
            self._call(self._stop(service))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def clouds_yaml(self) -> Path:
        return self.workdir / "clouds.yaml"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _start(self, service: str) -> None:
        app = web.Application()

        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._handle(service, request)

        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.ports[service]).start()
        self._runners[service] = runner

    async def _stop(self, service: str) -> None:
        runner = self._runners.pop(service, None)
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------------ faults
    def inject(self, service: str, kind: str, *, status: int = 0, delay: float = 0.0,
               path: str = "", body: bytes = b"") -> None:
        """Add a fault; ``down`` stops the service's port at once."""
        if kind == "down":
            self._call(self._stop(service))
            return
        self.faults.setdefault(service, []).append(Fault(kind, status, delay, path, body))

    def clear(self, service: str) -> None:
        self.faults.pop(service, None)
        if service not in self._runners:
            self._call(self._start(service))

    # ------------------------------------------------------------------ answers
    async def _handle(self, service: str, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        self.requests.append((service, request.method, request.path_qs))
        fault = next((f for f in self.faults.get(service, ())
                      if f.path in request.path_qs), None)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            return web.json_response(
                {"error": {"code": fault.status, "message": f"injected {fault.status}"}},
                status=fault.status)
        if fault is not None and fault.kind == "body":
            return web.Response(body=fault.body, status=200, content_type="application/json")
        if service == "identity" and request.method == "POST" and path == "/v3/auth/tokens":
            return self._token()
        if service == "identity" and request.headers.get("X-Auth-Token") is None \
                and path not in ("/", "/v3"):
            return web.json_response({"error": {"code": 401, "message": "no token"}}, status=401)
        recording = self._match(service, request, path)
        if recording is None:
            return web.json_response(
                {"error": {"code": 404, "message": f"not recorded: {request.path_qs}"}},
                status=404)
        body = self._rewrite(service, recording, request)
        text = json.dumps(body).encode()
        # the service's clock as it was (ages on the cloud's clock, heartbeats, read it)
        headers = {k: v for k, v in recording.headers.items()
                   if k.lower() in ("openstack-api-version", "x-openstack-nova-api-version",
                                    "x-openstack-request-id", "date")}
        if fault is not None and fault.kind == "truncate":
            response = web.StreamResponse(status=recording.status, headers={
                **headers, "Content-Type": "application/json",
                "Content-Length": str(len(text))})
            await response.prepare(request)
            await response.write(text[: len(text) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=text, status=recording.status, headers=headers,
                            content_type="application/json")

    def _match(self, service: str, request: web.Request, path: str) -> Recording | None:
        asked = {k: v for k, v in request.query.items()}
        wanted = {k: v for k, v in asked.items() if k not in IGNORED_QUERY}
        version = ""
        header = request.headers.get("OpenStack-API-Version", "")
        if header:
            version = header.split()[-1]
        candidates = [r for r in self._recordings[service]
                      if r.method == request.method and r.path == path
                      and {k: v for k, v in r.query if k not in IGNORED_QUERY} == wanted]
        if not candidates:
            return None

        def score(r: Recording) -> tuple[int, int, int, int, int]:
            query = dict(r.query)
            return (
                1 if r.status < 400 else 0,
                1 if not version or r.version == version else 0,
                sum(1 for k in ("limit", "marker") if query.get(k) == asked.get(k)),
                1 if not r.variant else 0,
                0 if "limit" in query else 1,   # a whole listing beats a cut page
            )

        return max(candidates, key=score)

    def _rewrite(self, service: str, recording: Recording, request: web.Request) -> Any:
        body = copy.deepcopy(recording.body)
        if isinstance(body, dict):
            marker = request.query.get("marker")
            if marker is not None and dict(recording.query).get("marker") != marker:
                # past the recorded pages: the service answers an empty page
                return {k: [] for k, v in body.items() if isinstance(v, list)
                        and not k.endswith("_links")}
            if dict(recording.query).get("limit") != request.query.get("limit"):
                for key in [k for k in body if k.endswith("_links") or k == "next"]:
                    del body[key]
            cap = self.max_version.get(service)
            if cap and "version" in body and isinstance(body["version"], dict):
                body["version"]["version"] = cap
            if cap and isinstance(body.get("versions"), list):
                for entry in body["versions"]:
                    for key in ("version", "max_version"):
                        if entry.get(key):
                            entry[key] = cap
        return body

    def _token(self) -> web.Response:
        self.tokens_issued += 1
        file = REFERENCE / "identity" / "POST___v3__auth__tokens.201-project-scoped.json"
        body = json.loads(file.read_text())["body"]
        now = dt.datetime.now(dt.UTC)
        body["token"]["issued_at"] = now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        body["token"]["expires_at"] = (now + dt.timedelta(hours=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000000Z")
        catalog = []
        for entry in body["token"]["catalog"]:
            if entry["type"] in self.missing:
                continue
            for endpoint in entry["endpoints"]:
                for service, port in ORIGINAL_PORTS.items():
                    old = f"http://127.0.0.1:{port}"
                    if endpoint["url"].startswith(old):
                        endpoint["url"] = self.url(service) + endpoint["url"][len(old):]
            catalog.append(entry)
        project = body["token"]["project"]["id"]
        for service, (_, path) in self.more.items():
            if service not in self.missing:
                url = self.url(service) + path.format(project_id=project)
                catalog.append({"type": service, "name": service, "id": f"replay-{service}",
                                "endpoints": [{"id": f"replay-{service}-{interface}",
                                               "interface": interface, "region": "RegionOne",
                                               "region_id": "RegionOne", "url": url}
                                              for interface in ("public", "internal")]})
        body["token"]["catalog"] = catalog
        return web.json_response(body, status=201,
                                 headers={"X-Subject-Token": f"tok-{self.tokens_issued}"})


@contextlib.contextmanager
def replay_cloud(workdir: Path, **kwargs: Any) -> Iterator[ReplayCloud]:
    with ReplayCloud(workdir, **kwargs) as cloud:
        yield cloud
