"""The service databases in place of per-provider and per-project requests, against real
placement, nova, cinder and neutron: the same samples as their APIs give
(sources/sql/shortcuts.py).
"""

from __future__ import annotations

import logging

import pytest

from realcloud.cloud import RealCloud
from realcloud.resources import Resources
from stackwatch.config import parse_config
from stackwatch.model import Collection
from stackwatch.sources.openstack_api import api_sources
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.openstack_api.network import NetworkSource
from stackwatch.sources.openstack_api.placement import PlacementSource

pytestmark = pytest.mark.realcloud

SHORTCUTS = ("placement", "nova_api", "nova", "nova_cell0", "cinder", "neutron")


def read(realcloud: RealCloud, databases: tuple[str, ...]) -> dict[str, Collection]:
    cloud = parse_config(realcloud.stackwatch_config(databases=databases)).clouds[0]
    sources = api_sources(cloud)
    assert all((s.shortcuts is not None) is bool(databases) for s in sources)
    placement = next(s for s in sources if isinstance(s, PlacementSource))
    compute = next(s for s in sources if isinstance(s, ComputeSource))
    cinder = next(s for s in sources if isinstance(s, BlockStorageSource))
    network = next(s for s in sources if isinstance(s, NetworkSource))
    return {"providers": placement.providers(), "capacity": compute.capacity(),
            "nova quotas": compute.quotas(), "cinder quotas": cinder.quotas(),
            "neutron quota details": network.quota_details()}


def test_the_real_databases_give_the_samples_the_apis_give(
        realcloud: RealCloud, resources: Resources, caplog: pytest.LogCaptureFixture) -> None:
    by_api = read(realcloud, ())
    with caplog.at_level(logging.WARNING, logger="stackwatch.sources.sql.shortcuts"):
        by_sql = read(realcloud, SHORTCUTS)
    # every figure came from the databases: none fell back to the API
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    for name, collection in by_api.items():
        assert not collection.checks and not by_sql[name].checks, name
        assert collection.samples, name
        assert sorted((s.name, s.value, s.labels) for s in by_sql[name].samples) == sorted(
            (s.name, s.value, s.labels) for s in collection.samples), name
    # something is used: the comparison is not of zeros only
    assert any(s.value > 0 for s in by_sql["providers"].samples
               if s.name == "openstack_placement_resource_usage")
    assert any(s.value > 0 for s in by_sql["nova quotas"].samples
               if s.name == "openstack_nova_limits_vcpus_used")
    # neutron's details of every project (used, reserved, limit of its 9 resources)
    details = by_sql["neutron quota details"].samples
    assert len({s.label("tenant_id") for s in details}) == len(
        {s.label("tenant_id") for s in by_sql["nova quotas"].samples})
    assert any(s.value > 0 for s in details if s.label("type") == "used"
               and s.name == "openstack_neutron_quota_security_group_rule")
