"""``api.container_infrastructure_management``: magnum clusters (openstack-exporter's
``container_infra`` metrics).

Calls per collection: ``/v1/clusters`` ceil(N/1000) (``max_limit``; a ``next`` link).
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

#: openstack-exporter's cluster statuses, in its order (the gauge's value is the position).
CLUSTER_STATUSES = (
    "CREATE_COMPLETE", "CREATE_FAILED", "CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
    "UPDATE_FAILED", "UPDATE_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED",
    "DELETE_COMPLETE", "RESUME_COMPLETE", "RESUME_FAILED", "RESTORE_COMPLETE",
    "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED", "ROLLBACK_COMPLETE", "SNAPSHOT_COMPLETE",
    "CHECK_COMPLETE", "ADOPT_COMPLETE")


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


class ContainerInfraSource(OptionalApiSource):
    """Magnum through its API."""

    service_type = "container-infrastructure-management"
    codename = "container_infra"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("clusters", self.clusters, self.interval("clusters")),)

    def clusters(self) -> Collection:
        clusters = list(self.client.list_all("container-infrastructure-management",
                                             "clusters", "clusters"))
        samples = [self.metric("total_clusters", len(clusters))]
        for c in clusters:
            labels = labels_of(c, "uuid", "name", "stack_id", "status", "project_id")
            masters, nodes = _count(c.get("master_count")), _count(c.get("node_count"))
            samples += [
                self.metric("cluster_masters", masters, **labels, node_count=str(nodes)),
                self.metric("cluster_nodes", nodes, **labels, master_count=str(masters)),
                self.metric("cluster_status",
                            status_index(CLUSTER_STATUSES, label_text(c.get("status"))),
                            **labels, node_count=str(nodes), master_count=str(masters)),
            ]
        return Collection(tuple(samples))
