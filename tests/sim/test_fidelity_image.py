"""The simulated glance answers like the real one (recorded in tests/data/recorded/fidelity)."""

from __future__ import annotations

import pytest
from fidelity import Replayer, Session, plain_gets

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import compare_recording

pytestmark = pytest.mark.integration

FOLDER = "image"
ALLOW = {
    # glance keeps what the uploader set: the recorded cirros came from openstacksdk,
    # which adds owner_specified.openstack.* properties; generated images have none
    "body/images/*/owner_specified.*": "properties set by the uploader",
    # glance marks only the default store; generated images sit in a second one
    "body/stores/*/default": "only the default store carries 'default'",
}
# The recorded cloud's newest image (the first of a page) is one with no data yet
# (``queued``: size, checksum and hashes null, no store); the simulated cloud's first is
# active. The whole listing holds both kinds and is compared without these allowances.
QUEUED_FIRST = {f"body/images/*/{key}": "the recorded page's only image is queued"
                for key in ("size", "virtual_size", "checksum", "os_hash_algo",
                            "os_hash_value", "stores")}
PAGES = ("GET___v2__images~limit=1.json",)
PLAIN_GETS = plain_gets(FOLDER)


@pytest.mark.parametrize("name", PLAIN_GETS)
def test_listings_and_documents(replayer: Replayer, name: str) -> None:
    allow = {**ALLOW, **QUEUED_FIRST} if name in PAGES else ALLOW
    report = replayer.check(FOLDER, name, allow=allow)
    assert report, report.explain()


def test_show_second_page_and_404(cloud: SimulatedCloud, replayer: Replayer) -> None:
    first = replayer.get(FOLDER, "/v2/images?limit=1").body["images"][0]["id"]
    report = replayer.check(FOLDER, "GET___v2__images~limit=1&marker={image_id}.page2.json",
                            ids={"image_id": first}, allow=ALLOW)
    assert report, report.explain()
    report = replayer.check(FOLDER, "GET___v2__images__{image_id}.json",
                            ids={"image_id": first},
                            allow={"body/owner_specified.*": "properties set by the uploader"})
    assert report, report.explain()
    report = replayer.check(FOLDER, "GET___v2__images__{image_id}.404.json")
    assert report, report.explain()


def test_create_upload_delete_as_recorded(
    cloud: SimulatedCloud, replayer: Replayer, member: Session
) -> None:
    recording = replayer.recording(FOLDER, "POST___v2__images.ref-image-tmp.json")
    answer = replayer.replay(recording)
    report = compare_recording(recording, answer, bases=replayer.bases())
    assert report, report.explain()
    image_id = answer.body["id"]
    report = replayer.check(FOLDER, "PUT___v2__images__{image_id}__file.ref-image-tmp.json",
                            ids={"image_id": image_id}, data=b"\0" * 65536)
    assert report, report.explain()
    public = next(i.id for i in cloud.state.images
                  if i.visibility == "public" and i.owner != member.project_id)
    report = replayer.check(FOLDER, "DELETE___v2__images__{image_id}.403-member-delete-public.json",
                            ids={"image_id": public}, session=member)
    assert report, report.explain()
    report = replayer.check(FOLDER, "DELETE___v2__images__{image_id}.json",
                            ids={"image_id": image_id})
    assert report, report.explain()
