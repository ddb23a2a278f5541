"""The recordings of ``tests/data/recorded`` (real 2026.1 answers to stackwatch's requests)
are well-formed, scrubbed, and usable by the replay harness of the source tests.

``scripts/record_fixtures.py`` writes them from a real cloud; the realcloud tests
re-record and check that the real services still answer in the same shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sources import replay
from stackwatch.catalog.testing import assert_declared
from stackwatch.model import Status
from stackwatch.sim.fidelity import load_recording
from stackwatch.sources.openstack_api import SOURCE_CLASSES
from stackwatch.sources.openstack_api.client import ApiClient

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "api"
FOLDERS = ("identity", "compute", "placement", "network", "image", "block-storage")


def _files() -> list[Path]:
    return sorted(RECORDED.glob("*/*.json"))


def test_every_service_is_recorded_and_every_name_matches_its_url() -> None:
    assert {p.parent.name for p in _files()} == set(FOLDERS)
    for path in _files():
        recording = load_recording(path)  # raises when the name does not match the URL
        assert recording.answer.status < 500, path.name


def test_recordings_hold_no_token_or_password() -> None:
    for path in _files():
        text = path.read_text()
        assert "gAAAAA" not in text, f"{path.name}: a fernet token"
        data = json.loads(text)
        for headers in (data["request"]["headers"], data["headers"]):
            for name, value in headers.items():
                if name.lower() in ("x-auth-token", "x-subject-token"):
                    assert value == "<token>", f"{path.name}: {name} not scrubbed"
        if "body" in data["request"]:
            assert '"password": "<password>"' in json.dumps(data["request"]["body"]) or \
                "password" not in json.dumps(data["request"]["body"]), path.name


def test_api_sources_read_the_recordings_without_gaps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request the API sources make has a recorded answer, and all of them read."""
    monkeypatch.setattr(replay, "REFERENCE", RECORDED)
    monkeypatch.setattr(replay, "EXTRA", ())  # these recordings alone, no fallback
    with replay.ReplayCloud(tmp_path) as cloud:
        client = ApiClient("replay", clouds_yaml=cloud.clouds_yaml, timeout=10)
        try:
            for cls in SOURCE_CLASSES:
                collection = cls(client).collect()
                bad = [c.message for c in collection.checks if c.status is not Status.OK]
                assert not bad, f"{cls.__name__}: {bad}"
                assert_declared(collection)
        finally:
            client.close()
        unrecorded = [r for r in cloud.requests if "not recorded" in str(r)]
        assert not unrecorded
    servers = json.loads(next(RECORDED.glob(
        "compute/GET___v2.1__servers__detail~all_tenants=1&limit=1000@*.json")).read_text())
    assert len(servers["body"]["servers"]) == 3
