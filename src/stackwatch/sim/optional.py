"""Ground truth of the nine optional services the simulator serves on request
(``SimulatedCloud(optional_services=True)``, ``stackwatch sim --optional-services``).

Heat stacks, octavia load balancers (their amphorae, pools and listeners), ironic
nodes, designate zones and recordsets, manila shares, magnum clusters, trove
instances, gnocchi's metrics, resources and backlog, and the swift containers of the
admin project's account. :func:`generate` makes a deterministic set per cloud size
(the same seed gives the same items): every status list cycles through several
statuses so that the counts by status are never all in one, one ironic node is in
maintenance. The items do not change while the simulator runs.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from stackwatch.sim.state import CloudState

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stack:
    id: str
    name: str
    project_id: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    id: str
    name: str
    project_id: str
    operating_status: str
    provisioning_status: str
    vip_address: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Amphora:
    id: str
    load_balancer_id: str
    compute_id: str
    status: str
    role: str
    lb_network_ip: str
    ha_ip: str
    cert_expiration: datetime


@dataclass(frozen=True, slots=True)
class Pool:
    id: str
    name: str
    project_id: str
    load_balancer_id: str
    protocol: str
    lb_algorithm: str
    provisioning_status: str
    operating_status: str


@dataclass(frozen=True, slots=True)
class Listener:
    id: str
    name: str
    project_id: str
    load_balancer_id: str
    protocol: str
    protocol_port: int
    provisioning_status: str
    operating_status: str


@dataclass(frozen=True, slots=True)
class Node:
    uuid: str
    name: str
    provision_state: str
    power_state: str | None  # ironic's null until a node's power is known (enroll)
    maintenance: bool
    maintenance_reason: str | None
    instance_uuid: str | None
    last_error: str | None
    updated_at: datetime
    provision_updated_at: datetime


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    name: str
    project_id: str
    status: str
    type: str


@dataclass(frozen=True, slots=True)
class Recordset:
    id: str
    zone_id: str
    name: str
    type: str
    status: str
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Share:
    id: str
    name: str
    project_id: str
    status: str
    size: int
    share_proto: str
    share_type: str
    share_type_name: str
    availability_zone: str


@dataclass(frozen=True, slots=True)
class Cluster:
    uuid: str
    name: str
    project_id: str
    status: str
    stack_id: str
    master_count: int
    node_count: int


@dataclass(frozen=True, slots=True)
class DatabaseInstance:
    id: str
    name: str
    tenant_id: str
    status: str
    datastore_type: str
    datastore_version: str
    volume_size: int
    volume_used: float


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    count: int
    bytes: int


@dataclass
class OptionalWorld:
    """Every item of the nine services, each list in its service's listing order."""

    stacks: list[Stack] = field(default_factory=list)
    loadbalancers: list[LoadBalancer] = field(default_factory=list)
    amphorae: list[Amphora] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    recordsets: list[Recordset] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    instances: list[DatabaseInstance] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # gnocchi metric ids
    resources: list[str] = field(default_factory=list)  # gnocchi generic resource ids
    backlog: dict[str, int] = field(default_factory=dict)  # metric id -> measures to process
    processors: list[str] = field(default_factory=list)  # metricd processors
    account_project: str = ""  # the swift account listed: AUTH_<this project>
    containers: list[Container] = field(default_factory=list)

    @cached_property
    def by_load_balancer(self) -> dict[str, tuple[list[str], list[str]]]:
        """Load balancer id -> (its pools' ids, its listeners' ids)."""
        found: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for pool in self.pools:
            found[pool.load_balancer_id][0].append(pool.id)
        for listener in self.listeners:
            found[listener.load_balancer_id][1].append(listener.id)
        return dict(found)

    @cached_property
    def zone_recordsets(self) -> dict[str, list[Recordset]]:
        """Zone id -> its recordsets."""
        found: dict[str, list[Recordset]] = {zone.id: [] for zone in self.zones}
        for recordset in self.recordsets:
            found[recordset.zone_id].append(recordset)
        return found


def world_of(state: CloudState) -> OptionalWorld:
    """The optional services' items of ``state`` (their routes exist only when it has them)."""
    if state.optional is None:
        raise RuntimeError("the simulator does not serve the optional services")
    return state.optional


# Status cycles: each item takes the next (mostly the healthy one, then the others).
STACK_CYCLE = ("CREATE_COMPLETE",) * 5 + ("UPDATE_COMPLETE", "CREATE_FAILED",
                                         "CREATE_IN_PROGRESS", "UPDATE_FAILED",
                                         "DELETE_FAILED", "ROLLBACK_COMPLETE")
LB_CYCLE = (("ONLINE", "ACTIVE"),) * 4 + (("DEGRADED", "ACTIVE"), ("OFFLINE", "ACTIVE"),
                                          ("ERROR", "ERROR"), ("OFFLINE", "PENDING_CREATE"))
AMPHORA_CYCLE = ("ALLOCATED",) * 5 + ("READY", "BOOTING", "ERROR")
POOL_CYCLE = (("ACTIVE", "ONLINE"),) * 3 + (("ACTIVE", "DEGRADED"), ("ERROR", "ERROR"),
                                            ("PENDING_UPDATE", "ONLINE"))
NODE_CYCLE = (("active", "power on"),) * 3 + (
    ("available", "power off"), ("deploying", "power on"), ("deploy failed", "power off"),
    ("manageable", "power off"), ("clean failed", "power off"), ("enroll", None))
ZONE_CYCLE = ("ACTIVE",) * 4 + ("PENDING", "ERROR")
SHARE_CYCLE = ("available",) * 5 + ("creating", "error", "extending", "deleting",
                                    "error_deleting")
CLUSTER_CYCLE = ("CREATE_COMPLETE",) * 3 + ("UPDATE_COMPLETE", "CREATE_FAILED",
                                           "CREATE_IN_PROGRESS", "DELETE_FAILED")
INSTANCE_CYCLE = ("ACTIVE",) * 4 + ("BUILD", "ERROR", "SHUTDOWN", "BACKUP")


def cycle(statuses: Sequence[T], index: int) -> T:
    return statuses[index % len(statuses)]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def ip(self, prefix: str) -> str:
        return f"{prefix}.{self.rng.randint(0, 255)}.{self.rng.randint(2, 254)}"


def generate(projects: Sequence[str], admin_project: str, hypervisors: int,
             now: datetime, seed: int = 1) -> OptionalWorld:
    """The items of a cloud of ``projects`` (ids, tenants first) and ``hypervisors``."""
    rng = random.Random(f"optional-{seed}")
    ids = _Ids(rng)
    n = len(projects)
    world = OptionalWorld(account_project=admin_project)

    def owner(i: int) -> str:
        return projects[i % n]

    def ago(days: float) -> datetime:
        return now - timedelta(seconds=rng.randint(60, int(days * 86400)))

    # heat: more than one page of 100 at every size
    for i in range(min(5000, 100 + 3 * n)):
        world.stacks.append(Stack(ids.uuid(), f"stack-{i:04d}", owner(i), cycle(STACK_CYCLE, i),
                                  ago(300)))
    # octavia: an active/standby pair of amphorae, a pool and a listener or two per LB
    for i in range(min(2000, 4 + 2 * n)):
        operating, provisioning = cycle(LB_CYCLE, i)
        lb = LoadBalancer(ids.uuid(), f"lb-{i:04d}", owner(i), operating, provisioning,
                          ids.ip("10.20"), ago(200))
        world.loadbalancers.append(lb)
        for role in ("MASTER", "BACKUP"):
            world.amphorae.append(Amphora(
                ids.uuid(), lb.id, ids.uuid(), cycle(AMPHORA_CYCLE, len(world.amphorae)), role,
                ids.ip("172.31"), lb.vip_address, now + timedelta(days=rng.randint(30, 700))))
        prov, oper = cycle(POOL_CYCLE, i)
        world.pools.append(Pool(ids.uuid(), f"pool-{i:04d}", lb.project_id, lb.id,
                                "HTTP", "ROUND_ROBIN", prov, oper))
        for port in (80, 443)[: 1 + i % 2]:
            world.listeners.append(Listener(
                ids.uuid(), f"listener-{i:04d}-{port}", lb.project_id, lb.id,
                "HTTP" if port == 80 else "TERMINATED_HTTPS", port, provisioning, operating))
    # ironic: a node per ten hypervisors, at least nine (every state of the cycle)
    for i in range(max(9, min(2000, hypervisors // 10))):
        provision, power = cycle(NODE_CYCLE, i)
        maintenance = i == 1
        world.nodes.append(Node(
            ids.uuid(), f"bm-{i:04d}", provision, power, maintenance,
            "disk replacement" if maintenance else None,
            ids.uuid() if provision == "active" else None,
            "Deploy step failed" if provision == "deploy failed" else None,
            ago(10), ago(30)))
    # designate: a zone per project and two more, SOA, NS and some A records each
    for i in range(min(1000, 2 + n)):
        zone = Zone(ids.uuid(), f"zone{i:04d}.example.org.", owner(i), cycle(ZONE_CYCLE, i),
                    "PRIMARY" if i % 5 else "SECONDARY")
        world.zones.append(zone)
        records = [("SOA", "ns1.example.org. hostmaster.example.org. 1 3600 600 86400 3600"),
                   ("NS", "ns1.example.org.")]
        records += [("A", ids.ip("203.0")) for _ in range(1 + i % 3)]
        for j, (kind, data) in enumerate(records):
            status = "PENDING" if zone.status == "PENDING" or (kind == "A" and j == 4) \
                else "ERROR" if zone.status == "ERROR" and kind == "A" else "ACTIVE"
            name = zone.name if kind != "A" else f"host{j}.{zone.name}"
            world.recordsets.append(Recordset(ids.uuid(), zone.id, name, kind, status, (data,)))
    # manila
    for i in range(min(5000, 3 + 3 * n)):
        world.shares.append(Share(
            ids.uuid(), f"share-{i:04d}", owner(i), cycle(SHARE_CYCLE, i),
            rng.choice((1, 5, 10, 50, 100)), "NFS" if i % 4 else "CEPHFS",
            "f1b1c7e6-2f5b-4d8f-9d57-6c1a2a0c9e11", "default", "nova"))
    # magnum
    for i in range(min(1000, 2 + n)):
        world.clusters.append(Cluster(
            ids.uuid(), f"k8s-{i:04d}", owner(i), cycle(CLUSTER_CYCLE, i), ids.uuid(),
            1 + 2 * (i % 2), 2 + i % 4))
    # trove
    for i in range(min(1000, 4 + n)):
        size = rng.choice((5, 10, 20))
        world.instances.append(DatabaseInstance(
            ids.uuid(), f"db-{i:04d}", owner(i), cycle(INSTANCE_CYCLE, i),
            "mysql" if i % 3 else "postgresql", "8.0" if i % 3 else "16",
            size, round(rng.uniform(0.1, size * 0.9), 2)))
    # gnocchi: a resource per hypervisor (capped), two metrics each, a backlog on some
    for _ in range(min(2000, max(4, hypervisors))):
        world.resources.append(ids.uuid())
        for _ in range(2):
            metric = ids.uuid()
            world.metrics.append(metric)
            if rng.random() < 0.3:
                world.backlog[metric] = rng.randint(1, 40)
    world.processors = [f"controller-{c}.{p}" for c in (1, 2, 3) for p in (0, 1)]
    # swift: the admin account's containers, one empty
    for i in range(min(200, 3 + n)):
        count = 0 if i == 0 else rng.randint(1, 500)
        world.containers.append(Container(f"container-{i:03d}", count,
                                          count * rng.randint(1000, 5_000_000)))
    for items in (world.stacks, world.loadbalancers, world.amphorae, world.pools,
                  world.listeners, world.zones, world.recordsets, world.shares,
                  world.instances):
        items.sort(key=lambda item: item.id)
    world.nodes.sort(key=lambda node: node.uuid)
    world.clusters.sort(key=lambda c: c.uuid)
    world.metrics.sort()
    world.resources.sort()
    world.containers.sort(key=lambda c: c.name)
    return world
