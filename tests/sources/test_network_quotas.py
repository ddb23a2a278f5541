"""``api.network`` quotas: limits (overrides and defaults) and use per project, in two calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sources.replay import ReplayCloud, recorded_body
from sources.test_api_replay import client_of, resource_status, value
from stackwatch.catalog.testing import assert_declared
from stackwatch.model import Collection, Status
from stackwatch.sim import records as r
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.state import CloudState
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.network import QUOTA_RESOURCES, NetworkSource

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False) as sim:
        yield sim


def quotas_of(source: NetworkSource) -> Collection:
    out = source.collect()
    assert resource_status(out).get("quotas") is Status.OK, [c.message for c in out.checks]
    return out


def test_neutron_quotas_equal_the_ground_truth(cloud: SimulatedCloud) -> None:
    def override(state: CloudState) -> str:
        project = next(p for p in state.projects if not p.is_domain)
        state.add(r.QuotaOverride(id=f"network:{project.id}:port", service="network",
                                  project_id=project.id, resource="port", hard_limit=7))
        state.add(r.QuotaOverride(id=f"network:{project.id}:router", service="network",
                                  project_id=project.id, resource="router", hard_limit=-1))
        return project.id

    overridden = cloud.call(override, cloud.state)
    out = quotas_of(NetworkSource(ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml,
                                            timeout=5)))
    assert_declared(out)
    state = cloud.state
    projects = [p for p in state.projects if not p.is_domain]
    assert projects
    for project in projects:
        used = state.quota_usage("network", project.id)
        for resource, (_, _, word) in QUOTA_RESOURCES.items():
            assert value(out, f"openstack_neutron_limits_{word}_max", tenant_id=project.id,
                         tenant=project.name) == state.quota_limit("network", project.id,
                                                                   resource)
            assert value(out, f"openstack_neutron_limits_{word}_used",
                         tenant_id=project.id) == used[resource]
    # the override and the defaults both show, and some project uses something
    assert value(out, "openstack_neutron_limits_ports_max", tenant_id=overridden) == 7
    assert value(out, "openstack_neutron_limits_routers_max", tenant_id=overridden) == -1
    others = [p for p in projects if p.id != overridden]
    assert others and all(
        value(out, "openstack_neutron_limits_networks_max", tenant_id=p.id)
        == state.quota_defaults["network"]["network"] for p in others
        if state.quotas.get(f"network:{p.id}:network") is None)
    ids = {p.id for p in projects}
    owned = sum(1 for port in state.ports if port.project_id in ids)
    assert owned > 0
    assert sum(s.value for s in out.samples
               if s.name == "openstack_neutron_limits_ports_used") == owned


def test_neutron_quotas_take_two_calls_and_reuse_the_listings(cloud: SimulatedCloud) -> None:
    served: list[str] = []
    cloud.on_request(lambda req: served.append(req.path) if req.service == "network" else None)
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5)
    out = quotas_of(NetworkSource(client))
    paths = [p.split("?")[0] for p in served]
    quota_calls = [p for p in paths if p.startswith("/v2.0/quotas")
                   and not p.endswith("/details")]
    assert len(quota_calls) == 2, quota_calls
    # openstack-exporter's quota_<resource> families: its own read, one per project
    details = [p for p in paths if p.endswith("/details")]
    assert len(details) == sum(1 for p in cloud.state.projects if not p.is_domain)
    assert sum(1 for p in quota_calls if p.endswith("/default")) == 1
    for path, _, _ in QUOTA_RESOURCES.values():  # each listing once, for both resources
        assert paths.count(f"/v2.0/{path}") == 1, (path, paths)
    assert any(s.name == "openstack_neutron_limits_ports_max" for s in out.samples)


def test_neutron_quotas_from_the_recordings(replay: ReplayCloud) -> None:
    out = quotas_of(NetworkSource(client_of(replay)))
    # recorded: no project has its own quotas, the defaults are neutron's
    assert recorded_body("network", "GET___v2.0__quotas.json") == {"quotas": []}
    projects = {p["name"]: p["id"] for p in recorded_body(
        "identity", "GET___v3__projects.json")["projects"]}
    for project in projects.values():
        assert value(out, "openstack_neutron_limits_networks_max", tenant_id=project) == 100
        assert value(out, "openstack_neutron_limits_ports_max", tenant_id=project) == 500
        assert value(out, "openstack_neutron_limits_routers_max", tenant_id=project) == 10
        assert value(out, "openstack_neutron_limits_floating_ips_max", tenant_id=project) == 50
    # the admin project has the recorded cloud's two networks, router and floating IP
    admin = projects["admin"]
    assert value(out, "openstack_neutron_limits_networks_used", tenant_id=admin) == (
        value(out, "openstack_neutron_networks"))
    assert value(out, "openstack_neutron_limits_routers_used", tenant_id=admin) == 1
    assert value(out, "openstack_neutron_limits_floating_ips_used", tenant_id=admin) == 1
    assert_declared(out)
