"""What cinder answers for each kind of resource, per microversion.

Keys, order and types follow the recordings in ``shared/reference/api/block-storage/``
(cinder 28.0.0 at 3.0 and 3.71); fields that appeared in between come in at the
microversion the cinder API reference gives. Timestamps as cinder writes them: from
its database ``…T06:12:28.000000``, from memory (create answers, pool reports) with
microseconds.
"""

from __future__ import annotations

from typing import Any

from stackwatch.sim import records as r
from stackwatch.sim.api.wire import db_micro, micro

Payload = dict[str, Any]


def volume_payload(
    vol: r.Volume, version: tuple[int, int], *, links_root: str, project_id: str,
    admin: bool, service_uuid: str | None, created: bool = False,
) -> Payload:
    """As ``volumes/detail`` (recorded at 3.0 and 3.71); a create answer has the
    in-memory timestamps and none of the ``os-vol-*`` attributes (recorded)."""
    body: Payload = {
        "id": vol.id,
        "status": vol.status,
        "size": vol.size,
        "availability_zone": vol.availability_zone,
        "created_at": micro(vol.created_at) if created else db_micro(vol.created_at),
        "updated_at": None if created else db_micro(vol.updated_at),
        "name": vol.name,
        "description": vol.description,
        "volume_type": vol.volume_type,
        "snapshot_id": vol.snapshot_id,
        "source_volid": vol.source_volid,
        "metadata": dict(vol.metadata),
        "links": [
            {"rel": "self", "href": f"{links_root}/v3/{project_id}/volumes/{vol.id}"},
            {"rel": "bookmark", "href": f"{links_root}/{project_id}/volumes/{vol.id}"},
        ],
        "user_id": vol.user_id,
        "bootable": "true" if vol.bootable else "false",
        "encrypted": vol.encrypted,
        "replication_status": vol.replication_status,
        "consistencygroup_id": None,
        "multiattach": vol.multiattach,
        # attachments as the API reference shows them (none recorded)
        "attachments": [
            {"server_id": a.server_id, "attachment_id": a.id,
             "attached_at": micro(a.attached_at), "host_name": a.host_name,
             "volume_id": vol.id, "device": a.device, "id": vol.id}
            for a in vol.attachments
        ],
        "migration_status": vol.migration_status,
    }
    if version >= (3, 13):
        body["group_id"] = None
    if version >= (3, 21):
        body["provider_id"] = None
    if version >= (3, 48):
        body["shared_targets"] = created
        body["service_uuid"] = None if created else service_uuid
    if version >= (3, 61):
        body["cluster_name"] = None
    if version >= (3, 63):
        body["volume_type_id"] = vol.volume_type_id
    if version >= (3, 65):
        body["consumes_quota"] = True
    if not created:
        body["os-vol-tenant-attr:tenant_id"] = vol.project_id
        if admin:
            body["os-vol-mig-status-attr:migstat"] = vol.migration_status
            body["os-vol-mig-status-attr:name_id"] = None
            body["os-vol-host-attr:host"] = vol.host
    return body


def volume_summary_payload(
    vol: r.Volume, *, links_root: str, project_id: str
) -> Payload:
    """As ``GET /v3/{p}/volumes`` (API reference: id, links, name)."""
    return {
        "id": vol.id,
        "links": [
            {"rel": "self", "href": f"{links_root}/v3/{project_id}/volumes/{vol.id}"},
            {"rel": "bookmark", "href": f"{links_root}/{project_id}/volumes/{vol.id}"},
        ],
        "name": vol.name,
    }


def snapshot_payload(
    snap: r.Snapshot, version: tuple[int, int], *, detail: bool, created: bool = False
) -> Payload:
    """As ``snapshots/detail`` (recorded at 3.0 and 3.71; create answers recorded too)."""
    body: Payload = {
        "id": snap.id,
        "created_at": micro(snap.created_at) if created else db_micro(snap.created_at),
        "updated_at": None if created else db_micro(snap.updated_at),
        "name": snap.name,
        "description": snap.description,
        "volume_id": snap.volume_id,
        "status": snap.status,
        "size": snap.size,
        "metadata": dict(snap.metadata),
    }
    if version >= (3, 14):
        body["group_snapshot_id"] = None
    if version >= (3, 41):
        body["user_id"] = snap.user_id
    if version >= (3, 65):
        body["consumes_quota"] = True
    if detail and not created:
        body["os-extended-snapshot-attributes:project_id"] = snap.project_id
        body["os-extended-snapshot-attributes:progress"] = snap.progress
    return body


def service_payload(svc: r.VolumeService, version: tuple[int, int], now: Any) -> Payload:
    """As ``os-services`` (recorded at 3.0 and 3.71)."""
    body: Payload = {
        "binary": svc.binary,
        "host": svc.host,
        "zone": svc.zone,
        "status": "disabled" if svc.disabled else "enabled",
        "state": "up" if svc.is_up(now) else "down",
        "updated_at": db_micro(svc.updated_at),
    }
    volume = svc.binary == "cinder-volume"
    if volume and version >= (3, 49):
        body["backend_state"] = svc.backend_state or ("up" if svc.is_up(now) else "down")
    if version >= (3, 7):
        body["cluster"] = svc.cluster
    body["disabled_reason"] = svc.disabled_reason
    if volume:
        body["replication_status"] = "disabled"
        body["active_backend_id"] = None
        body["frozen"] = svc.frozen
    return body


def pool_payload(pool: r.Pool, detail: bool) -> Payload:
    """As ``scheduler-stats/get_pools?detail=True`` (recorded keys; the recorded fake
    driver said "infinite", the simulated LVM backend reports numbers, as real
    drivers do, plus ``max_over_subscription_ratio`` and ``thin_provisioning_support``
    from the driver capabilities in the API reference)."""
    if not detail:
        return {"name": pool.name}
    return {"name": pool.name, "capabilities": {
        "pool_name": pool.name.rpartition("#")[2],
        "total_capacity_gb": pool.total_capacity_gb,
        "free_capacity_gb": pool.free_capacity_gb,
        "provisioned_capacity_gb": pool.provisioned_capacity_gb,
        "reserved_percentage": pool.reserved_percentage,
        "QoS_support": False,
        "filter_function": None,
        "goodness_function": None,
        "consistencygroup_support": False,
        "replication_enabled": False,
        "group_replication_enabled": False,
        "allocated_capacity_gb": pool.allocated_capacity_gb,
        "volume_backend_name": pool.volume_backend_name,
        "storage_protocol": pool.storage_protocol,
        "vendor_name": pool.vendor_name,
        "driver_version": pool.driver_version,
        "timestamp": micro(pool.timestamp),
        "max_over_subscription_ratio": pool.max_over_subscription_ratio,
        "thin_provisioning_support": pool.thin_provisioning_support,
    }}


def volume_type_payload(vtype: r.VolumeType) -> Payload:
    """As ``types`` (recorded)."""
    return {
        "id": vtype.id,
        "name": vtype.name,
        "is_public": vtype.is_public,
        "description": vtype.description,
        "extra_specs": dict(vtype.extra_specs),
        "qos_specs_id": None,
        "os-volume-type-access:is_public": vtype.is_public,
    }
