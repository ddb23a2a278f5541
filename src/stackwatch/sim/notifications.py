"""The notifications a real cloud publishes for each change, built from recorded messages.

Every message starts from a real one (``sim/data/notifications.json``: the first
message of each event type in ``shared/reference/notifications``, recorded from nova
33, cinder 28, neutron 28, glance 32 and keystone 29 with ``notification_format =
both``), so its envelope, context fields and payload shape are the real ones; the
ids, names, states, hosts and times of the simulated record are written over it.

:func:`for_change` maps a :class:`~stackwatch.sim.events.Change` to the notifications
the services send for it (nova legacy ``compute.instance.*`` on ``notifications.*``
and versioned ``instance.*`` on ``versioned_notifications.*`` of exchange ``nova``;
cinder on exchange ``openstack``; neutron, glance, keystone on their own);
:func:`audit` gives the periodic ``compute.instance.exists`` / ``instance.exists``;
:func:`for_request` what a request itself causes (keystone's failed logins).
:func:`envelope` is the oslo.messaging v2 wire body. Pure: no I/O, no clock.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from stackwatch.sim import records as r
from stackwatch.sim.events import Change, ChangeKind, ServedRequest

CONTROLLER = "controller"
POWER_STATES = {
    0: "pending",
    1: "running",
    3: "paused",
    4: "shutdown",
    6: "crashed",
    7: "suspended",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to publish: where, and the oslo.message dict."""

    exchange: str
    routing_key: str
    message: dict[str, Any]

    @property
    def event_type(self) -> str:
        return str(self.message["event_type"])


@functools.cache
def templates() -> Mapping[str, Mapping[str, Any]]:
    """The recorded message of each event type (loaded once)."""
    text = resources.files("stackwatch.sim").joinpath("data/notifications.json").read_text()
    loaded: dict[str, Mapping[str, Any]] = json.loads(text)["templates"]
    return loaded


def envelope(message: Mapping[str, Any]) -> str:
    """oslo.messaging's v2 wire body: ``{"oslo.version": "2.0", "oslo.message": "<json>"}``."""
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def _overlay(obj: Any, values: Mapping[str, Any]) -> Any:
    """Write ``values`` over every key of that name at any depth; a Mapping value for a key
    whose current value is a dict applies inside that subtree only."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key in values:
                new = values[key]
                if isinstance(new, Mapping) and isinstance(value, dict):
                    out[key] = _overlay(value, {**values, **new})
                else:
                    out[key] = new
            else:
                out[key] = _overlay(value, values)
        return out
    if isinstance(obj, list):
        return [_overlay(item, values) for item in obj]
    return obj


def _legacy_time(t: datetime | None) -> str:
    return "" if t is None else f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00:00"


def _iso_z(t: datetime | None) -> str | None:
    return None if t is None else f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def _stamp(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def build(
    event_type: str,
    t: datetime,
    payload_values: Mapping[str, Any],
    *,
    publisher_id: str | None = None,
    request_id: str | None = None,
    user_id: str | None = None,
    project_id: str | None = None,
) -> Notification:
    """One notification from the recorded template of ``event_type``."""
    tpl = templates()[event_type]
    msg = copy.deepcopy(dict(tpl["message"]))
    msg["payload"] = _overlay(msg["payload"], payload_values)
    ids = uuid.uuid4()
    msg["message_id"] = str(ids)
    msg["_unique_id"] = uuid.uuid4().hex
    msg["timestamp"] = _stamp(t)
    if publisher_id is not None:
        msg["publisher_id"] = publisher_id
    context = {
        "_context_request_id": request_id or f"req-{ids}",
        "_context_timestamp": f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}",
    }
    if user_id is not None:
        context.update(_context_user=user_id, _context_user_id=user_id)
    if project_id is not None:
        context.update(
            _context_project_id=project_id, _context_project=project_id, _context_tenant=project_id
        )
    if user_id is not None and "_context_user_identity" in msg:
        context["_context_user_identity"] = f"{user_id} {project_id or '-'} - default default"
    for key, value in context.items():
        if key in msg:  # only the context fields this service sends (keystone: none)
            msg[key] = value
    return Notification(str(tpl["exchange"]), str(tpl["routing_key"]), msg)


# ------------------------------------------------------------------ nova


def _flavor_values(f: r.Flavor) -> dict[str, Any]:
    return {
        "flavorid": f.id,
        "memory_mb": f.ram,
        "vcpus": f.vcpus,
        "root_gb": f.disk,
        "ephemeral_gb": f.ephemeral,
        "name": f.name,
        "swap": f.swap,
    }


def _server_legacy(s: r.Server) -> dict[str, Any]:
    return {
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "instance_id": s.id,
        "display_name": s.name,
        "reservation_id": s.reservation_id,
        "hostname": s.name,
        "instance_type": s.flavor.name,
        "instance_type_id": s.flavor.legacy_id,
        "instance_flavor_id": s.flavor.id,
        "memory_mb": s.flavor.ram,
        "disk_gb": s.flavor.disk,
        "vcpus": s.flavor.vcpus,
        "root_gb": s.flavor.disk,
        "ephemeral_gb": s.flavor.ephemeral,
        "host": s.host,
        "node": s.node,
        "availability_zone": s.availability_zone,
        "created_at": _legacy_time(s.created_at),
        "launched_at": _legacy_time(s.launched_at),
        "terminated_at": _legacy_time(s.terminated_at),
        "deleted_at": "",
        "state": s.vm_state,
        "state_description": s.task_state or "",
        "image_ref_url": f"http://{CONTROLLER}:9292/images/{s.image_id}",
        "old_state": s.vm_state,
        "new_task_state": s.task_state,
        "old_task_state": s.task_state,
        "metadata": dict(s.metadata),
    }


def _server_versioned(s: r.Server, request_id: str | None) -> dict[str, Any]:
    return {
        "uuid": s.id,
        "user_id": s.user_id,
        "tenant_id": s.project_id,
        "reservation_id": s.reservation_id,
        "display_name": s.name,
        "host_name": s.name,
        "host": s.host,
        "node": s.node,
        "availability_zone": s.availability_zone,
        "instance_name": s.instance_name,
        "flavor": _flavor_values(s.flavor),
        "image_uuid": s.image_id,
        "key_name": s.key_name,
        "created_at": _iso_z(s.created_at),
        "launched_at": _iso_z(s.launched_at),
        "terminated_at": _iso_z(s.terminated_at),
        "deleted_at": None,
        "updated_at": _iso_z(s.updated_at),
        "state": s.vm_state,
        "power_state": POWER_STATES.get(s.power_state, "pending"),
        "task_state": s.task_state,
        "progress": s.progress,
        "metadata": dict(s.metadata),
        "locked": s.locked,
        "request_id": request_id,
        "action_initiator_user": s.user_id,
        "action_initiator_project": s.project_id,
        "instance_uuid": s.id,
        "project_id": s.project_id,
        "fault": None,
        "ip_addresses": [],
    }


def _nova_pair(
    legacy: str | None,
    versioned: str | None,
    s: r.Server,
    c: Change,
    t: datetime,
    extra: Mapping[str, Any] | None = None,
) -> list[Notification]:
    host = s.host or CONTROLLER
    out: list[Notification] = []
    kw = {
        "request_id": c.request_id,
        "user_id": c.user_id or s.user_id,
        "project_id": c.project_id or s.project_id,
    }
    if legacy is not None:
        values = {**_server_legacy(s), **(extra or {})}
        out.append(build(legacy, t, values, publisher_id=f"compute.{host}", **kw))
    if versioned is not None:
        values = _server_versioned(s, c.request_id)
        out.append(build(versioned, t, values, publisher_id=f"nova-compute:{host}", **kw))
    return out


def _server(c: Change) -> list[Notification]:
    s: r.Server = c.record
    before: r.Server | None = c.before
    t = c.time
    if c.kind is ChangeKind.DELETED:
        gone = dataclasses.replace(s, vm_state="deleted", task_state=None, power_state=0)
        return [
            *_nova_pair("compute.instance.delete.start", "instance.delete.start", s, c, t),
            *_nova_pair("compute.instance.shutdown.start", "instance.shutdown.start", s, c, t),
            *_nova_pair("compute.instance.shutdown.end", "instance.shutdown.end", s, c, t),
            *_nova_pair("compute.instance.delete.end", "instance.delete.end", gone, c, t),
        ]
    if before is None:
        return _nova_pair("compute.instance.update", "instance.update", s, c, t)
    out: list[Notification] = []
    if before.vm_state == "building" and s.vm_state == "active":
        out += _nova_pair("compute.instance.create.start", "instance.create.start", before, c, t)
        out += _nova_pair("compute.instance.create.end", "instance.create.end", s, c, t)
    elif s.vm_state == "error" and before.vm_state != "error" and s.host is None:
        kw = {"request_id": c.request_id, "user_id": s.user_id, "project_id": s.project_id}
        fault = s.fault.message if s.fault is not None else "No valid host was found."
        out.append(
            build(
                "compute_task.build_instances",
                t,
                {
                    "instance_id": s.id,
                    "instance_uuid": s.id,
                    "state": "error",
                    "message": fault,
                    "reason": fault,
                },
                publisher_id=f"compute_task.{CONTROLLER}",
                **kw,
            )
        )
        out.append(
            build(
                "compute_task.build_instances.error",
                t,
                {**_server_versioned(s, c.request_id), "reason": fault},
                publisher_id=f"nova-conductor:{CONTROLLER}",
                **kw,
            )
        )
    elif s.vm_state == "error" and before.vm_state != "error":
        out += _action_error(before, s, c, t)
    elif before.vm_state == "active" and s.vm_state == "stopped":
        out += _nova_pair(
            "compute.instance.power_off.start", "instance.power_off.start", before, c, t
        )
        out += _nova_pair("compute.instance.power_off.end", "instance.power_off.end", s, c, t)
    elif before.vm_state == "stopped" and s.vm_state == "active":
        out += _nova_pair(
            "compute.instance.power_on.start", "instance.power_on.start", before, c, t
        )
        out += _nova_pair("compute.instance.power_on.end", "instance.power_on.end", s, c, t)
    if before.vm_state != s.vm_state or before.task_state != s.task_state:
        # notify_on_state_change = vm_and_task_state
        out += _nova_pair(
            "compute.instance.update",
            "instance.update",
            s,
            c,
            t,
            {
                "old_state": before.vm_state,
                "old_task_state": before.task_state,
                "new_task_state": s.task_state,
            },
        )
    return out


def _failed_action(before: r.Server, s: r.Server) -> str:
    """The action a server in ERROR on a host failed: its build, else the one its fault's
    trace names (``in reboot_instance``, as ops.set_error writes it)."""
    if before.vm_state == "building":
        return "create"
    details = s.fault.details if s.fault is not None else ""
    found = re.search(r"in (\w+)_instance\b", details)
    return found.group(1) if found else "reboot"


def _action_error(before: r.Server, s: r.Server, c: Change, t: datetime) -> list[Notification]:
    """nova-compute's ``compute.instance.<action>.error`` and ``instance.<action>.error``
    (on ``*.error``, priority ERROR) for an action that failed on the host: the recorded
    ``create.end`` messages renamed, with the fault (legacy: ``message``/``code``/
    ``exception``; versioned: an ExceptionPayload in ``fault``)."""
    action = _failed_action(before, s)
    fault = s.fault
    message = fault.message if fault is not None else "Unknown"
    code = fault.code if fault is not None else 500
    exception = "BuildAbortException" if action == "create" else "InstanceFaultRollback"
    out = _nova_pair("compute.instance.create.end", "instance.create.end", s, c, t,
                     {"message": message, "code": code, "exception": message})
    legacy, versioned = out
    legacy.message.update(event_type=f"compute.instance.{action}.error", priority="ERROR")
    legacy.message["payload"].update(message=message, code=code, exception=message)
    data = versioned.message["payload"]["nova_object.data"]
    data["fault"] = {
        "nova_object.name": "ExceptionPayload", "nova_object.namespace": "nova",
        "nova_object.version": "1.1",
        "nova_object.data": {"module_name": "nova.compute.manager",
                             "function_name": f"{action}_instance", "exception": exception,
                             "exception_message": message,
                             "traceback": fault.details if fault is not None else ""}}
    versioned.message.update(event_type=f"instance.{action}.error", priority="ERROR")
    return [
        Notification(legacy.exchange, "notifications.error", legacy.message),
        Notification(versioned.exchange, "versioned_notifications.error", versioned.message),
    ]


def audit(servers: list[r.Server], begin: datetime, end: datetime) -> list[Notification]:
    """The hourly usage audit: ``compute.instance.exists`` + ``instance.exists`` per server."""
    out: list[Notification] = []
    for s in servers:
        if s.host is None or s.vm_state == "deleted":
            continue
        host = s.host
        legacy = {
            **_server_legacy(s),
            "audit_period_beginning": f"{begin:%Y-%m-%d %H:%M:%S}",
            "audit_period_ending": f"{end:%Y-%m-%d %H:%M:%S}",
        }
        out.append(
            build(
                "compute.instance.exists",
                end,
                legacy,
                publisher_id=f"compute.{host}",
                user_id=s.user_id,
                project_id=s.project_id,
            )
        )
        versioned = {
            **_server_versioned(s, None),
            "audit_period_beginning": _iso_z(begin),
            "audit_period_ending": _iso_z(end),
        }
        out.append(
            build(
                "instance.exists",
                end,
                versioned,
                publisher_id=f"nova-compute:{host}",
                user_id=s.user_id,
                project_id=s.project_id,
            )
        )
    return out


# ------------------------------------------------------------------ other services


def _cinder(c: Change, kind: str) -> list[Notification]:
    rec = c.record
    if c.kind is ChangeKind.UPDATED:
        return []
    action = "create" if c.kind is ChangeKind.CREATED else "delete"
    if kind == "volume":
        v: r.Volume = rec
        host = v.host or f"{CONTROLLER}@lvm#lvm"
        values: dict[str, Any] = {
            "tenant_id": v.project_id,
            "host": host,
            "user_id": v.user_id,
            "availability_zone": v.availability_zone,
            "volume_id": v.id,
            "volume_type": v.volume_type_id,
            "display_name": v.name,
            "size": v.size,
            "status": v.status if action == "create" else "deleting",
            "created_at": _legacy_time(v.created_at),
            "snapshot_id": v.snapshot_id,
        }
        publisher = f"volume.{host if action == 'create' else host.split('#')[0]}"
    else:
        s: r.Snapshot = rec
        values = {
            "tenant_id": s.project_id,
            "user_id": s.user_id,
            "volume_id": s.volume_id,
            "snapshot_id": s.id,
            "display_name": s.name,
            "volume_size": s.size,
            "status": s.status,
            "created_at": _legacy_time(s.created_at),
        }
        publisher = f"snapshot.{CONTROLLER}@lvm"
    return [
        build(
            f"{kind}.{action}.{phase}",
            c.time,
            values,
            publisher_id=publisher,
            request_id=c.request_id,
            user_id=c.user_id,
            project_id=c.project_id,
        )
        for phase in ("start", "end")
    ]


_NEUTRON = {
    "network": "network",
    "subnet": "subnet",
    "port": "port",
    "router": "router",
    "floating_ip": "floatingip",
}


def _neutron(c: Change) -> list[Notification]:
    name = _NEUTRON[c.resource]
    if c.kind is ChangeKind.UPDATED:
        return []
    action = "create" if c.kind is ChangeKind.CREATED else "delete"
    rec = c.record
    body: dict[str, Any] = {"id": rec.id, "project_id": rec.project_id, "tenant_id": rec.project_id}
    for attr in (
        "name",
        "status",
        "network_id",
        "mac_address",
        "device_id",
        "device_owner",
        "cidr",
        "gateway_ip",
        "floating_ip_address",
        "floating_network_id",
        "mtu",
    ):
        if hasattr(rec, attr):
            body[attr] = getattr(rec, attr)
    if isinstance(rec, r.Port):
        body["fixed_ips"] = [
            {"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in rec.fixed_ips
        ]
        body["binding:host_id"] = rec.binding_host_id
    values = {name: body, f"{name}_id": rec.id}
    out = []
    for phase in ("start", "end"):
        event = f"{name}.{action}.{phase}"
        if event in templates():
            out.append(
                build(
                    event,
                    c.time,
                    values,
                    publisher_id=f"network.{CONTROLLER}",
                    request_id=c.request_id,
                    user_id=c.user_id,
                    project_id=c.project_id,
                )
            )
    return out


def _image(c: Change) -> list[Notification]:
    i: r.Image = c.record
    values = {
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "owner": i.owner,
        "size": i.size,
        "visibility": i.visibility,
        "checksum": i.checksum,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "created_at": _iso_z(i.created_at),
        "updated_at": _iso_z(i.updated_at),
    }
    if c.kind is ChangeKind.CREATED:
        events = ["image.create"]
    elif c.kind is ChangeKind.DELETED:
        events = ["image.delete"]
        values.update(status="deleted", deleted=True)
    elif c.before is not None and c.before.status != i.status and i.status == "active":
        events = ["image.activate"]
    else:
        events = ["image.update"]
    return [
        build(
            e,
            c.time,
            values,
            publisher_id=f"image.{CONTROLLER}",
            request_id=c.request_id,
            user_id=c.user_id,
            project_id=c.project_id,
        )
        for e in events
    ]


def _identity(c: Change) -> list[Notification]:
    if c.kind is not ChangeKind.CREATED:
        return []
    rec = c.record
    t = c.time
    kw = {"publisher_id": f"identity.{CONTROLLER}", "request_id": c.request_id}
    if isinstance(rec, r.Token):
        values = {
            "eventTime": f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}+0000",
            "outcome": "success",
            "initiator": {
                "id": rec.user_id,
                "user_id": rec.user_id,
                "host": {"address": rec.remote_addr, "agent": "openstacksdk"},
                "request_id": c.request_id,
            },
        }
        return [build("identity.authenticate", t, values, **kw)]
    if isinstance(rec, r.User):
        return [build("identity.user.created", t, {"resource_info": rec.id, "id": rec.id}, **kw)]
    if isinstance(rec, r.RoleAssignment):
        assignment = {"user": rec.user_id, "role": rec.role_id, "project": rec.project_id}
        return [build("identity.role_assignment.created", t, assignment, **kw)]
    return []


def _aggregate(c: Change) -> list[Notification]:
    """nova's aggregate events: legacy ``aggregate.*`` and versioned ``aggregate.*``."""
    a: r.Aggregate = c.record
    before: r.Aggregate | None = c.before
    t, kw = c.time, {"request_id": c.request_id, "user_id": c.user_id, "project_id": c.project_id}
    versioned = {
        "hosts": list(a.hosts),
        "id": a.legacy_id,
        "metadata": dict(a.metadata),
        "name": a.name,
        "uuid": a.uuid,
    }
    api = f"nova-api:{CONTROLLER}"
    out: list[Notification] = []
    if c.kind is ChangeKind.CREATED:
        out.append(
            build(
                "aggregate.create.start",
                t,
                {"name": a.name},
                publisher_id=f"aggregate.{a.name}",
                **kw,
            )
        )
        out.append(
            build(
                "aggregate.create.end",
                t,
                {"aggregate_id": a.legacy_id, "name": a.name},
                publisher_id=f"aggregate.{a.legacy_id}",
                **kw,
            )
        )
        return out
    if before is None or c.kind is ChangeKind.DELETED:
        return out
    legacy_pub = f"aggregate.{a.legacy_id}"
    for host in [h for h in a.hosts if h not in before.hosts]:
        for phase in ("start", "end"):
            out.append(
                build(
                    f"aggregate.addhost.{phase}",
                    t,
                    {"aggregate_id": str(a.legacy_id), "host_name": host, "name": a.name},
                    publisher_id=legacy_pub,
                    **kw,
                )
            )
            out.append(build(f"aggregate.add_host.{phase}", t, versioned, publisher_id=api, **kw))
    if dict(a.metadata) != dict(before.metadata):
        for phase in ("start", "end"):
            out.append(
                build(
                    f"aggregate.updatemetadata.{phase}",
                    t,
                    {"aggregate_id": a.legacy_id, "meta_data": dict(a.metadata)},
                    publisher_id=legacy_pub,
                    **kw,
                )
            )
            out.append(
                build(f"aggregate.update_metadata.{phase}", t, versioned, publisher_id=api, **kw)
            )
    return out


def _flavor(c: Change) -> list[Notification]:
    if c.kind is not ChangeKind.CREATED:
        return []
    f: r.Flavor = c.record
    values = {
        **_flavor_values(f),
        "is_public": f.is_public,
        "description": f.description,
        "rxtx_factor": f.rxtx_factor,
    }
    return [
        build(
            "flavor.create",
            c.time,
            values,
            publisher_id=f"nova-api:{CONTROLLER}",
            request_id=c.request_id,
            user_id=c.user_id,
            project_id=c.project_id,
        )
    ]


def for_request(served: ServedRequest) -> list[Notification]:
    """Notifications a request itself causes: keystone's CADF ``identity.authenticate``
    with ``outcome: failure`` for a refused login (successes come with the token)."""
    if (served.service, served.method, served.status) != ("identity", "POST", 401):
        return []
    if not served.path.rstrip("/").endswith("/auth/tokens"):
        return []
    t = served.time
    values = {
        "eventTime": f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}+0000",
        "outcome": "failure",
        "initiator": {
            "host": {"address": served.remote_addr, "agent": served.user_agent or "-"},
            "request_id": served.request_id,
        },
    }
    return [
        build(
            "identity.authenticate",
            t,
            values,
            publisher_id=f"identity.{CONTROLLER}",
            request_id=served.request_id,
        )
    ]


def for_change(c: Change) -> list[Notification]:
    """The notifications the real services publish for one change (maybe none)."""
    kind = c.resource
    if kind == "server":
        return _server(c)
    if kind in ("volume", "snapshot"):
        return _cinder(c, kind)
    if kind in _NEUTRON:
        return _neutron(c)
    if kind == "image":
        return _image(c)
    if kind in ("token", "user", "role_assignment"):
        return _identity(c)
    if kind == "aggregate":
        return _aggregate(c)
    if kind == "flavor":
        return _flavor(c)
    return []
