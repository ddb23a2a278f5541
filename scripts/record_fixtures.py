#!/usr/bin/env python3
"""Record what a real OpenStack cloud answers to the requests stackwatch makes.

Runs stackwatch's six API sources once against a cloud of a clouds.yaml, with a hook
on their HTTP session that keeps every request and answer: so the recordings are
exactly the endpoints stackwatch reads, at the microversions it negotiates. Each
paginated listing is then asked again with ``limit=1`` (and its next page followed
once), so the paging shape is recorded too. Files are written in the layout the
fidelity recordings use (``tests/data/recorded/README.md``)::

    <out>/api/<service_type>/<METHOD>_<path>[@<microversion>][.<variant>].json

with ``/`` written ``__``, ``?`` written ``~``, ids written ``{server_id}``,
``{project_id}``... in the file name (the real URL is in ``request.url``); each file
holds ``{"request": {"method", "url", "headers"[, "body"]}, "status", "headers",
"body", "elapsed_s"}``. Tokens become ``<token>`` and passwords ``<password>``.

Usage (the realcloud tests run it the same way)::

    python scripts/record_fixtures.py --cloud realcloud --clouds-yaml clouds.yaml \\
        [--out tests/data/recorded] [--region RegionOne]

The previous recordings under ``<out>/api/`` are replaced. Prints one line per file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import aiohttp
import requests
from aiohttp import web

from stackwatch.config import CloudConfig
from stackwatch.sim.fidelity import load_recording, service_root
from stackwatch.sources.openstack_api import api_sources, client_for

FOLDERS = ("identity", "compute", "placement", "network", "image", "block-storage")
CATALOG_TYPES = {"block-storage": ("block-storage", "volumev3", "volume")}
# Placeholder for an id, by the path segment before it (as in tests/data/recorded).
ID_NAMES = {
    "servers": "server_id", "os-hypervisors": "id", "os-quota-sets": "project_id",
    "resource_providers": "uuid", "agents": "agent_id", "networks": "network_id",
    "routers": "router_id", "ports": "port_id", "subnets": "subnet_id", "images": "image_id",
    "volumes": "volume_id", "snapshots": "snapshot_id", "users": "user_id",
    "projects": "project_id", "flavors": "flavor_id", "os-aggregates": "aggregate_id",
    "network-ip-availabilities": "network_id", "floatingips": "floatingip_id",
}
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
_SITE = re.compile(r"/[^\s\"':]*/lib/python3\.\d+/site-packages")
_REQUEST_ID = re.compile(r"req-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")
_FERNET = re.compile(r"gAAAAA[\w-]+=*")
SECRET_HEADERS = ("x-auth-token", "x-subject-token", "x-service-token")


@dataclass
class Exchange:
    """One request stackwatch sent and the real service's answer, as seen on the wire."""

    folder: str
    method: str
    url: str                      # path and query, relative to the service root
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    variant: str | None = None


class RecordingProxy:
    """One HTTP proxy per service on 127.0.0.1, forwarding to the real service.

    The keystone token's catalog is rewritten to point at the proxies (so that every
    request stackwatch makes passes through them); what is recorded is the real,
    unmodified answer.
    """

    def __init__(self, upstream: dict[str, str]) -> None:
        self.upstream = upstream              # folder -> real service root
        self.ports: dict[str, int] = {}
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self._client: aiohttp.ClientSession | None = None

    def root(self, folder: str) -> str:
        path = urlsplit(self.upstream[folder]).path
        return f"http://127.0.0.1:{self.ports[folder]}{path}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._client = aiohttp.ClientSession(auto_decompress=False)
        for folder in self.upstream:
            app = web.Application(client_max_size=64 * 2**20)

            async def handler(request: web.Request, folder: str = folder
                              ) -> web.StreamResponse:
                return await self._forward(folder, request)

            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.ports[folder] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._runners.append(runner)

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _forward(self, folder: str, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        root = urlsplit(self.upstream[folder])
        target = f"{root.scheme}://{root.netloc}{request.path_qs}"
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding")}
        data = await request.read()
        started = time.monotonic()
        # no body -> no data: aiohttp would add Content-Type application/octet-stream,
        # which nova refuses (415) even on a GET
        async with self._client.request(request.method, target, headers=headers,
                                        data=data or None, allow_redirects=False) as answer:
            body = await answer.read()
            answer_headers: dict[str, str] = {}
            for k, v in answer.headers.items():  # repeated headers (Vary) joined, as urllib3
                answer_headers[k] = f"{answer_headers[k]}, {v}" if k in answer_headers else v
        elapsed = time.monotonic() - started
        relative = request.path_qs[len(root.path.rstrip("/")):] or "/"
        with self._lock:
            self.exchanges.append(Exchange(folder, request.method, relative, dict(headers),
                                           data, answer.status, answer_headers, body, elapsed))
        out = body
        if folder == "identity" and request.method == "POST" and answer.status == 201:
            out = self._rewrite_catalog(body)
        passed = {k: v for k, v in answer_headers.items()
                  if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                       "content-encoding")}
        return web.Response(body=out, status=answer.status, headers=passed)

    def _rewrite_catalog(self, body: bytes) -> bytes:
        text = body.decode()
        for folder, real in self.upstream.items():
            split = urlsplit(real)
            text = text.replace(f"{split.scheme}://{split.netloc}",
                                f"http://127.0.0.1:{self.ports[folder]}")
        return text.encode()


def scrub(value: Any) -> Any:
    """Tokens and passwords replaced, paths of the Python packages made conventional
    (``.../lib/python3.x/site-packages`` -> ``/usr/lib/python3/dist-packages``),
    recursively."""
    if isinstance(value, dict):
        return {k: ("<password>" if k == "password" and isinstance(v, str) else scrub(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):  # tracebacks (instance action events) name the venv
        return _SITE.sub("/usr/lib/python3/dist-packages", _FERNET.sub("<token>", value))
    return value


def template(path: str, query: str) -> tuple[str, str]:
    """The path and query with ids (and time windows) as ``{name}`` placeholders."""
    parts = path.split("/")
    used: dict[str, str] = {}
    out: list[str] = []

    def name_for(base: str, value: str) -> str:
        name = base
        while name in used and used[name] != value:
            name = "target_" + name
        used[name] = value
        return "{" + name + "}"

    for index, part in enumerate(parts):
        previous = parts[index - 1] if index else ""
        if _ID.fullmatch(part):
            base = "project_id" if re.fullmatch(r"v\d+(\.\d+)?", previous) else ID_NAMES.get(
                previous, "id")
            out.append(name_for(base, part))
        elif previous == "os-hypervisors" and part.isdigit():
            out.append(name_for("id", part))
        elif previous == "os-instance-actions" and _REQUEST_ID.fullmatch(part):
            out.append(name_for("request_id", part))
        else:
            out.append(part)
    pairs = []
    for pair in query.split("&") if query else ():
        k, _, raw = pair.partition("=")  # kept as sent (percent-encoded): names match URLs
        v = unquote(raw)
        if k == "fields":  # the columns asked: in request.url, too long for a file name
            continue
        if k == "marker" and v:
            pairs.append((k, name_for("marker", v)))
        elif _ID.fullmatch(v):
            pairs.append((k, name_for("project_id" if k in ("tenant_id", "project_id") else k,
                                      v)))
        elif _TIME.fullmatch(v):  # a placeholder is a word: changes-since -> changes_since
            pairs.append((k, name_for(k.replace("-", "_"), v)))
        else:
            pairs.append((k, raw))
    return "/".join(out), "&".join(f"{k}={v}" for k, v in pairs)


def file_name(method: str, url: str, microversion: str | None, variant: str | None) -> str:
    path, _, query = url.partition("?")
    path_t, query_t = template(path, query)
    encoded = path_t.replace("/", "__") + ("~" + query_t if query_t else "")
    name = f"{method}_{encoded}"
    if microversion:
        name += f"@{microversion}"
    if variant:
        name += f".{variant}"
    return name + ".json"


def record(exchange: Exchange) -> tuple[str, dict[str, Any]]:
    """File name and content of one recorded exchange."""
    headers = {k: ("<token>" if k.lower() in SECRET_HEADERS else v)
               for k, v in exchange.request_headers.items()
               if k.lower() not in ("user-agent", "accept-encoding", "connection")}
    microversion = None
    for key, value in exchange.request_headers.items():
        if key.lower() == "openstack-api-version":
            microversion = value.split()[-1]
    entry: dict[str, Any] = {"method": exchange.method, "url": exchange.url, "headers": headers}
    if exchange.request_body:
        try:
            entry["body"] = scrub(json.loads(exchange.request_body))
        except ValueError:
            entry["body"] = "<not JSON>"
    body: Any = None
    if exchange.body:
        try:
            body = scrub(json.loads(exchange.body))
        except ValueError:
            body = exchange.body.decode(errors="replace")[:2000]
    answer_headers = {k: ("<token>" if k.lower() in SECRET_HEADERS else v)
                      for k, v in exchange.headers.items()}
    variant = exchange.variant
    if variant is None and exchange.status >= 300 and exchange.status != 300:
        variant = str(exchange.status)
    if (exchange.method == "POST" and exchange.url.rstrip("/").endswith("/auth/tokens")
            and exchange.status == 201):
        variant = "201-project-scoped"  # the name the replay harnesses look for
    name = file_name(exchange.method, exchange.url, microversion, variant)
    return name, {"request": entry, "status": exchange.status, "headers": answer_headers,
                  "body": body, "elapsed_s": round(exchange.elapsed, 3)}


def page_again(upstream: dict[str, str], exchange: Exchange) -> list[Exchange]:
    """A paginated listing asked again with ``limit=1``, and its next page once."""
    path, _, query_text = exchange.url.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    if exchange.method != "GET" or "limit" not in query or exchange.status != 200:
        return []
    query["limit"] = "1"
    root = upstream[exchange.folder]
    headers = {k: v for k, v in exchange.request_headers.items()
               if k.lower() in ("accept", "x-auth-token", "openstack-api-version",
                                "x-openstack-nova-api-version")}
    found = []
    url: str | None = f"{root}{path}?{urlencode(query)}"
    for variant in ("page1", "page2"):
        if url is None:
            break
        started = time.monotonic()
        answer = requests.get(url, headers=headers, timeout=60)
        split = urlsplit(url)
        relative = (split.path[len(urlsplit(root).path.rstrip("/")):] or "/") + (
            f"?{split.query}" if split.query else "")
        found.append(Exchange(exchange.folder, "GET", relative, headers, b"",
                              answer.status_code, dict(answer.headers), answer.content,
                              time.monotonic() - started, variant))
        url = _next(answer.json() if answer.content else None, root)
    return found


def _next(body: Any, root: str) -> str | None:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("next"), str):  # glance: a path relative to the service root
        split = urlsplit(root)
        return f"{split.scheme}://{split.netloc}{body['next']}"
    for key, links in body.items():
        if key.endswith("_links") and isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("rel") == "next":
                    return str(link["href"])
    return None


def real_roots(cloud_name: str, clouds_yaml: Path | None, region: str | None
               ) -> dict[str, str]:
    """Recording folder -> the real service root, from a token's catalog."""
    client = client_for(CloudConfig(name=cloud_name, clouds_yaml=clouds_yaml, region=region))
    try:
        found = {folder: service_root(client.catalog_url(folder)) for folder in FOLDERS}
    finally:
        client.close()
    return found


def proxied_clouds_yaml(cloud_name: str, clouds_yaml: Path | None, identity_root: str,
                        proxy_root: str, out: Path) -> Path:
    """A copy of the cloud's clouds.yaml entry whose auth_url goes through the proxy."""
    import openstack.config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        config = openstack.config.OpenStackConfig(
            config_files=[str(clouds_yaml)] if clouds_yaml else None, load_envvars=False)
        entry = dict(config.get_one_cloud(cloud=cloud_name).config)
    auth = dict(entry.get("auth", {}))
    auth["auth_url"] = str(auth["auth_url"]).replace(identity_root, proxy_root)
    keep = {k: entry[k] for k in ("region_name", "interface", "identity_api_version")
            if entry.get(k)}
    out.write_text(json.dumps({"clouds": {cloud_name: {**keep, "auth": auth}}}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cloud", required=True, help="cloud name in clouds.yaml")
    parser.add_argument("--clouds-yaml", type=Path, help="clouds.yaml (default: search path)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    args = parser.parse_args(argv)

    started = time.monotonic()
    upstream = real_roots(args.cloud, args.clouds_yaml, args.region)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, RecordingProxy(upstream) as proxy:
        clouds_yaml = proxied_clouds_yaml(args.cloud, args.clouds_yaml, upstream["identity"],
                                          proxy.root("identity").rstrip("/"),
                                          Path(tmp) / "clouds.yaml")
        cloud = CloudConfig(name=args.cloud, clouds_yaml=clouds_yaml, region=args.region)
        client = client_for(cloud)
        try:
            for source in api_sources(cloud, client=client):
                collection = source.collect()
                failures += [f"{source.name}: {c.message}" for c in collection.checks
                             if c.status.name != "OK"]
        finally:
            client.close()
        exchanges = list(proxy.exchanges)
    for exchange in list(exchanges):
        exchanges += page_again(upstream, exchange)

    written: dict[Path, dict[str, Any]] = {}
    urls: dict[Path, list[str]] = {}
    for exchange in exchanges:
        name, content = record(exchange)
        path = args.out / "api" / exchange.folder / name
        seen = urls.setdefault(path, [])
        if exchange.url in seen:
            continue  # the first answer to the same request is kept
        seen.append(exchange.url)
        if len(seen) > 1:  # the same request for another object: variant item2, item3...
            stem = name.removesuffix(".json")
            path = path.with_name(f"{stem}.item{len(seen)}.json")
        written[path] = content
    for folder in FOLDERS:
        for old in (args.out / "api" / folder).glob("*.json"):
            old.unlink()
    for path, content in sorted(written.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1) + "\n")
        load_recording(path)  # the name must describe the recorded URL
        print(path)
    print(f"{len(written)} recordings of {len(exchanges)} exchanges in "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)
    for failure in failures:
        print(f"not OK while recording: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
