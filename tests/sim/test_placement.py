"""The simulated placement: recorded shapes, microversions, and usages equal to the servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fidelity import API_RECORDINGS, Replayer, Session, send

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import load_recordings
from stackwatch.sim.state import flavor_resources

pytestmark = pytest.mark.integration

FOLDER = "placement"
RECORDINGS = load_recordings(API_RECORDINGS / FOLDER)
LATEST = {"OpenStack-API-Version": "placement latest"}
# Provider trait lists and usages grouped by consumer type are keyed by data.
MAPS = ["body/usages", "body/allocations", "body/provider_summaries",
        "body/allocation_requests/*/allocations", "body/allocation_requests/*/mappings"]
# Mounted under /placement, placement's links carry the WSGI script name
# (placement.util.resource_provider_url uses SCRIPT_NAME); recorded: mounted at /.
LINKS = "links under the /placement mount point"
ALLOW = {"body/resource_providers/*/links/*/href": LINKS, "body/links/*/href": LINKS,
         "body/resource_classes/*/links/*/href": LINKS,
         "body/resource_providers/*/parent_provider_uuid": "nested providers (bandwidth, PCI)"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    """The conftest's cloud without life (no background churn during the comparisons);
    the conftest's ``replayer`` and ``member`` use this one."""
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("placement"), size="small",
                        life=False) as c:
        yield c


def _ids(cloud: SimulatedCloud, name: str) -> dict[str, str]:
    hyp = list(cloud.state.hypervisors)[0 if "rp1" in name else 1]
    busy = max(cloud.state.projects, key=lambda p: len(cloud.state.allocations.by(
        "project_id", p.id)))
    empty = next(p for p in cloud.state.projects if not cloud.state.allocations.by(
        "project_id", p.id))
    return {"uuid": hyp.id, "project_id": (empty if "empty" in name else busy).id}


NAMES = sorted(n for n, rec in RECORDINGS.items()
               if rec.method == "GET" and "member" not in n and "404" not in n)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_shapes(cloud: SimulatedCloud, replayer: Replayer, name: str) -> None:
    allow = dict(ALLOW)
    if "authenticated" in name or name == "GET___.json":
        allow["header/x-openstack-request-id"] = "placement stamps request ids on / too"
    report = replayer.check(FOLDER, name, ids=_ids(cloud, name), maps=MAPS, allow=allow)
    assert report, report.explain()


def test_not_found_and_member(replayer: Replayer, member: Session) -> None:
    report = replayer.check(FOLDER, "GET___resource_providers__{uuid}@latest.404.json")
    assert report, report.explain()
    report = replayer.check(FOLDER, "GET___resource_providers@latest.403-member.json",
                            session=member)
    assert report, report.explain()


def test_usages_equal_the_servers_on_each_provider(cloud: SimulatedCloud,
                                                   replayer: Replayer) -> None:
    for hyp in cloud.state.hypervisors:
        body = replayer.get(FOLDER, f"/resource_providers/{hyp.id}/usages", LATEST).body
        servers = cloud.state.servers.by("node", hyp.hypervisor_hostname)
        want: dict[str, int] = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
        for s in servers:
            for rc, amount in flavor_resources(s.flavor).items():
                want[rc] += amount
        assert body["usages"] == want
        assert want["VCPU"] == hyp.vcpus_used


def test_microversion_shapes(cloud: SimulatedCloud, replayer: Replayer) -> None:
    old = replayer.get(FOLDER, "/resource_providers", {"OpenStack-API-Version": "placement 1.0"})
    assert old.headers["openstack-api-version"] == "placement 1.0"
    assert "root_provider_uuid" not in old.body["resource_providers"][0]
    project = next(p for p in cloud.state.projects if cloud.state.allocations.by(
        "project_id", p.id))
    flat = replayer.get(FOLDER, f"/usages?project_id={project.id}",
                        {"OpenStack-API-Version": "placement 1.37"}).body["usages"]
    grouped = replayer.get(FOLDER, f"/usages?project_id={project.id}", LATEST).body["usages"]
    assert flat["VCPU"] == sum(g["VCPU"] for g in grouped.values())
    nested = [rp for rp in cloud.state.resource_providers if rp.parent_provider_uuid]
    tree = replayer.get(FOLDER, f"/resource_providers?in_tree={nested[0].root}", LATEST).body
    assert {rp["uuid"] for rp in tree["resource_providers"]} >= {nested[0].id, nested[0].root}
    bad = replayer.check(FOLDER, "GET___resource_providers@9.99.406-bad-microversion.json")
    assert bad, bad.explain()


def _generations(replayer: Replayer) -> dict[str, int]:
    body = replayer.get(FOLDER, "/resource_providers", LATEST).body
    return {rp["uuid"]: rp["generation"] for rp in body["resource_providers"]}


def _wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_generation_moves_with_allocations(cloud: SimulatedCloud, replayer: Replayer) -> None:
    """A boot and a delete each bump the generation of the provider they allocate on,
    as placement does on every allocation write (and only that provider's)."""
    before = _generations(replayer)
    flavor = next(iter(cloud.state.flavors))
    image = next(i for i in cloud.state.images if i.status == "active")
    created = send(replayer.session, replayer.session.root("compute"), "POST", "/v2.1/servers",
                   {"OpenStack-API-Version": "compute 2.1"}, json_body={"server": {
                       "name": "gen-vm", "imageRef": image.id, "flavorRef": flavor.id}})
    assert created.status == 202, created.body
    server_id = created.body["server"]["id"]
    _wait(lambda: cloud.state.allocations.get(server_id) is not None, "the allocation")
    (rp_uuid,) = cloud.state.allocations.get(server_id).resources  # type: ignore[union-attr]
    booted = _generations(replayer)
    assert booted[rp_uuid] > before[rp_uuid]
    assert {k: v for k, v in booted.items() if k != rp_uuid} == {
        k: v for k, v in before.items() if k != rp_uuid}
    shown = replayer.get(FOLDER, f"/resource_providers/{rp_uuid}/allocations", LATEST).body
    assert shown["resource_provider_generation"] == booted[rp_uuid]
    assert server_id in shown["allocations"]

    deleted = send(replayer.session, replayer.session.root("compute"), "DELETE",
                   f"/v2.1/servers/{server_id}")
    assert deleted.status == 204
    _wait(lambda: cloud.state.allocations.get(server_id) is None, "the allocation to go")
    after = _generations(replayer)
    assert after[rp_uuid] > booted[rp_uuid]
    shown = replayer.get(FOLDER, f"/resource_providers/{rp_uuid}/allocations", LATEST).body
    assert shown["resource_provider_generation"] == after[rp_uuid]
    assert server_id not in shown["allocations"]
    assert cloud.call(cloud.state.check_consistency) == []
