"""The simulated cloud's records: one frozen dataclass per kind of thing a service keeps.

Records are immutable; :class:`~stackwatch.sim.state.CloudState` replaces them
(``dataclasses.replace``) so a :class:`~stackwatch.sim.events.Change` can carry the
record before and after. Times are timezone-aware UTC ``datetime``s; each API module
formats them the way its service does. Field names follow the real services' API
(or, where the API renames, their database columns); what the API derives (a server's
``status``, a service's ``state``) is a method, not a field, so it can never disagree
with what it is derived from.

Each class has ``KIND`` (the ``Change.resource`` name and the table name in
``CloudState``) and an ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

# nova.conf [DEFAULT] service_down_time; cinder's is the same; neutron agent_down_time.
SERVICE_DOWN_TIME = timedelta(seconds=60)
AGENT_DOWN_TIME = timedelta(seconds=75)


def _empty() -> dict[str, str]:
    return {}


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True, slots=True)
class Domain:
    KIND: ClassVar[str] = "domain"
    id: str
    name: str
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Project:
    KIND: ClassVar[str] = "project"
    id: str
    name: str
    domain_id: str = "default"
    description: str = ""
    enabled: bool = True
    parent_id: str | None = "default"
    is_domain: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    KIND: ClassVar[str] = "user"
    id: str
    name: str
    password: str
    domain_id: str = "default"
    enabled: bool = True
    email: str | None = None
    default_project_id: str | None = None
    password_expires_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Role:
    KIND: ClassVar[str] = "role"
    id: str
    name: str
    domain_id: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A role of a user on a project (or a domain); ``id`` is ``user:role:target``."""

    KIND: ClassVar[str] = "role_assignment"
    id: str
    user_id: str
    role_id: str
    project_id: str | None = None
    domain_id: str | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """An issued token (keystone's fernet tokens are not stored; the simulator keeps them)."""

    KIND: ClassVar[str] = "token"
    id: str
    user_id: str
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    project_id: str | None = None
    methods: tuple[str, ...] = ("password",)
    revoked: bool = False
    remote_addr: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Region:
    KIND: ClassVar[str] = "region"
    id: str
    description: str = ""
    parent_region_id: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogService:
    """A keystone service entry (``type`` is the service type, ``name`` the codename)."""

    KIND: ClassVar[str] = "catalog_service"
    id: str
    type: str
    name: str
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    KIND: ClassVar[str] = "endpoint"
    id: str
    service_id: str
    interface: str
    region_id: str
    url: str
    enabled: bool = True


# --------------------------------------------------------------------------- compute


@dataclass(frozen=True, slots=True)
class ComputeService:
    """A nova service (os-services; nova ``services`` table)."""

    KIND: ClassVar[str] = "compute_service"
    id: str  # uuid (API >= 2.53)
    legacy_id: int  # integer id (API < 2.53, DB primary key)
    binary: str
    host: str
    zone: str
    updated_at: datetime
    created_at: datetime
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    report_count: int = 0
    version: int = 70
    topic: str | None = None

    def is_up(self, now: datetime) -> bool:
        """nova's servicegroup DB driver: not forced down and reported recently."""
        return not self.forced_down and now - self.updated_at <= SERVICE_DOWN_TIME

    def status(self) -> str:
        return "disabled" if self.disabled else "enabled"


@dataclass(frozen=True, slots=True)
class CpuInfo:
    arch: str = "x86_64"
    model: str = "Nehalem"
    vendor: str = "Intel"
    features: tuple[str, ...] = ("pge", "clflush")
    sockets: int = 4
    cores: int = 1
    threads: int = 1


@dataclass(frozen=True, slots=True)
class Hypervisor:
    """A compute node (os-hypervisors; nova ``compute_nodes``; its placement provider).

    ``id`` is the compute node uuid, which is also its resource provider's uuid.
    The ``*_used`` and ``running_vms`` fields are kept equal to the servers on it by
    :class:`~stackwatch.sim.state.CloudState`.
    """

    KIND: ClassVar[str] = "hypervisor"
    id: str
    legacy_id: int
    hypervisor_hostname: str
    host: str
    service_id: str
    host_ip: str
    vcpus: int
    memory_mb: int
    local_gb: int
    created_at: datetime
    updated_at: datetime
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 8002000
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    current_workload: int = 0
    disk_available_least: int = 0
    cpu_info: CpuInfo = field(default_factory=CpuInfo)
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512


@dataclass(frozen=True, slots=True)
class Flavor:
    KIND: ClassVar[str] = "flavor"
    id: str
    name: str
    vcpus: int
    ram: int
    disk: int
    legacy_id: int = 0
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None
    extra_specs: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class ServerFault:
    """``instance_faults`` row / the ``fault`` of a server in ERROR."""

    code: int
    message: str
    details: str
    created: datetime


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One entry of a server's ``addresses`` (from the port's fixed IP)."""

    network_name: str
    addr: str
    mac_addr: str
    version: int = 4
    type: str = "fixed"


# nova.api.openstack.common._STATE_MAP (vm_state -> status; task_state refines a few).
_STATUS_BY_VM_STATE = {
    "active": "ACTIVE",
    "building": "BUILD",
    "stopped": "SHUTOFF",
    "resized": "VERIFY_RESIZE",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "rescued": "RESCUE",
    "error": "ERROR",
    "deleted": "DELETED",
    "soft-delete": "SOFT_DELETED",
    "shelved": "SHELVED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
}
_STATUS_BY_TASK_STATE = {
    "rebooting": "REBOOT",
    "reboot_pending": "REBOOT",
    "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "rebuilding": "REBUILD",
    "migrating": "MIGRATING",
    "resize_prep": "RESIZE",
    "resize_migrating": "RESIZE",
    "resize_migrated": "RESIZE",
    "resize_finish": "RESIZE",
    "deleting": "ACTIVE",
}


@dataclass(frozen=True, slots=True)
class Server:
    """A nova instance. ``status`` is derived from ``vm_state``/``task_state`` as nova does."""

    KIND: ClassVar[str] = "server"
    id: str
    name: str
    project_id: str
    user_id: str
    flavor: Flavor
    image_id: str
    created_at: datetime
    updated_at: datetime
    instance_name: str
    vm_state: str = "active"
    task_state: str | None = None
    power_state: int = 1  # 0 NOSTATE, 1 RUNNING, 3 PAUSED, 4 SHUTDOWN, 6 CRASHED, 7 SUSPENDED
    host: str | None = None
    node: str | None = None  # hypervisor_hostname
    availability_zone: str | None = "nova"
    launched_at: datetime | None = None
    terminated_at: datetime | None = None
    key_name: str | None = None
    metadata: Mapping[str, str] = field(default_factory=_empty)
    addresses: tuple[ServerAddress, ...] = ()
    volumes_attached: tuple[str, ...] = ()
    fault: ServerFault | None = None
    reservation_id: str = "r-00000000"
    launch_index: int = 0
    locked: bool = False
    locked_reason: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    progress: int = 0
    config_drive: str = ""
    cell: str = "cell1"  # "cell0" for instances that never got a host

    def status(self) -> str:
        if self.task_state is not None and self.vm_state == "active":
            return _STATUS_BY_TASK_STATE.get(self.task_state, "ACTIVE")
        if self.task_state == "resize_prep" or self.task_state == "resize_migrating":
            return "RESIZE"
        return _STATUS_BY_VM_STATE.get(self.vm_state, "UNKNOWN")

    def consumes_host(self) -> bool:
        """Whether the server holds resources on ``node`` (claimed on a compute node)."""
        return self.node is not None and self.vm_state not in ("shelved_offloaded", "deleted")


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """One event of an instance action (``instance_actions_events``)."""

    event: str
    start_time: datetime
    finish_time: datetime | None
    result: str | None  # "Success", "Error", None while running
    traceback: str | None = None
    host: str | None = None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceAction:
    """``instance_actions``: ``id`` is the request id, unique per action."""

    KIND: ClassVar[str] = "instance_action"
    id: str  # request_id
    server_id: str
    action: str  # create, delete, stop, start, migrate, confirmResize, reboot, ...
    user_id: str
    project_id: str
    start_time: datetime
    updated_at: datetime | None = None
    message: str | None = None  # "Error" on failure
    events: tuple[ActionEvent, ...] = ()

    @property
    def request_id(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class Aggregate:
    KIND: ClassVar[str] = "aggregate"
    id: str  # str(legacy_id), the API's integer id as text
    legacy_id: int
    uuid: str
    name: str
    created_at: datetime
    availability_zone: str | None = None
    hosts: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=_empty)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Keypair:
    KIND: ClassVar[str] = "keypair"
    id: str  # "user_id:name"
    name: str
    user_id: str
    fingerprint: str
    public_key: str
    created_at: datetime
    type: str = "ssh"


@dataclass(frozen=True, slots=True)
class Migration:
    KIND: ClassVar[str] = "migration"
    id: str  # str(legacy_id)
    legacy_id: int
    uuid: str
    server_id: str
    source_compute: str
    dest_compute: str
    source_node: str
    dest_node: str
    status: str
    migration_type: str
    project_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime | None = None
    old_flavor_id: int = 1
    new_flavor_id: int = 1
    dest_host: str = ""


@dataclass(frozen=True, slots=True)
class QuotaOverride:
    """A per-project quota limit (``quotas`` rows); ``id`` is ``service:project:resource``."""

    KIND: ClassVar[str] = "quota"
    id: str
    service: str  # "compute", "network", "block-storage"
    project_id: str
    resource: str
    hard_limit: int


# --------------------------------------------------------------------------- placement


@dataclass(frozen=True, slots=True)
class Inventory:
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 0  # 0: same as total
    step_size: int = 1
    allocation_ratio: float = 1.0

    def capacity(self) -> float:
        """What placement lets be allocated: (total - reserved) * allocation_ratio."""
        return (self.total - self.reserved) * self.allocation_ratio


@dataclass(frozen=True, slots=True)
class ResourceProvider:
    KIND: ClassVar[str] = "resource_provider"
    id: str  # uuid
    name: str
    created_at: datetime
    updated_at: datetime
    generation: int = 0
    parent_provider_uuid: str | None = None
    root_provider_uuid: str | None = None  # None: itself
    inventories: Mapping[str, Inventory] = field(default_factory=dict)
    aggregates: tuple[str, ...] = ()
    traits: tuple[str, ...] = ()

    @property
    def uuid(self) -> str:
        return self.id

    @property
    def root(self) -> str:
        return self.root_provider_uuid or self.id


@dataclass(frozen=True, slots=True)
class Allocation:
    """All allocations of one consumer (a server): ``resources[rp_uuid][resource_class]``."""

    KIND: ClassVar[str] = "allocation"
    id: str  # consumer uuid
    project_id: str
    user_id: str
    resources: Mapping[str, Mapping[str, int]]
    consumer_generation: int = 1
    # nova 2026.1 did not set a consumer type: placement/GET___usages~project_id=...@latest.json
    consumer_type: str = "unknown"
    created_at: datetime | None = None


# --------------------------------------------------------------------------- network


@dataclass(frozen=True, slots=True)
class Network:
    KIND: ClassVar[str] = "network"
    id: str
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    status: str = "ACTIVE"
    admin_state_up: bool = True
    shared: bool = False
    router_external: bool = False
    mtu: int = 1500
    network_type: str = "vxlan"
    physical_network: str | None = None
    segmentation_id: int | None = None
    subnets: tuple[str, ...] = ()
    description: str = ""
    port_security_enabled: bool = True
    is_default: bool = False
    revision_number: int = 1
    availability_zones: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AllocationPool:
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Subnet:
    KIND: ClassVar[str] = "subnet"
    id: str
    name: str
    network_id: str
    project_id: str
    cidr: str
    gateway_ip: str | None
    created_at: datetime
    updated_at: datetime
    ip_version: int = 4
    allocation_pools: tuple[AllocationPool, ...] = ()
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    description: str = ""
    subnetpool_id: str | None = None
    revision_number: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True, slots=True)
class Port:
    KIND: ClassVar[str] = "port"
    id: str
    name: str
    network_id: str
    project_id: str
    mac_address: str
    created_at: datetime
    updated_at: datetime
    fixed_ips: tuple[FixedIP, ...] = ()
    device_id: str = ""
    device_owner: str = ""
    status: str = "ACTIVE"
    admin_state_up: bool = True
    security_groups: tuple[str, ...] = ()
    binding_host_id: str = ""
    binding_vif_type: str = "ovs"
    binding_vnic_type: str = "normal"
    description: str = ""
    port_security_enabled: bool = True
    revision_number: int = 1
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExternalGateway:
    network_id: str
    external_fixed_ips: tuple[FixedIP, ...] = ()
    enable_snat: bool = True


@dataclass(frozen=True, slots=True)
class Router:
    KIND: ClassVar[str] = "router"
    id: str
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    status: str = "ACTIVE"
    admin_state_up: bool = True
    external_gateway: ExternalGateway | None = None
    distributed: bool = False
    ha: bool = False
    description: str = ""
    revision_number: int = 1
    availability_zones: tuple[str, ...] = ("nova",)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FloatingIP:
    KIND: ClassVar[str] = "floating_ip"
    id: str
    project_id: str
    floating_ip_address: str
    floating_network_id: str
    created_at: datetime
    updated_at: datetime
    router_id: str | None = None
    port_id: str | None = None
    fixed_ip_address: str | None = None
    status: str = "DOWN"
    description: str = ""
    revision_number: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Agent:
    """A neutron agent (``agents`` table); ``alive`` derives from the heartbeat."""

    KIND: ClassVar[str] = "agent"
    id: str
    agent_type: str  # "Open vSwitch agent", "L3 agent", "DHCP agent", "Metadata agent"
    binary: str  # neutron-openvswitch-agent, neutron-l3-agent, ...
    host: str
    topic: str
    created_at: datetime
    started_at: datetime
    heartbeat_timestamp: datetime
    availability_zone: str | None = None
    admin_state_up: bool = True
    configurations: Mapping[str, object] = field(default_factory=dict)
    description: str | None = None
    resources_synced: bool | None = None

    def is_alive(self, now: datetime) -> bool:
        return now - self.heartbeat_timestamp <= AGENT_DOWN_TIME


@dataclass(frozen=True, slots=True)
class RouterBinding:
    """``routerl3agentbindings``: a router scheduled on an L3 agent; ``id`` is ``router:agent``."""

    KIND: ClassVar[str] = "router_binding"
    id: str
    router_id: str
    l3_agent_id: str
    binding_index: int = 1


@dataclass(frozen=True, slots=True)
class SecurityGroupRule:
    id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    KIND: ClassVar[str] = "security_group"
    id: str
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    rules: tuple[SecurityGroupRule, ...] = ()
    stateful: bool = True
    revision_number: int = 1
    tags: tuple[str, ...] = ()


# --------------------------------------------------------------------------- image


@dataclass(frozen=True, slots=True)
class Image:
    KIND: ClassVar[str] = "image"
    id: str
    name: str
    owner: str
    created_at: datetime
    updated_at: datetime
    status: str = "active"
    visibility: str = "public"
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = "sha512"
    os_hash_value: str | None = None
    disk_format: str | None = "qcow2"
    container_format: str | None = "bare"
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    os_hidden: bool = False
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=_empty)
    stores: str | None = "file"


# --------------------------------------------------------------------------- block storage


@dataclass(frozen=True, slots=True)
class VolumeAttachment:
    id: str  # attachment_id
    server_id: str
    device: str
    host_name: str | None
    attached_at: datetime


@dataclass(frozen=True, slots=True)
class Volume:
    KIND: ClassVar[str] = "volume"
    id: str
    name: str
    project_id: str
    user_id: str
    size: int
    created_at: datetime
    updated_at: datetime
    status: str = "available"
    availability_zone: str = "nova"
    volume_type: str = "lvmdriver-1"
    volume_type_id: str = ""
    host: str | None = None  # "host@backend#pool"
    bootable: bool = False
    encrypted: bool = False
    multiattach: bool = False
    attachments: tuple[VolumeAttachment, ...] = ()
    snapshot_id: str | None = None
    source_volid: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=_empty)
    migration_status: str | None = None
    replication_status: str | None = None
    service_uuid: str | None = None

    @property
    def attach_status(self) -> str:
        return "attached" if self.attachments else "detached"


@dataclass(frozen=True, slots=True)
class Snapshot:
    KIND: ClassVar[str] = "snapshot"
    id: str
    name: str
    volume_id: str
    project_id: str
    user_id: str
    size: int
    created_at: datetime
    updated_at: datetime
    status: str = "available"
    progress: str = "100%"
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class VolumeService:
    """A cinder service (os-services; cinder ``services`` table)."""

    KIND: ClassVar[str] = "volume_service"
    id: str  # uuid
    legacy_id: int
    binary: str
    host: str
    zone: str
    updated_at: datetime
    created_at: datetime
    disabled: bool = False
    disabled_reason: str | None = None
    frozen: bool = False
    report_count: int = 0
    cluster: str | None = None
    backend_state: str | None = None  # cinder-volume only: "up"/"down"

    def is_up(self, now: datetime) -> bool:
        return now - self.updated_at <= SERVICE_DOWN_TIME


@dataclass(frozen=True, slots=True)
class Pool:
    """A cinder backend pool (scheduler-stats/get_pools); ``id`` is ``host@backend#pool``."""

    KIND: ClassVar[str] = "pool"
    id: str
    volume_backend_name: str
    total_capacity_gb: float
    free_capacity_gb: float
    allocated_capacity_gb: int = 0
    provisioned_capacity_gb: int = 0
    reserved_percentage: int = 0
    max_over_subscription_ratio: float = 20.0
    thin_provisioning_support: bool = True
    storage_protocol: str = "iSCSI"
    vendor_name: str = "Open Source"
    driver_version: str = "3.0.0"
    timestamp: datetime | None = None

    @property
    def name(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class VolumeType:
    KIND: ClassVar[str] = "volume_type"
    id: str
    name: str
    description: str | None = None
    is_public: bool = True
    extra_specs: Mapping[str, str] = field(default_factory=_empty)
