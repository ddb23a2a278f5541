"""The API sources against the recorded 2026.1 answers, replayed over HTTP."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from sources.replay import ReplayCloud
from stackwatch.catalog.testing import assert_declared
from stackwatch.model import Collection, Sample, Status
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient, ApiSource

pytestmark = pytest.mark.integration


def client_of(replay: ReplayCloud, timeout: float = 5.0) -> ApiClient:
    return ApiClient("replay", clouds_yaml=replay.clouds_yaml, timeout=timeout)


def source(replay: ReplayCloud, name: str, client: ApiClient | None = None) -> ApiSource:
    cls = next(c for c in SOURCE_CLASSES if c.codename == name)
    return cls(client or client_of(replay))


def values(collection: Collection, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple((k, v) for k, v in s.labels if k != "region"): s.value
            for s in collection.samples if s.name == name}


def value(collection: Collection, name: str, /, **labels: str) -> float:
    matches = [s.value for s in collection.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items())]
    assert len(matches) == 1, f"{name}{labels}: {len(matches)} samples"
    return matches[0]


def resource_status(collection: Collection) -> dict[str, Status]:
    return {c.labels[[k for k, _ in c.labels].index("resource")][1]: c.status
            for c in collection.checks if c.name == "stackwatch.resource"}


def names(samples: Iterable[Sample]) -> set[str]:
    return {s.name for s in samples}


def test_compute_reads_services_servers_and_capacity_from_placement(replay: ReplayCloud) -> None:
    out = source(replay, "nova").collect()
    assert all(s is Status.OK for s in resource_status(out).values()), out.checks
    # os-services: four services, all up, with host and binary labels on the checks
    assert value(out, "openstack_nova_agent_state", hostname="fake-compute-1",
                 service="nova-compute") == 1
    checks = [c for c in out.checks if c.name == "nova.service"]
    assert len(checks) == 4 and all(c.status is Status.OK for c in checks)
    assert {dict(c.labels)["binary"] for c in checks} == {
        "nova-conductor", "nova-scheduler", "nova-compute"}
    # latest microversion (2.103) has no hypervisor resources: capacity from placement
    assert value(out, "openstack_nova_vcpus_available", hostname="fake-compute-1") == 1000
    assert value(out, "openstack_nova_vcpus_used", hostname="fake-compute-1") == 1
    # free = (total - reserved) * allocation_ratio - used, ratios from placement
    assert value(out, "openstack_nova_vcpus_free", hostname="fake-compute-1") == 1000 * 4.0 - 1
    assert value(out, "openstack_nova_memory_free_bytes", hostname="fake-compute-1") == (
        (800000 - 512) * 1.0 - 512) * 1024 * 1024
    assert value(out, "openstack_nova_running_vms", hostname="fake-compute-1",
                 aggregates="agg1") >= 0
    assert value(out, "openstack_nova_flavors") == 2
    assert value(out, "openstack_nova_aggregates") == 1
    assert value(out, "openstack_nova_limits_vcpus_max", tenant="admin") == 20
    endpoint = [c for c in out.checks if c.name == "api.endpoint"]
    assert endpoint[0].status is Status.OK and "2.103" in endpoint[0].message


def test_compute_capacity_is_placements_before_and_after_2_88(tmp_path: object) -> None:
    """2.87's os-hypervisors memory_mb_used (1536 MB: 2 x 512 MB servers plus the 512 MB
    reserved) does not leak in: capacity is placement's at every microversion."""
    from pathlib import Path
    capacity = ("available", "used", "capacity", "free")
    outs = {}
    for version in ("2.87", None):
        caps = {"compute": version} if version else {}
        workdir = Path(str(tmp_path)) / str(version)
        workdir.mkdir()
        with ReplayCloud(workdir, max_version=caps) as replay:
            outs[version] = source(replay, "nova").collect()
            if version:
                assert any(r[1] == "GET" and "os-hypervisors/detail" in r[2]
                           for r in replay.requests)
    out = outs["2.87"]
    assert value(out, "openstack_nova_vcpus_used", hostname="fake-compute-2") == 2
    assert value(out, "openstack_nova_memory_used_bytes", hostname="fake-compute-2") == (
        1024 * 1024 * 1024)
    assert value(out, "openstack_nova_memory_capacity_bytes", hostname="fake-compute-2") == (
        (800000 - 512) * 1.0 * 1024 * 1024)
    assert value(out, "openstack_nova_running_vms", hostname="fake-compute-2",
                 aggregates="") == 2
    for stem, unit in (("vcpus", ""), ("memory", "_bytes"), ("local_storage", "_bytes")):
        for kind in capacity:
            name = f"openstack_nova_{stem}_{kind}{unit}"
            assert value(out, name, hostname="fake-compute-2") == value(
                outs[None], name, hostname="fake-compute-2"), name


@pytest.mark.parametrize("codename", [c.codename for c in SOURCE_CLASSES])
def test_every_source_produces_against_the_recordings(replay: ReplayCloud,
                                                      codename: str) -> None:
    out = source(replay, codename).collect()
    failed = {r: s for r, s in resource_status(out).items() if s is not Status.OK}
    assert not failed, [c.message for c in out.checks if c.status is not Status.OK]
    assert value(out, f"openstack_{codename}_up") == 1
    assert_declared(out)
    own = tuple(s for s in out.samples
                if not s.name.startswith(("stackwatch_resource_", "openstack_api_endpoint_")))
    assert_declared(Collection(own), source=source(replay, codename).name)


def test_network_image_volume_counts_match_the_recordings(replay: ReplayCloud) -> None:
    client = client_of(replay)
    net = source(replay, "neutron", client).collect()
    assert value(net, "openstack_neutron_networks") == 2
    assert value(net, "openstack_neutron_routers") == 1
    assert value(net, "openstack_neutron_floating_ips") == 1
    assert value(net, "openstack_neutron_network_ip_availabilities_total",
                 network_name="net1", cidr="10.0.0.0/24") == 253
    image = source(replay, "glance", client).collect()
    assert value(image, "openstack_glance_images") == 2
    assert value(image, "openstack_glance_images_by_status", status="active") == 2
    volume = source(replay, "cinder", client).collect()
    assert value(volume, "openstack_cinder_volumes") == 2
    assert value(volume, "openstack_cinder_snapshots") == 1
    assert value(volume, "openstack_cinder_pool_capacity_total_gb", name="vm@fake#fake") == (
        float("inf"))
    assert [c.status for c in volume.checks if c.name == "cinder.service"] == [Status.OK] * 2
    identity = source(replay, "identity", client).collect()
    assert value(identity, "openstack_identity_projects") == 3
    assert client.tokens_issued == 1
