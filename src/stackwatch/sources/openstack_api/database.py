"""``api.database``: trove database instances (openstack-exporter's ``trove`` metrics).

Calls per collection: the management listing ``/mgmt/instances?include_clustered=False&
deleted=False`` (admin; every project's instances), paged with a ``links`` next link.
The exporter's ``region`` label (the instance's region) is stackwatch's region label,
the region watched: trove lists that region's instances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stackwatch.model import Collection
from stackwatch.sources.openstack_api.optional import (
    OptionalApiSource,
    label_text,
    labels_of,
    status_index,
)
from stackwatch.sources.resources import Resource

#: openstack-exporter's instance statuses, in its order (the gauge's value is the position).
INSTANCE_STATUSES = ("NEW", "BUILD", "ACTIVE", "REBOOT", "RESIZE", "UPGRADE",
                     "RESTART_REQUIRED", "PROMOTE", "EJECT", "DETACH", "SHUTDOWN", "BACKUP",
                     "ERROR")


def _number(item: Mapping[str, Any], key: str) -> float:
    value = item.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def _inner(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


class DatabaseSource(OptionalApiSource):
    """Trove through its API."""

    service_type = "database"
    codename = "trove"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("instances", self.instances, self.interval("instances")),)

    def instances(self) -> Collection:
        found = list(self.client.list_all(
            "database", "mgmt/instances", "instances",
            params={"include_clustered": "False", "deleted": "False"}))
        samples = [self.metric("total_instances", len(found))]
        for i in found:
            store, volume = _inner(i, "datastore"), _inner(i, "volume")
            labels = {"datastore_type": label_text(store.get("type")),
                      "datastore_version": label_text(store.get("version")),
                      **labels_of(i, "health_status", "id", "name", "status", "tenant_id")}
            samples += [
                self.metric("instance_status",
                            status_index(INSTANCE_STATUSES, labels["status"]), **labels),
                self.metric("instance_volume_size_gb", _number(volume, "size"), **labels),
                self.metric("instance_volume_used_gb", _number(volume, "used"), **labels),
            ]
        return Collection(tuple(samples))
