"""The simulated cinder: microversions, pagination, scope, writes, quotas, errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fidelity import Session, follow, login_from_clouds_yaml, send

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import pagination_problems

pytestmark = pytest.mark.integration

LATEST = {"OpenStack-API-Version": "volume latest"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("vol"), size="small",
                        sizing={"volumes": 30}, seed=7) as c:
        yield c


@pytest.fixture(scope="module")
def admin(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml))


@pytest.fixture(scope="module")
def member(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo", project_name="demo")


def call(session: Session | None, method: str, path: str, root_of: Session,
         headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    project = (session or root_of).project_id
    return send(session, root_of.root("block-storage"), method, f"/v3/{project}{path}",
                headers, **kwargs)


def newest_first(records: Any, keep: Callable[[Any], bool] | None = None) -> list[str]:
    chosen = [x for x in records if keep is None or keep(x)]
    chosen.sort(key=lambda x: (x.created_at, x.id), reverse=True)
    return [x.id for x in chosen]


@pytest.mark.parametrize("limit", [1, 4, 1000])
def test_volume_pages_cover_every_volume(cloud: SimulatedCloud, admin: Session,
                                         limit: int) -> None:
    url = f"/v3/{admin.project_id}/volumes/detail?all_tenants=1&limit={limit}"
    pages = follow(admin, "block-storage", url, "volumes", LATEST)
    ids = [v["id"] for page in pages for v in page]
    assert ids == newest_first(cloud.state.volumes)
    assert all(len(page) == limit for page in pages[:-1])
    middle = call(admin, "GET", f"/volumes/detail?all_tenants=1&limit={limit}"
                                f"&marker={ids[len(ids) // 2]}", admin, LATEST).body
    assert pagination_problems(middle, "volumes") == []


def test_snapshot_pages_and_next_link_shape(cloud: SimulatedCloud, admin: Session) -> None:
    url = f"/v3/{admin.project_id}/snapshots/detail?all_tenants=1&limit=1"
    pages = follow(admin, "block-storage", url, "snapshots", LATEST)
    assert [s["id"] for page in pages for s in page] == newest_first(cloud.state.snapshots)
    first = call(admin, "GET", "/volumes/detail?all_tenants=1&limit=2", admin, LATEST).body
    assert first["volumes_links"] == [{"rel": "next", "href": (
        f"{admin.root('block-storage')}/v3/{admin.project_id}/volumes/detail?all_tenants=1"
        f"&limit=2&marker={first['volumes'][-1]['id']}")}]


def test_without_all_tenants_a_listing_is_the_callers_project(
    cloud: SimulatedCloud, admin: Session, member: Session
) -> None:
    mine = call(member, "GET", "/volumes/detail?all_tenants=1", admin, LATEST).body["volumes"]
    assert [v["id"] for v in mine] == newest_first(
        cloud.state.volumes, lambda v: v.project_id == member.project_id)
    assert all("os-vol-host-attr:host" not in v for v in mine)
    own = call(admin, "GET", "/volumes/detail", admin, LATEST).body["volumes"]
    assert {v["os-vol-tenant-attr:tenant_id"] for v in own} <= {admin.project_id}


@pytest.mark.parametrize(
    ("header", "answered", "present", "absent"),
    [
        (None, "3.0", set(), {"group_id", "consumes_quota", "service_uuid"}),
        ("volume 3.0", "3.0", set(), {"group_id", "consumes_quota"}),
        ("volume 3.48", "3.48", {"group_id", "provider_id", "shared_targets", "service_uuid"},
         {"cluster_name", "volume_type_id", "consumes_quota"}),
        ("volume 3.65", "3.65", {"cluster_name", "volume_type_id", "consumes_quota"}, set()),
        ("volume latest", "3.71", {"consumes_quota"}, set()),
    ],
)
def test_microversions_shape_the_volume(
    admin: Session, header: str | None, answered: str, present: set[str], absent: set[str]
) -> None:
    headers = {"OpenStack-API-Version": header} if header else {}
    answer = call(admin, "GET", "/volumes/detail?all_tenants=1&limit=3", admin, headers)
    assert answer.status == 200
    assert answer.headers["OpenStack-API-Version"] == f"volume {answered}"
    assert answer.headers["Vary"] == "OpenStack-API-Version"
    for volume in answer.body["volumes"]:
        assert present <= set(volume) and not absent & set(volume)


def test_bad_microversions(admin: Session) -> None:
    too_new = call(admin, "GET", "/volumes", admin, {"OpenStack-API-Version": "volume 9.99"})
    assert too_new.status == 406
    assert too_new.body == {"computeFault": {"code": 406, "message": (
        "Version 9.99 is not supported by the API. Minimum is 3.0 and maximum is 3.71.")}}
    assert too_new.headers["OpenStack-API-Version"] == "volume 9.99"
    malformed = call(admin, "GET", "/volumes", admin, {"OpenStack-API-Version": "volume x"})
    assert malformed.status == 400 and "badRequest" in malformed.body
    assert call(admin, "GET", "/volumes/summary", admin,
                {"OpenStack-API-Version": "volume 3.11"}).status == 404


def test_services_pools_and_their_policy(cloud: SimulatedCloud, admin: Session,
                                         member: Session) -> None:
    services = call(admin, "GET", "/os-services", admin, LATEST).body["services"]
    assert len(services) == len(cloud.state.volume_services)
    volume = next(s for s in services if s["binary"] == "cinder-volume")
    assert {"backend_state", "cluster", "frozen"} <= set(volume)
    old = call(admin, "GET", "/os-services", admin).body["services"]
    assert all("cluster" not in s and "backend_state" not in s for s in old)
    denied = call(member, "GET", "/os-services", admin, LATEST)
    assert denied.status == 403 and denied.body["forbidden"]["message"] == (
        "Policy doesn't allow volume_extension:services:index to be performed.")
    pools = call(admin, "GET", "/scheduler-stats/get_pools?detail=True", admin).body["pools"]
    for pool in pools:
        record = cloud.state.pools.get(pool["name"])
        assert record is not None
        assert pool["capabilities"]["allocated_capacity_gb"] == record.allocated_capacity_gb
        assert pool["capabilities"]["total_capacity_gb"] == record.total_capacity_gb
    names = call(admin, "GET", "/scheduler-stats/get_pools", admin).body["pools"]
    assert names == [{"name": p["name"]} for p in pools]


def test_quota_usage_and_limits_count_the_state(cloud: SimulatedCloud, admin: Session) -> None:
    project = next(iter(cloud.state.volumes)).project_id
    quota = call(admin, "GET", f"/os-quota-sets/{project}?usage=True", admin, LATEST).body
    q = quota["quota_set"]
    assert q["id"] == project
    assert q["volumes"]["in_use"] == cloud.state.volumes.count_by("project_id", project)
    assert q["snapshots"]["in_use"] == cloud.state.snapshots.count_by("project_id", project)
    assert q["volumes_lvmdriver-1"]["limit"] == -1
    plain = call(admin, "GET", f"/os-quota-sets/{project}", admin, LATEST).body["quota_set"]
    assert plain["volumes"] == q["volumes"]["limit"]
    defaults = call(admin, "GET", f"/os-quota-sets/{project}/defaults", admin).body
    assert set(defaults["quota_set"]) == set(plain)
    assert defaults["quota_set"]["volumes"] == cloud.state.quota_defaults["block-storage"][
        "volumes"]
    limits = call(admin, "GET", "/limits", admin).body["limits"]["absolute"]
    mine = cloud.state.volumes.by("project_id", admin.project_id)
    assert limits["totalVolumesUsed"] == len(mine)


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "state did not change in time"
        time.sleep(0.05)


def test_volume_and_snapshot_lifecycle(cloud: SimulatedCloud, admin: Session) -> None:
    created = call(admin, "POST", "/volumes", admin, LATEST,
                   json_body={"volume": {"name": "probe", "size": 1}})
    assert created.status == 202 and created.body["volume"]["status"] == "creating"
    vol_id = created.body["volume"]["id"]
    assert created.body["volume"]["volume_type"] == "__DEFAULT__"

    def status(kind: str, ident: str) -> str | None:
        answer = call(admin, "GET", f"/{kind}/{ident}", admin, LATEST)
        return answer.body[kind[:-1]]["status"] if answer.status == 200 else None

    def listed() -> str:
        body = call(admin, "GET", "/volumes/detail?name=probe", admin, LATEST).body
        return str(body["volumes"][0]["status"])

    listed()  # encoded into the listing cache while still creating
    _wait_for(lambda: status("volumes", vol_id) == "available")
    assert listed() == "available"  # an updated record is encoded afresh
    snap = call(admin, "POST", "/snapshots", admin, LATEST,
                json_body={"snapshot": {"name": "probe-snap", "volume_id": vol_id}})
    assert snap.status == 202 and snap.body["snapshot"]["status"] == "creating"
    snap_id = snap.body["snapshot"]["id"]
    _wait_for(lambda: status("snapshots", snap_id) == "available")
    assert call(admin, "DELETE", f"/volumes/{vol_id}", admin, LATEST).status == 400
    deleted = call(admin, "DELETE", f"/snapshots/{snap_id}", admin, LATEST)
    assert deleted.status == 202 and deleted.body is None
    _wait_for(lambda: snap_id not in cloud.state.snapshots)
    assert call(admin, "DELETE", f"/volumes/{vol_id}", admin, LATEST).status == 202
    assert status("volumes", vol_id) in ("deleting", None)
    _wait_for(lambda: vol_id not in cloud.state.volumes)
    missing = call(admin, "GET", f"/volumes/{vol_id}", admin, LATEST)
    assert missing.status == 404
    assert missing.body == {"itemNotFound": {
        "code": 404, "message": f"Volume {vol_id} could not be found."}}


def test_errors(admin: Session) -> None:
    no_token = call(None, "GET", "/volumes", admin, LATEST)
    assert no_token.status == 401 and no_token.body["error"]["code"] == 401
    bad = call(admin, "POST", "/volumes", admin, LATEST, json_body={"volume": {"size": 0}})
    assert bad.status == 400 and "badRequest" in bad.body
    unknown = call(admin, "POST", "/volumes", admin, LATEST,
                   json_body={"volume": {"size": 1, "volume_type": "gold"}})
    assert unknown.status == 404


def test_a_cloud_without_volumes_lists_nothing(tmp_path: Path) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", sizing={"volumes": 0}) as empty:
        admin = login_from_clouds_yaml(Path(empty.clouds_yaml))
        body = call(admin, "GET", "/volumes/detail?all_tenants=1&limit=5", admin, LATEST).body
        assert body == {"volumes": []}
        summary = call(admin, "GET", "/volumes/summary?all_tenants=1", admin, LATEST).body
        assert summary == {"volume-summary": {"total_count": 0, "total_size": 0,
                                              "metadata": {}}}
        snapshots = call(admin, "GET", "/snapshots/detail?all_tenants=1", admin).body
        assert snapshots == {"snapshots": []}


def test_with_no_live_backend_a_new_volume_goes_to_error(
    cloud: SimulatedCloud, admin: Session
) -> None:
    cloud.inject("cinder-volume-down")
    try:
        created = call(admin, "POST", "/volumes", admin, LATEST,
                       json_body={"volume": {"name": "nowhere", "size": 1}})
        vol_id = created.body["volume"]["id"]
        _wait_for(lambda: cloud.state.volumes.get(vol_id).status == "error")  # type: ignore[union-attr]
        assert cloud.state.volumes.get(vol_id).host is None  # type: ignore[union-attr]
    finally:
        cloud.clear("cinder-volume-down")
    assert call(admin, "DELETE", f"/volumes/{vol_id}", admin, LATEST).status == 202


def test_stuck_volumes_can_be_reset_or_force_deleted(
    cloud: SimulatedCloud, admin: Session, member: Session
) -> None:
    cloud.inject("volume-stuck-deleting", count="2")
    try:
        long_ago = cloud.state.now() - timedelta(hours=1)
        stuck = [v.id for v in cloud.state.volumes
                 if v.status == "deleting" and v.updated_at < long_ago]
        assert len(stuck) == 2
        reset = {"os-reset_status": {"status": "available"}}
        assert call(member, "POST", f"/volumes/{stuck[0]}/action", admin,
                    json_body=reset).status in (403, 404)
        answer = call(admin, "POST", f"/volumes/{stuck[0]}/action", admin, json_body=reset)
        assert answer.status == 202
        assert cloud.state.volumes.get(stuck[0]).status == "available"  # type: ignore[union-attr]
        forced = call(admin, "POST", f"/volumes/{stuck[1]}/action", admin,
                      json_body={"os-force_delete": {}})
        assert forced.status == 202
        _wait_for(lambda: stuck[1] not in cloud.state.volumes)
        bad = call(admin, "POST", f"/volumes/{stuck[0]}/action", admin,
                   json_body={"os-unknown": {}})
        assert bad.status == 400
    finally:
        cloud.clear("volume-stuck-deleting")
