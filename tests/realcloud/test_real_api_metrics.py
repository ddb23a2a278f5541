"""Every API metric stackwatch produces equals ground truth from the stock CLI.

openstack-exporter's names (``catalog/openstack_exporter.yaml``) are among them: its
per-item, info and quota series are derived from the CLI in
:mod:`realcloud.expected_exporter`; :data:`EXPORTER_NOT_COMPARABLE` names those this
cloud cannot show or the CLI cannot give, with why.

stackwatch's six API sources (built by ``build_sources`` from a stackwatch.yaml that
watches the real cloud) collect once; the same figures are then taken with the stock
``openstack`` CLI (and SQL where the CLI does not show a field) and compared as dicts
``{(metric, labels): value}``: no metric missing, none extra, every value equal.
:data:`NOT_COMPARED` lists, with the reason, the few series that are not compared to
a figure; the coverage test makes sure nothing else escapes comparison.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Mapping
from typing import Any

import pytest
from openstack.warnings import RemovedInSDK50Warning

from realcloud import expected_exporter as exporter
from realcloud.cloud import RealCloud
from realcloud.expected import (
    Key,
    compared_elsewhere,
    expected_block_storage,
    expected_compute,
    expected_identity,
    expected_image,
    expected_network,
    expected_placement,
    sample_map,
    tenant_usage,
)
from realcloud.resources import Resources
from realcloud.truth import Truth
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.openstack_exporter import load_openstack_exporter
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import parse_config
from stackwatch.model import Collection, Status
from stackwatch.sources.registry import OPTIONAL_API_SOURCE_NAMES, build_sources

MIB = 1024 * 1024
GIB = 1024 * MIB
SERVICES = {"api.identity": "identity", "api.compute": "nova", "api.placement": "placement",
            "api.network": "neutron", "api.image": "glance", "api.block_storage": "cinder"}

# Series not compared with a ground-truth figure, and why. Everything else is.
NOT_COMPARED: Mapping[str, str] = {
    "openstack_api_endpoint_latency_seconds": "a timing of stackwatch's own request; "
                                              "checked to be positive and under 10 s",
    "openstack_api_endpoint_status_code": "status of the version document; checked to be "
                                          "200 or 300 (keystone/glance/cinder roots answer 300)",
    "stackwatch_resource_up": "stackwatch's own freshness; checked to be 1 for every resource",
    "stackwatch_resource_duration_seconds": "stackwatch's own timing",
    "stackwatch_resource_last_success_timestamp_seconds": "stackwatch's own clock",
}
# openstack-exporter-named series not compared with the CLI's answer, and why (every other
# name of catalog/openstack_exporter.yaml is compared by the tests below).
EXPORTER_NOT_COMPARABLE: Mapping[str, str] = {
    "openstack_neutron_vpn_*": "neutron-vpnaas is not installed here (not exported either)",
    "openstack_neutron_subnets_total": "no subnet pool in this cloud: no series "
                                       "(the simulator serves one, tests/sim)",
    "openstack_neutron_subnets_used": "no subnet pool in this cloud",
    "openstack_neutron_subnets_free": "no subnet pool in this cloud",
    "openstack_nova_quota_fixed_ips": "removed from nova at 2.36: the CLI has no row; 0 as "
                                      "openstack-exporter reads it (asserted)",
    "openstack_nova_quota_floating_ips": "removed from nova at 2.36 (neutron's is "
                                         "quota_floatingip); 0 (asserted)",
    "openstack_nova_quota_security_group_rules": "removed from nova at 2.36; 0 (asserted)",
    "openstack_nova_quota_security_groups": "removed from nova at 2.36; 0 (asserted)",
    "openstack_nova_quota_injected_file*": "removed from nova at 2.57: the CLI shows its "
                                           "2.1 answer; 0 as openstack-exporter (2.87) "
                                           "reads it (asserted)",
}


@pytest.fixture(scope="module")
def quotas(truth: Truth, projects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`quota show --usage` of every project (compute, network and volume rows)."""
    return exporter.quota_rows(truth, projects)


# Catalog metrics of the API sources that this cloud cannot make, and why.
NOT_PRODUCED: Mapping[str, str] = {
    **{f"openstack_neutron_subnets_{kind}": "no subnet pool in this cloud (openstack-exporter "
                                            "shows none either; the simulator serves one)"
       for kind in ("total", "used", "free")},
    "openstack_nova_migration_duration_seconds": "no migration has ended when this runs "
                                                 "(test_real_lifecycle makes one)",
    "openstack_nova_host_migrations": "no migration in progress when this runs",
    "openstack_nova_instance_faults_total": "no instance fault yet (test_real_lifecycle "
                                            "fails a boot)",
}


@pytest.fixture(scope="module")
def projects(truth: Truth, resources: Resources) -> list[dict[str, Any]]:
    return list(truth.cli("project", "list"))


@pytest.fixture(scope="module")
def usage_before(truth: Truth, resources: Resources) -> dict[Key, float]:
    return tenant_usage(truth)


@pytest.fixture(scope="module")
def collected(realcloud: RealCloud, resources: Resources,
              usage_before: dict[Key, float]) -> dict[str, Collection]:
    """One collection of every API source, as ``stackwatch collect`` would run them."""
    config = parse_config(realcloud.stackwatch_config(databases=()))
    return {s.name: s.collect() for s in build_sources(config) if s.name in SERVICES}


def _diff(expected: Mapping[Key, float], got: Mapping[Key, float]) -> str:
    lines = [f"missing {k}: want {v}" for k, v in expected.items() if k not in got]
    lines += [f"extra   {k}: got {v}" for k, v in got.items() if k not in expected]
    lines += [f"wrong   {k}: want {expected[k]}, got {v}" for k, v in got.items()
              if k in expected and expected[k] != v]
    return "\n".join(sorted(lines))


TENANT_USAGE = ("openstack_nova_tenant_usage_vcpu_hours",
                "openstack_nova_tenant_usage_memory_mb_hours", "openstack_nova_tenant_usage_hours")


def _compare(collection: Collection, expected: Mapping[Key, float], source: str,
             exclude: tuple[str, ...] = ()) -> None:
    """Every catalog metric of ``source`` (bar ``exclude``) equals the expected series."""
    names = {m.name for m in default_catalog().metrics.values()
             if m.source == source and not compared_elsewhere(m.name)}
    names -= set(exclude)
    stray = {name for name, _ in expected} - names
    assert not stray, f"expected series for metrics not declared for {source}: {stray}"
    got = sample_map(collection.samples, names)
    assert got == expected, "stackwatch differs from ground truth:\n" + _diff(expected, got)


def test_every_api_source_collects_without_unknown(collected: dict[str, Collection]) -> None:
    assert set(collected) == set(SERVICES)
    for name, collection in collected.items():
        # an endpoint that answered is OK however slowly (slowness is api.latency's,
        # judged over several collections: none here)
        bad = [c.message for c in collection.checks if c.status is not Status.OK]
        assert not bad, f"{name}: {bad}"
        assert_declared(collection)
        up = sample_map(collection.samples, {f"openstack_{SERVICES[name]}_up"})
        assert list(up.values()) == [1.0], f"{name}: up = {up}"
        for s in collection.samples:
            if s.name == "openstack_api_endpoint_latency_seconds":
                assert 0 < s.value < 10
            elif s.name == "openstack_api_endpoint_status_code":
                assert s.value in (200, 300)
            elif s.name == "stackwatch_resource_up":
                assert s.value == 1, s


def test_identity_equals_cli(collected: dict[str, Collection], truth: Truth,
                            projects: list[dict[str, Any]]) -> None:
    _compare(collected["api.identity"],
             expected_identity(truth) | exporter.identity(truth, projects), "api.identity")


def test_compute_equals_cli(collected: dict[str, Collection], truth: Truth,
                            projects: list[dict[str, Any]],
                            quotas: dict[str, dict[str, Any]]) -> None:
    _compare(collected["api.compute"], expected_compute(truth, projects)
             | exporter.compute(truth, projects, quotas), "api.compute", exclude=TENANT_USAGE)


def test_capacity_agrees_with_placement_inventories(collected: dict[str, Collection],
                                                   truth: Truth) -> None:
    """Capacity metrics hold together and match placement's own inventories and usages.

    realcloud's nova reserves 512 MiB of RAM and overcommits vCPUs 4:1, so "available"
    (the host's total), "capacity" and "free" are three different figures.
    """
    nova = collected["api.compute"].samples
    providers = truth.cli("resource", "provider", "list")
    assert providers
    stems = {"VCPU": ("vcpus", "", 1), "MEMORY_MB": ("memory", "_bytes", MIB),
             "DISK_GB": ("local_storage", "_bytes", GIB)}
    for rp in providers:
        inventory = {i["resource_class"]: i for i in truth.cli(
            "resource", "provider", "inventory", "list", rp["uuid"])}
        usage = {u["resource_class"]: u["usage"] for u in truth.cli(
            "resource", "provider", "usage", "show", rp["uuid"])}
        assert inventory["MEMORY_MB"]["reserved"] == 512
        assert inventory["VCPU"]["allocation_ratio"] != 1
        for rc, (stem, unit, scale) in stems.items():
            inv = inventory[rc]
            got = {kind: [s.value for s in nova
                          if s.name == f"openstack_nova_{stem}_{kind}{unit}"
                          and dict(s.labels)["hostname"] == rp["name"]]
                   for kind in ("available", "used", "capacity", "free")}
            assert all(len(v) == 1 for v in got.values()), (rp["name"], rc, got)
            available, used, capacity, free = (got[k][0] for k in (
                "available", "used", "capacity", "free"))
            assert available == inv["total"] * scale
            assert used == usage[rc] * scale
            assert capacity == (inv["total"] - inv["reserved"]) * inv["allocation_ratio"] * scale
            assert free == capacity - used
            assert 0 <= used <= capacity
        memory = [s.value for s in nova if dict(s.labels).get("hostname") == rp["name"]
                  and s.name in ("openstack_nova_memory_available_bytes",
                                 "openstack_nova_memory_capacity_bytes")]
        assert memory[0] - memory[1] == 512 * MIB


def test_tenant_usage_is_between_two_cli_readings(
        collected: dict[str, Collection], truth: Truth,
        usage_before: dict[Key, float]) -> None:
    after = tenant_usage(truth)
    got = sample_map(collected["api.compute"].samples, {name for name, _ in after})
    assert set(got) == set(after) == set(usage_before)
    for k, value in got.items():
        assert usage_before[k] <= value <= after[k], f"{k}: {usage_before[k]} <= {value} " \
                                                     f"<= {after[k]}"


def test_placement_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    _compare(collected["api.placement"], expected_placement(truth) | exporter.placement(truth),
             "api.placement")


def test_network_equals_cli(collected: dict[str, Collection], truth: Truth,
                            projects: list[dict[str, Any]],
                            quotas: dict[str, dict[str, Any]]) -> None:
    _compare(collected["api.network"], expected_network(truth, projects)
             | exporter.network(truth, projects, quotas), "api.network")


def test_image_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    expected = expected_image(truth)
    # glance's own table agrees with the CLI (nothing hidden by visibility filters)
    rows = truth.sql("glance", "select status, count(*) as n from images where deleted = 0 "
                               "group by status")
    assert {r["status"]: r["n"] for r in rows} == {
        dict(k[1])["status"]: v for k, v in expected.items()
        if k[0] == "openstack_glance_images_by_status"}
    _compare(collected["api.image"], expected | exporter.image(truth), "api.image")


def test_block_storage_equals_cli(collected: dict[str, Collection], truth: Truth,
                                  projects: list[dict[str, Any]],
                                  quotas: dict[str, dict[str, Any]]) -> None:
    _compare(collected["api.block_storage"], expected_block_storage(truth, projects)
             | exporter.block_storage(truth, projects, quotas), "api.block_storage")


def test_every_openstack_exporter_name_is_compared_or_explained(
        collected: dict[str, Collection]) -> None:
    """Each openstack-exporter name this cloud shows is compared above (its source's
    catalog metrics all are); the rest are explained, and show no series."""
    reference = load_openstack_exporter()
    produced = {s.name for c in collected.values() for s in c.samples}
    # the optional services' (heat, octavia...) are not in this cloud's catalog
    # (test_optional_services_absent_from_the_catalog_are_silent)
    names = {m.name for m in reference.of_services(optional=False)}
    explained = {n for n in names for pattern in EXPORTER_NOT_COMPARABLE
                 if fnmatch.fnmatch(n, pattern)}
    assert names - explained <= produced, sorted(names - explained - produced)
    assert not (explained - produced) & {n for n in names if "quota" in n}
    catalog = default_catalog().metrics
    assert all(catalog[n].source.startswith("api.") for n in names - set(
        reference.needs_extension))
    for sample in (s for c in collected.values() for s in c.samples):
        if sample.name in explained and "quota" in sample.name:
            assert sample.value == 0, sample  # what nova no longer has


def test_every_api_metric_is_produced_or_explained(collected: dict[str, Collection]) -> None:
    """Each API metric of the catalog is produced by this real cloud, or explained.

    The per-service tests compare *every* catalog metric of their source (absent
    series included), bar :data:`NOT_COMPARED`; this one checks nothing is silent.
    """
    produced = {s.name for c in collected.values() for s in c.samples}
    catalog = default_catalog()
    # the services this cloud does not run (heat, octavia...: none in its catalog) are
    # test_optional_services_absent_from_the_catalog_are_silent's
    declared = {m.name for m in catalog.metrics.values()
                if m.source.startswith("api") and m.source not in OPTIONAL_API_SOURCE_NAMES}
    missing = declared - produced - set(NOT_PRODUCED)
    assert not missing, f"declared API metrics this real cloud did not produce: {missing}"
    assert not set(NOT_PRODUCED) & produced, "NOT_PRODUCED lists a metric now produced"


#: the optional services of tests/realcloud/extra/ (heat and swift, octavia, ironic), which a
#: long-lived cloud (STACKWATCH_REALCLOUD_KEEP=1) may have in its catalog already
BROUGHT_UP = {"orchestration", "object-store", "load-balancer", "baremetal"}


def test_optional_services_absent_from_the_catalog_are_silent(realcloud: RealCloud) -> None:
    """Designate, manila, magnum, trove and gnocchi are not in this cloud's catalog (nor
    heat, swift, octavia and ironic, until test_real_heat_swift, test_real_octavia and
    test_real_ironic bring them up): their sources run without error and say nothing (no
    endpoint check, no series), so health leaves them "not watched"."""
    config = parse_config(realcloud.stackwatch_config(databases=()))
    optional = [s for s in build_sources(config) if s.name in OPTIONAL_API_SOURCE_NAMES]
    assert {s.name for s in optional} == set(OPTIONAL_API_SOURCE_NAMES)
    conn: Any = realcloud.connect()
    try:
        with warnings.catch_warnings():  # openstacksdk warns about its own call here
            warnings.simplefilter("ignore", RemovedInSDK50Warning)
            listed = {service.type for service in conn.identity.services()}
    finally:
        conn.close()
    absent = [s for s in optional if s.service_type not in listed]
    # only those the extras bring up (tests/realcloud/extra/) may be here
    assert {s.service_type for s in optional if s not in absent} <= BROUGHT_UP, listed
    for source in absent:
        collection = source.collect()  # raises on any error
        assert collection.samples == () and collection.checks == (), source.name
