"""``api.compute`` servers read whole, then only what changed (changes-since): the same
figures as a full read, deletions included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.model import Collection
from stackwatch.sim import ops
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.state import CloudState
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.compute import ComputeSource

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False, databases=False) as sim:
        yield sim


def figures(collection: Collection) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in collection.samples}


def change(state: CloudState) -> tuple[str, str]:
    """One server powered off, another deleted."""
    first, second = sorted(s.id for s in state.servers if s.vm_state == "active")[:2]
    ops.power(state, first, False, ops.new_request_id())
    ops.delete_server(state, second, ops.new_request_id())
    return first, second


def source(cloud: SimulatedCloud) -> ComputeSource:
    return ComputeSource(ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=10,
                                   region="RegionOne"))


def test_changes_since_gives_what_a_full_read_gives(cloud: SimulatedCloud) -> None:
    compute = source(cloud)
    before = figures(compute.servers())
    assert compute.listing.last_read == "full"
    stopped, gone = cloud.call(change, cloud.state)
    compute.client.forget("compute.")
    after = figures(compute.servers())
    assert compute.listing.last_read == "changes-since"
    assert after == figures(source(cloud).servers())  # a full read by another
    assert after != before
    total = ("openstack_nova_total_vms", (("region", "RegionOne"),))
    assert after[total] == before[total] - 1 == len(cloud.state.servers)
    known = {s.id for s in compute.listing.read()}
    assert gone not in known
    assert known == {s.id for s in cloud.state.servers}
    assert stopped in {s.id for s in compute.listing.read() if s.status == "SHUTOFF"}
    # past full_every, a full read again
    compute.listing.full_every = 0.0
    compute.client.forget("compute.")
    assert figures(compute.servers()) == after
    assert compute.listing.last_read == "full"
