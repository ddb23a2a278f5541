"""openstacksdk, given the simulator's clouds.yaml, lists neutron, glance and cinder fully."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import pytest

from stackwatch.sim.cloud import SimulatedCloud

pytestmark = [
    pytest.mark.integration,
    # openstacksdk warns about its own deprecated internals (InfluxDB support, the
    # service_type argument its block-storage proxy passes itself): not ours to fix
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    sizing = {"images": 40, "volumes": 45, "ports": 80}
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sdk"), size="small",
                        sizing=sizing, seed=11) as c:
        yield c


@pytest.fixture(scope="module")
def conn(cloud: SimulatedCloud) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
        connection = openstack.connect(cloud="stackwatch-sim")
        try:
            yield connection
        finally:
            connection.close()


def test_network_agents_and_routers(cloud: SimulatedCloud, conn: Any) -> None:
    agents = list(conn.network.agents())
    assert sorted(a.id for a in agents) == sorted(cloud.state.agents.ids())
    l3 = [a for a in agents if a.agent_type == "L3 agent"]
    assert l3 and all(a.is_alive for a in l3)
    routers = list(conn.network.routers())
    assert sorted(r.id for r in routers) == sorted(cloud.state.routers.ids())
    hosted = list(conn.network.agent_hosted_routers(l3[0]))
    assert {r.id for r in hosted} == {
        b.router_id for b in cloud.state.router_bindings.by("l3_agent_id", l3[0].id)}


def test_network_ports_paginated(cloud: SimulatedCloud, conn: Any) -> None:
    ports = list(conn.network.ports(limit=7))
    assert [p.id for p in ports] == sorted(cloud.state.ports.ids())


def test_images_beyond_the_default_page(cloud: SimulatedCloud, conn: Any) -> None:
    images = list(conn.image.images())
    visible = [i for i in cloud.state.images if not i.os_hidden and i.visibility != "community"]
    assert len(visible) > 25
    assert sorted(i.id for i in images) == sorted(i.id for i in visible)
    assert {i.id: i.size for i in images} == {i.id: i.size for i in visible}


def test_volumes_of_all_projects(cloud: SimulatedCloud, conn: Any) -> None:
    volumes = list(conn.block_storage.volumes(all_projects=True))
    assert sorted(v.id for v in volumes) == sorted(cloud.state.volumes.ids())
    paged = list(conn.block_storage.volumes(all_projects=True, limit=10))
    assert sorted(v.id for v in paged) == sorted(cloud.state.volumes.ids())
    snapshots = list(conn.block_storage.snapshots(all_projects=True))
    assert sorted(s.id for s in snapshots) == sorted(cloud.state.snapshots.ids())
