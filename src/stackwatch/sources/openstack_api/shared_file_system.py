"""``api.shared_file_system``: manila shares by status and size (openstack-exporter's
``sharev2`` metrics).

Calls per collection: ``/shares/detail?all_tenants=1`` ceil(N/1000) (``osapi_max_limit``;
``shares_links``), at microversion 2.6 (``share_type_name``).
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api.optional import (
    OptionalApiSource,
    label_text,
    labels_of,
    status_index,
)
from stackwatch.sources.resources import Resource

#: The statuses openstack-exporter counts (each present, 0 when no share is in it).
SHARE_STATUSES = (
    "creating", "available", "updating", "migrating", "migration_error", "extending",
    "deleting", "shrinking", "error", "error_deleting", "shrinking_error", "reverting_error",
    "restoring", "reverting", "managing", "unmanaging", "reverting_to_snapshot",
    "soft_deleting", "inactive")
#: openstack-exporter gives ``share_status`` cinder's volume status numbers (its choice).
VOLUME_STATUSES = (
    "creating", "available", "reserved", "attaching", "detaching", "in-use", "maintenance",
    "deleting", "awaiting-transfer", "error", "error_deleting", "backing-up",
    "restoring-backup", "error_backing-up", "error_restoring", "error_extending",
    "downloading", "uploading", "retyping", "extending")
COMMON = ("id", "name", "status", "share_type", "share_proto", "share_type_name", "project_id")


class SharedFileSystemSource(OptionalApiSource):
    """Manila through its API."""

    service_type = "shared-file-system"
    codename = "sharev2"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("shares", self.shares, self.interval("shares")),)

    def shares(self) -> Collection:
        shares = list(self.client.list_all("shared-file-system", "shares/detail", "shares",
                                           params={"all_tenants": 1}))
        samples = [self.metric("shares_counter", len(shares))]
        for s in shares:
            labels = labels_of(s, *COMMON)
            size = s.get("size")
            gb = float(size) if isinstance(size, int | float) else 0.0
            samples.append(self.metric("share_gb", gb, **labels,
                                       availability_zone=label_text(s.get("availability_zone"))))
            samples.append(self.metric("share_status",
                                       status_index(VOLUME_STATUSES, labels["status"]),
                                       **labels, size=str(int(gb))))
        samples += self.counter("share_status_counter", SHARE_STATUSES,
                                (label_text(s.get("status")) for s in shares))
        return Collection(tuple(samples))
