"""The API sources against the recorded 2026.1 answers, replayed over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from sources.replay import EXTRA, REFERENCE, ReplayCloud, recorded_body
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


def _provider(name: str, what: str) -> dict[str, Any]:
    """A placement provider's recorded inventories or usages, by its name."""
    uuid = next(p["uuid"] for p in recorded_body("placement", "GET___resource_providers@*")[
        "resource_providers"] if p["name"] == name)
    for path in sorted((REFERENCE / "placement").glob(f"*__{what}@*")):
        data = json.loads(path.read_text())
        if uuid in data["request"]["url"]:
            return dict(data["body"][what])
    raise AssertionError(f"no recorded {what} of {name}")


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
    inventory, usage = _provider("fake-compute-1", "inventories"), _provider(
        "fake-compute-1", "usages")
    vcpu, ram = inventory["VCPU"], inventory["MEMORY_MB"]
    assert usage["VCPU"] > 0
    assert value(out, "openstack_nova_vcpus_available", hostname="fake-compute-1") == (
        vcpu["total"])
    assert value(out, "openstack_nova_vcpus_used", hostname="fake-compute-1") == usage["VCPU"]
    # free = (total - reserved) * allocation_ratio - used, ratios from placement
    assert value(out, "openstack_nova_vcpus_free", hostname="fake-compute-1") == (
        (vcpu["total"] - vcpu["reserved"]) * vcpu["allocation_ratio"] - usage["VCPU"])
    assert value(out, "openstack_nova_memory_free_bytes", hostname="fake-compute-1") == (
        (ram["total"] - ram["reserved"]) * ram["allocation_ratio"] - usage["MEMORY_MB"]
    ) * 1024 * 1024
    (aggregate,) = recorded_body("compute", "GET___v2.1__os-aggregates@*")["aggregates"]
    assert "fake-compute-1" in aggregate["hosts"]
    assert value(out, "openstack_nova_running_vms", hostname="fake-compute-1",
                 aggregates=aggregate["name"]) >= 0
    assert value(out, "openstack_nova_flavors") == len(recorded_body(
        "compute", "GET___v2.1__flavors__detail~*limit=1000@*")["flavors"])
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
    hypervisor = {h["hypervisor_hostname"]: h for h in recorded_body(
        "compute", "GET___v2.1__os-hypervisors__detail@2.87.json", EXTRA[0])["hypervisors"]}
    node = hypervisor["fake-compute-2"]
    inventory, usage = _provider("fake-compute-2", "inventories"), _provider(
        "fake-compute-2", "usages")
    ram = inventory["MEMORY_MB"]
    assert ram["reserved"] > 0 and node["memory_mb_used"] != usage["MEMORY_MB"]
    assert value(out, "openstack_nova_vcpus_used", hostname="fake-compute-2") == usage["VCPU"]
    assert value(out, "openstack_nova_memory_used_bytes", hostname="fake-compute-2") == (
        usage["MEMORY_MB"] * 1024 * 1024)
    assert value(out, "openstack_nova_memory_capacity_bytes", hostname="fake-compute-2") == (
        (ram["total"] - ram["reserved"]) * ram["allocation_ratio"] * 1024 * 1024)
    assert value(out, "openstack_nova_running_vms", hostname="fake-compute-2",
                 aggregates="") == node["running_vms"]
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
    assert value(net, "openstack_neutron_networks") == len(recorded_body(
        "network", "GET___v2.0__networks.json")["networks"]) == 2
    assert value(net, "openstack_neutron_routers") == 1
    assert value(net, "openstack_neutron_floating_ips") == 1
    # the router an L3 agent hosts, as real neutron lists it, named with its agent
    [hosted] = recorded_body("network", "GET___v2.0__agents__{agent_id}__l3-routers.json")[
        "routers"]
    [router] = net.items
    assert (router.kind, router.id, router.name, router.project) == (
        "router", hosted["id"], hosted["name"], hosted["project_id"])
    assert router.attribute("agents_alive") == "1" and router.message == ""
    assert router.host == next(s.label("agent_host") for s in net.samples
                               if s.name == "openstack_neutron_l3_agent_routers")
    availability = recorded_body("network", "GET___v2.0__network-ip-availabilities.json")
    net1 = next(n for n in availability["network_ip_availabilities"]
                if n["network_name"] == "net1")
    (subnet,) = net1["subnet_ip_availability"]
    assert value(net, "openstack_neutron_network_ip_availabilities_total",
                 network_name="net1", cidr=subnet["cidr"]) == subnet["total_ips"] == 253
    image = source(replay, "glance", client).collect()
    images = recorded_body("image", "GET___v2__images~visibility=all&limit=1000.json")["images"]
    assert value(image, "openstack_glance_images") == len(images) == 2
    assert value(image, "openstack_glance_images_by_status", status="active") == sum(
        i["status"] == "active" for i in images) == 1
    volume = source(replay, "cinder", client).collect()
    assert value(volume, "openstack_cinder_volumes") == 2
    assert value(volume, "openstack_cinder_snapshots") == 1
    assert volume.items == ()  # the volumes and the snapshot rest (available): no item
    assert value(volume, "openstack_cinder_pool_capacity_total_gb", name="vm@fake#fake") == (
        float("inf"))
    assert [c.status for c in volume.checks if c.name == "cinder.service"] == [Status.OK] * 2
    identity = source(replay, "identity", client).collect()
    assert value(identity, "openstack_identity_projects") == 3
    assert client.tokens_issued == 1
