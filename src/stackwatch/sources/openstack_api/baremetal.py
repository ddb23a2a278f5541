"""``api.baremetal``: ironic nodes with their provision and power states and maintenance
(openstack-exporter's ``ironic`` metrics).

Calls per collection: ``/v1/nodes/detail`` ceil(N/1000) (``max_limit``; a ``next``
link), at microversion 1.65 at most (lessee, retired, conductor_group).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.optional import OptionalApiSource, label_text, labels_of
from stackwatch.sources.resources import Resource


def _inner(item: Mapping[str, Any], *path: str) -> str:
    """A string nested in objects (``extra.system_vendor.serial_number``), "" otherwise."""
    value: Any = item
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _one_line(value: object) -> str:
    """The exporter's sanitising of free text: newlines to spaces, trimmed."""
    return label_text(value).replace("\n", " ").strip()


class BaremetalSource(OptionalApiSource):
    """Ironic through its API."""

    service_type = "baremetal"
    codename = "ironic"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("nodes", self.nodes, self.interval("nodes")),)

    def nodes(self) -> Collection:
        what = "ironic nodes"
        samples = []
        for node in self.client.list_all("baremetal", "v1/nodes/detail", "nodes"):
            traits = node.get("traits")
            ident = labels_of(node, "name", "provision_state")
            uuid = label_text(node.get("uuid"))
            samples.append(self.metric(
                "node", 1, id=uuid, power_state=label_text(node.get("power_state")),
                maintenance=label_text(bool(node.get("maintenance"))),
                maintenance_reason=_one_line(node.get("maintenance_reason")),
                conductor_group=label_text(node.get("conductor_group")),
                traits=" ".join(str(t) for t in traits) if isinstance(traits, list) else "",
                instance_uuid=label_text(node.get("instance_uuid")),
                lessee=label_text(node.get("lessee")), last_error=_one_line(node.get("last_error")),
                serial_number=_inner(node, "extra", "system_vendor", "serial_number"),
                console_enabled=label_text(bool(node.get("console_enabled"))),
                resource_class=label_text(node.get("resource_class")),
                deploy_kernel=_inner(node, "driver_info", "deploy_kernel"),
                deploy_ramdisk=_inner(node, "driver_info", "deploy_ramdisk"),
                retired=label_text(bool(node.get("retired"))),
                retired_reason=label_text(node.get("retired_reason")),
                ironic_self_healing_state=_inner(node, "extra", "ironic_self_healing_state"),
                **ident))
            for key, name in (("updated_at", "node_updated_at"),
                              ("provision_updated_at", "node_provision_updated_at")):
                moment = f.timestamp(node, key, what)
                if moment is not None:
                    samples.append(self.metric(name, int(moment), id=uuid, **ident))
        return Collection(tuple(samples))
