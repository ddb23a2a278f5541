"""Base of the sources of services a cloud may not run (heat, octavia, ironic, designate,
manila, magnum, trove, gnocchi, swift): watched only when the token's catalog lists them.

A service absent from the catalog is not an error: its source reads nothing and says
nothing (no endpoint check, no ``openstack_<name>_up``), so health leaves the service
"not watched" (these catalog entries are ``optional``). Present, it is an API source like
the others: endpoint check, ``openstack_<name>_up``, resources read and failing apart.

Their metrics are openstack-exporter's (``exporters/<service>.go``): the same names, label
names and values, and, for a status gauge, the same number for each status (its position
in the exporter's table; -1 for a status the table does not know).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from stackwatch.errors import SourceError
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.resources import Resource

log = logging.getLogger(__name__)


def status_index(known: Sequence[str], status: str) -> int:
    """The exporter's number for ``status``: its position in ``known``, -1 when unknown."""
    try:
        return known.index(status)
    except ValueError:
        return -1


class OptionalApiSource(ApiSource):
    """An API source that watches its service only while the catalog lists it."""

    #: whether the catalog listed the service at the last collection
    present = False

    def prepare(self) -> tuple[Collection, SourceError | None]:
        present = self.client.in_catalog(self.service_type)  # auth failures raise
        if present != self.present:
            log.info("%s: %s %s the catalog", self.name, self.service_type,
                     "is in" if present else "is not in")
        self.present = present
        if not present:
            return Collection(), None
        return super().prepare()

    def resources(self) -> Sequence[Resource]:
        return self.readers() if self.present else ()

    def readers(self) -> Sequence[Resource]:
        """The resources read while the service is in the catalog."""
        raise NotImplementedError

    def metric(self, name: str, value: float, /, **labels: object) -> Sample:
        """``openstack_<codename>_<name>`` with the region label (``codename`` is
        openstack-exporter's name for the service: ``loadbalancer``, ``sharev2``...)."""
        return self.sample(f"openstack_{self.codename}_{name}", value, **labels)

    def counter(self, name: str, known: Iterable[str], seen: Iterable[str]) -> list[Sample]:
        """``<name>{status}``: how many items are in each status, every known one present
        (0 when none is), and any other status seen."""
        counts = dict.fromkeys(known, 0)
        for status in seen:
            counts[status] = counts.get(status, 0) + 1
        return [self.metric(name, n, status=status) for status, n in sorted(counts.items())]

    def partial(self, resource: str, errors: Sequence[BaseException], total: int
                ) -> tuple[CheckResult, ...]:
        """An UNKNOWN ``stackwatch.partial`` check when some of ``total`` per-item reads
        failed (raise the first when all did)."""
        if not errors:
            return ()
        if len(errors) == total:
            raise errors[0]
        return (CheckResult(
            "stackwatch.partial", Status.UNKNOWN,
            f"{self.name} {resource}: {len(errors)} of {total} could not be read, "
            f"first: {errors[0]}",
            make_labels(source=self.name, resource=resource, region=self.region_label)),)


def label_text(value: object) -> str:
    """A JSON value as openstack-exporter writes it in a label: "" for null or missing (Go's
    zero value), ``true``/``false`` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def labels_of(item: Mapping[str, object], *keys: str) -> dict[str, str]:
    """``{key: label_text(item[key])}`` for each key."""
    return {k: label_text(item.get(k)) for k in keys}
