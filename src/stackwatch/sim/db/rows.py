"""Records of the ground truth -> row operations on the service databases.

:class:`RowMapper` turns each :class:`~stackwatch.sim.events.Change` into the
inserts, updates and deletes a real service would have made, with its real
conventions (checked against ``shared/reference/db/*.rows.json``):

- nova soft-deletes: ``deleted = id`` and ``deleted_at``; an instance keeps its row
  with ``vm_state = 'deleted'``; instances that never got a host live in ``nova_cell0``;
  limits are in ``nova_api.quotas``, ``nova.quotas``/``nova.quota_usages`` stay empty
  (usage is counted, as in nova since Train);
- cinder soft-deletes with a boolean ``deleted`` and ``status = 'deleted'``, and keeps
  ``quota_usages`` (``volumes``, ``gigabytes``, ``snapshots`` and ``*_<type>``);
- keystone stores domains as ``project`` rows with ``is_domain = 1`` under
  ``<<keystone.domain.root>>``; a revoked token becomes a ``revocation_event``;
- neutron and placement delete rows; neutron rows carry a ``standard_attr_id``;
- nova_api maps every server (``instance_mappings``, with a ``build_requests`` row while
  it is scheduled; ``queued_for_delete`` once deleted);
- glance soft-deletes images with a boolean ``deleted`` and ``status = 'deleted'``.

The mapper keeps the integer ids the databases use (nova ``instances.id``, placement
``resource_providers.id``, ...) and the few cross-references it needs, so it must
see every change in order. It does no I/O.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stackwatch.sim import records as r
from stackwatch.sim.events import Change, ChangeKind

Row = dict[str, Any]

DOMAIN_ROOT = "<<keystone.domain.root>>"

# os-resource-classes STANDARDS order = placement's resource_classes ids; custom from 10000.
STANDARD_RESOURCE_CLASSES = (
    "VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET",
    "NUMA_CORE", "NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU",
    "VGPU_DISPLAY_HEAD", "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU", "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
)  # fmt: skip
CUSTOM_RESOURCE_CLASS_BASE = 10000
CELL0_UUID = "00000000-0000-0000-0000-000000000000"
CELL1_UUID = "2c716d44-630d-4e08-bab4-87e53d8396a2"


@dataclass(frozen=True, slots=True)
class Insert:
    database: str
    table: str
    row: Row


@dataclass(frozen=True, slots=True)
class Update:
    database: str
    table: str
    where: Row
    values: Row


@dataclass(frozen=True, slots=True)
class Delete:
    database: str
    table: str
    where: Row


Op = Insert | Update | Delete


def db_time(t: datetime | None) -> datetime | None:
    """A DB ``datetime`` column value: naive UTC, whole seconds (MariaDB ``datetime``)."""
    if t is None:
        return None
    if t.tzinfo is not None and t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None, microsecond=0)


def nova_hostname(name: str) -> str:
    """nova.utils.sanitize_hostname, close enough: lower case, [a-z0-9-], at most 63."""
    host = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return host[:63] or "server"


@dataclass
class _Ids:
    """Integer ids per key, allocated in order like AUTO_INCREMENT."""

    next_id: int = 1
    ids: dict[str, int] = field(default_factory=dict)

    def get(self, key: str) -> int:
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = self.next_id
            self.next_id += 1
        return found

    def known(self, key: str) -> bool:
        return key in self.ids

    def take(self, value: int) -> None:
        """Note an id chosen elsewhere (a record's ``legacy_id``)."""
        self.next_id = max(self.next_id, value + 1)


class RowMapper:
    """Stateful translation of changes into row operations (see the module docstring)."""

    def __init__(self) -> None:
        # what an agent row's ``configurations`` holds when it reports (written with
        # each heartbeat, as real agents report): CloudState.agent_configurations once
        # attached to a state
        self.agent_configurations: Callable[[r.Agent], Mapping[str, object]] = (
            lambda agent: agent.configurations)
        self._instances: dict[str, _Ids] = {"nova": _Ids(), "nova_cell0": _Ids()}
        self._server_cell: dict[str, str] = {}
        self._actions: dict[str, _Ids] = {"nova": _Ids(), "nova_cell0": _Ids()}
        self._faults = {"nova": itertools.count(1), "nova_cell0": itertools.count(1)}
        self._action_events = {"nova": itertools.count(1), "nova_cell0": itertools.count(1)}
        self._service_ids: dict[str, int] = {}
        self._node_ids: dict[str, int] = {}
        self._flavor_ids = _Ids()
        self._migration_ids = _Ids()
        self._quota_ids = _Ids()
        self._rp_ids = _Ids()
        self._custom_rc = _Ids(next_id=CUSTOM_RESOURCE_CLASS_BASE)
        self._inventory_ids = itertools.count(1)
        self._allocation_ids = itertools.count(1)
        self._std_attr = _Ids()
        self._local_user_ids = _Ids()
        self._host_mappings = _Ids()
        self._instance_mappings = _Ids()
        self._build_requests = _Ids()
        self._revocations = itertools.count(1)
        self._cinder_usage_ids = _Ids()
        self._cinder_usage: dict[tuple[str, str], int] = {}
        self._volume_types: dict[str, tuple[str, str, int]] = {}  # id -> (type_id, type, size)
        self._snapshot_sizes: dict[str, tuple[str, int]] = {}
        self._gw_ports: dict[str, str] = {}
        self._routers: dict[str, r.Router] = {}
        self._loading = False
        self._pending: dict[str, list[Change]] = {}  # servers being scheduled -> their actions
        self._handlers: dict[str, Callable[[Change], list[Op]]] = {
            "domain": self._domain,
            "project": self._project,
            "user": self._user,
            "role_assignment": self._role_assignment,
            "token": self._token,
            "compute_service": self._compute_service,
            "hypervisor": self._hypervisor,
            "flavor": self._flavor,
            "server": self._server,
            "instance_action": self._instance_action,
            "migration": self._migration,
            "quota": self._quota,
            "resource_provider": self._resource_provider,
            "allocation": self._allocation,
            "network": self._network,
            "subnet": self._subnet,
            "port": self._port,
            "router": self._router,
            "floating_ip": self._floating_ip,
            "security_group": self._security_group,
            "agent": self._agent,
            "router_binding": self._router_binding,
            "volume": self._volume,
            "snapshot": self._snapshot,
            "volume_service": self._volume_service,
            "image": self._image,
        }

    @staticmethod
    def initial_rows() -> list[Op]:
        """Rows every deployment has before any resource: keystone's root, nova's cells."""
        return [
            Insert("keystone", "project", {
                "id": DOMAIN_ROOT, "name": DOMAIN_ROOT, "extra": "{}", "description": "",
                "enabled": False, "domain_id": DOMAIN_ROOT, "parent_id": None, "is_domain": True,
            }),
            Insert("nova_api", "cell_mappings", {
                "created_at": None, "updated_at": None, "id": 1, "uuid": CELL0_UUID,
                "name": "cell0", "transport_url": "none:///",
                "database_connection": "mysql+pymysql://nova:<password>@controller/nova_cell0",
                "disabled": False,
            }),
            Insert("nova_api", "cell_mappings", {
                "created_at": None, "updated_at": None, "id": 2, "uuid": CELL1_UUID,
                "name": "cell1",
                "transport_url": "rabbit://openstack:<password>@controller:5672/",
                "database_connection": "mysql+pymysql://nova:<password>@controller/nova",
                "disabled": False,
            }),
            *(Insert("placement", "resource_classes", {
                "created_at": None, "updated_at": None, "id": index, "name": name,
            }) for index, name in enumerate(STANDARD_RESOURCE_CLASSES)),
        ]  # fmt: skip

    def load(self, records: Iterable[Any], now: datetime) -> list[Op]:
        """The rows of the records that exist at start (bulk load), in the order given."""
        self._loading = True
        try:
            ops = [op for record in records for op in self.created(record, now)]
        finally:
            self._loading = False
        usages = sorted(self._cinder_usage.items())
        ops.extend(self._usage_row(p, res, value, now) for (p, res), value in usages)
        return ops

    def handles(self, resource: str) -> bool:
        """Whether changes of this kind of record touch the databases."""
        return resource in self._handlers

    def ops(self, change: Change) -> list[Op]:
        """The row operations for one change (empty for kinds no database keeps)."""
        handler = self._handlers.get(change.resource)
        return handler(change) if handler is not None else []

    def created(self, record: Any, now: datetime) -> list[Op]:
        """The rows of a record that exists at start (bulk load)."""
        return self.ops(Change(ChangeKind.CREATED, record.KIND, None, record, now, cause="load"))

    # ------------------------------------------------------------------ keystone

    def _domain(self, c: Change) -> list[Op]:
        d: r.Domain = c.record
        if c.kind is ChangeKind.DELETED:
            return [Delete("keystone", "project", {"id": d.id})]
        row = {
            "id": d.id, "name": d.name, "extra": "{}", "description": d.description,
            "enabled": d.enabled, "domain_id": DOMAIN_ROOT, "parent_id": None, "is_domain": True,
        }  # fmt: skip
        return [_upsert(c, "keystone", "project", {"id": d.id}, row)]

    def _project(self, c: Change) -> list[Op]:
        p: r.Project = c.record
        if c.kind is ChangeKind.DELETED:
            return [Delete("keystone", "project", {"id": p.id})]
        row = {
            "id": p.id, "name": p.name, "extra": "{}", "description": p.description,
            "enabled": p.enabled, "domain_id": p.domain_id, "parent_id": p.parent_id,
            "is_domain": p.is_domain,
        }  # fmt: skip
        return [_upsert(c, "keystone", "project", {"id": p.id}, row)]

    def _user(self, c: Change) -> list[Op]:
        u: r.User = c.record
        if c.kind is ChangeKind.DELETED:
            return [
                Delete("keystone", "local_user", {"user_id": u.id}),
                Delete("keystone", "user", {"id": u.id}),
            ]
        extra = {"email": u.email} if u.email else {}
        user = {
            "id": u.id, "extra": json.dumps(extra), "enabled": u.enabled,
            "default_project_id": u.default_project_id,
            "created_at": db_time(u.created_at or c.time), "last_active_at": None,
            "domain_id": u.domain_id,
        }  # fmt: skip
        if c.kind is ChangeKind.UPDATED:
            user.pop("created_at")
            return [
                Update("keystone", "user", {"id": u.id}, user),
                Update("keystone", "local_user", {"user_id": u.id}, {"name": u.name}),
            ]
        local = {
            "id": self._local_user_ids.get(u.id), "user_id": u.id, "domain_id": u.domain_id,
            "name": u.name, "failed_auth_count": 0, "failed_auth_at": None,
        }  # fmt: skip
        return [Insert("keystone", "user", user), Insert("keystone", "local_user", local)]

    def _role_assignment(self, c: Change) -> list[Op]:
        a: r.RoleAssignment = c.record
        key = {
            "type": "UserProject" if a.project_id else "UserDomain",
            "actor_id": a.user_id,
            "target_id": a.project_id or a.domain_id or "",
            "role_id": a.role_id,
            "inherited": False,
        }
        if c.kind is ChangeKind.DELETED:
            return [Delete("keystone", "assignment", key)]
        if c.kind is ChangeKind.UPDATED:
            before: r.RoleAssignment = c.before
            return [
                *self._role_assignment(_deleted(c, before)),
                Insert("keystone", "assignment", key),
            ]
        return [Insert("keystone", "assignment", key)]

    def _token(self, c: Change) -> list[Op]:
        # Fernet tokens are not stored; revoking one writes a revocation_event by audit id
        # (keystone.revoke: issued_before = revoked_at = now, as in the reference row).
        t: r.Token = c.record
        was = c.before is not None and c.before.revoked
        now = c.after is not None and c.after.revoked
        if not now or was:
            return []
        at = db_time(c.time)
        row = {
            "id": next(self._revocations), "domain_id": None, "project_id": None,
            "user_id": None, "role_id": None, "trust_id": None, "consumer_id": None,
            "access_token_id": None, "issued_before": at, "expires_at": None, "revoked_at": at,
            "audit_id": t.audit_id[:32], "audit_chain_id": None,
        }  # fmt: skip
        return [Insert("keystone", "revocation_event", row)]

    # ------------------------------------------------------------------ nova

    def _compute_service(self, c: Change) -> list[Op]:
        s: r.ComputeService = c.record
        self._service_ids[s.id] = s.legacy_id
        topic = s.topic
        if topic is None and s.binary != "nova-osapi_compute":
            topic = s.binary.removeprefix("nova-")
        row = {
            "created_at": db_time(s.created_at), "updated_at": db_time(s.updated_at),
            "deleted_at": None, "id": s.legacy_id, "host": s.host, "binary": s.binary,
            "topic": topic, "report_count": s.report_count, "disabled": s.disabled,
            "deleted": 0, "disabled_reason": s.disabled_reason,
            "last_seen_up": db_time(s.updated_at), "forced_down": s.forced_down,
            "version": s.version, "uuid": s.id,
        }  # fmt: skip
        if c.kind is ChangeKind.DELETED:
            return [_soft_delete_nova("nova", "services", s.legacy_id, c.time)]
        return [_upsert(c, "nova", "services", {"id": s.legacy_id}, row)]

    def _hypervisor(self, c: Change) -> list[Op]:
        h: r.Hypervisor = c.record
        self._node_ids[h.hypervisor_hostname] = h.legacy_id
        if c.kind is ChangeKind.DELETED:
            return [_soft_delete_nova("nova", "compute_nodes", h.legacy_id, c.time)]
        cpu = h.cpu_info
        cpu_info = {
            "arch": cpu.arch, "model": cpu.model, "vendor": cpu.vendor,
            "features": list(cpu.features),
            "topology": {"cores": cpu.cores, "threads": cpu.threads, "sockets": cpu.sockets},
        }  # fmt: skip
        stats = {
            "failed_builds": "0", "num_instances": str(h.running_vms),
            "num_vm_active": str(h.running_vms), "num_task_None": str(h.running_vms),
            "io_workload": str(h.current_workload),
        }  # fmt: skip
        row = {
            "created_at": db_time(h.created_at), "updated_at": db_time(h.updated_at),
            "deleted_at": None, "id": h.legacy_id,
            "service_id": self._service_ids.get(h.service_id),
            "vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
            # nova's resource tracker counts reserved_host_memory_mb as used
            "vcpus_used": h.vcpus_used,
            "memory_mb_used": h.memory_mb_used + h.reserved_host_memory_mb,
            "local_gb_used": h.local_gb_used, "hypervisor_type": h.hypervisor_type,
            "hypervisor_version": h.hypervisor_version, "cpu_info": json.dumps(cpu_info),
            "disk_available_least": h.disk_available_least,
            "free_ram_mb": h.memory_mb - h.memory_mb_used - h.reserved_host_memory_mb,
            "free_disk_gb": h.local_gb - h.local_gb_used,
            "current_workload": h.current_workload, "running_vms": h.running_vms,
            "hypervisor_hostname": h.hypervisor_hostname, "deleted": 0, "host_ip": h.host_ip,
            "supported_instances": json.dumps([[cpu.arch, h.hypervisor_type.lower(), "hvm"]]),
            "pci_stats": None, "metrics": "[]", "extra_resources": None,
            "stats": json.dumps(stats), "numa_topology": None, "host": h.host,
            "ram_allocation_ratio": h.ram_allocation_ratio,
            "cpu_allocation_ratio": h.cpu_allocation_ratio, "uuid": h.id,
            "disk_allocation_ratio": h.disk_allocation_ratio, "mapped": 1,
        }  # fmt: skip
        ops: list[Op] = [_upsert(c, "nova", "compute_nodes", {"id": h.legacy_id}, row)]
        if not self._host_mappings.known(h.host):
            ops.append(Insert("nova_api", "host_mappings", {
                "created_at": db_time(h.created_at), "updated_at": None,
                "id": self._host_mappings.get(h.host), "cell_id": 2, "host": h.host,
            }))  # fmt: skip
        return ops

    def _flavor(self, c: Change) -> list[Op]:
        f: r.Flavor = c.record
        if f.legacy_id:
            self._flavor_ids.take(f.legacy_id)
            self._flavor_ids.ids.setdefault(f.id, f.legacy_id)
        fid = self._flavor_ids.get(f.id)
        if c.kind is ChangeKind.DELETED:
            return [Delete("nova_api", "flavors", {"id": fid})]
        row = {
            "created_at": db_time(c.time), "updated_at": None, "name": f.name, "id": fid,
            "memory_mb": f.ram, "vcpus": f.vcpus, "swap": f.swap, "vcpu_weight": None,
            "flavorid": f.id, "rxtx_factor": f.rxtx_factor, "root_gb": f.disk,
            "ephemeral_gb": f.ephemeral, "disabled": False, "is_public": f.is_public,
            "description": f.description,
        }  # fmt: skip
        if c.kind is ChangeKind.UPDATED:
            row.pop("created_at")
            row["updated_at"] = db_time(c.time)
        return [_upsert(c, "nova_api", "flavors", {"id": fid}, row)]

    def _instance_row(self, s: r.Server, row_id: int) -> Row:
        flavor_id = self._flavor_ids.get(s.flavor.id) if s.flavor.id else s.flavor.legacy_id
        return {
            "created_at": db_time(s.created_at), "updated_at": db_time(s.updated_at),
            "deleted_at": None, "id": row_id, "internal_id": None, "user_id": s.user_id,
            "project_id": s.project_id, "image_ref": s.image_id, "kernel_id": "",
            "ramdisk_id": "", "launch_index": s.launch_index, "key_name": s.key_name,
            "key_data": None, "power_state": s.power_state, "vm_state": s.vm_state,
            "memory_mb": s.flavor.ram, "vcpus": s.flavor.vcpus,
            "hostname": nova_hostname(s.name), "host": s.host, "user_data": None,
            "reservation_id": s.reservation_id, "launched_at": db_time(s.launched_at),
            "terminated_at": db_time(s.terminated_at), "display_name": s.name,
            "display_description": s.description, "availability_zone": s.availability_zone,
            "locked": s.locked, "os_type": None, "launched_on": s.host,
            "instance_type_id": flavor_id, "vm_mode": None, "uuid": s.id,
            "architecture": None, "root_device_name": "/dev/vda", "access_ip_v4": None,
            "access_ip_v6": None, "config_drive": s.config_drive, "task_state": s.task_state,
            "default_ephemeral_device": None, "default_swap_device": None,
            "progress": s.progress, "auto_disk_config": False, "shutdown_terminate": False,
            "disable_terminate": False, "root_gb": s.flavor.disk,
            "ephemeral_gb": s.flavor.ephemeral, "cell_name": None, "node": s.node,
            "deleted": 0, "locked_by": "admin" if s.locked else None, "cleaned": 0,
            "ephemeral_key_uuid": None, "hidden": False,
            "compute_id": self._node_ids.get(s.node) if s.node else None,
        }  # fmt: skip

    def _server(self, c: Change) -> list[Op]:
        mappings = self._instance_mapping(c)  # before _cell_rows settles a pending server
        return mappings + self._cell_rows(c)

    def _instance_mapping(self, c: Change) -> list[Op]:
        """nova_api: nova-api maps every server (cell unknown, plus a build request while it
        is scheduled); the conductor sets the cell and drops the build request; a deleted
        server's mapping stays, ``queued_for_delete``, until archived."""
        s: r.Server = c.record
        pending = s.id in self._pending
        key = {"instance_uuid": s.id}
        at = db_time(c.time)
        cell_id = 1 if s.cell == "cell0" else 2  # initial_rows' cell_mappings ids
        if c.kind is ChangeKind.CREATED:
            scheduling = _scheduling(s)
            ops: list[Op] = [Insert("nova_api", "instance_mappings", {
                "created_at": db_time(s.created_at), "updated_at": None,
                "id": self._instance_mappings.get(s.id), "instance_uuid": s.id,
                "cell_id": None if scheduling else cell_id, "project_id": s.project_id,
                "queued_for_delete": False, "user_id": s.user_id,
            })]  # fmt: skip
            if scheduling:
                ops.append(Insert("nova_api", "build_requests", {
                    "created_at": db_time(s.created_at), "updated_at": None,
                    "id": self._build_requests.get(s.id), "project_id": s.project_id,
                    "instance_uuid": s.id, "instance": None, "block_device_mappings": None,
                    "tags": None,
                }))  # fmt: skip
            return ops
        if c.kind is ChangeKind.DELETED:
            if pending:  # deleted while scheduled: nova drops the request and the mapping
                return [Delete("nova_api", "build_requests", key),
                        Delete("nova_api", "instance_mappings", key)]
            return [Update("nova_api", "instance_mappings", key,
                           {"queued_for_delete": True, "updated_at": at})]
        if pending and not _scheduling(s):
            return [Update("nova_api", "instance_mappings", key,
                           {"cell_id": cell_id, "updated_at": at}),
                    Delete("nova_api", "build_requests", key)]
        return []

    def _cell_rows(self, c: Change) -> list[Op]:
        s: r.Server = c.record
        # While nova schedules a new server it exists only as a build request in
        # nova_api; the conductor then creates it in the chosen cell's database (cell0
        # when no host was found). Its actions wait with it.
        if s.id in self._pending or (c.kind is ChangeKind.CREATED and _scheduling(s)):
            if c.kind is ChangeKind.DELETED:
                self._pending.pop(s.id, None)
                return []
            if _scheduling(s):
                self._pending.setdefault(s.id, [])
                return []
            waiting = self._pending.pop(s.id)
            placed = self._cell_rows(Change(ChangeKind.CREATED, c.resource, None, s, c.time))
            for action in waiting:
                placed.extend(self._instance_action(action))
            return placed
        db = "nova_cell0" if s.cell == "cell0" else "nova"
        self._server_cell[s.id] = db
        ids = self._instances[db]
        existed = ids.known(s.id)
        row_id = ids.get(s.id)
        row = self._instance_row(s, row_id)
        ops: list[Op] = []
        if c.kind is ChangeKind.DELETED:
            at = db_time(c.time)
            row.update(
                vm_state="deleted", task_state=None, power_state=0, deleted=row_id,
                deleted_at=at, terminated_at=row["terminated_at"] or at, updated_at=at,
            )  # fmt: skip
            return [Update(db, "instances", {"id": row_id}, row)]
        if existed:
            ops.append(Update(db, "instances", {"id": row_id}, row))
        else:
            ops.append(Insert(db, "instances", row))
        before_fault = c.before.fault if c.before is not None else None
        if s.fault is not None and s.fault != before_fault:
            ops.append(Insert(db, "instance_faults", {
                "created_at": db_time(s.fault.created), "updated_at": None,
                "deleted_at": None, "id": next(self._faults[db]),
                "instance_uuid": s.id, "code": s.fault.code, "message": s.fault.message[:255],
                "details": s.fault.details, "host": s.host or "controller", "deleted": 0,
            }))  # fmt: skip
        return ops

    def _instance_action(self, c: Change) -> list[Op]:
        a: r.InstanceAction = c.record
        if a.server_id in self._pending:
            self._pending[a.server_id].append(c)
            return []
        db = self._server_cell.get(a.server_id, "nova")
        ids = self._actions[db]
        existed = ids.known(a.id)
        action_id = ids.get(a.id)
        if c.kind is ChangeKind.DELETED:
            return [_soft_delete_nova(db, "instance_actions", action_id, c.time)]
        updated = a.updated_at or (a.events[-1].finish_time if a.events else None) or a.start_time
        row = {
            "created_at": db_time(a.start_time), "updated_at": db_time(updated),
            "deleted_at": None, "id": action_id, "action": a.action, "instance_uuid": a.server_id,
            "request_id": a.id, "user_id": a.user_id, "project_id": a.project_id,
            "start_time": db_time(a.start_time), "finish_time": None, "message": a.message,
            "deleted": 0,
        }  # fmt: skip
        ops: list[Op] = []
        if existed:
            ops.append(Update(db, "instance_actions", {"id": action_id}, row))
            ops.append(Delete(db, "instance_actions_events", {"action_id": action_id}))
        else:
            ops.append(Insert(db, "instance_actions", row))
        for e in a.events:
            ops.append(Insert(db, "instance_actions_events", {
                "created_at": db_time(e.start_time),
                "updated_at": db_time(e.finish_time or e.start_time), "deleted_at": None,
                "id": next(self._action_events[db]),
                "event": e.event, "action_id": action_id, "start_time": db_time(e.start_time),
                "finish_time": db_time(e.finish_time), "result": e.result,
                "traceback": e.traceback, "deleted": 0, "host": e.host, "details": e.details,
            }))  # fmt: skip
        return ops

    def _migration(self, c: Change) -> list[Op]:
        m: r.Migration = c.record
        self._migration_ids.take(m.legacy_id)
        if c.kind is ChangeKind.DELETED:
            return [_soft_delete_nova("nova", "migrations", m.legacy_id, c.time)]
        row = {
            "created_at": db_time(m.created_at), "updated_at": db_time(m.updated_at),
            "deleted_at": None, "id": m.legacy_id, "source_compute": m.source_compute,
            "dest_compute": m.dest_compute, "dest_host": m.dest_host, "status": m.status,
            "instance_uuid": m.server_id, "old_instance_type_id": m.old_flavor_id,
            "new_instance_type_id": m.new_flavor_id, "source_node": m.source_node,
            "dest_node": m.dest_node, "deleted": 0, "migration_type": m.migration_type,
            "hidden": False, "memory_total": None, "memory_processed": None,
            "memory_remaining": None, "disk_total": None, "disk_processed": None,
            "disk_remaining": None, "uuid": m.uuid, "cross_cell_move": False,
            "user_id": m.user_id, "project_id": m.project_id,
            "dest_compute_id": self._node_ids.get(m.dest_node),
        }  # fmt: skip
        return [_upsert(c, "nova", "migrations", {"id": m.legacy_id}, row)]

    def _quota(self, c: Change) -> list[Op]:
        q: r.QuotaOverride = c.record
        if q.service == "compute":
            db, extra = "nova_api", {}
        elif q.service == "block-storage":
            db, extra = "cinder", {"deleted_at": None, "deleted": False, "allocated": 0}
        else:
            return self._neutron_quota(c, q)
        qid = self._quota_ids.get(q.id)
        if c.kind is ChangeKind.DELETED:
            return [Delete(db, "quotas", {"id": qid})]
        row = {
            "id": qid, "created_at": db_time(c.time), "updated_at": db_time(c.time),
            "project_id": q.project_id, "resource": q.resource, "hard_limit": q.hard_limit,
            **extra,
        }  # fmt: skip
        return [_upsert(c, db, "quotas", {"id": qid}, row)]

    # ------------------------------------------------------------------ placement

    def _resource_class_id(self, name: str) -> int:
        if name in STANDARD_RESOURCE_CLASSES:
            return STANDARD_RESOURCE_CLASSES.index(name)
        return self._custom_rc.get(name)

    def _custom_classes(self, names: Iterable[str], at: datetime | None) -> list[Op]:
        """The ``resource_classes`` rows of custom classes not seen before (placement
        creates a custom class before any inventory of it)."""
        new = sorted({n for n in names if n not in STANDARD_RESOURCE_CLASSES
                      and not self._custom_rc.known(n)})
        return [Insert("placement", "resource_classes", {
            "created_at": at, "updated_at": None, "id": self._custom_rc.get(n), "name": n,
        }) for n in new]  # fmt: skip

    def _resource_provider(self, c: Change) -> list[Op]:
        p: r.ResourceProvider = c.record
        rp_id = self._rp_ids.get(p.id)
        ops: list[Op] = [Delete("placement", "inventories", {"resource_provider_id": rp_id})]
        if c.kind is ChangeKind.DELETED:
            return [*ops, Delete("placement", "resource_providers", {"id": rp_id})]
        if c.kind is ChangeKind.CREATED:
            ops = []
        row = {
            "created_at": db_time(p.created_at), "updated_at": db_time(p.updated_at),
            "id": rp_id, "uuid": p.id, "name": p.name, "generation": p.generation,
            "root_provider_id": self._rp_ids.get(p.root),
            "parent_provider_id": (
                self._rp_ids.get(p.parent_provider_uuid) if p.parent_provider_uuid else None
            ),
        }  # fmt: skip
        ops.append(_upsert(c, "placement", "resource_providers", {"id": rp_id}, row))
        ops += self._custom_classes(p.inventories, db_time(p.created_at))
        for rc, inv in p.inventories.items():
            ops.append(Insert("placement", "inventories", {
                "created_at": db_time(p.created_at), "updated_at": None,
                "id": next(self._inventory_ids),
                "resource_provider_id": rp_id, "resource_class_id": self._resource_class_id(rc),
                "total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
                "max_unit": inv.max_unit or inv.total, "step_size": inv.step_size,
                "allocation_ratio": inv.allocation_ratio,
            }))  # fmt: skip
        return ops

    def _allocation(self, c: Change) -> list[Op]:
        a: r.Allocation = c.record
        ops: list[Op] = []
        if c.kind is not ChangeKind.CREATED:
            ops.append(Delete("placement", "allocations", {"consumer_id": a.id}))
        if c.kind is ChangeKind.DELETED:
            return ops
        at = db_time(a.created_at or c.time)
        for rp_uuid, resources in a.resources.items():
            rp_id = self._rp_ids.get(rp_uuid)
            ops += self._custom_classes(resources, at)
            for rc, used in resources.items():
                ops.append(Insert("placement", "allocations", {
                    "created_at": at, "updated_at": None,
                    "id": next(self._allocation_ids),
                    "resource_provider_id": rp_id, "consumer_id": a.id,
                    "resource_class_id": self._resource_class_id(rc), "used": used,
                }))  # fmt: skip
        return ops

    # ------------------------------------------------------------------ neutron

    def _neutron(self, c: Change, table: str, row: Row) -> list[Op]:
        rid = c.record.id
        if c.kind is ChangeKind.DELETED:
            return [Delete("neutron", table, {"id": rid})]
        row["standard_attr_id"] = self._std_attr.get(rid)
        return [_upsert(c, "neutron", table, {"id": rid}, row)]

    def _network(self, c: Change) -> list[Op]:
        n: r.Network = c.record
        row = {
            "project_id": n.project_id, "id": n.id, "name": n.name, "status": n.status,
            "admin_state_up": n.admin_state_up, "vlan_transparent": False,
            "availability_zone_hints": None, "mtu": n.mtu, "qinq": False,
        }  # fmt: skip
        return self._neutron(c, "networks", row)

    def _subnet(self, c: Change) -> list[Op]:
        s: r.Subnet = c.record
        row = {
            "project_id": s.project_id, "id": s.id, "name": s.name, "network_id": s.network_id,
            "ip_version": s.ip_version, "cidr": s.cidr, "gateway_ip": s.gateway_ip,
            "enable_dhcp": s.enable_dhcp, "ipv6_ra_mode": None, "ipv6_address_mode": None,
            "subnetpool_id": s.subnetpool_id, "segment_id": None,
        }  # fmt: skip
        return self._neutron(c, "subnets", row)

    def _port(self, c: Change) -> list[Op]:
        p: r.Port = c.record
        ops: list[Op] = []
        if c.kind is not ChangeKind.CREATED:
            ops.append(Delete("neutron", "ml2_port_bindings", {"port_id": p.id}))
        row = {
            "project_id": p.project_id, "id": p.id, "name": p.name, "network_id": p.network_id,
            "mac_address": p.mac_address, "admin_state_up": p.admin_state_up,
            "status": p.status, "device_id": p.device_id, "device_owner": p.device_owner,
            "ip_allocation": "immediate",
        }  # fmt: skip
        ops.extend(self._neutron(c, "ports", row))
        is_gw = p.device_owner == "network:router_gateway"
        if c.kind is ChangeKind.DELETED:
            if is_gw and self._gw_ports.get(p.device_id) == p.id:
                del self._gw_ports[p.device_id]
                if p.device_id in self._routers:
                    ops.insert(0, Update("neutron", "routers", {"id": p.device_id},
                                         {"gw_port_id": None}))  # fmt: skip
            return ops
        ops.append(Insert("neutron", "ml2_port_bindings", {
            "port_id": p.id, "host": p.binding_host_id,
            "vif_type": p.binding_vif_type if p.binding_host_id else "unbound",
            "vnic_type": p.binding_vnic_type, "profile": "",
            "vif_details": '{"port_filter": true}' if p.binding_host_id else "",
            "status": "ACTIVE",
        }))  # fmt: skip
        if is_gw and self._gw_ports.get(p.device_id) != p.id:
            self._gw_ports[p.device_id] = p.id
            if p.device_id in self._routers:
                ops.append(Update("neutron", "routers", {"id": p.device_id}, {"gw_port_id": p.id}))
        return ops

    def _router(self, c: Change) -> list[Op]:
        rt: r.Router = c.record
        if c.kind is ChangeKind.DELETED:
            self._routers.pop(rt.id, None)
        else:
            self._routers[rt.id] = rt
        gw = rt.external_gateway
        row = {
            "project_id": rt.project_id, "id": rt.id, "name": rt.name, "status": rt.status,
            "admin_state_up": rt.admin_state_up, "gw_port_id": self._gw_ports.get(rt.id),
            "enable_snat": gw.enable_snat if gw is not None else True, "flavor_id": None,
        }  # fmt: skip
        return self._neutron(c, "routers", row)

    def _neutron_quota(self, c: Change, q: r.QuotaOverride) -> list[Op]:
        key = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, q.id))}  # neutron's ids are uuids
        if c.kind is ChangeKind.DELETED:
            return [Delete("neutron", "quotas", key)]
        return [_upsert(c, "neutron", "quotas", key, {
            **key, "project_id": q.project_id, "resource": q.resource,
            "limit": q.hard_limit})]

    def _floating_ip(self, c: Change) -> list[Op]:
        fip: r.FloatingIP = c.record
        row = {
            "project_id": fip.project_id, "id": fip.id,
            "floating_ip_address": fip.floating_ip_address,
            "floating_network_id": fip.floating_network_id, "floating_port_id": fip.id,
            "fixed_port_id": fip.port_id, "fixed_ip_address": fip.fixed_ip_address,
            "router_id": fip.router_id, "last_known_router_id": fip.router_id,
            "status": fip.status,
        }  # fmt: skip
        return self._neutron(c, "floatingips", row)

    def _security_group(self, c: Change) -> list[Op]:
        sg: r.SecurityGroup = c.record
        ops: list[Op] = []
        if c.kind is not ChangeKind.CREATED:
            ops.append(Delete("neutron", "securitygrouprules", {"security_group_id": sg.id}))
        ops.extend(self._neutron(c, "securitygroups", {
            "project_id": sg.project_id, "id": sg.id, "name": sg.name,
            "stateful": sg.stateful}))
        if c.kind is ChangeKind.DELETED:
            return ops
        ops.extend(Insert("neutron", "securitygrouprules", {
            "project_id": sg.project_id, "id": rule.id, "security_group_id": sg.id,
            "remote_group_id": rule.remote_group_id, "direction": rule.direction,
            "ethertype": rule.ethertype, "protocol": rule.protocol,
            "port_range_min": rule.port_range_min, "port_range_max": rule.port_range_max,
            "remote_ip_prefix": rule.remote_ip_prefix,
            "standard_attr_id": self._std_attr.get(rule.id),
            "remote_address_group_id": None,
        }) for rule in sg.rules)  # fmt: skip
        return ops

    def _agent(self, c: Change) -> list[Op]:
        a: r.Agent = c.record
        if c.kind is ChangeKind.DELETED:
            return [
                Delete("neutron", "routerl3agentbindings", {"l3_agent_id": a.id}),
                Delete("neutron", "agents", {"id": a.id}),
            ]
        row = {
            "id": a.id, "agent_type": a.agent_type, "binary": a.binary, "topic": a.topic,
            "host": a.host, "admin_state_up": a.admin_state_up,
            "created_at": db_time(a.created_at), "started_at": db_time(a.started_at),
            "heartbeat_timestamp": db_time(a.heartbeat_timestamp),
            "description": a.description,
            "configurations": json.dumps(dict(self.agent_configurations(a)), default=str),
            "load": 0, "availability_zone": a.availability_zone, "resource_versions": None,
            "resources_synced": a.resources_synced,
        }  # fmt: skip
        return [_upsert(c, "neutron", "agents", {"id": a.id}, row)]

    def _router_binding(self, c: Change) -> list[Op]:
        b: r.RouterBinding = c.record
        ops: list[Op] = []
        if c.kind is not ChangeKind.CREATED:
            old: r.RouterBinding = c.before
            key = {"router_id": old.router_id, "l3_agent_id": old.l3_agent_id}
            ops.append(Delete("neutron", "routerl3agentbindings", key))
        if c.kind is not ChangeKind.DELETED:
            ops.append(Insert("neutron", "routerl3agentbindings", {
                "router_id": b.router_id, "l3_agent_id": b.l3_agent_id,
                "binding_index": b.binding_index,
            }))  # fmt: skip
        return ops

    # ------------------------------------------------------------------ cinder

    def _usage(self, project_id: str, resource: str, delta: int, at: datetime) -> list[Op]:
        key = (project_id, resource)
        had = key in self._cinder_usage
        value = self._cinder_usage[key] = max(0, self._cinder_usage.get(key, 0) + delta)
        if self._loading:
            return []  # written once per usage by finish_load()
        if had:
            uid = self._cinder_usage_ids.get(f"{project_id}:{resource}")
            return [Update("cinder", "quota_usages", {"id": uid},
                           {"in_use": value, "updated_at": db_time(at)})]  # fmt: skip
        return [self._usage_row(project_id, resource, value, at)]

    def _usage_row(self, project_id: str, resource: str, value: int, at: datetime) -> Op:
        return Insert("cinder", "quota_usages", {
            "created_at": db_time(at), "updated_at": db_time(at), "deleted_at": None,
            "deleted": False, "id": self._cinder_usage_ids.get(f"{project_id}:{resource}"),
            "project_id": project_id, "resource": resource, "in_use": value, "reserved": 0,
            "until_refresh": None, "race_preventer": True,
        })  # fmt: skip

    def _usages(self, project_id: str, kind: str, vtype: str, size: int, sign: int,
                at: datetime) -> list[Op]:  # fmt: skip
        gb = "gigabytes"
        return [
            *self._usage(project_id, kind, sign, at),
            *self._usage(project_id, f"{kind}_{vtype}", sign, at),
            *self._usage(project_id, gb, sign * size, at),
            *self._usage(project_id, f"{gb}_{vtype}", sign * size, at),
        ]

    def _volume(self, c: Change) -> list[Op]:
        v: r.Volume = c.record
        self._volume_types[v.id] = (v.volume_type_id, v.volume_type, v.size)
        row = {
            "created_at": db_time(v.created_at), "updated_at": db_time(v.updated_at),
            "deleted_at": None, "deleted": False, "id": v.id, "ec2_id": None,
            "user_id": v.user_id, "project_id": v.project_id, "host": v.host, "size": v.size,
            "availability_zone": v.availability_zone, "status": v.status,
            "attach_status": v.attach_status, "scheduled_at": db_time(v.created_at),
            "launched_at": db_time(v.created_at) if v.host else None, "terminated_at": None,
            "display_name": v.name, "display_description": v.description,
            "provider_location": None, "provider_auth": None, "snapshot_id": v.snapshot_id,
            "volume_type_id": v.volume_type_id, "source_volid": v.source_volid,
            "bootable": v.bootable, "provider_geometry": None, "_name_id": None,
            "encryption_key_id": None, "migration_status": v.migration_status,
            "replication_status": v.replication_status, "replication_extended_status": None,
            "replication_driver_data": None, "consistencygroup_id": None, "provider_id": None,
            "multiattach": v.multiattach, "previous_status": None, "cluster_name": None,
            "group_id": None, "service_uuid": v.service_uuid, "shared_targets": False,
            "use_quota": True,
        }  # fmt: skip
        if c.kind is ChangeKind.DELETED:
            at = db_time(c.time)
            row.update(deleted=True, deleted_at=at, terminated_at=at, updated_at=at,
                       status="deleted", attach_status="detached")  # fmt: skip
            usages = self._usages(v.project_id, "volumes", v.volume_type, v.size, -1, c.time)
            return [Update("cinder", "volumes", {"id": v.id}, row), *usages]
        ops: list[Op] = [_upsert(c, "cinder", "volumes", {"id": v.id}, row)]
        if c.kind is ChangeKind.CREATED:
            ops.extend(self._usages(v.project_id, "volumes", v.volume_type, v.size, 1, c.time))
        elif c.before is not None and c.before.size != v.size:
            delta = v.size - c.before.size
            ops.extend(self._usage(v.project_id, "gigabytes", delta, c.time))
            ops.extend(self._usage(v.project_id, f"gigabytes_{v.volume_type}", delta, c.time))
        return ops

    def _snapshot(self, c: Change) -> list[Op]:
        s: r.Snapshot = c.record
        type_id, vtype, _ = self._volume_types.get(s.volume_id, ("", "__DEFAULT__", 0))
        row = {
            "created_at": db_time(s.created_at), "updated_at": db_time(s.updated_at),
            "deleted_at": None, "deleted": False, "id": s.id, "volume_id": s.volume_id,
            "user_id": s.user_id, "project_id": s.project_id, "status": s.status,
            "progress": s.progress, "volume_size": s.size, "scheduled_at": None,
            "display_name": s.name, "display_description": s.description,
            "provider_location": None, "encryption_key_id": None, "volume_type_id": type_id,
            "cgsnapshot_id": None, "provider_id": None, "provider_auth": None,
            "group_snapshot_id": None, "use_quota": True,
        }  # fmt: skip
        if c.kind is ChangeKind.DELETED:
            at = db_time(c.time)
            row.update(deleted=True, deleted_at=at, updated_at=at, status="deleted")
            usages = self._usages(s.project_id, "snapshots", vtype, s.size, -1, c.time)
            return [Update("cinder", "snapshots", {"id": s.id}, row), *usages]
        ops: list[Op] = [_upsert(c, "cinder", "snapshots", {"id": s.id}, row)]
        if c.kind is ChangeKind.CREATED:
            ops.extend(self._usages(s.project_id, "snapshots", vtype, s.size, 1, c.time))
        return ops

    def _volume_service(self, c: Change) -> list[Op]:
        s: r.VolumeService = c.record
        if c.kind is ChangeKind.DELETED:
            at = db_time(c.time)
            return [Update("cinder", "services", {"id": s.legacy_id},
                           {"deleted": True, "deleted_at": at, "updated_at": at})]  # fmt: skip
        volume = s.binary == "cinder-volume"
        row = {
            "created_at": db_time(s.created_at), "updated_at": db_time(s.updated_at),
            "deleted_at": None, "deleted": False, "id": s.legacy_id, "host": s.host,
            "binary": s.binary, "topic": s.binary, "report_count": s.report_count,
            "disabled": s.disabled, "availability_zone": s.zone,
            "disabled_reason": s.disabled_reason, "modified_at": None,
            "rpc_current_version": "3.20" if volume else "3.12",
            "object_current_version": "1.39",
            "replication_status": "disabled" if volume else "not-capable",
            "frozen": s.frozen, "active_backend_id": None, "cluster_name": s.cluster,
            "uuid": s.id,
        }  # fmt: skip
        return [_upsert(c, "cinder", "services", {"id": s.legacy_id}, row)]


    # ------------------------------------------------------------------ glance

    def _image(self, c: Change) -> list[Op]:
        """glance soft-deletes: ``deleted = 1``, ``status = 'deleted'``, ``deleted_at``."""
        i: r.Image = c.record
        key = {"id": i.id}
        if c.kind is ChangeKind.DELETED:
            at = db_time(c.time)
            return [Update("glance", "images", key, {
                "deleted": True, "deleted_at": at, "updated_at": at, "status": "deleted"})]
        row = {
            "id": i.id, "name": i.name, "size": i.size, "status": i.status,
            "created_at": db_time(i.created_at), "updated_at": db_time(i.updated_at),
            "deleted_at": None, "deleted": False, "disk_format": i.disk_format,
            "container_format": i.container_format, "checksum": i.checksum,
            "owner": i.owner, "min_disk": i.min_disk, "min_ram": i.min_ram,
            "protected": i.protected, "virtual_size": i.virtual_size,
            "visibility": i.visibility, "os_hidden": i.os_hidden,
            "os_hash_algo": i.os_hash_algo, "os_hash_value": i.os_hash_value,
        }  # fmt: skip
        return [_upsert(c, "glance", "images", key, row)]

def _scheduling(s: r.Server) -> bool:
    return s.vm_state == "building" and s.host is None and s.cell != "cell0"


def _upsert(c: Change, database: str, table: str, key: Row, row: Row) -> Op:
    if c.kind is ChangeKind.CREATED:
        return Insert(database, table, row)
    return Update(database, table, key, row)


def _soft_delete_nova(database: str, table: str, row_id: int, at: datetime) -> Op:
    t = db_time(at)
    return Update(database, table, {"id": row_id},
                  {"deleted": row_id, "deleted_at": t, "updated_at": t})  # fmt: skip


def _deleted(c: Change, before: Any) -> Change:
    return Change(ChangeKind.DELETED, c.resource, before, None, c.time, cause=c.cause)


def batches(ops: Iterable[Op], regroup: bool = False) -> list[tuple[str, str, list[Row]] | Op]:
    """Group inserts into one table as ``(database, table, rows)`` batches.

    Without ``regroup`` only consecutive inserts are grouped (order is kept exactly);
    with it, all inserts of a table go into one batch, before the other operations
    (for a bulk load, where there are only inserts and no foreign keys to respect).
    """
    out: list[tuple[str, str, list[Row]] | Op] = []
    grouped: dict[tuple[str, str], list[Row]] = {}
    rest: list[Op] = []
    for op in ops:
        if isinstance(op, Insert):
            if regroup:
                grouped.setdefault((op.database, op.table), []).append(op.row)
                continue
            last = out[-1] if out else None
            if isinstance(last, tuple) and last[0] == op.database and last[1] == op.table:
                last[2].append(op.row)
                continue
            out.append((op.database, op.table, [op.row]))
        elif regroup:
            rest.append(op)
        else:
            out.append(op)
    if regroup:
        out = [(db, table, rows) for (db, table), rows in grouped.items()]
        out.extend(rest)
    return out
