"""openstack-exporter compatibility: ``collect --once`` on the simulator exports every
metric of openstack-exporter's release (``catalog/openstack_exporter.yaml``) for the
services the simulator serves, with exactly its label names (plus ``region``): the six
core services, and with ``optional_services`` the nine a cloud may run besides."""

from __future__ import annotations

from collections import defaultdict

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.catalog.loader import load_catalog
from stackwatch.catalog.openstack_exporter import ExporterMetric, load_openstack_exporter
from stackwatch.cli import main
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.network import NetworkSource
from stackwatch.sources.openstack_api.placement import PlacementSource

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


def missing_or_wrong(metrics: tuple[ExporterMetric, ...], extra: tuple[str, ...],
                     found: dict[str, set[frozenset[str]]]) -> tuple[list[str], list[str]]:
    """The metrics not exported, and those exported with other label names."""
    catalog = load_catalog().metrics
    missing, wrong = [], []
    for metric in metrics:
        want = frozenset(metric.labels) | frozenset(extra)
        assert set(catalog[metric.name].labels) == want, metric.name  # declared alike
        if metric.name not in found:
            missing.append(metric.name)
        elif found[metric.name] != {want}:
            wrong.append(f"{metric.name}: {sorted(map(sorted, found[metric.name]))}")
    return missing, wrong


def test_every_openstack_exporter_metric_is_exported_with_its_labels(
        cloud: SimulatedCloud) -> None:
    reference = load_openstack_exporter()
    assert reference.release and reference.source.startswith("https://github.com/")
    found = exported(cloud)
    core = [m for m in reference.of_services(optional=False)
            if m.name not in reference.needs_extension]
    missing, wrong = missing_or_wrong(tuple(core), reference.extra_labels, found)
    assert not missing, "not exported:\n  " + "\n  ".join(missing)
    assert not wrong, "label names differ:\n  " + "\n  ".join(wrong)
    names = {metric.name for metric in reference.metrics}
    assert set(reference.differences) <= names and set(reference.needs_extension) <= names
    # 110 names for six services, 7 of them needing neutron-vpnaas
    assert len(core) == 103
    # the optional services are not served by default: none of their series
    optional = {m.name for m in reference.of_services(optional=True)}
    assert not optional & set(found), sorted(optional & set(found))


def test_with_optional_services_their_metrics_are_exported_too(
        optional_cloud: SimulatedCloud) -> None:
    """``optional_services``: heat, octavia, ironic, designate, manila, magnum, trove,
    gnocchi and swift in the catalog, each of their openstack-exporter metrics exported
    with its labels (and the core services' still)."""
    reference = load_openstack_exporter()
    found = exported(optional_cloud)
    metrics = tuple(m for m in reference.metrics if m.name not in reference.needs_extension)
    missing, wrong = missing_or_wrong(metrics, reference.extra_labels, found)
    assert not missing, "not exported:\n  " + "\n  ".join(missing)
    assert not wrong, "label names differ:\n  " + "\n  ".join(wrong)
    optional = reference.of_services(optional=True)
    assert {m.service for m in optional} == reference.optional and len(reference.optional) == 9
    # 42 names for the nine: heat 3, loadbalancer 7, ironic 4, designate 5, sharev2 5,
    # container_infra 5, trove 5, gnocchi 5, object_store 3 (each with its _up)
    assert len(optional) == 42 and len(metrics) == 103 + 42
    assert [m.name for m in optional if m.commit] == ["openstack_ironic_node"]
    assert all(found[f"openstack_{s}_up"] == {frozenset({"region"})} for s in reference.optional)


def test_disabled_metrics_are_not_exported_nor_read(cloud: SimulatedCloud) -> None:
    """openstack-exporter's ``--disable-metric``: the series are left out, and a resource
    whose every metric is disabled (neutron's quota details, placement's allocations) is
    not read at all."""
    served: list[str] = []
    cloud.on_request(lambda req: served.append(req.path))
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5)
    off = ("openstack_neutron_quota_*", "openstack_neutron_port",
           "openstack_placement_resource_provider_allocations")
    try:
        out = [NetworkSource(client, disabled_metrics=off).collect(),
               PlacementSource(client, disabled_metrics=off).collect()]
    finally:
        client.close()
    names = {s.name for c in out for s in c.samples}
    assert not {n for n in names if n.startswith("openstack_neutron_quota_")}
    assert not names & {"openstack_neutron_port",
                        "openstack_placement_resource_provider_allocations"}
    assert {"openstack_neutron_ports", "openstack_neutron_router",
            "openstack_placement_resource_total"} <= names  # the rest is there
    assert not [p for p in served if p.endswith(("/details", "/allocations"))], served
    assert any(p.endswith("/usages") for p in served)  # the providers were read
