"""Cinder's volumes and neutron's ports read whole, then only what changed (``updated_at``
and ``changed_since``), proven whole by a count or the ids: the same figures as a full
read, deletions and creations included."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from stackwatch.model import Collection
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.state import CloudState
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.network import NetworkSource

pytestmark = pytest.mark.integration

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small", life=False,
                        databases=False) as sim:
        yield sim


def figures(collection: Collection) -> Figures:
    return {(s.name, s.labels): s.value for s in collection.samples}


def client(cloud: SimulatedCloud) -> ApiClient:
    return ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=10,
                     region="RegionOne")


def touch(state: CloudState, kind: str, record_id: str, **changes: object) -> None:
    state.update(kind, record_id, updated_at=state.now(), **changes)


def test_volumes_changed_then_removed(cloud: SimulatedCloud) -> None:
    cinder = BlockStorageSource(client(cloud))
    before = figures(cinder.volumes())
    assert cinder.volume_listing.last_read == "full"
    first, second = sorted(v.id for v in cloud.state.volumes)[:2]
    cloud.call(touch, cloud.state, "volume", first, status="error")
    after = figures(cinder.volumes())
    assert cinder.volume_listing.last_read == "changed"
    assert after == figures(BlockStorageSource(client(cloud)).volumes())  # a full read
    assert after != before
    # a deletion: the count tells, a full read follows
    cloud.call(cloud.state.delete, "volume", second)
    removed = figures(cinder.volumes())
    assert cinder.volume_listing.last_read == "full"
    assert removed == figures(BlockStorageSource(client(cloud)).volumes())
    assert removed[("openstack_cinder_volumes", (("region", "RegionOne"),))] == len(
        cloud.state.volumes)


def test_ports_changed_created_removed(cloud: SimulatedCloud) -> None:
    neutron = NetworkSource(client(cloud))
    neutron.ports()
    first, second = sorted(p.id for p in cloud.state.ports)[:2]
    cloud.call(touch, cloud.state, "port", first, status="DOWN")
    gone = cloud.call(cloud.state.delete, "port", second)
    cloud.call(lambda: cloud.state.add(dataclasses.replace(
        gone, id="0" * 8 + gone.id[8:], updated_at=cloud.state.now())))
    neutron.client.forget("network.")
    after = figures(neutron.ports())
    assert neutron.port_listing.last_read == "changed"
    assert after == figures(NetworkSource(client(cloud)).ports())
    ports = {dict(labels).get("uuid") for name, labels in after
             if name == "openstack_neutron_port"}
    assert ports == {p.id for p in cloud.state.ports}
    assert second not in ports
