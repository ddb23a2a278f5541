"""``api.dns``: designate zones and their recordsets (openstack-exporter's ``designate``
metrics).

Calls per collection: ``/v2/zones`` ceil(N/1000), then ``/v2/zones/{id}/recordsets``
per zone (in parallel), every project's with ``X-Auth-All-Projects: True``. Designate
pages with ``links.next``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stackwatch.model import Collection, Sample
from stackwatch.sources.openstack_api.optional import (
    OptionalApiSource,
    label_text,
    labels_of,
    status_index,
)
from stackwatch.sources.resources import Resource

#: openstack-exporter's zone and recordset statuses (lower case), in its order.
STATUSES = ("pending", "active", "deleted", "error")
ALL_PROJECTS = {"X-Auth-All-Projects": "True"}


class DnsSource(OptionalApiSource):
    """Designate through its API."""

    service_type = "dns"
    codename = "designate"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("zones", self.zones, self.interval("zones")),)

    def zones(self) -> Collection:
        zones = list(self.client.list_all("dns", "v2/zones", "zones", headers=ALL_PROJECTS))
        samples = [self.metric("zones", len(zones))]
        for z in zones:
            samples.append(self.metric(
                "zone_status", status_index(STATUSES, label_text(z.get("status")).lower()),
                tenant_id=label_text(z.get("project_id")),
                **labels_of(z, "id", "name", "status", "type")))
        results = self.client.map(self._recordsets, zones)
        errors = [r for r in results if isinstance(r, BaseException)]
        checks = self.partial("recordsets", errors, len(zones))
        for found in results:
            if not isinstance(found, BaseException):
                samples.extend(found)
        return Collection(tuple(samples), checks)

    def _recordsets(self, zone: Mapping[str, Any]) -> list[Sample]:
        zone_id = label_text(zone.get("id"))
        found = list(self.client.list_all("dns", f"v2/zones/{zone_id}/recordsets",
                                          "recordsets", headers=ALL_PROJECTS))
        samples = [self.metric("recordsets", len(found), zone_id=zone_id,
                               zone_name=label_text(zone.get("name")),
                               tenant_id=label_text(zone.get("project_id")))]
        for r in found:
            samples.append(self.metric(
                "recordsets_status", status_index(STATUSES, label_text(r.get("status")).lower()),
                **labels_of(r, "id", "name", "status", "zone_id", "zone_name", "type")))
        return samples
