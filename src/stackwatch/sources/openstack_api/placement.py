"""``api.placement``: resource provider inventories and usages.

Calls per collection (R providers): ``/resource_providers`` 1, then
``/resource_providers/{uuid}/inventories`` and ``/usages`` per provider
(2R, in parallel; placement has no bulk form of either). The result is shared
with ``api.compute``, which derives free vCPU / RAM / disk from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.errors import SourceError
from stackwatch.model import Collection, Sample
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.resources import Resource

#: How long inventories and usages are reused between api.placement and api.compute.
PROVIDERS_MAX_AGE_S = 10.0


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of one provider."""

    total: float
    reserved: float
    allocation_ratio: float
    used: float


@dataclass(frozen=True, slots=True)
class Provider:
    """A resource provider (a compute node, or a nested/sharing provider)."""

    uuid: str
    name: str
    inventories: Mapping[str, Inventory]

    def total(self, rc: str) -> float | None:
        inv = self.inventories.get(rc)
        return inv.total if inv else None

    def used(self, rc: str) -> float | None:
        inv = self.inventories.get(rc)
        return inv.used if inv else None

    def free(self, rc: str) -> float | None:
        """Schedulable amount left: ``(total - reserved) * allocation_ratio - used``."""
        inv = self.inventories.get(rc)
        if inv is None:
            return None
        return (inv.total - inv.reserved) * inv.allocation_ratio - inv.used

    @classmethod
    def from_api(cls, d: Mapping[str, Any], inventories: Mapping[str, Any],
                 usages: Mapping[str, Any]) -> Provider:
        name = f.text(d, "name", "placement resource_providers")
        what = f"placement inventories of {name}"
        parsed = {}
        for rc, inv in inventories.items():
            if not isinstance(inv, Mapping):
                continue
            parsed[str(rc)] = Inventory(
                f.number(inv, "total", what), f.number(inv, "reserved", what, 0.0),
                f.number(inv, "allocation_ratio", what, 1.0),
                f.number(usages, str(rc), f"placement usages of {name}", 0.0))
        return cls(f.text(d, "uuid", "placement resource_providers"), name, parsed)


def load_providers(client: ApiClient) -> list[Provider]:
    """Every provider with inventories and usages, shared with api.compute."""
    def load() -> list[Provider]:
        body = client.get("placement", "resource_providers")
        rows = [r for r in f.items(body, "resource_providers", "placement resource_providers")
                if isinstance(r, dict)]

        def one(row: Mapping[str, Any]) -> Provider:
            uuid = f.text(row, "uuid", "placement resource_providers")
            inv = client.get("placement", f"resource_providers/{uuid}/inventories")
            use = client.get("placement", f"resource_providers/{uuid}/usages")
            return Provider.from_api(row, f.obj(inv, "inventories", "placement inventories"),
                                     f.obj(use, "usages", "placement usages"))

        results = client.map(one, rows)
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, SourceError):
                    raise result
                raise result
        return list(results)
    return client.shared("placement.providers", PROVIDERS_MAX_AGE_S, load)


class PlacementSource(ApiSource):
    """Placement through its API."""

    service_type = "placement"
    codename = "placement"

    def resources(self) -> Sequence[Resource]:
        return (Resource("providers", self.providers, self.interval("providers")),)

    def providers(self) -> Collection:
        samples: list[Sample] = []
        providers = load_providers(self.client)
        for p in providers:
            for rc, inv in sorted(p.inventories.items()):
                labels = {"hostname": p.name, "resourcetype": rc}
                samples += [
                    self.sample("openstack_placement_resource_total", inv.total, **labels),
                    self.sample("openstack_placement_resource_reserved", inv.reserved, **labels),
                    self.sample("openstack_placement_resource_allocation_ratio",
                                inv.allocation_ratio, **labels),
                    self.sample("openstack_placement_resource_usage", inv.used, **labels),
                ]
        samples.append(self.sample("openstack_placement_resource_providers", len(providers)))
        return Collection(tuple(samples))
