"""Object Storage API v1 (swift) of the simulated cloud, served with the optional
services (:mod:`stackwatch.sim.optional`).

Follows swift's API reference (``capabilities-list-response.json``,
``account-containers-list-response.json`` and its HTTP headers): ``GET /info`` (no
token); ``GET /v1/AUTH_{project}?format=json`` a JSON array of ``{count, bytes,
name}`` by ``limit``/``marker`` at most 10000 (``container_listing_limit``), with the
account's ``X-Account-*`` totals. Only the token's own account is listed (swift's
keystoneauth: 403 for another project's); accounts other than the generated one are
empty.
"""

from __future__ import annotations

import json

from aiohttp import web

from stackwatch.sim.api.paging import page
from stackwatch.sim.optional import world_of
from stackwatch.sim.recon import SWIFT_VERSION
from stackwatch.sim.routing import ApiContext, auth_of

LISTING_LIMIT = 10000  # swift.conf container_listing_limit
JSON_UTF8 = "application/json; charset=utf-8"


def register(api: ApiContext) -> None:
    """Serve swift's ``/info`` and account listing."""

    async def info(request: web.Request) -> web.Response:
        return web.Response(body=json.dumps({
            "swift": {"version": SWIFT_VERSION, "container_listing_limit": LISTING_LIMIT},
            "staticweb": {}, "tempurl": {}}).encode(),
            headers={"Content-Type": "application/json"})

    async def account(request: web.Request) -> web.Response:
        auth = auth_of(request)
        project = request.match_info["project"]
        if project != auth.project_id:
            return web.Response(status=403, text="<html><h1>Forbidden</h1><p>Access was "
                                "denied to this resource.</p></html>",
                                content_type="text/html")
        world = world_of(api.state)
        everything = world.containers if project == world.account_project else []
        chosen, _ = page(request, everything, lambda c: c.name, cap=LISTING_LIMIT)
        headers = {"X-Account-Container-Count": str(len(everything)),
                   "X-Account-Object-Count": str(sum(c.count for c in everything)),
                   "X-Account-Bytes-Used": str(sum(c.bytes for c in everything))}
        if request.query.get("format") != "json":
            return web.Response(text="".join(f"{c.name}\n" for c in chosen),
                                headers=headers, content_type="text/plain")
        body = [{"count": c.count, "bytes": c.bytes, "name": c.name} for c in chosen]
        return web.Response(body=json.dumps(body).encode(),
                            headers={**headers, "Content-Type": JSON_UTF8})

    api.route("GET", "/info", info, auth=False)
    api.route("GET", "/v1/AUTH_{project}", account)
