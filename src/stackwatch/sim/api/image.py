"""Image API v2 (glance) of the simulated cloud.

Payloads follow the recordings in ``shared/reference/api/image/`` (glance 32.0.0):
the version document answered with 300 Multiple Choices at ``/`` (200 at
``/versions``), images with ``first``/``next``/``schema`` and relative links,
webob-style error bodies (``{"message": "...<br /><br />\\n\\n\\n", "code": "404 Not
Found", "title": "Not Found"}``), ``text/html`` on empty 204 answers.

Listing as glance does it: newest first (``created_at`` then ``id``, descending),
``limit`` defaulting to 25 (``limit_param_default``) and capped at 1000
(``api_limit_max``), ``next`` whenever a page came back full; filters ``status``,
``visibility`` (default: all but ``community``), ``name``, ``owner``, ``os_hidden``
(hidden images left out unless asked), ``disk_format``, ``container_format``,
``protected``, ``size_min``/``size_max``. A non-admin sees public images, its
project's own, and community ones when asked.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim import records as r
from stackwatch.sim.api.wire import (
    EMPTY_HTML,
    Fragments,
    collection_response,
    empty_response,
    json_response,
    parse_int,
    truthy,
    zulu,
)
from stackwatch.sim.outages import haproxy_bad_gateway
from stackwatch.sim.routing import ApiContext, Auth, auth_of

Payload = dict[str, Any]

LIMIT_DEFAULT = 25  # glance-api.conf limit_param_default
LIMIT_MAX = 1000  # glance-api.conf api_limit_max
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")
STORE_IDS = ("fs", "os_glance_staging_store", "os_glance_tasks_store")
# Recorded at GET /: newest (CURRENT) listed after v2.8, as glance orders them.
_VERSIONS = (
    ("v2.15", "SUPPORTED"), ("v2.13", "SUPPORTED"), ("v2.12", "SUPPORTED"),
    ("v2.11", "SUPPORTED"), ("v2.10", "SUPPORTED"), ("v2.9", "SUPPORTED"),
    ("v2.8", "SUPPORTED"), ("v2.17", "CURRENT"), ("v2.7", "SUPPORTED"),
    ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"),
    ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"), ("v2.1", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
)
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           413: "Request Entity Too Large"}


class GlanceError(Exception):
    """An error answered in webob's words, as glance does."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> web.Response:
        title = _TITLES.get(self.status, "Error")
        body = {
            "message": f"{self.message}<br /><br />\n\n\n",
            "code": f"{self.status} {title}",
            "title": title,
        }
        return json_response(body, self.status)


def image_payload(image: r.Image, *, created: bool = False) -> Payload:
    """As ``GET /v2/images/{id}`` (recorded): extra properties first, ``stores`` once
    the image has data, never in a create answer."""
    body: Payload = dict(image.properties)
    body.update({
        "name": image.name,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "visibility": image.visibility,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "status": image.status,
        "checksum": image.checksum,
        "protected": image.protected,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "owner": image.owner,
        "os_hidden": image.os_hidden,
        "os_hash_algo": image.os_hash_algo if image.os_hash_value else None,
        "os_hash_value": image.os_hash_value,
        "id": image.id,
        "created_at": zulu(image.created_at),
        "updated_at": zulu(image.updated_at),
        "tags": list(image.tags),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    })
    if image.stores and image.size is not None and not created:
        body["stores"] = image.stores
    return body


def _visible(auth: Auth, visibility: str | None) -> Callable[[r.Image], bool]:
    """glance's listing visibility: admins see every image, others public, their own
    (private and shared) and, when asked for, community images."""

    def check(image: r.Image) -> bool:
        if visibility is not None and image.visibility != visibility:
            return False
        if visibility is None and image.visibility == "community":
            return False
        return auth.is_admin or image.visibility in ("public", "community") \
            or image.owner == auth.project_id

    return check


class GlanceApi:
    """The handlers; one instance per simulator, bound to its state."""

    def __init__(self, api: ApiContext) -> None:
        self.api = api
        self.state = api.state
        self.fragments = Fragments()

    async def versions(self, request: web.Request) -> web.Response:
        """``GET /`` → 300 Multiple Choices, ``GET /versions`` → 200 (both recorded)."""
        href = self.api.url("/v2/")
        body = {"versions": [
            {"id": ident, "status": status, "links": [{"rel": "self", "href": href}]}
            for ident, status in _VERSIONS
        ]}
        return json_response(body, 300 if request.path.rstrip("/") == self.api.spec.prefix
                             else 200)

    async def v2_root(self, request: web.Request) -> web.Response:
        """``GET /v2/`` with a token: 404; ``GET /v2``: 302 to ``/v2/``, an empty
        ``text/plain`` body (both recorded from glance 32)."""
        if not request.path.endswith("/"):
            return web.Response(status=302, headers={
                "Location": self.api.url("/v2/"), "Content-Type": "text/plain; charset=utf8"})
        raise GlanceError(404, "The resource could not be found.")

    async def list_images(self, request: web.Request) -> web.Response:
        """``GET /v2/images`` (recorded pages ``limit=1`` 1 and 2, status/visibility)."""
        auth = auth_of(request)
        query = request.query
        try:
            limit = min(parse_int(query.get("limit")) or LIMIT_DEFAULT, LIMIT_MAX)
            size_min = parse_int(query.get("size_min"))
            size_max = parse_int(query.get("size_max"))
        except ValueError:
            raise GlanceError(400, "limit param must be an integer") from None
        if "limit" in query and query["limit"] == "0":
            limit = 0
        visibility = query.get("visibility")
        if visibility == "all":
            visibility = None
        elif visibility not in (None, "public", "private", "shared", "community"):
            raise GlanceError(400, f"Invalid visibility value: {visibility}")
        hidden = truthy(query["os_hidden"]) if "os_hidden" in query else False
        exact = {key: query[key] for key in
                 ("status", "name", "owner", "disk_format", "container_format", "id")
                 if key in query}
        protected = truthy(query["protected"]) if "protected" in query else None
        visible = _visible(auth, visibility)

        def keep(image: r.Image) -> bool:
            if not visible(image) or image.os_hidden != hidden:
                return False
            if protected is not None and image.protected != protected:
                return False
            if size_min is not None and (image.size is None or image.size < size_min):
                return False
            return size_max is None or (image.size is not None and image.size <= size_max)

        marker = query.get("marker")
        where = {k: v for k, v in exact.items() if k in ("status", "owner")}
        rest = {k: v for k, v in exact.items() if k not in where}

        def matches(image: r.Image) -> bool:
            return keep(image) and all(str(getattr(image, k)) == v for k, v in rest.items())

        try:
            page = self.state.images.page(marker=marker, limit=limit, descending=True,
                                          where=where, predicate=matches)
        except KeyError:
            raise GlanceError(
                400, f"Invalid marker. Image {marker} could not be found."
            ) from None
        params = [(k, v) for k, v in query.items() if k != "marker"]
        extra: Payload = {
            "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
            "schema": "/v2/schemas/images",
        }
        if page.items and len(page.items) == limit:
            extra["next"] = "/v2/images?" + urlencode([*params, ("marker", page.items[-1].id)])
        fragments = [self.fragments.get(i, "", image_payload) for i in page.items]
        return collection_response("images", fragments, extra)

    def _image(self, request: web.Request, ident: str) -> r.Image:
        image = self.state.images.get(ident)
        auth = auth_of(request)
        if image is None or not (auth.is_admin or image.visibility in ("public", "community")
                                 or image.owner == auth.project_id):
            raise GlanceError(404, f"No image found with ID {ident}")
        return image

    async def show_image(self, request: web.Request) -> web.Response:
        return json_response(image_payload(self._image(request, request.match_info["id"])))

    async def create_image(self, request: web.Request) -> web.Response:
        """``POST /v2/images`` (recorded: 201 ``queued`` with Location and import headers)."""
        auth = auth_of(request)
        try:
            spec = await request.json()
        except ValueError:
            raise GlanceError(400, "Malformed JSON in request body.") from None
        if not isinstance(spec, dict):
            raise GlanceError(400, "Malformed JSON in request body.")
        visibility = str(spec.get("visibility", "shared"))
        if visibility not in ("public", "private", "shared", "community"):
            raise GlanceError(400, f"Invalid visibility value: {visibility}")
        for number in ("min_ram", "min_disk"):
            if not isinstance(spec.get(number, 0), int):
                raise GlanceError(400, f"{number} must be an integer")
        if visibility == "public" and not auth.is_admin:
            raise GlanceError(403, "You are not authorized to complete publicize_image action.")
        known = {"name", "disk_format", "container_format", "visibility", "min_ram",
                 "min_disk", "protected", "tags", "id", "os_hidden"}
        now = self.state.now()
        image = r.Image(
            id=str(spec.get("id") or uuid.uuid4()), name=str(spec.get("name", "")),
            owner=auth.project_id or "", created_at=now, updated_at=now, status="queued",
            visibility=visibility, size=None, virtual_size=None, checksum=None,
            os_hash_value=None, disk_format=spec.get("disk_format"),
            container_format=spec.get("container_format"),
            min_ram=int(spec.get("min_ram", 0)), min_disk=int(spec.get("min_disk", 0)),
            protected=bool(spec.get("protected", False)),
            os_hidden=bool(spec.get("os_hidden", False)),
            tags=tuple(spec.get("tags", ())),
            properties={k: str(v) for k, v in spec.items() if k not in known},
            stores=None,
        )
        if image.id in self.state.images:
            raise GlanceError(409, f"Image with identifier {image.id} already exists!")
        self.state.add(image)
        headers = {
            "Location": self.api.url(f"/v2/images/{image.id}"),
            "OpenStack-image-import-methods": ",".join(IMPORT_METHODS),
            "OpenStack-image-store-ids": ",".join(STORE_IDS),
        }
        return json_response(image_payload(image, created=True), 201, headers)

    async def upload(self, request: web.Request) -> web.Response:
        """``PUT /v2/images/{id}/file`` (recorded: 204, ``text/html``): the image becomes
        ``active`` with the data's size, md5 checksum and sha512 hash."""
        image = self._image(request, request.match_info["id"])
        if image.status != "queued":
            raise GlanceError(409, f"Image status transition from {image.status} to saving "
                                   "is not allowed")
        data = await request.read()
        broken = self.state.broken.get("image-upload")
        if broken == "saving":
            # glance-api died while writing the data: the image stays ``saving`` and
            # HAProxy answers the client its 502
            self.state.update("image", image.id, status="saving", updated_at=self.state.now())
            return haproxy_bad_gateway()
        if broken == "queued":
            # the store is full: glance's upload() answers 413 and _restore()s ``queued``
            raise GlanceError(413, "Image storage media is full: There is not enough disk "
                                   "space on the image storage media.")
        self.state.update(
            "image", image.id, status="active", size=len(data), virtual_size=len(data),
            checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest(),
            stores="fs", updated_at=self.state.now(),
        )
        return empty_response(204, EMPTY_HTML, {"Content-Length": "0"})

    async def delete_image(self, request: web.Request) -> web.Response:
        """``DELETE /v2/images/{id}`` (recorded: 204; 403 for a member on a public image)."""
        auth = auth_of(request)
        image = self._image(request, request.match_info["id"])
        if not auth.is_admin and image.owner != auth.project_id:
            raise GlanceError(403, "You are not authorized to complete delete_image action.")
        if image.protected:
            raise GlanceError(403, f"Image {image.id} is protected and cannot be deleted.")
        self.state.delete("image", image.id)
        return empty_response(204, EMPTY_HTML, {"Content-Length": "0"})

    async def deactivate(self, request: web.Request) -> web.Response:
        """``POST /v2/images/{id}/actions/deactivate`` (API reference): 204."""
        image = self._image(request, request.match_info["id"])
        self.state.update("image", image.id, status="deactivated",
                          updated_at=self.state.now())
        return empty_response(204, EMPTY_HTML, {"Content-Length": "0"})

    async def reactivate(self, request: web.Request) -> web.Response:
        """``POST /v2/images/{id}/actions/reactivate`` (API reference): 204."""
        image = self._image(request, request.match_info["id"])
        self.state.update("image", image.id, status="active", updated_at=self.state.now())
        return empty_response(204, EMPTY_HTML, {"Content-Length": "0"})

    async def stores(self, request: web.Request) -> web.Response:
        """``GET /v2/info/stores`` (recorded: the default ``fs``), plus any other store
        the images are in, so that every image's ``stores`` is listed here."""
        used = sorted({i.stores for i in self.state.images if i.stores} - {"fs"})
        return json_response({"stores": [
            {"id": "fs", "default": "true"}, *({"id": store} for store in used)
        ]})

    async def import_info(self, request: web.Request) -> web.Response:
        """``GET /v2/info/import`` (recorded)."""
        return json_response({"import-methods": {
            "description": "Import methods available.", "type": "array",
            "value": list(IMPORT_METHODS),
        }})


def _guard(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except GlanceError as error:
            return error.response()
        return response

    guarded.__doc__ = handler.__doc__
    return guarded


def register(api: ApiContext) -> None:
    """Serve glance's routes under the image prefix."""
    g = GlanceApi(api)
    routes: list[tuple[str, str, Callable[[web.Request], Any], bool]] = [
        ("GET", "/", g.versions, False),
        ("GET", "/versions", g.versions, False),
        ("GET", "/v2", g.v2_root, True),
        ("GET", "/v2/", g.v2_root, True),
        ("GET", "/v2/images", g.list_images, True),
        ("POST", "/v2/images", g.create_image, True),
        ("GET", "/v2/images/{id}", g.show_image, True),
        ("DELETE", "/v2/images/{id}", g.delete_image, True),
        ("PUT", "/v2/images/{id}/file", g.upload, True),
        ("POST", "/v2/images/{id}/actions/deactivate", g.deactivate, True),
        ("POST", "/v2/images/{id}/actions/reactivate", g.reactivate, True),
        ("GET", "/v2/info/stores", g.stores, True),
        ("GET", "/v2/info/import", g.import_info, True),
    ]
    for method, path, handler, auth in routes:
        api.route(method, path, _guard(handler), auth=auth)
