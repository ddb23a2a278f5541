"""The simulated keystone answers like the real one (recorded in tests/data/recorded/fidelity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fidelity import API_RECORDINGS, Replayer, Session, clouds_yaml_auth, login_from_clouds_yaml

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import load_recordings

pytestmark = pytest.mark.integration

FOLDER = "identity"
RECORDINGS = load_recordings(API_RECORDINGS / FOLDER)
PLAIN_GETS = sorted(
    name for name, rec in RECORDINGS.items()
    if rec.method == "GET" and not rec.placeholders and "member" not in name
    and "auth__tokens" not in name
)


def password_body(cloud: SimulatedCloud, password: str | None = None,
                  user: str | None = None, scoped: bool = True) -> dict[str, object]:
    auth = clouds_yaml_auth(Path(cloud.clouds_yaml))
    body: dict[str, object] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user or auth["username"], "domain": {"id": "default"},
        "password": auth["password"] if password is None else password}}}}
    if scoped:
        body["scope"] = {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}
    return {"auth": body}


# The simulator registers cinder's endpoint with keystone's $(project_id)s template, so
# every project gets its own URL; the recorded cloud registered the admin project's id.
ALLOW = {"body/endpoints/*/url": "cinder endpoint registered as a $(project_id)s template"}


@pytest.mark.parametrize("name", PLAIN_GETS)
def test_listings_and_documents(replayer: Replayer, name: str) -> None:
    report = replayer.check(FOLDER, name, allow=ALLOW)
    assert report, report.explain()


@pytest.mark.parametrize(("name", "kwargs"), [
    ("POST___v3__auth__tokens.201-project-scoped.json", {}),
    ("POST___v3__auth__tokens.201-unscoped.json", {"scoped": False}),
    ("POST___v3__auth__tokens.401-wrong-password.json", {"password": "wrong"}),
    ("POST___v3__auth__tokens.401-unknown-user.json", {"user": "nobody"}),
])
def test_password_authentication(cloud: SimulatedCloud, replayer: Replayer, name: str,
                                 kwargs: dict[str, Any]) -> None:
    report = replayer.check(FOLDER, name, body=password_body(cloud, **kwargs))
    assert report, report.explain()


def _subject(cloud: SimulatedCloud) -> str:
    session = login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo",
                                     project_name="demo")
    return session.token


@pytest.mark.parametrize("name", [
    "GET___v3__auth__tokens.200-valid.json",
    "GET___v3__auth__tokens~nocatalog.200-valid-nocatalog.json",
    "HEAD___v3__auth__tokens.200-valid.json",
])
def test_token_validation(cloud: SimulatedCloud, replayer: Replayer, name: str) -> None:
    recording = replayer.recording(FOLDER, name)
    headers = {**recording.request_headers, "X-Subject-Token": _subject(cloud)}
    answer = replayer.get(FOLDER, recording.url_for({}), headers) if recording.method == "GET" \
        else None
    if answer is not None:
        assert answer.status == 200
        assert answer.headers["X-Subject-Token"] == headers["X-Subject-Token"]
        assert set(answer.body["token"]) == set(recording.answer.body["token"])
    import requests

    head = requests.head(f"{cloud.auth_url}/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": replayer.session.token,
                                  "X-Subject-Token": headers["X-Subject-Token"]})
    assert head.status_code == 200


def test_bad_and_revoked_tokens_are_404(cloud: SimulatedCloud, replayer: Replayer) -> None:
    import requests

    url = f"{cloud.auth_url}/auth/tokens"
    own = {"X-Auth-Token": replayer.session.token}
    bad = requests.get(url, headers={**own, "X-Subject-Token": "gAAAAAnotatoken"}, timeout=10)
    assert bad.status_code == 404
    assert bad.json() == RECORDINGS["GET___v3__auth__tokens.404-bad-token.json"].answer.body
    subject = _subject(cloud)
    revoke = requests.delete(url, headers={**own, "X-Subject-Token": subject}, timeout=10)
    assert revoke.status_code == 204
    gone = requests.get(url, headers={**own, "X-Subject-Token": subject}, timeout=10)
    assert gone.status_code == 404
    assert gone.json() == RECORDINGS["GET___v3__auth__tokens.404-revoked-token.json"].answer.body
    caller = requests.get(url, headers={"X-Auth-Token": "nope", "X-Subject-Token": subject},
                          timeout=10)
    assert caller.status_code == 401


def test_member_cannot_list_users(replayer: Replayer, member: Session) -> None:
    report = replayer.check(FOLDER, "GET___v3__users.403-member.json", session=member)
    assert report, report.explain()


def test_user_projects_and_404(cloud: SimulatedCloud, replayer: Replayer) -> None:
    demo = cloud.state.users.by("name", "demo")[0]
    report = replayer.check(FOLDER, "GET___v3__users__{user_id}__projects.json",
                            ids={"user_id": demo.id})
    assert report, report.explain()
    report = replayer.check(FOLDER, "GET___v3__users__{user_id}.404.json")
    assert report, report.explain()


def test_project_filters_and_single_objects(cloud: SimulatedCloud, replayer: Replayer) -> None:
    import requests

    own = {"X-Auth-Token": replayer.session.token}
    url = cloud.auth_url
    demo = requests.get(f"{url}/projects?name=demo", headers=own, timeout=10).json()
    assert [p["name"] for p in demo["projects"]] == ["demo"]
    assert demo["links"]["self"].endswith("/v3/projects")
    role = next(iter(cloud.state.roles))
    shown = requests.get(f"{url}/roles/{role.id}", headers=own, timeout=10).json()["role"]
    assert shown["name"] == role.name
    missing = requests.get(f"{url}/roles/nope", headers=own, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
