"""``api.placement``: resource provider inventories and usages.

Calls per collection (R providers): ``/resource_providers`` 1, then
``/resource_providers/{uuid}/usages`` per provider (R, in parallel; placement
has no bulk form), and ``/inventories`` per provider on the first collection,
for new providers, and every 600 s (R more). The result is shared
with ``api.compute``, which derives its per-hypervisor capacity from it
(:attr:`Inventory.capacity`, :attr:`Inventory.free`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.model import Collection, Sample, make_labels
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.resources import Resource

#: How long inventories and usages are reused between api.placement and api.compute.
PROVIDERS_MAX_AGE_S = 10.0
#: How long provider inventories are reused before being read again (new providers at once).
INVENTORIES_MAX_AGE_S = 600.0


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of one provider, as placement reports it."""

    total: float
    reserved: float
    allocation_ratio: float
    used: float

    @property
    def capacity(self) -> float:
        """What placement lets be allocated: ``(total - reserved) * allocation_ratio``."""
        return (self.total - self.reserved) * self.allocation_ratio

    @property
    def free(self) -> float:
        """Schedulable amount left: ``capacity - used`` (negative when over-allocated)."""
        return self.capacity - self.used


@dataclass(frozen=True, slots=True)
class Provider:
    """A resource provider (a compute node, or a nested/sharing provider)."""

    uuid: str
    name: str
    inventories: Mapping[str, Inventory]

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


def _raise_first(results: Sequence[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _inventories(client: ApiClient, rows: Sequence[Mapping[str, Any]]
                 ) -> dict[str, Mapping[str, Any]]:
    """uuid -> inventories, re-read every INVENTORIES_MAX_AGE_S and for new providers only.

    Inventories (total, reserved, allocation ratio) change when an operator or
    nova reconfigures a node, not with every boot, so they are not fetched every
    cycle: that halves the requests on a cloud with thousands of providers.
    """
    known: dict[str, Mapping[str, Any]] = client.shared(
        "inventories.placement", INVENTORIES_MAX_AGE_S, dict)
    wanted = [f.text(r, "uuid", "placement resource_providers") for r in rows]
    missing = [u for u in wanted if u not in known]

    def one(uuid: str) -> Mapping[str, Any]:
        body = client.get("placement", f"resource_providers/{uuid}/inventories")
        return f.obj(body, "inventories", "placement inventories")

    fetched = client.map(one, missing)
    _raise_first(fetched)
    known.update(zip(missing, fetched, strict=True))
    return {u: known[u] for u in wanted}


def load_providers(client: ApiClient) -> list[Provider]:
    """Every provider with inventories and usages, shared with api.compute."""
    def load() -> list[Provider]:
        body = client.get("placement", "resource_providers")
        rows = [r for r in f.items(body, "resource_providers", "placement resource_providers")
                if isinstance(r, dict)]
        inventories = _inventories(client, rows)

        def usages(row: Mapping[str, Any]) -> Mapping[str, Any]:
            uuid = f.text(row, "uuid", "placement resource_providers")
            use = client.get("placement", f"resource_providers/{uuid}/usages")
            return f.obj(use, "usages", "placement usages")

        results = client.map(usages, rows)
        _raise_first(results)
        return [Provider.from_api(row, inventories[str(row["uuid"])], used)
                for row, used in zip(rows, results, strict=True)]
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
        region = self.region_label
        for p in providers:
            for rc, inv in sorted(p.inventories.items()):
                # One label set for the four samples: 120,000 samples on a big cloud.
                labels = make_labels(hostname=p.name, resourcetype=rc, region=region)
                samples += [
                    Sample("openstack_placement_resource_total", inv.total, labels),
                    Sample("openstack_placement_resource_reserved", inv.reserved, labels),
                    Sample("openstack_placement_resource_allocation_ratio",
                           inv.allocation_ratio, labels),
                    Sample("openstack_placement_resource_usage", inv.used, labels),
                ]
        samples.append(self.sample("openstack_placement_resource_providers", len(providers)))
        return Collection(tuple(samples))
