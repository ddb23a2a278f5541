"""The simulated glance: pagination, filters, sizes, the create/upload/delete cycle."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fidelity import Session, follow, login_from_clouds_yaml, send

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import pagination_problems

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    # 40 images: more than glance's default page of 25
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("img"), size="small",
                        sizing={"images": 40}, seed=5) as c:
        yield c


@pytest.fixture(scope="module")
def admin(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml))


@pytest.fixture(scope="module")
def member(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo", project_name="demo")


def call(session: Session | None, method: str, url: str, root_of: Session,
         **kwargs: Any) -> Any:
    return send(session, root_of.root("image"), method, url, **kwargs)


def newest_first(cloud: SimulatedCloud, keep: Any = None) -> list[str]:
    images = [i for i in cloud.state.images if not i.os_hidden
              and i.visibility != "community" and (keep is None or keep(i))]
    images.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    return [i.id for i in images]


@pytest.mark.parametrize("limit", [1, 3, 25, 1000])
def test_pages_cover_every_image_newest_first(
    cloud: SimulatedCloud, admin: Session, limit: int
) -> None:
    pages = follow(admin, "image", f"/v2/images?limit={limit}", "images")
    ids = [i["id"] for page in pages for i in page]
    assert ids == newest_first(cloud)
    assert all(len(page) == limit for page in pages[:-1])
    middle = call(admin, "GET", f"/v2/images?limit={limit}&marker={ids[len(ids) // 2]}",
                  admin).body
    assert pagination_problems(middle, "images") == []


def test_default_page_is_25_with_a_next_link(cloud: SimulatedCloud, admin: Session) -> None:
    body = call(admin, "GET", "/v2/images", admin).body
    assert len(body["images"]) == 25
    assert body["first"] == "/v2/images"
    assert body["next"] == f"/v2/images?marker={body['images'][-1]['id']}"
    limited = call(admin, "GET", "/v2/images?limit=2&status=active", admin).body
    assert limited["first"] == "/v2/images?limit=2&status=active"
    assert limited["next"] == ("/v2/images?limit=2&status=active&marker="
                               + limited["images"][-1]["id"])


@pytest.mark.parametrize(("query", "field"), [("status=active", "status"),
                                               ("visibility=public", "visibility"),
                                               ("visibility=private", "visibility")])
def test_filters(cloud: SimulatedCloud, admin: Session, query: str, field: str) -> None:
    value = query.partition("=")[2]
    pages = follow(admin, "image", f"/v2/images?{query}&limit=10", "images")
    got = [i["id"] for page in pages for i in page]
    assert got == newest_first(cloud, lambda i: getattr(i, field) == value)
    assert got


def test_sizes_are_the_states(cloud: SimulatedCloud, admin: Session) -> None:
    for image in call(admin, "GET", "/v2/images?limit=1000", admin).body["images"]:
        record = cloud.state.images.get(image["id"])
        assert record is not None
        assert (image["size"], image["virtual_size"]) == (record.size, record.virtual_size)
        assert ("stores" in image) == (record.size is not None)


def test_a_member_sees_public_and_its_own(cloud: SimulatedCloud, member: Session) -> None:
    pages = follow(member, "image", "/v2/images?limit=100", "images")
    seen = {i["id"] for page in pages for i in page}
    assert seen == set(newest_first(
        cloud, lambda i: i.visibility == "public" or i.owner == member.project_id))


def test_create_upload_show_and_delete(cloud: SimulatedCloud, admin: Session,
                                       member: Session) -> None:
    created = call(admin, "POST", "/v2/images", admin, json_body={
        "name": "synthetic", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"})
    assert created.status == 201 and created.body["status"] == "queued"
    image_id = created.body["id"]
    assert created.headers["Location"] == f"{admin.root('image')}/v2/images/{image_id}"
    data = b"x" * 4096
    upload = call(admin, "PUT", f"/v2/images/{image_id}/file", admin, data=data,
                  headers={"Content-Type": "application/octet-stream"})
    assert upload.status == 204 and upload.headers["Content-Type"] == "text/html; charset=UTF-8"
    shown = call(admin, "GET", f"/v2/images/{image_id}", admin).body
    assert shown["status"] == "active" and shown["size"] == 4096
    assert shown["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    denied = call(member, "DELETE", f"/v2/images/{image_id}", admin)
    assert denied.status == 403 and denied.body["title"] == "Forbidden"
    assert call(admin, "DELETE", f"/v2/images/{image_id}", admin).status == 204
    gone = call(admin, "GET", f"/v2/images/{image_id}", admin)
    assert gone.status == 404
    assert gone.body["message"] == f"No image found with ID {image_id}<br /><br />\n\n\n"
    assert image_id not in cloud.state.images


def test_errors(admin: Session) -> None:
    no_token = call(None, "GET", "/v2/images", admin)
    assert no_token.status == 401 and no_token.body["code"] == "401 Unauthorized"
    bad_marker = call(admin, "GET", "/v2/images?marker=nope", admin)
    assert bad_marker.status == 400
    assert call(admin, "GET", "/v2/images?visibility=everyone", admin).status == 400
    for body in ({"name": "x", "min_ram": "lots"}, {"visibility": "everyone"}, ["x"]):
        assert call(admin, "POST", "/v2/images", admin, json_body=body).status == 400


def test_every_images_store_is_listed(cloud: SimulatedCloud, admin: Session) -> None:
    stores = call(admin, "GET", "/v2/info/stores", admin).body["stores"]
    assert stores[0] == {"id": "fs", "default": "true"}
    listed = {s["id"] for s in stores}
    images = call(admin, "GET", "/v2/images?limit=1000", admin).body["images"]
    assert {i["stores"] for i in images if "stores" in i} <= listed
