"""What the API sources would read one provider or project at a time, read from the
service databases in a few queries instead, when the cloud has their URLs.

* placement (``databases.placement``): every provider's inventories and usages in three
  queries (``resource_providers``; ``inventories`` with their ``resource_classes``;
  ``allocations`` summed per provider and class) instead of two requests per provider;
* nova quotas (``nova_api``, ``nova`` and ``nova_cell0``): overrides from
  ``nova_api.quotas``, usage counted from the instances not deleted of both cell
  databases, as nova counts it since Pike (``quota_usages`` stays empty), instead of one
  request per project. A cloud with more cells than cell0 and one (``cell_mappings``)
  is read through the API: only one cell's database is configured;
* cinder quotas (``cinder``): overrides from ``cinder.quotas``, usage from
  ``cinder.quota_usages`` (cinder keeps it), instead of one request per project;
* neutron quota details (``neutron``): what ``quotas/{p}/details`` answers, for every
  project in four queries instead of one request each, as neutron's default quota
  driver (``DbQuotaNoLockDriver``, ``track_quota_usage`` on) computes it: overrides from
  ``quotas``; used = the rows of the resource's table with that ``project_id``
  (``count_db_registers``; ``rbac_policy`` is not tracked: the rows of every ``*rbacs``
  table, as ``get_rbac_policies`` lists them); reserved = the ``resourcedeltas`` of the
  project's reservations not yet expired (``get_total_reservations_map``).

The defaults come from the services' configuration, which no database holds: the API
sources still ask them, one request each. When a query fails (a grant missing, a table
another release lacks, the server down), :meth:`Shortcuts.read` reads through the API
instead, and logs why once: the figures stay, only slower.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy import Boolean, column, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import Executable

from stackwatch.errors import SourceError, SourceUnavailable
from stackwatch.redact import redact
from stackwatch.sources.sql.base import build_engine, translate
from stackwatch.sources.sql.tables import api_quotas, cell_mappings

# placement
resource_providers = table("resource_providers", column("id"), column("uuid"), column("name"),
                           column("generation"))
inventories = table("inventories", column("resource_provider_id"), column("resource_class_id"),
                    column("total"), column("reserved"), column("allocation_ratio"))
allocations = table("allocations", column("resource_provider_id"),
                    column("resource_class_id"), column("consumer_id"), column("used"))
resource_classes = table("resource_classes", column("id"), column("name"))
# nova (both cells)
instances = table("instances", column("project_id"), column("vcpus"), column("memory_mb"),
                  column("deleted"))
# cinder
cinder_quotas = table("quotas", column("project_id"), column("resource"), column("hard_limit"),
                      column("deleted", Boolean))
quota_usages = table("quota_usages", column("project_id"), column("resource"),
                     column("in_use"), column("deleted", Boolean))

# neutron
neutron_quotas = table("quotas", column("project_id"), column("resource"), column("limit"))
reservations = table("reservations", column("id"), column("project_id"),
                     column("expiration", sa.DateTime))
resourcedeltas = table("resourcedeltas", column("resource"), column("reservation_id"),
                       column("amount"))
#: neutron's tracked quota resources and their tables (ml2 and l3 ``tracked_resources``)
NEUTRON_TRACKED = {"network": "networks", "subnet": "subnets", "subnetpool": "subnetpools",
                   "port": "ports", "router": "routers", "floatingip": "floatingips",
                   "security_group": "securitygroups",
                   "security_group_rule": "securitygrouprules"}
#: the RBAC tables ``rbac_policy`` counts over (``RBACBaseObject.get_type_class_map``)
NEUTRON_RBAC_TABLES = ("networkrbacs", "qospolicyrbacs", "securitygrouprbacs",
                       "addressscoperbacs", "subnetpoolrbacs", "addressgrouprbacs")

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The databases an API source may read instead of looping over the API.
SHORTCUT_DATABASES = ("placement", "nova_api", "nova", "nova_cell0", "cinder", "neutron")


class InventoryRow(NamedTuple):
    """One resource class of one provider, with what its allocations use."""

    provider_uuid: str
    provider_name: str
    resource_class: str
    total: float
    reserved: float
    allocation_ratio: float
    used: float


class ProviderRow(NamedTuple):
    uuid: str
    name: str
    generation: float


class AllocationRow(NamedTuple):
    """What one consumer holds of one resource class on one provider."""

    provider_uuid: str
    provider_name: str
    consumer: str
    resource_class: str
    used: float


@dataclass(frozen=True, slots=True)
class QuotaFacts:
    """Per-project overrides ``{(project_id, resource): limit}`` and what each project
    uses ``{project_id: {resource: in_use}}``, for the resources asked."""

    overrides: Mapping[tuple[str, str], float]
    in_use: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class DetailFacts:
    """neutron's quota details of every project: overrides ``{(project_id, resource):
    limit}``, and ``{project_id: {resource: n}}`` used and reserved."""

    overrides: Mapping[tuple[str, str], float]
    used: Mapping[str, Mapping[str, float]]
    reserved: Mapping[str, Mapping[str, float]]


class Database:
    """One service database, read-only and time-limited (:func:`build_engine`)."""

    def __init__(self, name: str, url: str, timeout: float) -> None:
        self.name = name
        self.url = url
        self.where = redact(url)
        self.timeout = timeout
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def rows(self, what: str, query: Executable) -> list[tuple[Any, ...]]:
        """Run one query; every database error becomes a SourceError naming it."""
        try:
            with self._lock:
                if self._engine is None:
                    # a few queries a cycle, for API sources that are not closed:
                    # no connection left open between them
                    self._engine = build_engine(self.url, self.timeout, pooled=False)
            with self._engine.connect() as conn:
                return [tuple(row) for row in conn.execute(query)]
        except sa.exc.SQLAlchemyError as error:
            raise translate(error, what, self.where) from None
        except (sa.exc.ArgumentError, ImportError, ValueError) as error:
            raise SourceUnavailable(f"{self.where}: {redact(str(error))}") from None

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


class Shortcuts:
    """The shortcut databases of one cloud (those of :data:`SHORTCUT_DATABASES` it has)."""

    def __init__(self, urls: Mapping[str, str], timeout: float = 30.0) -> None:
        self.databases = {name: Database(name, url, timeout) for name, url in urls.items()
                          if name in SHORTCUT_DATABASES}

        self._said: set[str] = set()
        self._lock = threading.Lock()

    def has(self, *names: str) -> bool:
        return all(name in self.databases for name in names)

    def read(self, what: str, shortcut: Callable[[], T], api: Callable[[], T]) -> T:
        """``shortcut()``; when its database fails, ``api()``, and why logged once (per
        reason) as a WARNING."""
        try:
            return shortcut()
        except SourceError as error:
            with self._lock:
                first = f"{what}: {error}" not in self._said
                self._said.add(f"{what}: {error}")
            if first:
                log.warning("%s read through the API: the database could not be read: %s",
                            what, error)
            return api()

    def close(self) -> None:
        for database in self.databases.values():
            database.close()

    # ------------------------------------------------------------------ placement

    @property
    def placement(self) -> bool:
        return self.has("placement")

    def providers(self) -> tuple[list[ProviderRow], list[InventoryRow]]:
        """Every provider (by id, as placement lists them) and every inventory with its
        usage (0 when nothing is allocated): three queries."""
        db = self.databases["placement"]
        rp, inv, alloc, rc = resource_providers, inventories, allocations, resource_classes
        providers = db.rows("placement resource providers", sa.select(
            rp.c.id, rp.c.uuid, rp.c.name, rp.c.generation).order_by(rp.c.id))
        used = {(p, c): float(u or 0) for p, c, u in db.rows(
            "placement usages", sa.select(
                alloc.c.resource_provider_id, alloc.c.resource_class_id,
                sa.func.sum(alloc.c.used)).group_by(
                alloc.c.resource_provider_id, alloc.c.resource_class_id))}
        rows = db.rows("placement inventories", sa.select(
            inv.c.resource_provider_id, inv.c.resource_class_id, rc.c.name, inv.c.total,
            inv.c.reserved, inv.c.allocation_ratio).select_from(
            inv.join(rc, rc.c.id == inv.c.resource_class_id)))
        names = {pid: (str(uuid), str(name)) for pid, uuid, name, _ in providers}
        out = []
        for pid, class_id, class_name, total, reserved, ratio in rows:
            if pid not in names:  # a provider deleted between the queries
                continue
            uuid, name = names[pid]
            out.append(InventoryRow(uuid, name, str(class_name), float(total),
                                    float(reserved), float(ratio),
                                    used.get((pid, class_id), 0.0)))
        return [ProviderRow(*names[pid], float(generation or 0))
                for pid, _, _, generation in providers], out

    def allocations(self) -> list[AllocationRow]:
        """Every allocation of every provider: one query."""
        rp, alloc, rc = resource_providers, allocations, resource_classes
        return [AllocationRow(str(uuid), str(name), str(consumer), str(cls), float(used or 0))
                for uuid, name, consumer, cls, used in self.databases["placement"].rows(
                    "placement allocations", sa.select(
                        rp.c.uuid, rp.c.name, alloc.c.consumer_id, rc.c.name, alloc.c.used)
                    .select_from(alloc.join(rp, rp.c.id == alloc.c.resource_provider_id)
                                 .join(rc, rc.c.id == alloc.c.resource_class_id)))]

    # ------------------------------------------------------------------ quotas

    @property
    def nova_quotas(self) -> bool:
        return self.has("nova_api", "nova", "nova_cell0")

    def one_cell(self) -> bool:
        """Whether nova has cell0 and a single cell (the one ``databases.nova`` names)."""
        rows = self.databases["nova_api"].rows("nova cell mappings",
                                               sa.select(sa.func.count(cell_mappings.c.id)))
        return int(rows[0][0] or 0) <= 2

    def nova_quota_facts(self, resources: tuple[str, ...]) -> QuotaFacts:
        """Overrides from ``nova_api.quotas``; ``instances``, ``cores``, ``ram`` in use
        counted from the instances of both cells (``deleted = 0``)."""
        q = api_quotas
        overrides = {(str(p), str(r)): float(limit) for p, r, limit in self.databases[
            "nova_api"].rows("nova project quotas", sa.select(
                q.c.project_id, q.c.resource, q.c.hard_limit).where(
                q.c.resource.in_(resources)))}
        in_use: dict[str, dict[str, float]] = {}
        i = instances
        for cell in ("nova", "nova_cell0"):
            for project, count, vcpus, ram in self.databases[cell].rows(
                    "nova instances per project", sa.select(
                        i.c.project_id, sa.func.count(), sa.func.sum(i.c.vcpus),
                        sa.func.sum(i.c.memory_mb)).where(i.c.deleted == 0).group_by(
                        i.c.project_id)):
                mine = in_use.setdefault(str(project), {"instances": 0.0, "cores": 0.0,
                                                        "ram": 0.0})
                mine["instances"] += float(count or 0)
                mine["cores"] += float(vcpus or 0)
                mine["ram"] += float(ram or 0)
        return QuotaFacts(overrides, in_use)

    @property
    def cinder_quotas(self) -> bool:
        return self.has("cinder")

    def cinder_quota_facts(self, resources: tuple[str, ...]) -> QuotaFacts:
        """Overrides from ``cinder.quotas``, in use from ``cinder.quota_usages``."""
        db, q, u = self.databases["cinder"], cinder_quotas, quota_usages
        overrides = {(str(p), str(r)): float(limit) for p, r, limit in db.rows(
            "cinder project quotas", sa.select(q.c.project_id, q.c.resource, q.c.hard_limit)
            .where(q.c.resource.in_(resources), q.c.deleted == sa.false()))}
        in_use: dict[str, dict[str, float]] = {}
        for project, resource, value in db.rows("cinder quota usages", sa.select(
                u.c.project_id, u.c.resource, u.c.in_use).where(
                u.c.resource.in_(resources), u.c.deleted == sa.false())):
            in_use.setdefault(str(project), {})[str(resource)] = float(value or 0)
        return QuotaFacts(overrides, in_use)

    @property
    def neutron_quotas(self) -> bool:
        return self.has("neutron")

    def neutron_quota_facts(self, now: datetime | None = None) -> DetailFacts:
        """Overrides, used and reserved of every project: four queries (``now``, naive
        UTC as neutron's ``utcnow()``, tells reservations expired from not)."""
        db, q = self.databases["neutron"], neutron_quotas
        overrides = {(str(p), str(r)): float(limit) for p, r, limit in db.rows(
            "neutron project quotas", sa.select(q.c.project_id, q.c.resource, q.c["limit"]))}
        counts = [sa.select(sa.literal(resource).label("resource"), t.c.project_id,
                            sa.func.count().label("n")).group_by(t.c.project_id)
                  for resource, t in ((r, table(name, column("project_id")))
                                      for r, name in NEUTRON_TRACKED.items())]
        used: dict[str, dict[str, float]] = {}
        for resource, project, n in db.rows("neutron resources per project",
                                            sa.union_all(*counts)):
            if project is not None:
                used.setdefault(str(project), {})[str(resource)] = float(n or 0)
        rbacs = sa.union_all(*(sa.select(table(name, column("project_id")).c.project_id)
                               for name in NEUTRON_RBAC_TABLES)).subquery()
        for project, n in db.rows("neutron rbac policies per project", sa.select(
                rbacs.c.project_id, sa.func.count()).group_by(rbacs.c.project_id)):
            if project is not None:
                used.setdefault(str(project), {})["rbac_policy"] = float(n or 0)
        now = now or datetime.now(UTC).replace(tzinfo=None)
        r, d = reservations, resourcedeltas
        reserved: dict[str, dict[str, float]] = {}
        for project, resource, amount in db.rows("neutron reservations", sa.select(
                r.c.project_id, d.c.resource, sa.func.sum(d.c.amount)).select_from(
                d.join(r, r.c.id == d.c.reservation_id)).where(r.c.expiration >= now)
                .group_by(r.c.project_id, d.c.resource)):
            reserved.setdefault(str(project), {})[str(resource)] = float(amount or 0)
        return DetailFacts(overrides, used, reserved)
