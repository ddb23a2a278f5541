"""Block Storage API v3 (cinder) of the simulated cloud, microversions 3.0 to 3.71.

Payloads follow the recordings in ``shared/reference/api/block-storage/`` (cinder
28.0.0, recorded at 3.0 and at "latest" = 3.71); where a field appeared in between,
the microversion comes from the cinder API reference ("REST API Version History"):
``group_id`` 3.13, ``group_snapshot_id`` 3.14, ``provider_id`` 3.21, ``user_id`` on
snapshots 3.41, ``shared_targets``/``service_uuid`` 3.48, ``backend_state`` 3.49,
``cluster_name`` 3.61, ``volume_type_id`` 3.63, ``consumes_quota`` 3.65, service
``cluster`` 3.7, ``volumes/summary`` 3.12 (``metadata`` in it 3.36).

Microversions: ``OpenStack-API-Version: volume X.Y`` (absent = 3.0, ``latest`` =
3.71); out of range → 406 with ``computeFault`` (recorded), malformed → 400. Every
answer of a versioned route carries ``OpenStack-API-Version`` and ``Vary``.

Listing as cinder does it: newest first (``created_at``, ``id`` descending),
``limit``/``marker``, at most ``osapi_max_limit`` = 1000 items a page, a
``<collection>_links`` ``next`` link when a page came back full; ``all_tenants=1``
widens an admin's listing to every project.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from stackwatch.sim import records as r
from stackwatch.sim.api.cinder_payloads import (
    Payload,
    pool_payload,
    service_payload,
    snapshot_payload,
    volume_payload,
    volume_summary_payload,
    volume_type_payload,
)
from stackwatch.sim.api.wire import (
    EMPTY_HTML,
    Fragments,
    at_or_after,
    collection_response,
    empty_response,
    json_response,
    parse_int,
    truthy,
)
from stackwatch.sim.events import Change
from stackwatch.sim.routing import ApiContext, auth_of, set_microversion
from stackwatch.sim.state import CloudState

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
MAX_LIMIT = 1000  # cinder.conf osapi_max_limit
VERSION_HEADER = "OpenStack-API-Version"
# How long a created or deleted volume / snapshot stays "creating" / "deleting".
TRANSITION_SECONDS = 0.5
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")
_QUOTA_ORDER = ("volumes", "per_volume_gigabytes", "snapshots", "gigabytes", "backups",
                "backup_gigabytes")


class CinderError(Exception):
    """An error answered as ``{"<kind>": {"code", "message"}}`` (recorded bodies)."""

    KINDS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 406: "computeFault",
             409: "conflictingRequest", 413: "overLimit"}

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def response(self) -> web.Response:
        kind = self.KINDS.get(self.status, "computeFault")
        return json_response({kind: {"code": self.status, "message": self.message}},
                             self.status, self.headers)


def negotiate(header: str | None) -> tuple[int, int]:
    """The microversion a request asks for (cinder ``api_version_request``)."""
    if not header:
        return MIN_VERSION
    wanted = ""
    for part in header.split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "volume":
            wanted = version.strip()
    if not wanted:
        return MIN_VERSION
    if wanted.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(wanted)
    if match is None:
        raise CinderError(
            400, f"API Version String {wanted} is of invalid format. Must be of format "
                 "MajorNum.MinorNum.")
    asked = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= asked <= MAX_VERSION:
        echo = {VERSION_HEADER: f"volume {wanted}", "Vary": VERSION_HEADER}
        raise CinderError(
            406, f"Version {wanted} is not supported by the API. Minimum is "
                 f"{_text(MIN_VERSION)} and maximum is {_text(MAX_VERSION)}.", echo)
    return asked


def _text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class CinderApi:
    """The handlers; one instance per simulator, bound to its state."""

    def __init__(self, api: ApiContext) -> None:
        self.api = api
        self.state: CloudState = api.state
        self.fragments = Fragments()
        #: volumes a change dated in the past (a fault's "stuck since an hour"), by id ->
        #: when the change was made: ``updated_at=gte:`` shows them as changed then, as a
        #: monitor that ran when the change really happened would have seen it
        self.backdated: dict[str, datetime] = {}
        self.state.subscribe(self._note_backdated)

    def _note_backdated(self, change: Change) -> None:
        if change.resource == "volume" and change.after is not None and (
                change.after.updated_at is not None
                and change.after.updated_at < change.time):
            self.backdated[change.after.id] = change.time

    # -- helpers -----------------------------------------------------------------------

    def _links_root(self) -> str:
        return self.api.root_url

    def _service_uuid(self, vol: r.Volume) -> str | None:
        if vol.service_uuid is not None:
            return vol.service_uuid
        backend = (vol.host or "").partition("#")[0]
        for svc in self.state.volume_services.by("host", backend):
            if svc.binary == "cinder-volume":
                return svc.id
        return None

    def _volume(self, vol: r.Volume, request: web.Request, version: tuple[int, int],
                created: bool = False) -> Payload:
        auth = auth_of(request)
        return volume_payload(
            vol, version, links_root=self._links_root(),
            project_id=auth.project_id or vol.project_id, admin=auth.is_admin,
            service_uuid=self._service_uuid(vol), created=created,
        )

    def _scope(self, request: web.Request) -> str | None:
        """The project a listing is limited to; None for an admin's ``all_tenants``."""
        auth = auth_of(request)
        all_tenants = truthy(request.query.get("all_tenants", "0"))
        if auth.is_admin and all_tenants:
            return request.query.get("project_id")
        return auth.project_id

    def _page_params(self, request: web.Request) -> tuple[int, str | None]:
        try:
            limit = parse_int(request.query.get("limit"))
        except ValueError:
            raise CinderError(400, "limit param must be positive") from None
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        return limit, request.query.get("marker")

    def _next_links(
        self, request: web.Request, collection: str, ids: list[str], limit: int
    ) -> dict[str, Any]:
        """cinder ``ViewBuilder._get_collection_links``: a ``next`` link when full,
        as ``{"<collection>_links": [...]}`` (empty when none)."""
        if not ids or len(ids) != limit:
            return {}
        params = [(k, v) for k, v in request.query.items() if k != "marker"]
        params.append(("marker", ids[-1]))
        project = request.match_info.get("project_id", "")
        href = f"{self._links_root()}/v3/{project}/{collection}?{urlencode(params)}"
        return {f"{collection.partition('/')[0]}_links": [{"rel": "next", "href": href}]}

    def _require_admin(self, request: web.Request, policy: str) -> None:
        if not auth_of(request).is_admin:
            raise CinderError(403, f"Policy doesn't allow {policy} to be performed.")

    # -- version documents -------------------------------------------------------------

    def _versions_body(self) -> Payload:
        return {"versions": [{
            "id": "v3.0", "status": "CURRENT", "version": _text(MAX_VERSION),
            "min_version": _text(MIN_VERSION), "updated": "2023-08-31T00:00:00Z",
            "links": [
                {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                {"rel": "self", "href": self.api.url("/v3/")},
            ],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}],
        }]}

    async def versions(self, request: web.Request) -> web.Response:
        """``GET /``: 300 Multiple Choices (recorded), answered at 3.0."""
        return json_response(self._versions_body(), 300, _version_headers(MIN_VERSION))

    async def v3_root(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/`` with a token: 200, the same document at 3.0; ``GET /v3``: 302 to
        ``/v3/``, an empty ``text/plain`` body (recorded from cinder 28; 401 without)."""
        if not request.path.endswith("/"):
            return web.Response(status=302, headers={
                "Location": self.api.url("/v3/"), "Content-Type": "text/plain; charset=utf8"})
        return json_response(self._versions_body(), 200, _version_headers(MIN_VERSION))

    async def v2_root(self, request: web.Request) -> web.Response:
        """``GET /v2``: 404, the v2 API is gone (recorded, webob's words)."""
        body = {"message": "The resource could not be found.<br /><br />\n\n\n",
                "code": "404 Not Found", "title": "Not Found"}
        return json_response(body, 404)

    # -- volumes -----------------------------------------------------------------------

    def _list_volumes(self, request: web.Request, version: tuple[int, int],
                      detail: bool) -> web.Response:
        project = self._scope(request)
        limit, marker = self._page_params(request)
        where: dict[str, Any] = {}
        if project is not None:
            where["project_id"] = project
        for key in ("status", "name", "availability_zone"):
            if key in request.query:
                where[key] = request.query[key]
        if "bootable" in request.query:
            where["bootable"] = truthy(request.query["bootable"])
        try:
            page = self.state.volumes.page(marker=marker, limit=limit, descending=True,
                                           where=where, predicate=self._updated(request,
                                                                                version))
        except KeyError:
            raise CinderError(404, f"Marker {marker} could not be found.") from None
        auth = auth_of(request)
        variant = (version, auth.project_id, auth.is_admin, detail)
        if detail:
            fragments = [self.fragments.get(v, variant,
                                            lambda v: self._volume(v, request, version))
                         for v in page.items]
        else:
            fragments = [self.fragments.get(v, variant, lambda v: volume_summary_payload(
                v, links_root=self._links_root(), project_id=auth.project_id or v.project_id))
                for v in page.items]
        links = self._next_links(request, "volumes/detail" if detail else "volumes",
                                 [v.id for v in page.items], limit)
        return collection_response("volumes", fragments, links)

    def _updated(self, request: web.Request, version: tuple[int, int]
                 ) -> Callable[[r.Volume], bool] | None:
        """``updated_at=gte:<time>`` (from 3.60, cinder's time comparison filters; the
        ``gte`` operator only, the one stackwatch asks): volumes updated at or after it
        (or changed then, :attr:`backdated`), or None."""
        value = request.query.get("updated_at")
        if value is None or version < (3, 60):
            return None
        operator, _, moment = value.partition(":")
        try:
            if operator != "gte":
                raise ValueError(operator)
            after = at_or_after(moment)
        except ValueError:
            raise CinderError(400, f"Invalid filter keys: updated_at={value}") from None
        backdated = self.backdated
        return lambda vol: after(vol.updated_at) or after(backdated.get(vol.id))

    async def list_volumes(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        return self._list_volumes(request, version, detail=False)

    async def list_volumes_detail(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``GET /v3/{p}/volumes/detail`` (recorded, with ``limit=1`` paging)."""
        return self._list_volumes(request, version, detail=True)

    def _get_volume(self, request: web.Request, ident: str) -> r.Volume:
        vol = self.state.volumes.get(ident)
        auth = auth_of(request)
        if vol is None or not (auth.is_admin or vol.project_id == auth.project_id):
            raise CinderError(404, f"Volume {ident} could not be found.")
        return vol

    async def show_volume(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        vol = self._get_volume(request, request.match_info["id"])
        return json_response({"volume": self._volume(vol, request, version)})

    async def volume_summary(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``GET /v3/{p}/volumes/summary`` (recorded at latest; from 3.12)."""
        if version < (3, 12):
            raise CinderError(404, "The resource could not be found.")
        project = self._scope(request)
        vols = list(self.state.volumes) if project is None \
            else self.state.volumes.by("project_id", project)
        summary: Payload = {"total_count": len(vols), "total_size": sum(v.size for v in vols)}
        if version >= (3, 36):
            summary["metadata"] = {}
        return json_response({"volume-summary": summary})

    async def create_volume(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``POST /v3/{p}/volumes`` (recorded at 3.0 and latest): 202 ``creating``,
        ``available`` a moment later on the least allocated pool."""
        auth = auth_of(request)
        spec = (await _json(request)).get("volume")
        if not isinstance(spec, dict):
            raise CinderError(400, "Missing required element 'volume' in request body.")
        try:
            size = int(spec.get("size", 0))
        except (TypeError, ValueError):
            size = 0
        if size <= 0:
            raise CinderError(
                400, f"Invalid input received: Volume size '{spec.get('size')}' must be an "
                     "integer and greater than 0.")
        project = auth.project_id or ""
        type_name = str(spec.get("volume_type") or "__DEFAULT__")
        vtype = next(iter(self.state.volume_types.by("name", type_name)), None) \
            or self.state.volume_types.get(type_name)
        if vtype is None:
            raise CinderError(404, f"Volume type with name {type_name} could not be found.")
        used = self.state.quota_usage("block-storage", project)
        for resource, need in (("volumes", 1), ("gigabytes", size)):
            limit = self.state.quota_limit("block-storage", project, resource)
            if 0 <= limit < used[resource] + need:
                kind = "VolumeLimitExceeded" if resource == "volumes" else \
                    "VolumeSizeExceedsAvailableQuota"
                raise CinderError(
                    413, f"{kind}: Maximum number of {resource} allowed ({limit}) exceeded "
                         f"for quota '{resource}'.")
        now = self.state.now()
        vol = r.Volume(
            id=str(uuid.uuid4()), name=str(spec.get("name") or ""), project_id=project,
            user_id=auth.user_id, size=size, created_at=now, updated_at=now,
            status="creating", availability_zone=str(spec.get("availability_zone") or "nova"),
            volume_type=vtype.name, volume_type_id=vtype.id, host=None,
            description=spec.get("description"),
            metadata={str(k): str(v) for k, v in dict(spec.get("metadata") or {}).items()},
        )
        self.state.add(vol)
        answer = self._volume(vol, request, version, created=True)
        asyncio.get_running_loop().call_later(TRANSITION_SECONDS, self._volume_created, vol.id)
        return json_response({"volume": answer}, 202, _version_headers(version))

    def _volume_created(self, volume_id: str) -> None:
        """The scheduler's choice: the least allocated pool of a live cinder-volume;
        with none up the volume goes to ``error`` ("No valid backend was found")."""
        vol = self.state.volumes.get(volume_id)
        if vol is None or vol.status != "creating":
            return
        now = self.state.now()
        live = {
            s.host for s in self.state.volume_services
            if s.binary == "cinder-volume" and s.is_up(now) and not s.disabled
        }
        pools = sorted((p for p in self.state.pools if p.id.partition("#")[0] in live),
                       key=lambda p: p.allocated_capacity_gb)
        if not pools or self.state.broken.get("volume-create") == "error":
            self.state.update("volume", volume_id, status="error", updated_at=now)
            return
        self.state.update("volume", volume_id, status="available", host=pools[0].id,
                          updated_at=now)

    async def delete_volume(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``DELETE /v3/{p}/volumes/{id}`` (recorded: 202 without body): ``deleting``,
        gone a moment later; 400 while attached or with snapshots."""
        vol = self._get_volume(request, request.match_info["id"])
        if vol.attachments or vol.status not in ("available", "error", "error_restoring",
                                                 "error_extending", "error_managing"):
            raise CinderError(
                400, "Invalid volume: Volume status must be available or error or "
                     "error_restoring or error_extending or error_managing and must not be "
                     "migrating, attached, belong to a group, have snapshots, awaiting a "
                     "transfer, or be disassociated from snapshots after volume transfer.")
        if self.state.snapshots.count_by("volume_id", vol.id):
            raise CinderError(400, "Invalid volume: Volume cannot have snapshots.")
        self.state.update("volume", vol.id, status="deleting", updated_at=self.state.now())
        asyncio.get_running_loop().call_later(TRANSITION_SECONDS, self._gone, "volume", vol.id)
        return empty_response(202, EMPTY_HTML, {"Content-Length": "0"})

    async def volume_action(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``POST /v3/{p}/volumes/{id}/action`` (API reference): the admin actions an
        operator uses on stuck volumes, ``os-reset_status`` and ``os-force_delete``."""
        return await self._admin_action(request, "volume", self._get_volume)

    async def snapshot_action(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``POST /v3/{p}/snapshots/{id}/action``: ``os-reset_status``, ``os-force_delete``."""
        return await self._admin_action(request, "snapshot", self._get_snapshot)

    async def _admin_action(
        self, request: web.Request, kind: str, find: Callable[[web.Request, str], Any]
    ) -> web.Response:
        record = find(request, request.match_info["id"])
        body = await _json(request)
        if "os-reset_status" in body:
            self._require_admin(request, f"{kind}_extension:{kind}_admin_actions:reset_status")
            spec = body["os-reset_status"]
            status = spec.get("status") if isinstance(spec, dict) else None
            if not isinstance(status, str) or not status:
                raise CinderError(400, "Must specify 'status'")
            self.state.update(kind, record.id, status=status, updated_at=self.state.now())
        elif "os-force_delete" in body:
            self._require_admin(request, f"{kind}_extension:{kind}_admin_actions:force_delete")
            self.state.update(kind, record.id, status="deleting", updated_at=self.state.now())
            asyncio.get_running_loop().call_later(TRANSITION_SECONDS, self._gone, kind,
                                                  record.id)
        else:
            raise CinderError(400, "There is no such action: " + ", ".join(body) or "none")
        return empty_response(202, EMPTY_HTML, {"Content-Length": "0"})

    def _gone(self, kind: str, ident: str) -> None:
        record = self.state.table(kind).get(ident)
        if record is not None and record.status == "deleting":
            self.state.delete(kind, ident)

    # -- snapshots ---------------------------------------------------------------------

    def _list_snapshots(self, request: web.Request, version: tuple[int, int],
                        detail: bool) -> web.Response:
        project = self._scope(request)
        limit, marker = self._page_params(request)
        where: dict[str, Any] = {}
        if project is not None:
            where["project_id"] = project
        for key in ("status", "volume_id", "name"):
            if key in request.query:
                where[key] = request.query[key]
        try:
            page = self.state.snapshots.page(marker=marker, limit=limit, descending=True,
                                             where=where)
        except KeyError:
            raise CinderError(404, f"Marker {marker} could not be found.") from None
        fragments = [
            self.fragments.get(s, (version, detail),
                               lambda s: snapshot_payload(s, version, detail=detail))
            for s in page.items
        ]
        links = self._next_links(request, "snapshots/detail" if detail else "snapshots",
                                 [s.id for s in page.items], limit)
        return collection_response("snapshots", fragments, links)

    async def list_snapshots(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        return self._list_snapshots(request, version, detail=False)

    async def list_snapshots_detail(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``GET /v3/{p}/snapshots/detail`` (recorded at 3.0 and latest)."""
        return self._list_snapshots(request, version, detail=True)

    def _get_snapshot(self, request: web.Request, ident: str) -> r.Snapshot:
        snap = self.state.snapshots.get(ident)
        auth = auth_of(request)
        if snap is None or not (auth.is_admin or snap.project_id == auth.project_id):
            raise CinderError(404, f"Snapshot {ident} could not be found.")
        return snap

    async def show_snapshot(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        snap = self._get_snapshot(request, request.match_info["id"])
        return json_response({"snapshot": snapshot_payload(snap, version, detail=True)})

    async def create_snapshot(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``POST /v3/{p}/snapshots`` (recorded at 3.0 and latest): 202 ``creating``."""
        auth = auth_of(request)
        spec = (await _json(request)).get("snapshot")
        if not isinstance(spec, dict):
            raise CinderError(400, "Missing required element 'snapshot' in request body.")
        vol = self._get_volume(request, str(spec.get("volume_id", "")))
        if vol.status not in ("available", "in-use"):
            raise CinderError(400, f"Invalid volume: Volume {vol.id} status must be "
                                   "available or in-use, but current status is: "
                                   f"{vol.status}.")
        now = self.state.now()
        snap = r.Snapshot(
            id=str(uuid.uuid4()), name=str(spec.get("name") or ""), volume_id=vol.id,
            project_id=vol.project_id, user_id=auth.user_id, size=vol.size,
            created_at=now, updated_at=now, status="creating", progress="0%",
            description=spec.get("description"),
        )
        self.state.add(snap)
        asyncio.get_running_loop().call_later(TRANSITION_SECONDS, self._snapshot_created, snap.id)
        return json_response(
            {"snapshot": snapshot_payload(snap, version, detail=False, created=True)}, 202,
            _version_headers(version))

    def _snapshot_created(self, snapshot_id: str) -> None:
        snap = self.state.snapshots.get(snapshot_id)
        if snap is not None and snap.status == "creating":
            self.state.update("snapshot", snapshot_id, status="available", progress="100%",
                              updated_at=self.state.now())

    async def delete_snapshot(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``DELETE /v3/{p}/snapshots/{id}`` (recorded: 202 without body)."""
        snap = self._get_snapshot(request, request.match_info["id"])
        if snap.status not in ("available", "error", "error_deleting"):
            raise CinderError(400, "Invalid snapshot: Volume Snapshot status must be "
                                   "available or error or error_deleting.")
        self.state.update("snapshot", snap.id, status="deleting", updated_at=self.state.now())
        asyncio.get_running_loop().call_later(TRANSITION_SECONDS, self._gone, "snapshot", snap.id)
        return empty_response(202, EMPTY_HTML, {"Content-Length": "0"})

    # -- backups -----------------------------------------------------------------------

    async def list_backups(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/backups[/detail]``: the simulated cloud runs no cinder-backup
        (recorded: an empty list)."""
        return json_response({"backups": []})

    # -- services, pools, types, zones -------------------------------------------------

    async def list_services(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/os-services`` (recorded; 403 for a member, recorded)."""
        self._require_admin(request, "volume_extension:services:index")
        now = self.state.now()
        host, binary = request.query.get("host"), request.query.get("binary")
        services = [
            service_payload(s, version, now) for s in self.state.volume_services
            if (host is None or s.host == host) and (binary is None or s.binary == binary)
        ]
        return json_response({"services": services})

    async def get_pools(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/scheduler-stats/get_pools[?detail=True]`` (recorded)."""
        self._require_admin(request, "scheduler_extension:scheduler_stats:get_pools")
        detail = truthy(request.query.get("detail", "false"))
        return json_response({"pools": [pool_payload(p, detail) for p in self.state.pools]})

    async def list_types(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/types`` (recorded)."""
        types = sorted(self.state.volume_types, key=lambda t: t.name)
        return json_response({"volume_types": [volume_type_payload(t) for t in types]})

    async def availability_zones(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``GET /v3/{p}/os-availability-zone`` (recorded)."""
        now = self.state.now()
        zones: dict[str, bool] = {}
        for svc in self.state.volume_services:
            if svc.binary == "cinder-volume":
                up = svc.is_up(now) and not svc.disabled
                zones[svc.zone] = zones.get(svc.zone, False) or up
        body = [{"zoneName": z, "zoneState": {"available": up}} for z, up in zones.items()]
        return json_response({"availabilityZoneInfo": body})

    # -- limits and quotas -------------------------------------------------------------

    def _type_names(self) -> list[str]:
        return [t.name for t in self.state.volume_types]

    async def limits(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/limits`` (recorded; the caller's project)."""
        project = auth_of(request).project_id or ""
        state = self.state
        used = state.quota_usage("block-storage", project)

        def limit(resource: str) -> int:
            return state.quota_limit("block-storage", project, resource)

        return json_response({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": limit("volumes"),
            "maxTotalSnapshots": limit("snapshots"),
            "maxTotalVolumeGigabytes": limit("gigabytes"),
            "maxTotalBackups": limit("backups"),
            "maxTotalBackupGigabytes": limit("backup_gigabytes"),
            "totalVolumesUsed": used["volumes"],
            "totalGigabytesUsed": used["gigabytes"],
            "totalSnapshotsUsed": used["snapshots"],
            "totalBackupsUsed": used["backups"],
            "totalBackupGigabytesUsed": used["backup_gigabytes"],
        }}})

    async def quota_set(self, request: web.Request, version: tuple[int, int]) -> web.Response:
        """``GET /v3/{p}/os-quota-sets/{project}[?usage=True]`` (recorded both ways):
        per-type keys (``volumes_<type>``, ...) for every volume type, unlimited."""
        auth = auth_of(request)
        target = request.match_info["target"]
        if not auth.is_admin and target != auth.project_id:
            raise CinderError(403, "Policy doesn't allow volume_extension:quotas:show to be "
                                   "performed.")
        state = self.state
        used = state.quota_usage("block-storage", target)
        vols = state.volumes.by("project_id", target)
        snaps = state.snapshots.by("project_id", target)
        values: dict[str, tuple[int, int]] = {
            name: (state.quota_limit("block-storage", target, name), used.get(name, 0))
            for name in _QUOTA_ORDER
        }
        for name in reversed(self._type_names()):
            typed = [v for v in vols if v.volume_type == name]
            typed_ids = {v.id for v in typed}
            values[f"volumes_{name}"] = (-1, len(typed))
            values[f"gigabytes_{name}"] = (-1, sum(v.size for v in typed) + sum(
                s.size for s in snaps if s.volume_id in typed_ids))
            values[f"snapshots_{name}"] = (-1, sum(1 for s in snaps if s.volume_id in typed_ids))
        values["groups"] = (state.quota_limit("block-storage", target, "groups"), 0)
        usage = truthy(request.query.get("usage", "false"))
        body: Payload = {
            name: {"limit": lim, "in_use": use, "reserved": 0} if usage else lim
            for name, (lim, use) in values.items()
        }
        body["id"] = target
        return json_response({"quota_set": body})

    async def quota_defaults(
        self, request: web.Request, version: tuple[int, int]
    ) -> web.Response:
        """``GET /v3/{p}/os-quota-sets/{project}/defaults`` (API reference)."""
        defaults = self.state.quota_defaults["block-storage"]
        body: Payload = {name: defaults.get(name, -1) for name in _QUOTA_ORDER}
        for name in reversed(self._type_names()):
            for resource in ("volumes", "gigabytes", "snapshots"):
                body[f"{resource}_{name}"] = -1
        body["groups"] = defaults.get("groups", -1)
        body["id"] = request.match_info["target"]
        return json_response({"quota_set": body})


def _version_headers(version: tuple[int, int]) -> dict[str, str]:
    return {VERSION_HEADER: f"volume {_text(version)}", "Vary": VERSION_HEADER}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise CinderError(400, "Malformed request body") from None
    if not isinstance(body, dict):
        raise CinderError(400, "Malformed request body")
    return body


VersionedHandler = Callable[[web.Request, tuple[int, int]], Any]


def _versioned(handler: VersionedHandler) -> Callable[[web.Request], Any]:
    """Negotiate the microversion, run the handler, stamp the version headers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            version = negotiate(request.headers.get(VERSION_HEADER))
        except CinderError as error:
            return error.response()
        set_microversion(request, _text(version))
        try:
            response: web.StreamResponse = await handler(request, version)
        except CinderError as error:
            response = error.response()
        if not 300 <= response.status < 400:  # a redirect carries no version (recorded)
            response.headers.update(_version_headers(version))
        return response

    wrapped.__doc__ = handler.__doc__
    return wrapped


def register(api: ApiContext) -> None:
    """Serve cinder's routes under the volume prefix."""
    c = CinderApi(api)
    plain: list[tuple[str, str, Callable[[web.Request], Any], bool]] = [
        ("GET", "/", c.versions, False),
        ("GET", "/v2", c.v2_root, False),
        ("GET", "/v2/", c.v2_root, False),
    ]
    p = "/v3/{project_id}"
    versioned: list[tuple[str, str, VersionedHandler]] = [
        ("GET", "/v3", c.v3_root),
        ("GET", "/v3/", c.v3_root),
        ("GET", f"{p}/volumes", c.list_volumes),
        ("POST", f"{p}/volumes", c.create_volume),
        ("GET", f"{p}/volumes/detail", c.list_volumes_detail),
        ("GET", f"{p}/volumes/summary", c.volume_summary),
        ("GET", f"{p}/volumes/{{id}}", c.show_volume),
        ("DELETE", f"{p}/volumes/{{id}}", c.delete_volume),
        ("POST", f"{p}/volumes/{{id}}/action", c.volume_action),
        ("GET", f"{p}/snapshots", c.list_snapshots),
        ("POST", f"{p}/snapshots", c.create_snapshot),
        ("GET", f"{p}/snapshots/detail", c.list_snapshots_detail),
        ("GET", f"{p}/snapshots/{{id}}", c.show_snapshot),
        ("DELETE", f"{p}/snapshots/{{id}}", c.delete_snapshot),
        ("POST", f"{p}/snapshots/{{id}}/action", c.snapshot_action),
        ("GET", f"{p}/backups", c.list_backups),
        ("GET", f"{p}/backups/detail", c.list_backups),
        ("GET", f"{p}/os-services", c.list_services),
        ("GET", f"{p}/scheduler-stats/get_pools", c.get_pools),
        ("GET", f"{p}/types", c.list_types),
        ("GET", f"{p}/os-availability-zone", c.availability_zones),
        ("GET", f"{p}/limits", c.limits),
        ("GET", f"{p}/os-quota-sets/{{target}}", c.quota_set),
        ("GET", f"{p}/os-quota-sets/{{target}}/defaults", c.quota_defaults),
    ]
    for method, path, handler, auth in plain:
        api.route(method, path, handler, auth=auth)
    for method, path, vhandler in versioned:
        api.route(method, path, _versioned(vhandler))
