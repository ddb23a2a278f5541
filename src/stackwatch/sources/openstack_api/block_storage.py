"""``api.block_storage``: cinder volumes, snapshots, services, pools, quotas.

Volumes held in a transitional status (deleting, creating, attaching...) for more
than :data:`STUCK_AFTER_S` since their last change give the ``cinder.volumes_stuck``
check: WARNING with their count and ids, OK when there is none. It is about no
member (cinder's services are judged by ``cinder.service``), so health lists it
among the cloud's other checks.

Calls per collection (N volumes, S snapshots, P projects):
``volumes/detail?all_tenants=1`` ceil(N/1000) (``osapi_max_limit``),
``snapshots/detail?all_tenants=1`` ceil(S/1000), ``os-services`` 1,
``scheduler-stats/get_pools?detail=True`` 1, and every ``quotas`` interval
(600 s) one ``os-quota-sets/{p}?usage=True`` per project (no bulk API; with the
``cinder`` database configured, one ``os-quota-sets/{p}/defaults`` and two queries
instead: :mod:`stackwatch.sources.sql.shortcuts`).

Items (no call of their own): every volume and snapshot out of its resting status
(``available``, ``in-use``; ``available`` for snapshots) — on its way somewhere
(``creating``, ``deleting``...) or failed (``error``, ``error_deleting``...) — with
``since`` its ``updated_at``, oldest first: a reader tells a stuck one by its age.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwatch.config import HeartbeatConfig, LatencyConfig
from stackwatch.model import (
    CheckResult,
    Collection,
    ItemKind,
    Labels,
    PerfDatum,
    Sample,
    Status,
    make_labels,
)
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.changed import ChangedListing, PerItem, by_count
from stackwatch.sources.openstack_api.client import ApiClient, Json
from stackwatch.sources.openstack_api.compute import _service_check
from stackwatch.sources.openstack_api.identity_projects import Project, load_projects
from stackwatch.sources.openstack_api.server_listing import FULL_EVERY_S
from stackwatch.sources.resources import Resource

if TYPE_CHECKING:  # a runtime import would be circular (sql.nova imports .compute)
    from stackwatch.sources.sql.shortcuts import Shortcuts

GIB = 1024 ** 3
SERVICE_CHECK = "cinder.service"
STUCK_CHECK = "cinder.volumes_stuck"
#: Statuses a volume leaves by itself when its operation ends (cinder API reference,
#: "Volume statuses"). Not ``reserved`` (a shelved-offloaded server's volumes stay so),
#: nor ``maintenance`` or ``awaiting-transfer`` (an operator or a user holds those).
TRANSITIONAL = frozenset({"creating", "deleting", "attaching", "detaching", "extending",
                          "downloading", "uploading", "retyping", "backing-up",
                          "restoring-backup"})
#: An hour: zeroing a large thick volume on delete (``volume_clear``) or creating one
#: from a large image can take most of that on a busy backend.
STUCK_AFTER_S = 3600.0
STUCK_SHOWN = 10  # ids named in the message; the count covers the rest
#: the statuses a volume or snapshot rests in; any other is listed as an item
RESTING = {"volumes": frozenset({"available", "in-use"}),
           "snapshots": frozenset({"available"})}
#: openstack-exporter's volume statuses and their values (cinder.go knownVolumeStatuses):
#: ``volume_status_counter`` has each, 0 when no volume is in it; ``volume_status`` is the
#: index (-1 for another status)
VOLUME_STATUSES = ("creating", "available", "reserved", "attaching", "detaching", "in-use",
                   "maintenance", "deleting", "awaiting-transfer", "error", "error_deleting",
                   "backing-up", "restoring-backup", "error_backing-up", "error_restoring",
                   "error_extending", "downloading", "uploading", "retyping", "extending")
_STATUS_INDEX = {status: index for index, status in enumerate(VOLUME_STATUSES)}
#: the project and host fields of volumes and snapshots (admin views)
_PROJECT = {"volumes": "os-vol-tenant-attr:tenant_id",
            "snapshots": "os-extended-snapshot-attributes:project_id"}


@dataclass(frozen=True, slots=True)
class Sized:
    """A volume or snapshot: status and size in GiB; who and when for those out of their
    resting status (read for those only)."""

    status: str
    size_gb: float
    id: str = ""
    name: str = ""
    project_id: str = ""
    host: str = ""
    since: float | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any], what: str, kind: str) -> Sized:
        status = f.text(d, "status", what, "")
        size = f.number(d, "size", what, 0.0)
        if status in RESTING[kind]:
            return cls(status, size)
        since = f.timestamp(d, "updated_at", what) or f.timestamp(d, "created_at", what)
        return cls(status, size, f.text(d, "id", what), f.text(d, "name", what, ""),
                   f.text(d, _PROJECT[kind], what, ""),
                   f.text(d, "os-vol-host-attr:host", what, ""), since)


@dataclass(frozen=True, slots=True)
class Volume:
    """The labels of openstack-exporter's per-volume series (``volume_gb``)."""

    id: str
    name: str
    status: str
    availability_zone: str
    bootable: str
    tenant_id: str
    user_id: str
    volume_type: str
    server_id: str
    size_gb: float

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Volume:
        what = "cinder volumes/detail"
        attached = [a for a in f.items(d, "attachments", what) if isinstance(a, Mapping)]
        return cls(f.text(d, "id", what), f.text(d, "name", what, ""),
                   f.text(d, "status", what, ""), f.text(d, "availability_zone", what, ""),
                   f.text(d, "bootable", what, ""), f.text(d, _PROJECT["volumes"], what, ""),
                   f.text(d, "user_id", what, ""), f.text(d, "volume_type", what, ""),
                   f.text(attached[0], "server_id", what, "") if attached else "",
                   f.number(d, "size", what, 0.0))


def stuck_check(volumes: Sequence[Sized], now: float, region: str,
                stuck_after: float = STUCK_AFTER_S) -> CheckResult:
    """WARNING naming the volumes in a :data:`TRANSITIONAL` status for more than
    ``stuck_after`` seconds since their last change (oldest first); OK when none is."""
    ages = sorted(((now - v.since, v) for v in volumes
                   if v.status in TRANSITIONAL and v.since is not None
                   and now - v.since > stuck_after), key=lambda item: -item[0])
    labels = make_labels(service="cinder-volume", region=region)
    limit = f"{stuck_after / 3600:g} h" if stuck_after >= 3600 else f"{stuck_after:g} s"
    perf = (PerfDatum("stuck", len(ages), warn=1, minimum=0),
            PerfDatum("oldest", round(ages[0][0]) if ages else 0, "s", minimum=0))
    if not ages:
        return CheckResult(STUCK_CHECK, Status.OK,
                           f"no volume in a transitional status for over {limit}", labels,
                           perf, now)
    shown = ", ".join(f"{v.id} ({v.status} {age / 3600:.1f} h)"
                      for age, v in ages[:STUCK_SHOWN])
    more = f" and {len(ages) - STUCK_SHOWN} more" if len(ages) > STUCK_SHOWN else ""
    return CheckResult(STUCK_CHECK, Status.WARNING,
                       f"{len(ages)} volume(s) stuck in a transitional status for over "
                       f"{limit}: {shown}{more}", labels, perf, now)


@dataclass(frozen=True, slots=True)
class CinderService:
    """One row of cinder ``os-services``."""

    binary: str
    host: str
    zone: str
    status: str
    state: str
    disabled_reason: str

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> CinderService:
        what = "cinder os-services"
        return cls(f.text(d, "binary", what), f.text(d, "host", what), f.text(d, "zone", what, ""),
                   f.text(d, "status", what), f.text(d, "state", what),
                   f.text(d, "disabled_reason", what, ""))


def _capacity(value: object) -> float | None:
    """Pool capacities are numbers, or the strings "infinite" / "unknown"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value == "infinite":
        return math.inf
    try:
        return float(str(value))
    except ValueError:
        return None


#: volumes' per-item series: (name, value, labels)
Series = tuple[tuple[str, float, Labels], ...]


class BlockStorageSource(ApiSource):
    """Cinder through its API."""

    service_type = "block-storage"
    codename = "cinder"

    def __init__(self, client: ApiClient, intervals: Mapping[str, float] | None = None,
                 latency: LatencyConfig | None = None, heartbeat: HeartbeatConfig | None = None,
                 disabled_metrics: Sequence[str] = ()) -> None:
        super().__init__(client, intervals, latency, heartbeat, disabled_metrics)
        #: volumes whole every ``intervals["api.block_storage.volumes_full"]`` s (600),
        #: those updated since the last read in between (:mod:`.changed`)
        self.volume_listing = ChangedListing(client, self.service_type, "cinder volumes",
                                             self.interval("volumes_full", FULL_EVERY_S))
        self._volume_rows = PerItem(self._volume_row)
        self._per_volume = self.wants("openstack_cinder_volume_gb",
                                      "openstack_cinder_volume_status")

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("volumes", self.volumes, self.interval("volumes")),
            Resource("snapshots", self.snapshots, self.interval("snapshots")),
            Resource("services", self.services, self.interval("services")),
            Resource("pools", self.pools, self.interval("pools")),
            Resource("quotas", self.quotas, self.interval("quotas", 600)),
        )

    def _summary(self, rows: Sequence[Sized], count_metric: str, status_metric: str,
                 size_metric: str, kind: ItemKind) -> Collection:
        counts = Counter(r.status for r in rows)
        sizes: defaultdict[str, float] = defaultdict(float)
        for r in rows:
            sizes[r.status] += r.size_gb * GIB
        samples = [self.sample(count_metric, len(rows))]
        samples += [self.sample(status_metric, n, status=st) for st, n in sorted(counts.items())]
        samples += [self.sample(size_metric, sizes[st], status=st) for st in sorted(counts)]
        moving = sorted((r for r in rows if r.id), key=lambda r: r.since or 0.0)
        items = tuple(self.item(kind, r.id, name=r.name, status=r.status, host=r.host,
                                project=r.project_id, since=r.since,
                                size_bytes=f"{r.size_gb * GIB:.0f}")
                      for r in moving)  # oldest first: the longest stuck kept by the cap
        return Collection(tuple(samples), items=items)

    def _volume_row(self, d: Mapping[str, Any]) -> tuple[Sized, Series]:
        """A volume's figures and openstack-exporter's two per-volume series (labels made
        once per change of the volume: 40,000 label sets on a big cloud)."""
        sized = Sized.from_api(d, "cinder volumes/detail", "volumes")
        if not self._per_volume:
            return sized, ()
        v = Volume.from_api(d)
        region = self.region_label
        return sized, (
            ("openstack_cinder_volume_gb", v.size_gb, make_labels(
                id=v.id, name=v.name, status=v.status, availability_zone=v.availability_zone,
                bootable=v.bootable, tenant_id=v.tenant_id, user_id=v.user_id,
                volume_type=v.volume_type, server_id=v.server_id, region=region)),
            ("openstack_cinder_volume_status", float(_STATUS_INDEX.get(v.status, -1)),
             make_labels(id=v.id, name=v.name, status=v.status, bootable=v.bootable,
                         tenant_id=v.tenant_id, size=f"{v.size_gb:.0f}",
                         volume_type=v.volume_type, server_id=v.server_id, region=region)))

    def _read_volumes(self) -> list[Json]:
        """Every volume: in full now and then, else those updated since the last read
        (``updated_at=gte:``, cinder 3.60+) proven whole by ``volumes/summary``'s count."""
        def listing(params: Mapping[str, object]) -> Iterator[Json]:
            return self.client.list_all("block-storage", "volumes/detail", "volumes",
                                        params={"all_tenants": 1, **params})

        def count() -> int:
            what = "cinder volumes/summary"
            body = self.client.get("block-storage", "volumes/summary",
                                   params={"all_tenants": 1})
            return int(f.number(f.obj(body, "volume-summary", what), "total_count", what))

        changed = None
        if (self.client.endpoint("block-storage").microversion or (3, 0)) >= (3, 60):
            def changed(since: str) -> Iterator[Json]:
                return listing({"updated_at": f"gte:{since}"})
        return self.volume_listing.read(lambda: listing({}), changed, by_count(count))

    def volumes(self) -> Collection:
        rows = self._volume_rows(self._read_volumes())
        sized = [row for row, _ in rows]
        found = self._summary(sized, "openstack_cinder_volumes",
                              "openstack_cinder_volume_status_counter",
                              "openstack_cinder_volumes_size_bytes", ItemKind.VOLUME)
        counted = {s.label("status") for s in found.samples
                   if s.name == "openstack_cinder_volume_status_counter"}
        # every status openstack-exporter knows is there, 0 when no volume is in it
        samples = [self.sample("openstack_cinder_volume_status_counter", 0, status=st)
                   for st in VOLUME_STATUSES if st not in counted]
        now = time.time()
        samples += [Sample(name, value, labels, now)
                    for _, series in rows for name, value, labels in series]
        return found + Collection(tuple(samples),
                                  (stuck_check(sized, now, self.region_label),))

    def snapshots(self) -> Collection:
        rows = [Sized.from_api(d, "cinder snapshots/detail", "snapshots")
                for d in self.client.list_all("block-storage", "snapshots/detail",
                                              "snapshots", params={"all_tenants": 1})]
        return self._summary(rows, "openstack_cinder_snapshots",
                             "openstack_cinder_snapshots_by_status",
                             "openstack_cinder_snapshots_size_bytes", ItemKind.SNAPSHOT)

    def services(self) -> Collection:
        body = self.client.get("block-storage", "os-services")
        rows = [CinderService.from_api(s) for s in f.items(body, "services", "os-services")]
        # openstack-exporter's uuid is a new random one per scrape (a new series each
        # time); this one is stable: derived from the service's host and binary
        samples = [self.sample("openstack_cinder_agent_state", 1 if s.state == "up" else 0,
                               uuid=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                   f"cinder-service:{s.host}/{s.binary}")),
                               hostname=s.host, service=s.binary, adminState=s.status,
                               zone=s.zone, disabledReason=s.disabled_reason) for s in rows]
        checks = [_service_check(SERVICE_CHECK, s.host, s.binary, s.state, s.status,
                                 s.disabled_reason, False, self.region_label) for s in rows]
        return Collection(tuple(samples), tuple(checks))

    def pools(self) -> Collection:
        body = self.client.get("block-storage", "scheduler-stats/get_pools",
                               params={"detail": "True"})
        samples: list[Sample] = []
        for pool in f.items(body, "pools", "cinder get_pools"):
            if not isinstance(pool, Mapping):
                continue
            caps = f.obj(pool, "capabilities", "cinder get_pools")
            labels = {"name": f.text(pool, "name", "cinder get_pools"),
                      "volume_backend_name": f.text(caps, "volume_backend_name", "pools", ""),
                      "vendor_name": f.text(caps, "vendor_name", "pools", "")}
            for key, metric in (("free_capacity_gb", "openstack_cinder_pool_capacity_free_gb"),
                                ("total_capacity_gb", "openstack_cinder_pool_capacity_total_gb")):
                value = _capacity(caps.get(key))
                if value is not None:
                    samples.append(self.sample(metric, value, **labels))
        return Collection(tuple(samples))

    def quotas(self) -> Collection:
        def one(project: Project) -> tuple[Project, Mapping[str, Any]]:
            body = self.client.get("block-storage", f"os-quota-sets/{project.id}",
                                   params={"usage": "True"})
            return project, f.obj(body, "quota_set", f"cinder os-quota-sets/{project.id}")

        def by_api() -> tuple[list[tuple[Project, Mapping[str, Any]]],
                              tuple[CheckResult, ...]]:
            return self.per_project("quotas", one)

        rows, checks = self.from_databases(
            "cinder quotas", lambda db: db.cinder_quotas,
            lambda db: (self._quotas_from_sql(db), ()), by_api)
        samples: list[Sample] = []
        for project, quota in rows:
            what = f"cinder os-quota-sets/{project.id}"
            labels = {"tenant": project.name, "tenant_id": project.id}
            for key, word in (("gigabytes", "volume"), ("backup_gigabytes", "backup")):
                entry = f.obj(quota, key, what)
                samples.append(self.sample(f"openstack_cinder_limits_{word}_max_gb",
                                           f.number(entry, "limit", what), **labels))
                samples.append(self.sample(f"openstack_cinder_limits_{word}_used_gb",
                                           f.number(entry, "in_use", what, 0.0), **labels))
            # one per volume type (gigabytes_<type>), as openstack-exporter finds them
            for key in sorted(k for k in quota if k.startswith("gigabytes_")):
                samples.append(self.sample(
                    "openstack_cinder_volume_type_quota_gigabytes",
                    f.number(f.obj(quota, key, what), "limit", what), **labels,
                    volume_type=key.removeprefix("gigabytes_")))
        return Collection(tuple(samples), checks)

    def _quotas_from_sql(self, shortcuts: Shortcuts) -> list[tuple[Project, Mapping[str, Any]]]:
        """The same quota sets from cinder's database, the defaults from one request
        (``os-quota-sets/{p}/defaults``: cinder.conf's and the volume types', which no
        database holds): ``{resource: {limit, in_use}}`` as ``?usage=True`` answers."""
        projects = load_projects(self.client)
        if not projects:
            return []
        what = "cinder os-quota-sets defaults"
        body = self.client.get("block-storage", f"os-quota-sets/{projects[0].id}/defaults")
        defaults = f.obj(body, "quota_set", what)
        keys = tuple(k for k in defaults if k in ("gigabytes", "backup_gigabytes")
                     or k.startswith("gigabytes_"))
        base = {key: f.number(defaults, key, what) for key in keys}
        facts = shortcuts.cinder_quota_facts(keys)
        none: dict[str, float] = {}
        return [(p, {k: {"limit": facts.overrides.get((p.id, k), base[k]),
                         "in_use": facts.in_use.get(p.id, none).get(k, 0.0)} for k in keys})
                for p in projects]
