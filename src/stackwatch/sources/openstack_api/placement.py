"""``api.placement``: resource provider inventories, usages and allocations.

Calls per collection (R providers): ``/resource_providers`` 1, then
``/resource_providers/{uuid}/usages`` per provider (R, in parallel; placement
has no bulk form), and ``/inventories`` per provider on the first collection,
for new providers, and every 600 s (R more); every ``allocations`` interval (600 s)
``/resource_providers/{uuid}/allocations`` per provider (R more). With
``databases.placement`` configured, none of these: a few queries of placement's
database read the same figures (:mod:`stackwatch.sources.sql.shortcuts`). Providers
that could not be read
(the run's deadline, errors) are named in a ``stackwatch.partial`` check. The result
is shared with ``api.compute``, which derives its per-hypervisor capacity from it
(:attr:`Inventory.capacity`, :attr:`Inventory.free`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwatch.model import CheckResult, Collection, Labels, Sample, Status, make_labels
from stackwatch.sources.base import PARTIAL_CHECK
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.resources import Resource

if TYPE_CHECKING:  # a runtime import would be circular (sql.nova imports .compute)
    from stackwatch.sources.sql.shortcuts import Shortcuts

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
    generation: float = 0.0

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
        return cls(f.text(d, "uuid", "placement resource_providers"), name, parsed,
                   f.number(d, "generation", "placement resource_providers", 0.0))


@dataclass(frozen=True, slots=True)
class Providers:
    """The providers read this cycle, and how many could not be (a fan-out cut short at
    the run's deadline, or errors), with the first reason."""

    read: tuple[Provider, ...]
    missing: int = 0
    first_error: str = ""

    def partial(self, source: str, region: str, resource: str = "providers"
                ) -> tuple[CheckResult, ...]:
        """An UNKNOWN ``stackwatch.partial`` check when some providers were not read."""
        if not self.missing:
            return ()
        return (CheckResult(
            PARTIAL_CHECK, Status.UNKNOWN,
            f"{source} {resource}: {self.missing} of {self.missing + len(self.read)} "
            f"resource providers could not be read, first: {self.first_error}",
            make_labels(source=source, resource=resource, region=region)),)


def load_providers(client: ApiClient, shortcuts: Shortcuts | None = None) -> Providers:
    """Every provider with inventories and usages, shared with api.compute; those that
    could not be read are counted (raise when none could be).

    Inventories (total, reserved, allocation ratio) change when an operator or nova
    reconfigures a node, not with every boot, so they are kept INVENTORIES_MAX_AGE_S
    and read again only then and for new providers: that halves the requests on a
    cloud with thousands of providers. One fan-out item reads a provider whole (its
    inventories if not known, then its usages), so that a run cut short at its
    deadline delivers whole providers, and the inventories it read spare the next run.
    With ``shortcuts`` holding placement's database, three queries read them all.
    """
    def load() -> Providers:
        body = client.get("placement", "resource_providers")
        rows = [r for r in f.items(body, "resource_providers", "placement resource_providers")
                if isinstance(r, dict)]
        known: dict[str, Mapping[str, Any]] = client.shared(
            "inventories.placement", INVENTORIES_MAX_AGE_S, dict)

        def one(row: Mapping[str, Any]) -> Provider:
            uuid = f.text(row, "uuid", "placement resource_providers")
            inventories = known.get(uuid)
            if inventories is None:
                answer = client.get("placement", f"resource_providers/{uuid}/inventories")
                inventories = f.obj(answer, "inventories", "placement inventories")
                known[uuid] = inventories  # one dict store: atomic, shared by the lanes
            use = client.get("placement", f"resource_providers/{uuid}/usages")
            return Provider.from_api(row, inventories, f.obj(use, "usages", "placement usages"))

        results = client.map(one, rows)
        read = [r for r in results if isinstance(r, Provider)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and not read:
            raise errors[0]
        return Providers(tuple(read), len(rows) - len(read), str(errors[0]) if errors else "")

    if shortcuts is not None and shortcuts.placement:
        found = shortcuts  # for the closure: mypy does not narrow into it
        return client.shared("placement.providers", PROVIDERS_MAX_AGE_S, lambda: found.read(
            "placement providers", lambda: providers_from_sql(found), load))
    return client.shared("placement.providers", PROVIDERS_MAX_AGE_S, load)


def providers_from_sql(shortcuts: Shortcuts) -> Providers:
    """Every provider, its inventories and usages, from placement's database."""
    listed, rows = shortcuts.providers()
    classes: dict[str, dict[str, Inventory]] = {p.uuid: {} for p in listed}
    for row in rows:
        classes.setdefault(row.provider_uuid, {})[row.resource_class] = Inventory(
            row.total, row.reserved, row.allocation_ratio, row.used)
    return Providers(tuple(Provider(p.uuid, p.name, classes[p.uuid], p.generation)
                           for p in listed))


class PlacementSource(ApiSource):
    """Placement through its API."""

    service_type = "placement"
    codename = "placement"

    #: the providers of the last run and their series, by uuid (replaced, never changed
    #: in place: the empty class default is shared)
    _known: Mapping[str, tuple[Provider, list[tuple[str, float, Labels]]]] = {}

    def resources(self) -> Sequence[Resource]:
        return (Resource("providers", self.providers, self.interval("providers")),
                Resource("allocations", self.allocations, self.interval("allocations", 600)))

    def _series(self, p: Provider) -> list[tuple[str, float, Labels]]:
        """A provider's five series per resource class: one label set for the five."""
        out = []
        for rc, inv in sorted(p.inventories.items()):
            labels = make_labels(hostname=p.name, resourcetype=rc, region=self.region_label)
            out += [("openstack_placement_resource_total", inv.total, labels),
                    ("openstack_placement_resource_reserved", inv.reserved, labels),
                    ("openstack_placement_resource_allocation_ratio", inv.allocation_ratio,
                     labels),
                    ("openstack_placement_resource_usage", inv.used, labels),
                    ("openstack_placement_resource_generation", p.generation, labels)]
        return out

    def providers(self) -> Collection:
        providers = load_providers(self.client, self.shortcuts)
        region = self.region_label
        # a provider equal to the one of the last run keeps its series (150,000 on a big
        # cloud, most of them unchanged from one run to the next)
        known, kept = self._known, {}
        for p in providers.read:
            hit = known.get(p.uuid)
            kept[p.uuid] = hit if hit is not None and hit[0] == p else (p, self._series(p))
        self._known = kept
        now = time.time()
        samples = [Sample(name, value, labels, now) for _, series in kept.values()
                   for name, value, labels in series]
        samples.append(self.sample("openstack_placement_resource_providers",
                                   len(providers.read) + providers.missing))
        return Collection(tuple(samples), providers.partial(self.name, region))

    def allocations(self) -> Collection:
        """openstack-exporter's ``resource_provider_allocations``: what each consumer holds
        of each resource class on each provider (``/resource_providers/{uuid}/allocations``
        per provider, as it reads them: placement has no bulk form); not read when
        ``disabled_metrics`` disables it."""
        if not self.wants("openstack_placement_resource_provider_allocations"):
            return Collection()
        shortcuts = self.shortcuts
        if shortcuts is not None and shortcuts.placement:
            found = shortcuts  # for the closure: mypy does not narrow into it
            return found.read("placement allocations",
                              lambda: self._allocations_from_sql(found), self._allocations)
        return self._allocations()

    def _allocations_from_sql(self, shortcuts: Shortcuts) -> Collection:
        """The same series from placement's database: one query."""
        return Collection(tuple(
            self.sample("openstack_placement_resource_provider_allocations", row.used,
                        hostname=row.provider_name, uuid=row.consumer,
                        resourcetype=row.resource_class)
            for row in shortcuts.allocations()))

    def _allocations(self) -> Collection:
        providers = load_providers(self.client, self.shortcuts)

        def one(p: Provider) -> list[Sample]:
            body = self.client.get("placement", f"resource_providers/{p.uuid}/allocations")
            what = f"placement allocations of {p.name}"
            return [self.sample("openstack_placement_resource_provider_allocations",
                                f.number(f.obj(held, "resources", what), rc, what),
                                hostname=p.name, uuid=str(consumer), resourcetype=str(rc))
                    for consumer, held in f.obj(body, "allocations", what).items()
                    if isinstance(held, Mapping) for rc in f.obj(held, "resources", what)]

        samples: list[Sample] = []
        for answer in self.client.map(one, providers.read):
            if isinstance(answer, BaseException):
                raise answer
            samples += answer
        return Collection(tuple(samples), providers.partial(self.name, self.region_label))
