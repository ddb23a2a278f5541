"""Replay recorded real-OpenStack requests against a running cloud and compare answers.

The comparison itself lives in :mod:`stackwatch.sim.fidelity` (importable from any
test, the realcloud ones included); this module does the HTTP side:

* :func:`login` authenticates with keystone v3 (password) and reads the catalog;
* :class:`Replayer` sends a recording's request (method, path with ids mapped to
  the target's own objects, the recorded headers such as ``OpenStack-API-Version``)
  to the target and compares its answer with the recorded one.

Typical use in a test::

    replayer = Replayer(login(cloud.auth_url, "admin", password, "admin"))
    report = replayer.check("network", "GET___v2.0__networks~limit=1.json")
    assert report, report.explain()

Placeholders (``{network_id}``, ``{project_id}``) take the values given in ``ids``;
``project_id`` defaults to the session's project; one not given keeps its recorded
value (the all-zero uuid of a 404 recording).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from stackwatch.sim.fidelity import (
    Answer,
    Bases,
    Recording,
    Report,
    catalog_roots,
    compare_recording,
    load_recording,
    load_recordings,
)

# What real 2026.1 services answered to the requests the simulator is held to, recorded
# by scripts/record_fidelity.py (tests/data/recorded/README.md); another folder of the
# same layout may be named by $STACKWATCH_FIDELITY_RECORDINGS.
API_RECORDINGS = Path(
    os.environ.get(
        "STACKWATCH_FIDELITY_RECORDINGS",
        Path(__file__).resolve().parents[1] / "data" / "recorded" / "fidelity",
    )
)
# The recorded catalog gives the recorded services' roots (to strip from URLs).
_RECORDED_TOKEN = API_RECORDINGS / "identity" / "POST___v3__auth__tokens.201-project-scoped.json"
# Recording folder -> catalog types that may serve it.
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "identity": ("identity",),
    "compute": ("compute",),
    "placement": ("placement",),
    "network": ("network",),
    "image": ("image",),
    "block-storage": ("block-storage", "volumev3", "volume"),
}
_RECORDED = object()


def recorded_roots() -> dict[str, str]:
    """Service type → root of the recorded cloud (``http://127.0.0.1:9696`` ...)."""
    data = json.loads(_RECORDED_TOKEN.read_text())
    return catalog_roots(data["body"]["token"]["catalog"])


@dataclass(frozen=True)
class Session:
    """A keystone token with what came with it."""

    auth_url: str
    token: str
    user_id: str
    project_id: str
    roots: Mapping[str, str]  # service type -> root

    def root(self, folder: str) -> str:
        for service_type in SERVICE_TYPES.get(folder, (folder,)):
            if service_type in self.roots:
                return self.roots[service_type]
        raise KeyError(f"no {folder} endpoint in the catalog ({sorted(self.roots)})")


def login(
    auth_url: str,
    username: str,
    password: str,
    project_name: str,
    *,
    user_domain: str = "Default",
    project_domain: str = "Default",
) -> Session:
    """Password-authenticate (keystone v3) and return the token with its catalog roots."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": username, "password": password, "domain": {"name": user_domain}}}},
        "scope": {"project": {"name": project_name, "domain": {"name": project_domain}}},
    }}
    response = requests.post(auth_url.rstrip("/") + "/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    token = response.json()["token"]
    return Session(
        auth_url=auth_url,
        token=response.headers["X-Subject-Token"],
        user_id=token["user"]["id"],
        project_id=token["project"]["id"],
        roots=catalog_roots(token["catalog"]),
    )


def send(
    session: Session | None,
    root: str,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    json_body: Any = None,
    data: bytes | None = None,
) -> Answer:
    """One HTTP request; the answer with its JSON body decoded (None when empty)."""
    all_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "x-auth-token"}
    if session is not None:
        all_headers["X-Auth-Token"] = session.token
    response = requests.request(
        method, root + url, headers=all_headers, json=json_body, data=data, timeout=60,
        allow_redirects=False,
    )
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = response.text
    return Answer(response.status_code, dict(response.headers), body)


@dataclass
class Replayer:
    """Replays recordings against the cloud a :class:`Session` points at."""

    session: Session
    reference: Path = API_RECORDINGS
    recorded: Mapping[str, str] = field(default_factory=recorded_roots)

    def recording(self, folder: str, name: str) -> Recording:
        return load_recording(self.reference / folder / name)

    def bases(self) -> Bases:
        return Bases(tuple(self.recorded.values()), tuple(self.session.roots.values()))

    def replay(
        self,
        recording: Recording,
        *,
        ids: Mapping[str, str] | None = None,
        body: Any = _RECORDED,
        data: bytes | None = None,
        session: Session | object | None = _RECORDED,
    ) -> Answer:
        """Send the recorded request (with the recorded headers) to the target.

        ``session``: another caller (a member's), or None for no token; by default
        the replayer's own when the recording carried a token, none otherwise.
        """
        caller: Session | None
        if session is _RECORDED:
            sent_token = any(k.lower() == "x-auth-token" for k in recording.request_headers)
            caller = self.session if sent_token else None
        else:
            caller = session if isinstance(session, Session) else None
        values = {"project_id": (caller or self.session).project_id, **(ids or {})}
        url = recording.url_for(values)
        payload = recording.request_body if body is _RECORDED else body
        return send(
            caller, self.session.root(recording.service), recording.method, url,
            recording.request_headers, json_body=payload if data is None else None, data=data,
        )

    def check(
        self,
        folder: str,
        name: str,
        *,
        ids: Mapping[str, str] | None = None,
        body: Any = _RECORDED,
        data: bytes | None = None,
        session: Session | object | None = _RECORDED,
        allow: Mapping[str, str] | None = None,
        maps: Iterable[str] = (),
    ) -> Report:
        """Replay one recording and compare; the report says what differs."""
        recording = self.recording(folder, name)
        answer = self.replay(recording, ids=ids, body=body, data=data, session=session)
        return compare_recording(recording, answer, bases=self.bases(), allow=allow, maps=maps)

    def get(self, folder: str, url: str, headers: Mapping[str, str] | None = None) -> Answer:
        """A plain GET with the replayer's token (to find ids to map)."""
        return send(self.session, self.session.root(folder), "GET", url, headers)


def clouds_yaml_auth(path: Path, cloud: str = "stackwatch-sim") -> dict[str, str]:
    """The ``auth`` section of one cloud of a clouds.yaml."""
    data = yaml.safe_load(path.read_text())
    return {str(k): str(v) for k, v in data["clouds"][cloud]["auth"].items()}


def login_from_clouds_yaml(path: Path, *, username: str | None = None,
                           project_name: str | None = None) -> Session:
    """Log in with a clouds.yaml's credentials (another user of the same password:
    the simulator gives every generated user the admin's password)."""
    auth = clouds_yaml_auth(path)
    return login(
        auth["auth_url"], username or auth["username"], auth["password"],
        project_name or auth["project_name"],
        user_domain=auth.get("user_domain_name", "Default"),
        project_domain=auth.get("project_domain_name", "Default"),
    )


def follow(replayer_or_session: Replayer | Session, folder: str, url: str,
           key: str, headers: Mapping[str, str] | None = None,
           max_pages: int = 10_000) -> list[list[dict[str, Any]]]:
    """Pages of a listing, following ``<key>_links`` ``next`` (neutron, cinder) or
    ``next`` (glance) until a page has none; returns the pages' items."""
    session = replayer_or_session.session if isinstance(replayer_or_session, Replayer) \
        else replayer_or_session
    root = session.root(folder)
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None and len(pages) < max_pages:
        answer = send(session, root, "GET", next_url, headers)
        assert answer.status == 200, (next_url, answer.status, answer.body)
        pages.append(answer.body[key])
        next_url = None
        for link in answer.body.get(f"{key}_links", ()):
            if link["rel"] == "next":
                next_url = link["href"].removeprefix(root)
        if isinstance(answer.body.get("next"), str):  # glance: relative to the host root
            next_url = answer.body["next"]
    return pages


def plain_gets(folder: str, *, skip: tuple[str, ...] = ("member",)) -> list[str]:
    """Recordings of a folder that are GETs needing no ids but the caller's project
    (the ones any cloud can replay as they are); variants containing ``skip`` left out."""
    return sorted(
        name for name, recording in load_recordings(API_RECORDINGS / folder).items()
        if recording.method == "GET" and set(recording.placeholders) <= {"project_id"}
        and not any(word in name for word in skip)
    )
