"""Test helpers: what a source emits is declared, and what is declared is emitted.

Like DataDog's ``assert_metrics_using_metadata`` and ``assert_all_metrics_covered``::

    from stackwatch.catalog.testing import assert_declared, assert_covered
    collection = source.collect()
    assert_declared(collection, source="api.compute")
    assert_covered(collection, source="api.compute")
"""

from __future__ import annotations

from collections.abc import Iterable

from stackwatch.catalog.loader import Catalog, MetricSpec, default_catalog
from stackwatch.model import Collection, Sample

#: With several clouds every sample also carries the cloud's name (sources/registry.py).
CLOUD_LABEL = "cloud"


def _samples(collections: Collection | Iterable[Collection]) -> list[Sample]:
    if isinstance(collections, Collection):
        return list(collections.samples)
    return [s for c in collections for s in c.samples]


def _source_matches(spec: MetricSpec, source: str) -> bool:
    return spec.source == source or spec.source.startswith(source + ".")


def undeclared(
    collections: Collection | Iterable[Collection],
    catalog: Catalog | None = None,
    source: str | None = None,
) -> list[str]:
    """Problems with the samples: undeclared names, wrong label sets, wrong source."""
    catalog = catalog or default_catalog()
    problems: set[str] = set()
    for sample in _samples(collections):
        spec = catalog.metric_for_sample(sample.name)
        if spec is None:
            problems.add(f"{sample.name}: not declared in any catalog/metrics/*.yaml")
            continue
        expected = set(spec.labels)
        if spec.type == "histogram" and sample.name == spec.name + "_bucket":
            expected.add("le")
        got = {key for key, _ in sample.labels}
        if got != expected and got != expected | {CLOUD_LABEL}:
            problems.add(f"{sample.name}: labels {sorted(got)}, declared {sorted(expected)}")
        if source is not None and not _source_matches(spec, source):
            problems.add(f"{sample.name}: declared for source {spec.source}, emitted by {source}")
    return sorted(problems)


def assert_declared(
    collections: Collection | Iterable[Collection],
    catalog: Catalog | None = None,
    source: str | None = None,
) -> None:
    """Fail listing every sample whose metric is undeclared or whose labels differ."""
    problems = undeclared(collections, catalog, source)
    assert not problems, "samples not matching the catalog:\n  " + "\n  ".join(problems)


def assert_covered(
    collections: Collection | Iterable[Collection],
    source: str,
    catalog: Catalog | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """Fail listing every metric declared for ``source`` (or ``source.*``) never emitted."""
    catalog = catalog or default_catalog()
    emitted = {s.name for s in _samples(collections)}
    skipped = set(exclude)
    missing = sorted(
        spec.name for spec in catalog.metrics_of(source)
        if spec.name not in skipped and not emitted.intersection(spec.sample_names())
    )
    assert not missing, f"metrics of {source} never emitted:\n  " + "\n  ".join(missing)
