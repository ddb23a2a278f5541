"""The ground truth of the simulated cloud: every record, indexed, with its change feed.

:class:`CloudState` holds one :class:`Table` per record kind (``state.servers``,
``state.ports``, ...; the record classes are in :mod:`stackwatch.sim.records`).
Reading is plain: ``state.servers.get(id)``, ``state.servers.by("project_id", p)``,
``state.servers.page(...)``. Writing goes only through ``state.add / update / delete``
(or the helpers built on them), which

* keep derived data consistent — a hypervisor's ``vcpus_used``/``memory_mb_used``/
  ``local_gb_used``/``running_vms`` equal the servers on it, each such server has a
  placement allocation against the hypervisor's provider, provider usages equal the
  sum of allocations, a pool's ``allocated_capacity_gb`` equals its volumes' sizes;
* hand every subscriber a frozen :class:`~stackwatch.sim.events.Change` (for the
  derived updates too: a boot yields the server, the allocation and the hypervisor).

The request that caused a change is taken from :func:`acting` (a context variable set
by the HTTP server per request), so subscribers can log it with its request id.

All mutations happen on the simulator's event-loop thread; other threads go through
``SimulatedCloud.call``. Bulk loading at start-up (:meth:`CloudState.load`) emits no
changes: subscribers read the tables once when they attach.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from stackwatch.sim import records as r
from stackwatch.sim.events import Change, ChangeKind, ChangeSubscriber

if TYPE_CHECKING:
    from stackwatch.sim.optional import OptionalWorld

log = logging.getLogger(__name__)


class _Record(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Record)

SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is changing the state right now (set per API request, or per background task)."""

    cause: str = "api"
    request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None


_ACTOR: contextvars.ContextVar[Actor] = contextvars.ContextVar("stackwatch_sim_actor")
_NOBODY = Actor(cause="internal")


@contextlib.contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Attribute the changes made inside the block to ``actor``."""
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def current_actor() -> Actor:
    return _ACTOR.get(_NOBODY)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a listing: the rows, and whether more follow (for ``next`` links)."""

    items: list[R]
    more: bool


class Table(Generic[R]):
    """Records of one kind: by id, in a fixed sort order (for markers), with indexes.

    ``sort_key`` must depend only on fields that never change (``created_at``, ``id``).
    ``indexes`` name fields whose values map to the ids having them (``project_id``,
    ``host``, ``network_id``, ...); ``by(field, value)`` reads them.
    """

    def __init__(
        self,
        kind: str,
        sort_key: Callable[[Any], SortKey],
        indexes: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self._sort_key = sort_key
        self._rows: dict[str, R] = {}
        self._keys: list[tuple[SortKey, str]] = []
        self._index: dict[str, dict[Any, dict[str, None]]] = {name: {} for name in indexes}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._rows

    def __iter__(self) -> Iterator[R]:
        """Records in sort order (ascending).

        Iterates over a snapshot of the ids (copied atomically under the GIL), skipping
        records deleted meanwhile, so another thread may read while the loop writes.
        """
        rows = self._rows
        return (row for _, rid in list(self._keys) if (row := rows.get(rid)) is not None)

    def get(self, record_id: str) -> R | None:
        return self._rows.get(record_id)

    def ids(self) -> list[str]:
        return [rid for _, rid in list(self._keys)]

    def by(self, index: str, value: Any) -> list[R]:
        """Records whose indexed field equals ``value`` (insertion order)."""
        rows = self._rows
        ids = list(self._index[index].get(value, ()))
        return [row for rid in ids if (row := rows.get(rid)) is not None]

    def count_by(self, index: str, value: Any) -> int:
        return len(self._index[index].get(value, ()))

    def index_values(self, index: str) -> list[Any]:
        return [v for v, ids in self._index[index].items() if ids]

    def page(
        self,
        *,
        marker: str | None = None,
        limit: int | None = None,
        descending: bool = False,
        where: Mapping[str, Any] | None = None,
        predicate: Callable[[R], bool] | None = None,
    ) -> Page[R]:
        """A page after ``marker`` (exclusive) in sort order, filtered.

        ``where`` filters on fields by equality; an indexed field narrows the scan to
        its ids. Raises :class:`KeyError` for a marker that is not in the table (the
        APIs answer 400 "marker not found").
        """
        where = dict(where or {})
        candidates: list[tuple[SortKey, str]] | None = None
        for name in list(where):
            if name in self._index:
                ids = self._index[name].get(where.pop(name), {})
                narrowed = sorted((self._sort_key(self._rows[rid]), rid) for rid in ids)
                if candidates is None or len(narrowed) < len(candidates):
                    if candidates is not None:
                        keep = {rid for _, rid in candidates}
                        narrowed = [k for k in narrowed if k[1] in keep]
                    candidates = narrowed
                else:
                    keep = {rid for _, rid in narrowed}
                    candidates = [k for k in candidates if k[1] in keep]
        keys = self._keys if candidates is None else candidates
        if marker is not None:
            mrow = self._rows.get(marker)
            if mrow is None:
                raise KeyError(marker)
            pos = bisect.bisect_left(keys, (self._sort_key(mrow), marker))
            found = pos < len(keys) and keys[pos][1] == marker
            start = pos + (1 if found else 0)
            order: Iterable[int] = (
                range(pos - 1, -1, -1) if descending else range(start, len(keys))
            )
        else:
            order = range(len(keys) - 1, -1, -1) if descending else range(len(keys))
        items: list[R] = []
        rows = self._rows
        more = False
        for i in order:
            row = rows[keys[i][1]]
            if where and any(getattr(row, f) != v for f, v in where.items()):
                continue
            if predicate is not None and not predicate(row):
                continue
            if limit is not None and len(items) >= limit:
                more = True
                break
            items.append(row)
        return Page(items, more)

    # -- writes: only CloudState calls these -------------------------------------------

    def _insert(self, record: R) -> None:
        rid = record.id
        if rid in self._rows:
            raise ValueError(f"{self.kind} {rid} exists")
        self._rows[rid] = record
        bisect.insort(self._keys, (self._sort_key(record), rid))
        for name, index in self._index.items():
            index.setdefault(getattr(record, name), {})[rid] = None

    def _replace(self, before: R, after: R) -> None:
        rid = after.id
        self._rows[rid] = after
        for name, index in self._index.items():
            old, new = getattr(before, name), getattr(after, name)
            if old != new:
                index.get(old, {}).pop(rid, None)
                index.setdefault(new, {})[rid] = None

    def _remove(self, record: R) -> None:
        rid = record.id
        del self._rows[rid]
        key = (self._sort_key(record), rid)
        pos = bisect.bisect_left(self._keys, key)
        if pos < len(self._keys) and self._keys[pos] == key:
            del self._keys[pos]
        for name, index in self._index.items():
            index.get(getattr(record, name), {}).pop(rid, None)

    def _bulk(self, records: Iterable[R]) -> None:
        rows = self._rows
        for record in records:
            rows[record.id] = record
            for name, index in self._index.items():
                index.setdefault(getattr(record, name), {})[record.id] = None
        self._keys = sorted((self._sort_key(row), rid) for rid, row in rows.items())


def _by_created(record: Any) -> SortKey:
    return (record.created_at,)


def _by_id(record: Any) -> SortKey:
    return ()


def _by_legacy_id(record: Any) -> SortKey:
    return (record.legacy_id,)


def _by_name(record: Any) -> SortKey:
    return (record.name,)


class CloudState:
    """The whole simulated cloud. See the module docstring for the rules."""

    def __init__(self, region: str = "RegionOne", clock: Callable[[], datetime] = utcnow) -> None:
        self.region = region
        self.now = clock
        # the optional services' items, when the simulator serves them (sim/optional.py)
        self.optional: OptionalWorld | None = None
        T = Table
        # identity
        self.domains: Table[r.Domain] = T("domain", _by_id)
        self.projects: Table[r.Project] = T("project", _by_id, ("domain_id", "name"))
        self.users: Table[r.User] = T("user", _by_id, ("name", "domain_id"))
        self.roles: Table[r.Role] = T("role", _by_id, ("name",))
        self.role_assignments: Table[r.RoleAssignment] = T(
            "role_assignment", _by_id, ("user_id", "project_id", "role_id")
        )
        self.tokens: Table[r.Token] = T("token", _by_id, ("user_id",))
        self.regions: Table[r.Region] = T("region", _by_id)
        self.catalog_services: Table[r.CatalogService] = T("catalog_service", _by_id, ("type",))
        self.endpoints: Table[r.Endpoint] = T("endpoint", _by_id, ("service_id",))
        # compute
        self.compute_services: Table[r.ComputeService] = T(
            "compute_service", _by_legacy_id, ("host", "binary")
        )
        self.hypervisors: Table[r.Hypervisor] = T(
            "hypervisor", _by_legacy_id, ("hypervisor_hostname", "host")
        )
        self.flavors: Table[r.Flavor] = T("flavor", _by_legacy_id, ("name",))
        # nova lists servers newest first: sort (created_at, id), read descending.
        self.servers: Table[r.Server] = T(
            "server", _by_created, ("project_id", "host", "node", "vm_state", "user_id")
        )
        self.instance_actions: Table[r.InstanceAction] = T(
            "instance_action", _by_start, ("server_id",)
        )
        self.aggregates: Table[r.Aggregate] = T("aggregate", _by_legacy_id)
        self.keypairs: Table[r.Keypair] = T("keypair", _by_name, ("user_id",))
        self.migrations: Table[r.Migration] = T(
            "migration", _by_legacy_id, ("server_id", "status")
        )
        self.quotas: Table[r.QuotaOverride] = T("quota", _by_id, ("project_id",))
        # placement
        self.resource_providers: Table[r.ResourceProvider] = T(
            "resource_provider", _by_created, ("root_provider_uuid", "name")
        )
        self.allocations: Table[r.Allocation] = T("allocation", _by_id, ("project_id",))
        # network (neutron sorts by id)
        self.networks: Table[r.Network] = T("network", _by_id, ("project_id",))
        self.subnets: Table[r.Subnet] = T("subnet", _by_id, ("project_id", "network_id"))
        self.ports: Table[r.Port] = T(
            "port", _by_id, ("project_id", "network_id", "device_id", "binding_host_id")
        )
        self.routers: Table[r.Router] = T("router", _by_id, ("project_id",))
        self.floating_ips: Table[r.FloatingIP] = T(
            "floating_ip", _by_id, ("project_id", "port_id", "router_id")
        )
        self.agents: Table[r.Agent] = T("agent", _by_id, ("host", "agent_type"))
        self.router_bindings: Table[r.RouterBinding] = T(
            "router_binding", _by_id, ("router_id", "l3_agent_id")
        )
        self.security_groups: Table[r.SecurityGroup] = T(
            "security_group", _by_id, ("project_id",)
        )
        # image (glance sorts created_at desc, id desc)
        self.images: Table[r.Image] = T("image", _by_created, ("owner", "status", "visibility"))
        # block storage (cinder sorts created_at desc, id desc)
        self.volumes: Table[r.Volume] = T("volume", _by_created, ("project_id", "status", "host"))
        self.snapshots: Table[r.Snapshot] = T(
            "snapshot", _by_created, ("project_id", "volume_id", "status")
        )
        self.volume_services: Table[r.VolumeService] = T(
            "volume_service", _by_legacy_id, ("host", "binary")
        )
        self.pools: Table[r.Pool] = T("pool", _by_id)
        self.volume_types: Table[r.VolumeType] = T("volume_type", _by_id, ("name",))

        self._tables: dict[str, Table[Any]] = {
            t.kind: t for t in vars(self).values() if isinstance(t, Table)
        }
        # placement usages per provider, kept equal to the sum of allocations
        self._rp_usage: dict[str, dict[str, int]] = {}
        # simulation controls (not API-visible): services whose heartbeat is stopped
        self.silent_services: set[str] = set()
        # ... and what the next writes of a kind meet (faults image-stuck, boot-error,
        # volume-error): "image-upload" -> saving|queued, "boot" -> novalidhost|spawn,
        # "volume-create" -> error
        self.broken: dict[str, str] = {}
        self.quota_defaults: dict[str, dict[str, int]] = {
            service: dict(limits) for service, limits in DEFAULT_QUOTAS.items()
        }
        self._subscribers: list[ChangeSubscriber] = []
        self.subscriber_errors = 0
        self._seq = 0

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, subscriber: ChangeSubscriber) -> Callable[[], None]:
        """Receive every future change; returns a function that unsubscribes."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _emit(
        self, kind: ChangeKind, resource: str, before: Any, after: Any, fields: tuple[str, ...]
    ) -> None:
        if not self._subscribers:
            return
        actor = current_actor()
        change = Change(
            kind=kind, resource=resource, before=before, after=after, time=self.now(),
            fields=fields, request_id=actor.request_id, user_id=actor.user_id,
            project_id=actor.project_id, cause=actor.cause,
        )
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:  # a subscriber's bug must not break the API it watches
                self.subscriber_errors += 1
                log.exception("change subscriber %r failed on %s %s", subscriber, kind, resource)

    # ------------------------------------------------------------------ generic writes

    def table(self, kind: str) -> Table[Any]:
        """The table of a record kind (``"server"``, ``"port"``, ...)."""
        return self._tables[kind]

    def tables(self) -> Mapping[str, Table[Any]]:
        return self._tables

    def load(self, records: Iterable[Any]) -> None:
        """Bulk-load records at start-up: no changes emitted, derived data must be right.

        Placement usages are recomputed from the loaded allocations.
        """
        grouped: dict[str, list[Any]] = {}
        for record in records:
            grouped.setdefault(record.KIND, []).append(record)
        for kind, rows in grouped.items():
            self._tables[kind]._bulk(rows)
        if "allocation" in grouped:
            self._rp_usage.clear()
            for alloc in self.allocations:
                self._add_usage(alloc, +1)

    def add(self, record: Any) -> Any:
        """Insert a new record (and its derived effects); returns it."""
        table = self._tables[record.KIND]
        table._insert(record)
        self._emit(ChangeKind.CREATED, record.KIND, None, record, ())
        self._derive(None, record)
        return record

    def update(self, kind: str, record_id: str, **changes: Any) -> Any:
        """Replace fields of a record (and its derived effects); returns the new record.

        Raises :class:`KeyError` if there is no such record.
        """
        table = self._tables[kind]
        before = table.get(record_id)
        if before is None:
            raise KeyError(f"{kind} {record_id}")
        changed = tuple(k for k, v in changes.items() if getattr(before, k) != v)
        if not changed:
            return before
        if kind == "resource_provider" and "inventories" in changed and (
                "generation" not in changes):
            # placement bumps a provider's generation with every inventory change
            changes["generation"] = before.generation + 1
            changed += ("generation",)
        after = dataclasses.replace(before, **changes)
        table._replace(before, after)
        self._emit(ChangeKind.UPDATED, kind, before, after, changed)
        self._derive(before, after)
        return after

    def delete(self, kind: str, record_id: str) -> Any:
        """Remove a record (and its derived effects); returns what was removed."""
        table = self._tables[kind]
        before = table.get(record_id)
        if before is None:
            raise KeyError(f"{kind} {record_id}")
        table._remove(before)
        self._emit(ChangeKind.DELETED, kind, before, None, ())
        self._derive(before, None)
        return before

    def next_legacy_id(self, kind: str) -> int:
        """The next integer id of a table whose records have ``legacy_id``."""
        table = self._tables[kind]
        keys = table._keys
        return (keys[-1][0][0] + 1) if keys else 1

    # ------------------------------------------------------------------ derived data

    def _derive(self, before: Any, after: Any) -> None:
        kind = (after or before).KIND
        if kind == "server":
            self._server_claims(before, after)
        elif kind == "allocation":
            if before is not None:
                self._add_usage(before, -1)
            if after is not None:
                self._add_usage(after, +1)
            self._bump_generations(before, after)
        elif kind == "volume":
            self._pool_claims(before, after)

    def _add_usage(self, alloc: r.Allocation, sign: int) -> None:
        for rp, resources in alloc.resources.items():
            usage = self._rp_usage.setdefault(rp, {})
            for rc, amount in resources.items():
                usage[rc] = usage.get(rc, 0) + sign * amount

    def _bump_generations(self, before: r.Allocation | None, after: r.Allocation | None
                          ) -> None:
        """Placement increments the generation of every provider whose allocations a
        write touched, so a writer holding an old generation gets a 409."""
        touched = set(before.resources if before is not None else ())
        touched.update(after.resources if after is not None else ())
        for rp_uuid in sorted(touched):
            rp = self.resource_providers.get(rp_uuid)
            if rp is not None:
                self.update("resource_provider", rp_uuid, generation=rp.generation + 1)

    def _server_claims(self, before: r.Server | None, after: r.Server | None) -> None:
        """Keep hypervisor usage and the placement allocation equal to where servers run."""
        old = before if before is not None and before.consumes_host() else None
        new = after if after is not None and after.consumes_host() else None
        if old is not None and new is not None and (old.node, old.flavor) == (new.node, new.flavor):
            return
        if old is not None:
            self._claim_on_node(old, -1)
        if new is not None:
            self._claim_on_node(new, +1)
        sid = (after or before).id  # type: ignore[union-attr]
        if new is None:
            if sid in self.allocations:
                self.delete("allocation", sid)
            return
        hyp = self.hypervisor_by_hostname(new.node or "")
        if hyp is None:
            return
        resources = {hyp.id: flavor_resources(new.flavor)}
        if sid in self.allocations:
            prev = self.allocations.get(sid)
            assert prev is not None
            self.update("allocation", sid, resources=resources,
                        consumer_generation=prev.consumer_generation + 1)
        else:
            self.add(r.Allocation(id=sid, project_id=new.project_id, user_id=new.user_id,
                                  resources=resources, created_at=self.now()))

    def _claim_on_node(self, server: r.Server, sign: int) -> None:
        hyp = self.hypervisor_by_hostname(server.node or "")
        if hyp is None:
            return
        f = server.flavor
        self.update(
            "hypervisor", hyp.id,
            vcpus_used=hyp.vcpus_used + sign * f.vcpus,
            memory_mb_used=hyp.memory_mb_used + sign * f.ram,
            local_gb_used=hyp.local_gb_used + sign * (f.disk + f.ephemeral),
            running_vms=hyp.running_vms + sign,
            updated_at=self.now(),
        )

    def _pool_claims(self, before: r.Volume | None, after: r.Volume | None) -> None:
        for vol, sign in ((before, -1), (after, +1)):
            if vol is None or vol.host is None:
                continue
            pool = self.pools.get(vol.host)
            if pool is None:
                continue
            self.update("pool", pool.id,
                        allocated_capacity_gb=pool.allocated_capacity_gb + sign * vol.size,
                        provisioned_capacity_gb=pool.provisioned_capacity_gb + sign * vol.size)

    # ------------------------------------------------------------------ reads

    def hypervisor_by_hostname(self, hostname: str) -> r.Hypervisor | None:
        found = self.hypervisors.by("hypervisor_hostname", hostname)
        return found[0] if found else None

    def compute_service(self, host: str, binary: str = "nova-compute") -> r.ComputeService | None:
        for svc in self.compute_services.by("host", host):
            if svc.binary == binary:
                return svc
        return None

    def rp_usages(self, rp_uuid: str) -> dict[str, int]:
        """Placement usages of a provider, for every resource class in its inventory."""
        rp = self.resource_providers.get(rp_uuid)
        usage = self._rp_usage.get(rp_uuid, {})
        classes = list(rp.inventories) if rp is not None else list(usage)
        return {rc: usage.get(rc, 0) for rc in classes}

    def rp_allocations(self, rp_uuid: str) -> dict[str, r.Allocation]:
        """Allocations against one provider, by consumer (scans; providers are few per call)."""
        return {a.id: a for a in self.allocations if rp_uuid in a.resources}

    def agent_configurations(self, agent: r.Agent) -> dict[str, object]:
        """An agent's ``configurations``: what it was started with (the record) plus the
        counts an L3 or DHCP agent reports of what it hosts, derived from the bindings now.

        As the agents' state reports count them: L3 ``routers`` bound to it,
        ``ex_gw_ports`` (those with a gateway), ``interfaces`` (their internal ports),
        ``floating_ips`` (on them); DHCP ``networks`` whose DHCP port is on its host, and
        their ``subnets`` and ``ports``.
        """
        config = dict(agent.configurations)
        if agent.agent_type == "L3 agent":
            routers = [rt for b in self.router_bindings.by("l3_agent_id", agent.id)
                       if (rt := self.routers.get(b.router_id)) is not None]
            config.update(
                routers=len(routers),
                ex_gw_ports=sum(1 for rt in routers if rt.external_gateway is not None),
                interfaces=sum(1 for rt in routers for p in self.ports.by("device_id", rt.id)
                               if p.device_owner == "network:router_interface"),
                floating_ips=sum(self.floating_ips.count_by("router_id", rt.id)
                                 for rt in routers))
        elif agent.agent_type == "DHCP agent":
            networks = {p.network_id for p in self.ports.by("binding_host_id", agent.host)
                        if p.device_owner == "network:dhcp"}
            config.update(
                networks=len(networks),
                subnets=sum(self.subnets.count_by("network_id", n) for n in networks),
                ports=sum(self.ports.count_by("network_id", n) for n in networks))
        return config

    def project_usages(self, project_id: str) -> dict[str, int]:
        """Placement ``/usages?project_id=``: the project's allocations summed by class."""
        total: dict[str, int] = {}
        for alloc in self.allocations.by("project_id", project_id):
            for resources in alloc.resources.values():
                for rc, amount in resources.items():
                    total[rc] = total.get(rc, 0) + amount
        return total

    def quota_limit(self, service: str, project_id: str, resource: str) -> int:
        """The limit in force: the project's override, else the default (-1 = unlimited)."""
        override = self.quotas.get(f"{service}:{project_id}:{resource}")
        if override is not None:
            return override.hard_limit
        return self.quota_defaults.get(service, {}).get(resource, -1)

    def quota_usage(self, service: str, project_id: str) -> dict[str, int]:
        """What a project uses, counted from the records (as nova/neutron/cinder count)."""
        if service == "compute":
            servers = self.servers.by("project_id", project_id)
            return {
                "instances": len(servers),
                "cores": sum(s.flavor.vcpus for s in servers),
                "ram": sum(s.flavor.ram for s in servers),
                "key_pairs": 0,
                "server_groups": 0,
                "server_group_members": 0,
                "metadata_items": 0,
            }
        if service == "network":
            return {
                "network": self.networks.count_by("project_id", project_id),
                "subnet": self.subnets.count_by("project_id", project_id),
                "port": self.ports.count_by("project_id", project_id),
                "router": self.routers.count_by("project_id", project_id),
                "floatingip": self.floating_ips.count_by("project_id", project_id),
                "security_group": self.security_groups.count_by("project_id", project_id),
                "security_group_rule": sum(
                    len(g.rules) for g in self.security_groups.by("project_id", project_id)
                ),
                "rbac_policy": 0,
                "subnetpool": 0,
            }
        if service == "block-storage":
            vols = self.volumes.by("project_id", project_id)
            snaps = self.snapshots.by("project_id", project_id)
            return {
                "volumes": len(vols),
                "gigabytes": sum(v.size for v in vols) + sum(s.size for s in snaps),
                "snapshots": len(snaps),
                "backups": 0,
                "backup_gigabytes": 0,
                "groups": 0,
                "per_volume_gigabytes": 0,
            }
        raise KeyError(service)

    def check_consistency(self) -> list[str]:
        """Every broken invariant, described (empty when all hold). Used by tests."""
        problems: list[str] = []
        per_node: dict[str, list[int]] = {}
        for s in self.servers:
            if s.consumes_host():
                acc = per_node.setdefault(s.node or "", [0, 0, 0, 0])
                acc[0] += s.flavor.vcpus
                acc[1] += s.flavor.ram
                acc[2] += s.flavor.disk + s.flavor.ephemeral
                acc[3] += 1
                alloc = self.allocations.get(s.id)
                hyp = self.hypervisor_by_hostname(s.node or "")
                if alloc is None or hyp is None or hyp.id not in alloc.resources:
                    problems.append(f"server {s.id} on {s.node} has no allocation there")
        for h in self.hypervisors:
            want = per_node.get(h.hypervisor_hostname, [0, 0, 0, 0])
            have = [h.vcpus_used, h.memory_mb_used, h.local_gb_used, h.running_vms]
            if want != have:
                problems.append(f"hypervisor {h.hypervisor_hostname} usage {have} != {want}")
            usage = self.rp_usages(h.id)
            placed = (usage.get("VCPU", 0), usage.get("MEMORY_MB", 0))
            if placed != (h.vcpus_used, h.memory_mb_used):
                problems.append(f"provider {h.id} usages {usage} != hypervisor {have}")
        for p in self.ports:
            if p.device_owner.startswith("compute:") and p.device_id not in self.servers:
                problems.append(f"port {p.id} device {p.device_id} is no server")
        for v in self.volumes:
            for a in v.attachments:
                srv = self.servers.get(a.server_id)
                if srv is None or v.id not in srv.volumes_attached:
                    problems.append(f"volume {v.id} attached to {a.server_id} not listing it")
        for pool in self.pools:
            size = sum(v.size for v in self.volumes.by("host", pool.id))
            if size != pool.allocated_capacity_gb:
                problems.append(f"pool {pool.id} allocated {pool.allocated_capacity_gb} != {size}")
        return problems


def _by_start(record: Any) -> SortKey:
    return (record.start_time,)


def flavor_resources(flavor: r.Flavor) -> dict[str, int]:
    """Placement resources a flavor claims (nova ``resources_from_flavor``)."""
    res = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram}
    disk = flavor.disk + flavor.ephemeral
    if disk:
        res["DISK_GB"] = disk
    return res


# Default quotas of the services as recorded (os-quota-sets/defaults, neutron
# quotas/default, cinder os-quota-sets): nova's are nova.conf [quota] defaults.
DEFAULT_QUOTAS: dict[str, dict[str, int]] = {
    "compute": {
        "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
        "key_pairs": 100, "server_groups": 10, "server_group_members": 10,
        "injected_files": 5, "injected_file_content_bytes": 10240,
        "injected_file_path_bytes": 255,
    },
    "network": {
        "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
        "security_group": 10, "security_group_rule": 100, "rbac_policy": 10, "subnetpool": -1,
    },
    "block-storage": {
        "volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
        "backup_gigabytes": 1000, "groups": 10, "per_volume_gigabytes": -1,
    },
}
