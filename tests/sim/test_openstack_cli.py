"""The stock `openstack` CLI and openstacksdk work with the clouds.yaml the simulator writes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import openstack
import pytest

from stackwatch.sim.cloud import SimulatedCloud

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("osc"), size="small", life=True) as c:
        yield c


def osc(cloud: SimulatedCloud, *args: str) -> Any:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml),
           "OS_CLOUD": "stackwatch-sim"}
    done = subprocess.run(["openstack", *args, "-f", "json"], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_token_issue(cloud: SimulatedCloud) -> None:
    token = osc(cloud, "token", "issue")
    admin = next(p for p in cloud.state.projects if p.name == "admin")
    assert token["project_id"] == admin.id
    assert token["id"] in cloud.state.tokens


def test_server_list_all_projects(cloud: SimulatedCloud) -> None:
    servers = osc(cloud, "server", "list", "--all-projects")
    assert {s["ID"] for s in servers} == set(cloud.state.servers.ids())
    statuses = {s["Status"] for s in servers}
    assert {"ACTIVE", "SHUTOFF", "ERROR"} <= statuses


def test_hypervisor_and_compute_service_list(cloud: SimulatedCloud) -> None:
    hypervisors = osc(cloud, "hypervisor", "list")
    assert sorted(h["Hypervisor Hostname"] for h in hypervisors) == sorted(
        h.hypervisor_hostname for h in cloud.state.hypervisors)
    services = osc(cloud, "compute", "service", "list")
    assert len(services) == len(cloud.state.compute_services)
    assert {s["State"] for s in services} == {"up"}


def test_network_agent_and_router_list(cloud: SimulatedCloud) -> None:
    agents = osc(cloud, "network", "agent", "list")
    assert len(agents) == len(cloud.state.agents)
    assert {"L3 agent", "DHCP agent", "Open vSwitch agent"} <= {a["Agent Type"] for a in agents}
    routers = osc(cloud, "router", "list")
    assert {r["ID"] for r in routers} == set(cloud.state.routers.ids())


def test_image_and_volume_list(cloud: SimulatedCloud) -> None:
    images = osc(cloud, "image", "list")
    assert {i["Name"] for i in images} >= {"cirros-0.6.2", "ubuntu-24.04"}
    volumes = osc(cloud, "volume", "list", "--all-projects")
    assert {v["ID"] for v in volumes} == set(cloud.state.volumes.ids())


def test_openstacksdk(cloud: SimulatedCloud) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
        conn = openstack.connect(cloud="stackwatch-sim")
        try:
            servers = list(conn.compute.servers(all_projects=True, limit=5))
            assert len(servers) == len(cloud.state.servers)
            hypervisors = list(conn.compute.hypervisors(details=True))
            assert {h.name for h in hypervisors} == {
                h.hypervisor_hostname for h in cloud.state.hypervisors}
            providers = list(conn.placement.resource_providers())
            assert len(providers) == len(cloud.state.resource_providers)
            services = list(conn.compute.services())
            assert all(s.state == "up" for s in services)
        finally:
            conn.close()


def test_server_create_and_delete_with_the_cli(cloud: SimulatedCloud) -> None:
    flavor = next(f for f in cloud.state.flavors if f.name == "m1.small")
    image = next(i for i in cloud.state.images if i.status == "active")
    created = osc(cloud, "server", "create", "--flavor", flavor.name, "--image", image.id,
                  "--nic", "none", "--wait", "synthetic-check")
    assert created["status"] == "ACTIVE"
    server = cloud.state.servers.get(created["id"])
    assert server is not None and server.host is not None
    assert cloud.call(cloud.state.check_consistency) == []
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml),
           "OS_CLOUD": "stackwatch-sim"}
    done = subprocess.run(["openstack", "server", "delete", "--wait", created["id"]], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert created["id"] not in cloud.state.servers
    actions = [a.action for a in cloud.state.instance_actions.by("server_id", created["id"])]
    assert actions == ["create", "delete"]


def test_availability_zone_list_long(cloud: SimulatedCloud) -> None:
    """`--long` asks nova, cinder and neutron; neutron's zones are its agents' zones,
    the same that routers and networks name in ``availability_zones``."""
    zones = osc(cloud, "availability", "zone", "list", "--long")
    network = {(z["Zone Name"], z["Zone Resource"], z["Zone Status"]) for z in zones
               if z["Zone Resource"] in ("network", "router")}
    agents = cloud.state.agents
    want = {(a.availability_zone, "network", "available")
            for a in agents.by("agent_type", "DHCP agent")} | {
        (a.availability_zone, "router", "available") for a in agents.by("agent_type", "L3 agent")}
    assert network == want
    router_zones = {z for rt in cloud.state.routers for z in rt.availability_zones}
    network_zones = {z for n in cloud.state.networks for z in n.availability_zones}
    assert router_zones == {z for z, kind, _ in want if kind == "router"}
    assert network_zones == {z for z, kind, _ in want if kind == "network"}
    compute = {z["Zone Name"] for z in zones if z["Zone Resource"] == ""}
    assert {s.availability_zone for s in cloud.state.servers if s.host} <= compute | {""}
