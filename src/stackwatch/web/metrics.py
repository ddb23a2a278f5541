"""``/metrics``: samples exposed through a prometheus_client custom collector.

The collector is registered once; each scrape asks it for the latest samples
(from the store, or from an in-memory collection for ``collect --format
prometheus``) and groups them into families whose type and help text come from
the catalog. Undeclared samples are exposed as ``untyped`` rather than
dropped. Each sample keeps its own timestamp, so Prometheus never takes an old
value for a fresh one: a source that stopped answering leaves its series with
their last timestamp, and they go stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from stackwatch.catalog.loader import Catalog
from stackwatch.model import Sample


class SampleCollector:
    """A prometheus_client collector over a callable that returns samples."""

    def __init__(self, samples: Callable[[], Iterable[Sample]], catalog: Catalog,
                 timestamps: bool = True) -> None:
        self._samples = samples
        self._catalog = catalog
        self._timestamps = timestamps

    def collect(self) -> Iterator[Metric]:
        """One :class:`Metric` family per catalog metric (or undeclared name) seen."""
        families: dict[str, Metric] = {}
        for sample in self._samples():
            spec = self._catalog.metric_for_sample(sample.name)
            if spec is None:
                key, doc, kind = sample.name, "Not declared in the stackwatch catalog.", "untyped"
            else:
                key, doc, kind = spec.name, spec.description, spec.type
                if kind == "counter":  # the exposition adds _total back to the family name
                    key = key.removesuffix("_total")
            family = families.get(key)
            if family is None:
                family = families[key] = Metric(key, doc, kind)
            family.add_sample(sample.name, dict(sample.labels), sample.value,
                              sample.timestamp if self._timestamps else None)
        yield from families.values()


def registry_for(
    samples: Callable[[], Iterable[Sample]], catalog: Catalog, timestamps: bool = True
) -> CollectorRegistry:
    """A fresh registry holding only a :class:`SampleCollector` (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SampleCollector(samples, catalog, timestamps))
    return registry
