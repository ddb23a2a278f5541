"""The simulated cinder answers like the real one (recorded in tests/data/recorded/fidelity)."""

from __future__ import annotations

import time

import pytest
from fidelity import Replayer, Session, plain_gets

from stackwatch.sim.fidelity import compare_recording

pytestmark = pytest.mark.integration

FOLDER = "block-storage"
ALLOW = {
    # the recorded fake driver reports "infinite"; LVM (and every real driver) numbers
    "body/pools/*/capabilities/total_capacity_gb": "real drivers report numbers",
    "body/pools/*/capabilities/free_capacity_gb": "real drivers report numbers",
    "body/pools/*/capabilities/max_over_subscription_ratio": "LVM driver capability",
    "body/pools/*/capabilities/thin_provisioning_support": "LVM driver capability",
    # per-volume-type quota keys carry the type's name (recorded: "fake")
    "body/quota_set/*_fake": "per-type quota keys name the recorded type",
    "body/quota_set/*_lvmdriver-1": "per-type quota keys name the simulated type",
    # volumes still being created have no host and no service yet
    "body/volumes/*/os-vol-host-attr:host": "creating volumes have no host yet",
    "body/volumes/*/service_uuid": "creating volumes have no service yet",
}
MAPS = ["body/volumes/*/metadata"]
PLAIN_GETS = plain_gets(FOLDER)


@pytest.mark.parametrize("name", PLAIN_GETS)
def test_listings_documents_and_errors(replayer: Replayer, name: str) -> None:
    report = replayer.check(FOLDER, name, allow=ALLOW, maps=MAPS)
    assert report, report.explain()


def test_member_is_refused_services(replayer: Replayer, member: Session) -> None:
    name = "GET___v3__{project_id}__os-services@latest.403-member.json"
    report = replayer.check(FOLDER, name, session=member)
    assert report, report.explain()


def test_volume_404(replayer: Replayer) -> None:
    report = replayer.check(FOLDER, "GET___v3__{project_id}__volumes__{volume_id}@latest.404.json")
    assert report, report.explain()


def _await_status(replayer: Replayer, kind: str, ident: str, wanted: str) -> None:
    headers = {"OpenStack-API-Version": "volume latest"}
    deadline = time.monotonic() + 10
    while True:
        answer = replayer.get(FOLDER, f"/v3/{replayer.session.project_id}/{kind}/{ident}",
                              headers)
        if answer.body[kind[:-1]]["status"] == wanted:
            return
        assert time.monotonic() < deadline, f"{kind} {ident} never became {wanted}"
        time.sleep(0.05)


@pytest.mark.parametrize(("volume", "snapshot"), [
    ("POST___v3__{project_id}__volumes@3.0.vol2.json",
     "POST___v3__{project_id}__snapshots@3.0.snap1.json"),
    ("POST___v3__{project_id}__volumes@latest.vol-tmp.json",
     "POST___v3__{project_id}__snapshots@latest.snap-tmp.json"),
])
def test_create_and_delete_as_recorded(replayer: Replayer, volume: str, snapshot: str) -> None:
    recording = replayer.recording(FOLDER, volume)
    body = {"volume": dict(recording.request_body["volume"], volume_type="lvmdriver-1")}
    answer = replayer.replay(recording, body=body)
    report = compare_recording(recording, answer, bases=replayer.bases(), allow=ALLOW)
    assert report, report.explain()
    vol_id = answer.body["volume"]["id"]
    _await_status(replayer, "volumes", vol_id, "available")
    recording = replayer.recording(FOLDER, snapshot)
    body = {"snapshot": dict(recording.request_body["snapshot"], volume_id=vol_id)}
    answer = replayer.replay(recording, body=body)
    report = compare_recording(recording, answer, bases=replayer.bases())
    assert report, report.explain()
    snap_id = answer.body["snapshot"]["id"]
    _await_status(replayer, "snapshots", snap_id, "available")
    name = "DELETE___v3__{project_id}__snapshots__{snapshot_id}@latest.json"
    report = replayer.check(FOLDER, name, ids={"snapshot_id": snap_id},
                            allow=ALLOW)
    assert report, report.explain()
    deadline = time.monotonic() + 10
    while replayer.get(FOLDER, f"/v3/{replayer.session.project_id}/snapshots/{snap_id}").status \
            != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    name = "DELETE___v3__{project_id}__volumes__{volume_id}@latest.json"
    report = replayer.check(FOLDER, name, ids={"volume_id": vol_id},
                            allow=ALLOW)
    assert report, report.explain()
