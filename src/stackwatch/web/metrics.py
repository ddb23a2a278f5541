"""``/metrics``: samples exposed through a prometheus_client custom collector.

The collector is registered once; each scrape asks it for the latest samples
(from the store, or from an in-memory collection for ``collect --format
prometheus``) and groups them into families whose type and help text come from
the catalog. Undeclared samples are exposed as ``untyped`` rather than
dropped. No sample carries a timestamp: the scraper stamps the scrape, as
Prometheus asks of exporters (with explicit timestamps it cannot end a series
that vanished, and refuses old ones). What is exposed is what the latest run of
each source saw (the store replaces a source's series with each run), so a
series that is no longer true is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from stackwatch.catalog.loader import Catalog
from stackwatch.model import Sample


class SampleCollector:
    """A prometheus_client collector over a callable that returns samples."""

    def __init__(self, samples: Callable[[], Iterable[Sample]], catalog: Catalog) -> None:
        self._samples = samples
        self._catalog = catalog

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
            family.add_sample(sample.name, dict(sample.labels), sample.value)
        yield from families.values()


def registry_for(samples: Callable[[], Iterable[Sample]], catalog: Catalog) -> CollectorRegistry:
    """A fresh registry holding only a :class:`SampleCollector` (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SampleCollector(samples, catalog))
    return registry
