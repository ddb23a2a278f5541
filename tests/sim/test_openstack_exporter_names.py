"""openstack-exporter compatibility: ``collect --once`` on the simulator exports every
metric of openstack-exporter's release (``catalog/openstack_exporter.yaml``) for the
services the simulator serves, with exactly its label names (plus ``region``)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.catalog.loader import load_catalog
from stackwatch.catalog.openstack_exporter import load_openstack_exporter
from stackwatch.cli import main
from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration


def exported(cloud: SimulatedCloud) -> dict[str, set[frozenset[str]]]:
    """metric name -> the label-name sets of its series, from one ``collect --once``."""
    result = CliRunner().invoke(main, ["collect", "--once", "--config", str(cloud.config_path),
                                       "--format", "prometheus", "-s", "api"])
    assert result.exit_code == 0, result.output
    found: dict[str, set[frozenset[str]]] = defaultdict(set)
    for family in text_string_to_metric_families(result.output):
        for sample in family.samples:
            found[sample.name].add(frozenset(sample.labels))
    return found


def test_every_openstack_exporter_metric_is_exported_with_its_labels(
        cloud: SimulatedCloud) -> None:
    reference = load_openstack_exporter()
    assert reference.release and reference.source.startswith("https://github.com/")
    found = exported(cloud)
    catalog = load_catalog().metrics
    missing, wrong = [], []
    for metric in reference.metrics:
        if metric.name in reference.needs_extension:
            continue
        want = frozenset(metric.labels) | frozenset(reference.extra_labels)
        assert set(catalog[metric.name].labels) == want, metric.name  # declared alike
        if metric.name not in found:
            missing.append(metric.name)
        elif found[metric.name] != {want}:
            wrong.append(f"{metric.name}: {sorted(map(sorted, found[metric.name]))}")
    assert not missing, "not exported:\n  " + "\n  ".join(missing)
    assert not wrong, "label names differ:\n  " + "\n  ".join(wrong)
    names = {metric.name for metric in reference.metrics}
    assert set(reference.differences) <= names and set(reference.needs_extension) <= names
    # 110 names for six services, 7 of them needing neutron-vpnaas
    assert len(reference.metrics) - len(reference.needs_extension) == 103
