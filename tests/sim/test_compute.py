"""The simulated nova: microversions, paging, filters, admin actions, quotas and usage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fidelity import Session, login_from_clouds_yaml

from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    sizing = {"servers": 60, "projects": 6, "hypervisors": 5}
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("compute"), size="small",
                        sizing=sizing, seed=4) as c:
        yield c


@pytest.fixture(scope="module")
def admin(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml))


@pytest.fixture(scope="module")
def member(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo", project_name="demo")


def call(session: Session, method: str, path: str, version: str | None = "latest",
         **kwargs: Any) -> requests.Response:
    headers = {"X-Auth-Token": session.token}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return requests.request(method, f"{session.root('compute')}/v2.1{path}", headers=headers,
                            timeout=30, **kwargs)


def test_microversion_negotiation(admin: Session) -> None:
    assert call(admin, "GET", "/os-services", None).headers[
        "X-OpenStack-Nova-API-Version"] == "2.1"
    legacy = requests.get(f"{admin.root('compute')}/v2.1/os-services", timeout=30, headers={
        "X-Auth-Token": admin.token, "X-OpenStack-Nova-API-Version": "2.60"})
    assert legacy.headers["OpenStack-API-Version"] == "compute 2.60"
    assert isinstance(legacy.json()["services"][0]["id"], str)
    old = call(admin, "GET", "/os-services", "2.52").json()["services"][0]
    assert isinstance(old["id"], int) and "forced_down" in old
    assert call(admin, "GET", "/os-services", "9.99").status_code == 406
    assert call(admin, "GET", "/os-services", "two").status_code == 400


def test_server_pages_cover_everything_once_newest_first(cloud: SimulatedCloud,
                                                         admin: Session) -> None:
    seen: list[dict[str, Any]] = []
    url = "/servers/detail?all_tenants=1&limit=7"
    while url:
        body = call(admin, "GET", url).json()
        seen.extend(body["servers"])
        nxt = [link["href"] for link in body.get("servers_links", ()) if link["rel"] == "next"]
        url = nxt[0].split("/v2.1", 1)[1] if nxt else ""
    assert [s["id"] for s in seen] == [s.id for s in sorted(
        cloud.state.servers, key=lambda s: (s.created_at, s.id), reverse=True)]
    assert call(admin, "GET", "/servers/detail?marker=nope").status_code == 400


def test_server_filters(cloud: SimulatedCloud, admin: Session, member: Session) -> None:
    state = cloud.state
    errors = call(admin, "GET", "/servers/detail?all_tenants=1&status=ERROR").json()["servers"]
    assert {s["id"] for s in errors} == {s.id for s in state.servers if s.vm_state == "error"}
    assert all("fault" in s for s in errors)
    host = next(h.host for h in state.hypervisors if h.running_vms)
    on_host = call(admin, "GET", f"/servers?all_tenants=1&host={host}").json()["servers"]
    assert {s["id"] for s in on_host} == {s.id for s in state.servers.by("host", host)}
    project = next(p.id for p in state.projects if p.name == "demo")
    by_project = call(admin, "GET", f"/servers?all_tenants=1&project_id={project}").json()
    assert {s["id"] for s in by_project["servers"]} == {
        s.id for s in state.servers.by("project_id", project)}
    assert call(member, "GET", "/servers/detail?all_tenants=1").status_code == 403
    own = call(member, "GET", "/servers/detail").json()["servers"]
    assert {s["tenant_id"] for s in own} <= {project}
    assert all("OS-EXT-SRV-ATTR:host" not in s for s in own)
    named = call(admin, "GET", "/servers?all_tenants=1&name=vm-0000[12]").json()["servers"]
    assert sorted(s["name"] for s in named) == ["vm-00001", "vm-00002"]


def test_hypervisor_versions(cloud: SimulatedCloud, admin: Session) -> None:
    old = call(admin, "GET", "/os-hypervisors/detail", "2.87").json()["hypervisors"]
    assert sum(h["vcpus_used"] for h in old) == sum(h.vcpus_used for h in cloud.state.hypervisors)
    new = call(admin, "GET", "/os-hypervisors/detail", "2.88").json()["hypervisors"]
    assert "vcpus_used" not in new[0] and "uptime" in new[0]
    stats = call(admin, "GET", "/os-hypervisors/statistics", "2.87").json()
    assert stats["hypervisor_statistics"]["count"] == len(cloud.state.hypervisors)
    assert call(admin, "GET", "/os-hypervisors/statistics", "2.88").status_code == 404
    page = call(admin, "GET", "/os-hypervisors?limit=2", "2.33").json()
    assert len(page["hypervisors"]) == 2 and page["hypervisors_links"]
    with_servers = call(admin, "GET", "/os-hypervisors?with_servers=true").json()["hypervisors"]
    listed = sum(len(h.get("servers", ())) for h in with_servers)
    assert listed == sum(1 for s in cloud.state.servers if s.node)


def test_member_is_forbidden_admin_apis(member: Session) -> None:
    for path in ("/os-services", "/os-hypervisors", "/os-aggregates", "/os-migrations"):
        answer = call(member, "GET", path)
        assert answer.status_code == 403, path
        assert "forbidden" in answer.json()


def test_disable_and_force_down(cloud: SimulatedCloud, admin: Session) -> None:
    svc = next(s for s in cloud.state.compute_services if s.host == "compute-0004")
    answer = call(admin, "PUT", f"/os-services/{svc.id}",
                  json={"status": "disabled", "disabled_reason": "rack power"})
    assert answer.json()["service"]["status"] == "disabled"
    answer = call(admin, "PUT", f"/os-services/{svc.id}", json={"forced_down": True})
    assert answer.json()["service"]["state"] == "down"
    hyp = next(h for h in call(admin, "GET", "/os-hypervisors").json()["hypervisors"]
               if h["hypervisor_hostname"] == "compute-0004")
    assert (hyp["state"], hyp["status"]) == ("down", "disabled")
    call(admin, "PUT", f"/os-services/{svc.id}", json={"status": "enabled", "forced_down": False})
    answer = call(admin, "PUT", "/os-services/disable", "2.1",
                  json={"host": "compute-0004", "binary": "nova-compute"})
    assert answer.json()["service"]["status"] == "disabled"
    call(admin, "PUT", "/os-services/enable", "2.1",
         json={"host": "compute-0004", "binary": "nova-compute"})
    assert cloud.state.compute_services.get(svc.id).disabled is False  # type: ignore[union-attr]


def test_limits_and_quotas_count_the_project(cloud: SimulatedCloud, admin: Session) -> None:
    project = max(cloud.state.projects, key=lambda p: cloud.state.servers.count_by(
        "project_id", p.id))
    servers = cloud.state.servers.by("project_id", project.id)
    limits = call(admin, "GET", f"/limits?tenant_id={project.id}").json()["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == len(servers)
    assert limits["totalCoresUsed"] == sum(s.flavor.vcpus for s in servers)
    assert limits["maxTotalInstances"] >= len(servers)
    detail = call(admin, "GET", f"/os-quota-sets/{project.id}/detail").json()["quota_set"]
    assert detail["ram"]["in_use"] == sum(s.flavor.ram for s in servers)
    defaults = call(admin, "GET", f"/os-quota-sets/{project.id}/defaults").json()["quota_set"]
    assert defaults["instances"] == 10


def test_tenant_usage_pages(cloud: SimulatedCloud, admin: Session) -> None:
    ids: list[str] = []
    url = "/os-simple-tenant-usage?detailed=1&limit=9&start=2000-01-01T00:00:00"
    while url:
        body = call(admin, "GET", url).json()
        ids.extend(u["instance_id"] for t in body["tenant_usages"] for u in t["server_usages"])
        nxt = [link["href"] for link in body.get("tenant_usages_links", ())]
        url = nxt[0].split("/v2.1", 1)[1] if nxt else ""
    assert sorted(ids) == sorted(cloud.state.servers.ids())


def test_availability_zones_and_aggregates(cloud: SimulatedCloud, admin: Session) -> None:
    zones = call(admin, "GET", "/os-availability-zone/detail").json()["availabilityZoneInfo"]
    names = {z["zoneName"] for z in zones}
    assert names == {"internal", "nova"}
    aggregates = call(admin, "GET", "/os-aggregates").json()["aggregates"]
    assert sorted(h for a in aggregates for h in a["hosts"]) == sorted(
        h.host for h in cloud.state.hypervisors)


def test_legacy_os_hosts(cloud: SimulatedCloud, admin: Session) -> None:
    hosts = call(admin, "GET", "/os-hosts", "2.42").json()["hosts"]
    assert {h["host_name"] for h in hosts} == {s.host for s in cloud.state.compute_services}
    assert call(admin, "GET", "/os-hosts", "2.43").status_code == 404


def test_keypairs(member: Session) -> None:
    created = call(member, "POST", "/os-keypairs",
                   json={"keypair": {"name": "probe", "public_key": "ssh-ed25519 AAAAprobe"}})
    assert created.status_code == 201
    assert created.json()["keypair"]["fingerprint"].count(":") == 15
    assert call(member, "POST", "/os-keypairs",
                json={"keypair": {"name": "probe", "public_key": "x"}}).status_code == 409
    names = [k["keypair"]["name"] for k in call(member, "GET", "/os-keypairs").json()["keypairs"]]
    assert names == ["probe"]
    assert call(member, "GET", "/os-keypairs/probe").json()["keypair"]["name"] == "probe"
    assert call(member, "DELETE", "/os-keypairs/probe").status_code == 204
    assert call(member, "GET", "/os-keypairs/probe").status_code == 404
