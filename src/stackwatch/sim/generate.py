"""Deterministic generation of a whole, mutually consistent cloud at a given size.

``generate(state, Sizing.for_size("big"), seed=1, base_url=...)`` fills an empty
:class:`~stackwatch.sim.state.CloudState`. The same seed gives the same ids, names and
shapes (times are relative to the state's clock). Consistency holds by construction
and is checked by ``CloudState.check_consistency``:

* each server that has a host is on a hypervisor with room for it (vCPU overcommit
  4.0); the hypervisor's used fields and its placement provider's usages are the sum
  of its servers' flavors, and each such server has an allocation;
* each server has ports (``device_id`` = server, ``device_owner`` = ``compute:<az>``)
  whose fixed IPs are its ``addresses``; networks have DHCP ports, routers their
  gateway and interface ports; floating IPs point at server ports;
* in-use volumes are attached to servers of their own project and listed in the
  server's ``volumes_attached``; pools' allocated capacity is the sum of volumes;
* projects whose usage exceeds a default quota get an override above their usage.

Layout of the control plane: ``controller-1..3`` (nova-scheduler, nova-conductor,
cinder-scheduler, neutron DHCP/metadata agents), ``network-N`` nodes (L3 agents),
``compute-NNNN`` hypervisors (nova-compute, Open vSwitch agent), ``storage-N@lvm``
cinder-volume backends.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from stackwatch.errors import SimulatorError
from stackwatch.sim import records as r
from stackwatch.sim.routing import SERVICES, ServiceSpec
from stackwatch.sim.state import DEFAULT_QUOTAS, CloudState, flavor_resources

ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
DEMO_USER = "demo"
SERVICE_USERS = ("nova", "placement", "glance", "neutron", "cinder")
# neutron's default_availability_zone for L3 and DHCP agents; routers (records.Router
# default) and tenant networks are in it, as the agents hosting them are
NETWORK_ZONE = "nova"


@dataclass(frozen=True, slots=True)
class Sizing:
    """How big the generated cloud is. ``for_size`` gives the named presets."""

    hypervisors: int
    servers: int
    projects: int
    ports: int
    volumes: int
    images: int
    resource_providers: int

    @classmethod
    def for_size(cls, size: str, **overrides: int | None) -> Sizing:
        try:
            base = SIZES[size]
        except KeyError:
            raise SimulatorError(
                f"unknown size {size!r} (choose from {', '.join(SIZES)})"
            ) from None
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise SimulatorError(f"unknown sizing knob(s): {', '.join(sorted(unknown))}")
        for key, value in given.items():
            if value < 0:
                raise SimulatorError(f"{key} must be >= 0, not {value}")
        sizing = replace(base, **given)
        if sizing.hypervisors < 1 or sizing.projects < 1:
            raise SimulatorError("a cloud needs at least one hypervisor and one project")
        if sizing.resource_providers < sizing.hypervisors:
            sizing = replace(sizing, resource_providers=sizing.hypervisors)
        return sizing


SIZES: dict[str, Sizing] = {
    "small": Sizing(hypervisors=4, servers=24, projects=4, ports=60, volumes=16, images=4,
                    resource_providers=8),
    "medium": Sizing(hypervisors=100, servers=2000, projects=300, ports=5000, volumes=2000,
                     images=40, resource_providers=1000),
    "big": Sizing(hypervisors=1000, servers=20000, projects=3000, ports=50000, volumes=20000,
                  images=200, resource_providers=10000),
}

FLAVORS: tuple[tuple[str, int, int, int], ...] = (
    # name, vcpus, ram MB, disk GB (nova's classic defaults)
    ("m1.tiny", 1, 512, 1),
    ("m1.small", 1, 2048, 20),
    ("m1.medium", 2, 4096, 40),
    ("m1.large", 4, 8192, 80),
    ("m1.xlarge", 8, 16384, 160),
)
FLAVOR_WEIGHTS = (10, 35, 35, 15, 5)

# NoValidHost fault as recorded (compute/GET ...servers__{id}@latest.error-with-fault.json),
# shortened traceback of nova.conductor.manager.
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
NO_VALID_HOST_TRACE = (
    'Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/nova/'
    'conductor/manager.py", line 1677, in schedule_and_build_instances\n    host_lists = '
    "self._schedule_instances(context, request_specs[0],\n  File \"/usr/lib/python3/"
    'dist-packages/nova/conductor/manager.py", line 965, in _schedule_instances\n    '
    "host_lists = self.query_client.select_destinations(\nnova.exception.NoValidHost: "
    + NO_VALID_HOST + "\n"
)
BUILD_FAILED_TRACE = (
    'Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/nova/'
    'compute/manager.py", line 2617, in _build_and_run_instance\n    self.driver.spawn('
    "context, instance, image_meta,\nnova.exception.BuildAbortException: Build of "
    "instance aborted: Failed to allocate the network(s), not rescheduling.\n"
)


class _Ids:
    """Seeded ids: uuids for most services, 32-hex for keystone."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        """A random (version 4) uuid string; formatted by hand: uuid.UUID is slow in bulk."""
        n = self.rng.getrandbits(128)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[n & 3]}{h[17:20]}-{h[20:]}"

    def hex(self) -> str:
        return self.uuid().replace("-", "")

    def req(self) -> str:
        return "req-" + self.uuid()

    def mac(self) -> str:
        b = self.rng.getrandbits(24)
        return f"fa:16:3e:{b >> 16:02x}:{(b >> 8) & 255:02x}:{b & 255:02x}"


def generate(
    state: CloudState,
    sizing: Sizing,
    *,
    seed: int = 1,
    base_url: str,
    admin_password: str,
    services: tuple[ServiceSpec, ...] = SERVICES,
) -> None:
    """Fill an empty ``state`` with a cloud of ``sizing``; endpoints point at ``base_url``,
    one catalog entry per service of ``services``."""
    _Generator(state, sizing, seed, base_url, admin_password, services).run()


class _Generator:
    def __init__(
        self, state: CloudState, sizing: Sizing, seed: int, base_url: str, password: str,
        services: tuple[ServiceSpec, ...] = SERVICES,
    ) -> None:
        self.state = state
        self.services = services
        self.s = sizing
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.base_url = base_url.rstrip("/")
        self.password = password
        self.now = state.now().replace(microsecond=0)
        self.out: list[Any] = []

    def ago(self, max_days: float, min_days: float = 0.0) -> datetime:
        seconds = self.rng.uniform(min_days * 86400, max_days * 86400)
        return self.now - timedelta(seconds=int(seconds))

    def run(self) -> None:
        self.identity()
        self.compute_control()
        self.hypervisors()
        self.images()
        self.network_base()
        self.servers()
        self.ports_and_addresses()
        self.block_storage()
        self.placement()
        self.quotas()
        self.state.load(self.out)

    # ---------------------------------------------------------------- identity

    def identity(self) -> None:
        ids, out, t0 = self.ids, self.out, self.now - timedelta(days=400)
        out.append(r.Domain(id="default", name="Default", description="The default domain"))
        out.append(r.Region(id=self.state.region))
        roles = {name: ids.hex() for name in ("admin", "member", "reader", "manager", "service")}
        for name, rid in roles.items():
            out.append(r.Role(id=rid, name=name))
        self.admin_project = ids.hex()
        self.service_project = ids.hex()
        out.append(r.Project(id=self.admin_project, name=ADMIN_PROJECT,
                             description="Bootstrap project for initializing the cloud."))
        out.append(r.Project(id=self.service_project, name="service",
                             description="Service project"))
        self.admin_user = ids.hex()
        out.append(r.User(id=self.admin_user, name=ADMIN_USER, password=self.password,
                          created_at=t0))
        for role in ("admin", "member", "reader", "manager"):
            out.append(_assign(self.admin_user, roles[role], self.admin_project))
        self.service_user_ids: dict[str, str] = {}
        for name in SERVICE_USERS:
            uid = ids.hex()
            self.service_user_ids[name] = uid
            out.append(r.User(id=uid, name=name, password=self.password,
                              default_project_id=self.service_project, created_at=t0))
            out.append(_assign(uid, roles["admin"], self.service_project))
            out.append(_assign(uid, roles["service"], self.service_project))
        # tenant projects, each with one member user; the first is "demo"
        self.projects: list[str] = []
        self.project_users: dict[str, str] = {}
        for i in range(self.s.projects):
            pid = ids.hex()
            name = "demo" if i == 0 else f"project-{i:04d}"
            out.append(r.Project(id=pid, name=name, description=f"Tenant {name}"))
            uid = ids.hex()
            uname = DEMO_USER if i == 0 else f"user-{i:04d}"
            out.append(r.User(id=uid, name=uname, password=self.password,
                              default_project_id=pid, created_at=self.ago(365, 30)))
            out.append(_assign(uid, roles["member"], pid))
            out.append(_assign(uid, roles["reader"], pid))
            if i == 0:
                out.append(_assign(self.admin_user, roles["member"], pid))
            self.projects.append(pid)
            self.project_users[pid] = uid
        # catalog: one service per spec, three interfaces on the same URL
        for spec in self.services:
            sid = ids.hex()
            out.append(r.CatalogService(id=sid, type=spec.service_type, name=spec.name))
            suffix = spec.endpoint_suffix
            if spec.project_in_url:
                suffix = suffix + "$(project_id)s"
            url = self.base_url + spec.prefix + suffix
            for interface in ("public", "internal", "admin"):
                out.append(r.Endpoint(id=ids.hex(), service_id=sid, interface=interface,
                                      region_id=self.state.region, url=url))
        # a weight per project: a few big tenants, a long tail (Zipf-like)
        self.project_weights = [1.0 / (1 + i) ** 0.8 for i in range(len(self.projects))]

    # ---------------------------------------------------------------- compute

    def compute_control(self) -> None:
        self.controllers = [f"controller-{i}" for i in (1, 2, 3)]
        n_net = max(2, min(20, self.s.hypervisors // 50))
        self.network_nodes = [f"network-{i}" for i in range(1, n_net + 1)]
        n_storage = max(1, min(20, self.s.volumes // 1000))
        self.storage_hosts = [f"storage-{i}" for i in range(1, n_storage + 1)]
        legacy = 1
        for host in self.controllers:
            for binary in ("nova-scheduler", "nova-conductor"):
                self.out.append(self._nova_service(legacy, binary, host, "internal"))
                legacy += 1
        self.next_service_legacy = legacy
        flavors = []
        for i, (name, vcpus, ram, disk) in enumerate(FLAVORS, start=1):
            # uuid flavor ids, as flavors created through the API (compute/*flavors*.json)
            flavors.append(r.Flavor(id=self.ids.uuid(), legacy_id=i, name=name, vcpus=vcpus,
                                    ram=ram, disk=disk))
        self.flavors = flavors
        self.out.extend(flavors)
        self.out.append(r.Keypair(
            id=f"{self.admin_user}:ops-key", name="ops-key", user_id=self.admin_user,
            fingerprint=":".join(f"{self.rng.getrandbits(8):02x}" for _ in range(16)),
            public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStackwatchSimulatedKey ops@sim",
            created_at=self.ago(300, 200)))

    def _nova_service(self, legacy: int, binary: str, host: str, zone: str) -> r.ComputeService:
        created = self.now - timedelta(days=400)
        return r.ComputeService(
            id=self.ids.uuid(), legacy_id=legacy, binary=binary, host=host, zone=zone,
            updated_at=self.now - timedelta(seconds=self.rng.randint(0, 9)),
            created_at=created, report_count=self.rng.randint(100000, 3000000),
            topic="compute" if binary == "nova-compute" else None)

    def hypervisors(self) -> None:
        self.hyps: list[r.Hypervisor] = []
        shapes = ((64, 262144, 1800), (96, 393216, 3600), (128, 524288, 3600))
        legacy = self.next_service_legacy
        # a cloud of 50 hosts or more spreads them over three availability zones (host
        # aggregates with availability_zone metadata); a small one keeps nova's "nova"
        n = self.s.hypervisors
        zones = ("az1", "az2", "az3") if n >= 50 else ("nova",)
        self.zone_of: dict[str, str] = {}
        for i in range(1, n + 1):
            host = f"compute-{i:04d}"
            zone = zones[(i - 1) * len(zones) // n]
            self.zone_of[host] = zone
            svc = self._nova_service(legacy, "nova-compute", host, zone)
            legacy += 1
            vcpus, mem, disk = shapes[i % len(shapes)]
            hyp = r.Hypervisor(
                id=self.ids.uuid(), legacy_id=i, hypervisor_hostname=host, host=host,
                service_id=svc.id, host_ip=f"192.0.{2 + i // 250}.{1 + i % 250}",
                vcpus=vcpus, memory_mb=mem, local_gb=disk, created_at=svc.created_at,
                updated_at=self.now - timedelta(seconds=self.rng.randint(0, 59)),
                disk_available_least=disk,
            )
            self.out.append(svc)
            self.hyps.append(hyp)
        self.hyp_room = [
            [h.vcpus * 4 - 8, h.memory_mb - h.reserved_host_memory_mb, h.local_gb]
            for h in self.hyps
        ]
        # aggregates: one per 40 hosts ("rack"), plus an ssd aggregate on the first rack
        for a, start in enumerate(range(0, len(self.hyps), 40), start=1):
            hosts = tuple(h.host for h in self.hyps[start:start + 40])
            meta = {"ssd": "true"} if a == 1 else {"rack": f"r{a:02d}"}
            self.out.append(r.Aggregate(id=str(a), legacy_id=a, uuid=self.ids.uuid(),
                                        name=f"rack-{a:02d}", hosts=hosts, metadata=meta,
                                        created_at=self.ago(390, 380)))
        if len(zones) > 1:
            for zone in zones:
                a += 1
                hosts = tuple(h for h, z in self.zone_of.items() if z == zone)
                self.out.append(r.Aggregate(
                    id=str(a), legacy_id=a, uuid=self.ids.uuid(), name=f"{zone}-hosts",
                    availability_zone=zone, hosts=hosts,
                    metadata={"availability_zone": zone}, created_at=self.ago(390, 380)))

    def images(self) -> None:
        self.image_ids: list[str] = []
        distros = ("cirros-0.6.2", "ubuntu-24.04", "debian-12", "rocky-9", "fedora-41",
                   "windows-2022")
        for i in range(self.s.images):
            base = distros[i % len(distros)]
            name = base if i < len(distros) else f"{base}-{i:03d}"
            public = i < len(distros) or self.rng.random() < 0.3
            owner = self.admin_project if public else self.rng.choice(self.projects)
            size = self.rng.randint(12, 8000) * 1048576 + self.rng.randint(0, 1048575)
            status = "active"
            if i >= len(distros):
                status = self.rng.choices(("active", "queued", "deactivated"), (95, 3, 2))[0]
            digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
            created = self.ago(365, 1)
            self.out.append(r.Image(
                id=self.ids.uuid(), name=name, owner=owner, created_at=created,
                updated_at=created, status=status,
                visibility="public" if public else "private",
                size=size if status != "queued" else None,
                virtual_size=size * 2 if status != "queued" else None,
                checksum=digest if status != "queued" else None,
                os_hash_value=hashlib.sha512(name.encode()).hexdigest()
                if status != "queued" else None,
                disk_format="raw" if base.startswith("windows") else "qcow2",
                min_disk=1 if base.startswith("cirros") else 10,
            ))
            if public and status == "active":
                self.image_ids.append(self.out[-1].id)
        if not self.image_ids:
            self.image_ids.append(self.ids.uuid())

    def servers(self) -> None:
        rng, ids = self.rng, self.ids
        n = self.s.servers
        owners = rng.choices(self.projects, self.project_weights, k=n) if n else []
        flavor_picks = rng.choices(self.flavors, FLAVOR_WEIGHTS, k=n) if n else []
        self.servers_out: list[r.Server] = []
        self.actions: list[r.InstanceAction] = []
        nhyp = len(self.hyps)
        cursor = 0
        for i in range(n):
            pid, flavor = owners[i], flavor_picks[i]
            uid = self.project_users[pid]
            created = self.ago(365, 0.01)
            roll = rng.random()
            # every cloud, even a small one, has one stopped server, one that failed to
            # spawn on a host and one that never got one (NoValidHost, in cell0)
            roll = {1: 0.03, 2: 0.007, 3: 0.001}.get(i, roll)
            vm_state, power, task = "active", 1, None
            fault = None
            host_needed = True
            if roll < 0.004:
                vm_state, power, host_needed = "error", 0, False  # NoValidHost: never placed
                fault = r.ServerFault(500, NO_VALID_HOST, NO_VALID_HOST_TRACE, created)
            elif roll < 0.01:
                vm_state, power = "error", 0
                fault = r.ServerFault(500, "Build of instance aborted: Failed to allocate the "
                                      "network(s), not rescheduling.", BUILD_FAILED_TRACE,
                                      created)
            elif roll < 0.05:
                vm_state, power = "stopped", 4
            elif roll < 0.055:
                vm_state, power, task = "building", 0, "spawning"
            elif roll < 0.06:
                vm_state, power = "paused", 3
            host = None
            if host_needed:
                for _ in range(nhyp):
                    room = self.hyp_room[cursor]
                    if (room[0] >= flavor.vcpus and room[1] >= flavor.ram
                            and room[2] >= flavor.disk):
                        room[0] -= flavor.vcpus
                        room[1] -= flavor.ram
                        room[2] -= flavor.disk
                        host = self.hyps[cursor].host
                        cursor = (cursor + 1) % nhyp
                        break
                    cursor = (cursor + 1) % nhyp
                if host is None:  # the cloud is full: this one failed scheduling
                    vm_state, power = "error", 0
                    fault = r.ServerFault(500, NO_VALID_HOST, NO_VALID_HOST_TRACE, created)
            sid = ids.uuid()
            name = f"vm-{i:05d}"
            launched = created + timedelta(seconds=rng.randint(8, 40)) if host else None
            server = r.Server(
                id=sid, name=name, project_id=pid, user_id=uid, flavor=flavor,
                image_id=rng.choice(self.image_ids), created_at=created,
                updated_at=created + timedelta(seconds=rng.randint(10, 3600)),
                instance_name=f"instance-{i + 1:08x}", vm_state=vm_state, task_state=task,
                power_state=power, host=host, node=host,
                launched_at=launched if vm_state != "building" else None,
                fault=fault, reservation_id=f"r-{rng.getrandbits(32):08x}",
                cell="cell1" if host else "cell0", key_name=None,
                availability_zone=self.zone_of.get(host or "", "nova"),
            )
            self.servers_out.append(server)
            self.actions.extend(self._actions_for(server))

    def _actions_for(self, server: r.Server) -> Iterator[r.InstanceAction]:
        """create (+ stop for stopped servers), events as nova records them."""
        t = server.created_at
        failed = server.vm_state == "error"
        # as recorded (...os-instance-actions__{request_id}@latest.{active,error}-create.json):
        # a good boot has the compute event only, a NoValidHost one the conductor's
        if server.host is None:
            events: tuple[r.ActionEvent, ...] = (r.ActionEvent(
                "conductor_schedule_and_build_instances", t + timedelta(seconds=2),
                t + timedelta(seconds=3), "Error", NO_VALID_HOST_TRACE,
                self.controllers[0], NO_VALID_HOST),)
        else:
            events = (
                r.ActionEvent("compute__do_build_and_run_instance", t + timedelta(seconds=3),
                              t + timedelta(seconds=20), "Error" if failed else "Success",
                              BUILD_FAILED_TRACE if failed else None, server.host),
            )
        yield r.InstanceAction(
            id=self.ids.req(), server_id=server.id, action="create", user_id=server.user_id,
            project_id=server.project_id, start_time=t, updated_at=t + timedelta(seconds=20),
            message="Error" if failed else None, events=events)
        if server.vm_state == "stopped":
            t2 = server.updated_at
            yield r.InstanceAction(
                id=self.ids.req(), server_id=server.id, action="stop",
                user_id=server.user_id, project_id=server.project_id, start_time=t2,
                updated_at=t2 + timedelta(seconds=3), events=(r.ActionEvent(
                    "compute_stop_instance", t2, t2 + timedelta(seconds=3), "Success", None,
                    server.host),))

    # ---------------------------------------------------------------- network

    def network_base(self) -> None:
        ids, out, t0 = self.ids, self.out, self.now - timedelta(days=390)
        # the external network, on a /16 so big clouds have enough floating IPs
        self.public_net = ids.uuid()
        self.public_subnet = ids.uuid()
        self.public_ips = _ip_iter("172.24.0.0/16", skip=10)
        out.append(r.Network(id=self.public_net, name="public", project_id=self.admin_project,
                             created_at=t0, updated_at=t0, router_external=True,
                             network_type="flat", physical_network="public",
                             subnets=(self.public_subnet,), revision_number=2))
        out.append(r.Subnet(id=self.public_subnet, name="public-subnet",
                            network_id=self.public_net, project_id=self.admin_project,
                            cidr="172.24.0.0/16", gateway_ip="172.24.0.1", created_at=t0,
                            updated_at=t0, enable_dhcp=False, allocation_pools=(
                                r.AllocationPool("172.24.0.10", "172.24.255.254"),)))
        # agents: OVS everywhere, L3 on network nodes, DHCP + metadata on controllers
        self.l3_agents: list[str] = []
        hosts = [h.host for h in self.hyps]
        for host in (*self.controllers, *self.network_nodes, *hosts):
            out.append(self._agent("Open vSwitch agent", "neutron-openvswitch-agent", host,
                                   "N/A", {"bridge_mappings": {"public": "br-ex"},
                                           "tunnel_types": ["vxlan"]}))
        for host in self.network_nodes:
            # the counts it reports (routers, ...) derive from the bindings:
            # CloudState.agent_configurations
            agent = self._agent("L3 agent", "neutron-l3-agent", host, "l3_agent",
                                {"agent_mode": "legacy", "interface_driver": "openvswitch",
                                 "handle_internal_only_routers": True}, zone=NETWORK_ZONE)
            out.append(agent)
            self.l3_agents.append(agent.id)
        for host in self.controllers:
            out.append(self._agent("DHCP agent", "neutron-dhcp-agent", host, "dhcp_agent",
                                   {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq"},
                                   zone=NETWORK_ZONE))
            out.append(self._agent("Metadata agent", "neutron-metadata-agent", host, "N/A",
                                   {"metadata_proxy_socket": "/var/lib/neutron/metadata_proxy"}))
        # per project: network, subnet, default security group; a router for 2 in 3
        self.tenant_net: dict[str, tuple[str, str, str, Iterator[str]]] = {}
        self.routers_by_project: dict[str, str] = {}
        self.infra_ports: list[r.Port] = []
        for k, pid in enumerate(self.projects):
            created = self.ago(380, 30)
            net_id, sub_id = ids.uuid(), ids.uuid()
            cidr = f"10.{k % 250}.0.0/16"
            net = ipaddress.ip_network(cidr)
            gateway = str(net.network_address + 1)
            name = f"net-{k:04d}"
            out.append(r.Network(id=net_id, name=name, project_id=pid, created_at=created,
                                 updated_at=created, network_type="vxlan",
                                 segmentation_id=1000 + k, subnets=(sub_id,), mtu=1450,
                                 revision_number=2,
                                 # the zone of the DHCP agent serving it (below)
                                 availability_zones=(NETWORK_ZONE,)))
            out.append(r.Subnet(id=sub_id, name=f"subnet-{k:04d}", network_id=net_id,
                                project_id=pid, cidr=cidr, gateway_ip=gateway,
                                created_at=created, updated_at=created, allocation_pools=(
                                    r.AllocationPool(str(net.network_address + 2),
                                                     str(net.broadcast_address - 1)),),
                                dns_nameservers=("192.0.2.53",)))
            ips = _ip_iter(cidr, skip=2)
            self.tenant_net[pid] = (net_id, sub_id, name, ips)
            sg_id = ids.uuid()
            out.append(r.SecurityGroup(
                id=sg_id, name="default", project_id=pid, created_at=created,
                updated_at=created, description="Default security group", rules=(
                    r.SecurityGroupRule(ids.uuid(), "egress", "IPv4"),
                    r.SecurityGroupRule(ids.uuid(), "egress", "IPv6"),
                    r.SecurityGroupRule(ids.uuid(), "ingress", "IPv4", remote_group_id=sg_id),
                    r.SecurityGroupRule(ids.uuid(), "ingress", "IPv6", remote_group_id=sg_id),
                )))
            self.sg_by_project = getattr(self, "sg_by_project", {})
            self.sg_by_project[pid] = sg_id
            dhcp_host = self.controllers[k % len(self.controllers)]
            self.infra_ports.append(self._port(pid, net_id, sub_id, next(ips),
                                               f"dhcp-{dhcp_host}", "network:dhcp", dhcp_host,
                                               created))
            if k % 3 != 2:
                rid = ids.uuid()
                gw_ip = next(self.public_ips)
                out.append(r.Router(
                    id=rid, name=f"router-{k:04d}", project_id=pid, created_at=created,
                    updated_at=created, revision_number=3,
                    external_gateway=r.ExternalGateway(
                        self.public_net, (r.FixedIP(self.public_subnet, gw_ip),))))
                l3_agent = self.l3_agents[k % len(self.l3_agents)]
                l3_host = self.network_nodes[k % len(self.network_nodes)]
                out.append(r.RouterBinding(id=f"{rid}:{l3_agent}", router_id=rid,
                                           l3_agent_id=l3_agent))
                self.infra_ports.append(self._port(
                    "", self.public_net, self.public_subnet, gw_ip, rid,
                    "network:router_gateway", l3_host, created))
                self.infra_ports.append(self._port(
                    pid, net_id, sub_id, gateway, rid, "network:router_interface", l3_host,
                    created))
                self.routers_by_project[pid] = rid

    def _agent(self, agent_type: str, binary: str, host: str, topic: str,
               conf: dict[str, object], zone: str | None = None) -> r.Agent:
        return r.Agent(
            id=self.ids.uuid(), agent_type=agent_type, binary=binary, host=host, topic=topic,
            created_at=self.now - timedelta(days=390), started_at=self.ago(30, 1),
            heartbeat_timestamp=self.now - timedelta(seconds=self.rng.randint(0, 29)),
            availability_zone=zone, configurations=conf)

    def _port(self, pid: str, net: str, sub: str, ip: str, device_id: str, owner: str,
              host: str, created: datetime, name: str = "") -> r.Port:
        sgs = (self.sg_by_project[pid],) if owner.startswith("compute:") else ()
        return r.Port(
            id=self.ids.uuid(), name=name, network_id=net, project_id=pid,
            mac_address=self.ids.mac(), created_at=created, updated_at=created,
            fixed_ips=(r.FixedIP(sub, ip),), device_id=device_id, device_owner=owner,
            status="ACTIVE" if host else "DOWN", binding_host_id=host,
            binding_vif_type="ovs" if host else "unbound", security_groups=sgs,
            port_security_enabled=owner.startswith("compute:"),
            revision_number=4 if host else 1)

    def ports_and_addresses(self) -> None:
        """Give servers their ports (and addresses, floating IPs), then fill up to ``ports``."""
        out, rng = self.out, self.rng
        budget = max(0, self.s.ports - len(self.infra_ports))
        placed = [s for s in self.servers_out if s.host is not None]
        extra = max(0, budget - len(placed))
        ports: list[r.Port] = list(self.infra_ports)
        servers: list[r.Server] = []
        fip_budget = min(len(placed) // 10, 60000)
        for s in self.servers_out:
            if s.host is None or budget <= 0:
                servers.append(s)
                continue
            net_id, sub_id, net_name, ips = self.tenant_net[s.project_id]
            nics = 1
            if extra > 0 and rng.random() < 0.3:
                nics, extra = 2, extra - 1
            addresses = []
            for _ in range(nics):
                port = self._port(s.project_id, net_id, sub_id, next(ips), s.id,
                                  f"compute:{s.availability_zone}", s.host, s.created_at)
                ports.append(port)
                budget -= 1
                addresses.append(r.ServerAddress(net_name, port.fixed_ips[0].ip_address,
                                                 port.mac_address))
                router = self.routers_by_project.get(s.project_id)
                if fip_budget > 0 and router and rng.random() < 0.1:
                    fip_budget -= 1
                    fip_ip = next(self.public_ips)
                    out.append(r.FloatingIP(
                        id=self.ids.uuid(), project_id=s.project_id, floating_ip_address=fip_ip,
                        floating_network_id=self.public_net, created_at=s.created_at,
                        updated_at=s.created_at, router_id=router, port_id=port.id,
                        fixed_ip_address=port.fixed_ips[0].ip_address, status="ACTIVE",
                        revision_number=2))
                    addresses.append(r.ServerAddress(net_name, fip_ip, port.mac_address,
                                                     type="floating"))
            _fill(s, addresses=tuple(addresses))
            servers.append(s)
        # what is left: unbound ports (reserved addresses, VIPs) in random projects
        while budget > 0:
            pid = rng.choice(self.projects)
            net_id, sub_id, _, ips = self.tenant_net[pid]
            ports.append(self._port(pid, net_id, sub_id, next(ips), "", "", "",
                                    self.ago(200), name=f"vip-{budget}"))
            budget -= 1
        self.servers_out = servers
        out.extend(ports)

    # ---------------------------------------------------------------- block storage

    def block_storage(self) -> None:
        rng, ids, out = self.rng, self.ids, self.out
        t0 = self.now - timedelta(days=400)
        lvm_type = r.VolumeType(id=ids.uuid(), name="lvmdriver-1",
                                extra_specs={"volume_backend_name": "lvmdriver-1"})
        out.append(r.VolumeType(id=ids.uuid(), name="__DEFAULT__",
                                description="Default Volume Type"))
        out.append(lvm_type)
        legacy = 1
        for host in self.controllers:
            out.append(r.VolumeService(id=ids.uuid(), legacy_id=legacy,
                                       binary="cinder-scheduler", host=host, zone="nova",
                                       updated_at=self.now - timedelta(seconds=rng.randint(0, 9)),
                                       created_at=t0))
            legacy += 1
        pools: list[str] = []
        for host in self.storage_hosts:
            out.append(r.VolumeService(id=ids.uuid(), legacy_id=legacy, binary="cinder-volume",
                                       host=f"{host}@lvm", zone="nova", created_at=t0,
                                       updated_at=self.now - timedelta(seconds=rng.randint(0, 9)),
                                       backend_state="up"))
            legacy += 1
            pools.append(f"{host}@lvm#lvm")
        servers_by_project: dict[str, list[int]] = {}
        for idx, s in enumerate(self.servers_out):
            if s.host is not None:
                servers_by_project.setdefault(s.project_id, []).append(idx)
        pool_size = dict.fromkeys(pools, 0)
        attached: dict[int, list[str]] = {}
        vols: list[r.Volume] = []
        owners = rng.choices(self.projects, self.project_weights, k=self.s.volumes)
        for i, pid in enumerate(owners):
            created = self.ago(365, 0.01)
            size = rng.choice((1, 5, 10, 20, 40, 50, 100, 200, 500))
            pool = pools[i % len(pools)]
            # None in a transitional status (creating, deleting...): generated, it would sit
            # there for months, a stuck volume; the API and the fault scenarios make those.
            # (The last weight was "creating": kept, so the random stream, and with it the
            # rest of the generated cloud, stays as it was.)
            status = rng.choices(("available", "in-use", "error", "available"),
                                 (40, 57, 2, 1))[0]
            attachments: tuple[r.VolumeAttachment, ...] = ()
            vid = ids.uuid()
            candidates = servers_by_project.get(pid)
            if status == "in-use":
                if candidates:
                    sidx = rng.choice(candidates)
                    srv = self.servers_out[sidx]
                    devices = attached.setdefault(sidx, [])
                    devices.append(vid)
                    attachments = (r.VolumeAttachment(
                        id=ids.uuid(), server_id=srv.id, device=f"/dev/vd{chr(97 + len(devices))}",
                        host_name=srv.host, attached_at=created + timedelta(minutes=5)),)
                else:
                    status = "available"
            vol_host = pool
            pool_size[vol_host] += size
            vols.append(r.Volume(
                id=vid, name=f"vol-{i:05d}", project_id=pid, user_id=self.project_users[pid],
                size=size, created_at=created, updated_at=created + timedelta(minutes=5),
                status=status, volume_type=lvm_type.name, volume_type_id=lvm_type.id, host=vol_host,
                attachments=attachments, bootable=rng.random() < 0.2))
        for sidx, vids in attached.items():
            srv = self.servers_out[sidx]
            _fill(srv, volumes_attached=tuple(vids))
        out.extend(vols)
        # snapshots of one volume in ten
        for i, vol in enumerate(vols[:: 10]):
            status = "available" if i % 50 else "error"
            out.append(r.Snapshot(
                id=ids.uuid(), name=f"snap-{i:05d}", volume_id=vol.id, project_id=vol.project_id,
                user_id=vol.user_id, size=vol.size, created_at=vol.created_at + timedelta(hours=1),
                updated_at=vol.created_at + timedelta(hours=1), status=status))
        capacity = max(10000, (sum(pool_size.values()) * 2) // max(1, len(pools)))
        for pool in pools:
            out.append(r.Pool(id=pool, volume_backend_name="lvmdriver-1",
                              total_capacity_gb=float(capacity),
                              free_capacity_gb=float(capacity - pool_size[pool] // 2),
                              allocated_capacity_gb=pool_size[pool],
                              provisioned_capacity_gb=pool_size[pool], timestamp=self.now))
        out.extend(self.servers_out)
        out.extend(self.actions)
        # one confirmed cold migration per 100 servers (at least a few; history only)
        step = max(1, min(100, len(self.servers_out) // 4))
        for i, s in enumerate(self.servers_out[::step], start=1):
            if s.host is None or len(self.hyps) < 2:
                continue
            src_hyp = self.hyps[(i * 7) % len(self.hyps)]
            src = src_hyp.host
            if src == s.host:
                continue
            dest_ip = next(h.host_ip for h in self.hyps if h.host == s.host)
            out.append(r.Migration(
                id=str(i), legacy_id=i, uuid=ids.uuid(), server_id=s.id, source_compute=src,
                dest_compute=s.host, source_node=src, dest_node=s.host, status="confirmed",
                migration_type="migration", project_id=s.project_id, user_id=s.user_id,
                created_at=s.created_at + timedelta(days=1),
                updated_at=s.created_at + timedelta(days=1, minutes=1),
                old_flavor_id=s.flavor.legacy_id, new_flavor_id=s.flavor.legacy_id,
                dest_host=dest_ip))

    # ---------------------------------------------------------------- placement

    def placement(self) -> None:
        out, ids = self.out, self.ids
        used: dict[str, list[int]] = {h.host: [0, 0, 0, 0] for h in self.hyps}
        for s in self.servers_out:
            if s.consumes_host():
                u = used[s.node or ""]
                u[0] += s.flavor.vcpus
                u[1] += s.flavor.ram
                u[2] += s.flavor.disk + s.flavor.ephemeral
                u[3] += 1
        agg_of: dict[str, tuple[str, ...]] = {}  # host -> aggregate uuids
        for rec in out:
            if isinstance(rec, r.Aggregate):
                for h in rec.hosts:
                    agg_of[h] = (*agg_of.get(h, ()), rec.uuid)
        extra = self.s.resource_providers - len(self.hyps)
        for i, hyp in enumerate(self.hyps):
            u = used[hyp.host]
            hyp = replace(hyp, vcpus_used=u[0], memory_mb_used=u[1], local_gb_used=u[2],
                          running_vms=u[3], disk_available_least=hyp.local_gb - u[2])
            self.hyps[i] = hyp
            out.append(hyp)
            created = hyp.created_at
            out.append(r.ResourceProvider(
                id=hyp.id, name=hyp.hypervisor_hostname, created_at=created,
                updated_at=self.now, generation=self.rng.randint(2, 40),
                inventories={
                    "VCPU": r.Inventory(hyp.vcpus, 0, 1, hyp.vcpus, 1, hyp.cpu_allocation_ratio),
                    "MEMORY_MB": r.Inventory(hyp.memory_mb, hyp.reserved_host_memory_mb, 1,
                                             hyp.memory_mb, 1, hyp.ram_allocation_ratio),
                    "DISK_GB": r.Inventory(hyp.local_gb, 0, 1, hyp.local_gb, 1,
                                           hyp.disk_allocation_ratio),
                },
                aggregates=agg_of.get(hyp.host, ()),
                traits=("COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_EXTEND", "HW_CPU_X86_AVX2"),
            ))
            # nested providers, as neutron (bandwidth) and nova (PCI in placement) make them
            n_children = extra // len(self.hyps) + (1 if i < extra % len(self.hyps) else 0)
            agent_rp = None
            for c in range(n_children):
                if c == 0:
                    agent_rp = ids.uuid()
                    out.append(r.ResourceProvider(
                        id=agent_rp, name=f"{hyp.host}:Open vSwitch agent", created_at=created,
                        updated_at=created, generation=1, parent_provider_uuid=hyp.id,
                        root_provider_uuid=hyp.id, traits=("CUSTOM_VNIC_TYPE_NORMAL",)))
                elif c == 1 and agent_rp is not None:
                    out.append(r.ResourceProvider(
                        id=ids.uuid(), name=f"{hyp.host}:Open vSwitch agent:br-ex",
                        created_at=created, updated_at=created, generation=1,
                        parent_provider_uuid=agent_rp, root_provider_uuid=hyp.id,
                        inventories={
                            "NET_BW_EGR_KILOBIT_PER_SEC": r.Inventory(10000000, max_unit=10000000),
                            "NET_BW_IGR_KILOBIT_PER_SEC": r.Inventory(10000000, max_unit=10000000),
                        }, traits=("CUSTOM_PHYSNET_PUBLIC", "CUSTOM_VNIC_TYPE_NORMAL")))
                else:
                    out.append(r.ResourceProvider(
                        id=ids.uuid(), name=f"{hyp.host}_0000:81:00.{c - 2}",
                        created_at=created, updated_at=created, generation=1,
                        parent_provider_uuid=hyp.id, root_provider_uuid=hyp.id,
                        inventories={"CUSTOM_PCI_10DE_20B5": r.Inventory(1, max_unit=1)},
                        traits=("COMPUTE_MANAGED_PCI_DEVICE",)))
        rp_of = {h.host: h.id for h in self.hyps}
        for s in self.servers_out:
            if s.consumes_host():
                out.append(r.Allocation(
                    id=s.id, project_id=s.project_id, user_id=s.user_id,
                    resources={rp_of[s.node or ""]: flavor_resources(s.flavor)},
                    created_at=s.created_at))

    # ---------------------------------------------------------------- quotas

    def quotas(self) -> None:
        """Overrides where a project's usage would exceed a default limit."""
        usage: dict[tuple[str, str], dict[str, int]] = {}

        def add(service: str, pid: str, resource: str, amount: int) -> None:
            acc = usage.setdefault((service, pid), {})
            acc[resource] = acc.get(resource, 0) + amount

        for rec in self.out:
            if isinstance(rec, r.Server):
                add("compute", rec.project_id, "instances", 1)
                add("compute", rec.project_id, "cores", rec.flavor.vcpus)
                add("compute", rec.project_id, "ram", rec.flavor.ram)
            elif isinstance(rec, r.Port):
                add("network", rec.project_id, "port", 1)
            elif isinstance(rec, r.FloatingIP):
                add("network", rec.project_id, "floatingip", 1)
            elif isinstance(rec, r.Volume):
                add("block-storage", rec.project_id, "volumes", 1)
                add("block-storage", rec.project_id, "gigabytes", rec.size)
            elif isinstance(rec, r.Snapshot):
                add("block-storage", rec.project_id, "snapshots", 1)
                add("block-storage", rec.project_id, "gigabytes", rec.size)
        for (service, pid), used in usage.items():
            if not pid:
                continue
            for resource, amount in used.items():
                default = DEFAULT_QUOTAS[service].get(resource, -1)
                if default != -1 and amount > default * 0.8:
                    limit = max(default, int(amount * 1.5) + 1)
                    self.out.append(r.QuotaOverride(
                        id=f"{service}:{pid}:{resource}", service=service, project_id=pid,
                        resource=resource, hard_limit=limit))


def _assign(user_id: str, role_id: str, project_id: str) -> r.RoleAssignment:
    return r.RoleAssignment(id=f"{user_id}:{role_id}:{project_id}", user_id=user_id,
                            role_id=role_id, project_id=project_id)


def _ip_iter(cidr: str, skip: int) -> Iterator[str]:
    net = ipaddress.ip_network(cidr)
    base = int(net.network_address)
    for offset in range(skip, net.num_addresses - 1):
        n = base + offset
        yield f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    raise SimulatorError(f"{cidr} is out of addresses")


def _fill(record: Any, **fields: Any) -> None:
    """Set fields of a record the generator made and has not handed out yet.

    Records are frozen for everyone else; here, before ``state.load``, filling them in
    place avoids ``dataclasses.replace`` (re-running ``__init__``) 20,000 times.
    """
    for name, value in fields.items():
        object.__setattr__(record, name, value)
