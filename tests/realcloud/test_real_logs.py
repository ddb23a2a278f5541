"""stackwatch's log sources on the real services' log files.

* Every line of every real log file is parsed or deliberately skipped (with a
  reason); none is left unexplained, and every file is read by some source.
* The request counters move by exactly the requests this test sends (nova writes two
  lines per request — its access log and ``nova.api.openstack.requestlog`` — and the
  request must still count once).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from realcloud.cloud import LOG_GLOBS, RealCloud
from realcloud.resources import Resources
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import parse_config
from stackwatch.model import Collection
from stackwatch.sources.base import Source
from stackwatch.sources.registry import build_sources

ROOTS = {"keystone": "http://127.0.0.1:5000", "nova": "http://127.0.0.1:8774",
         "placement": "http://127.0.0.1:8778", "neutron": "http://127.0.0.1:9696",
         "glance": "http://127.0.0.1:9292", "cinder": "http://127.0.0.1:8776"}


@pytest.fixture(scope="module")
def log_sources(realcloud: RealCloud, resources: Resources,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    """The registry's log sources for this cloud, reading every file from its start."""
    store = tmp_path_factory.mktemp("realcloud-logs") / "stackwatch.sqlite"
    config = parse_config(realcloud.stackwatch_config(logs=True, store=store))
    return {s.name: s for s in build_sources(config) if s.name.startswith("logs.")}


def _line_counts(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


#: files of the log directory that are not the watched services' logs: the tests' own
#: daemons' (``rc-*``: the fake L3 agent's stdout is no OpenStack log) and heat's, swift's,
#: octavia's and ironic's (test_real_heat_swift's, test_real_octavia's, test_real_ironic's;
#: LOG_GLOBS does not watch them)
NOT_WATCHED = ("rc-", "heat-", "swift-", "octavia-", "ironic-")


def _log_files(root: Path) -> Iterator[Path]:
    """Every non-empty file of the log directory but those :data:`NOT_WATCHED`."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.stat().st_size > 0 \
                and not path.name.startswith(NOT_WATCHED):
            yield path


def _lines(collection: Collection) -> dict[tuple[str, str], int]:
    """(file, outcome) -> lines, from ``openstack_log_lines_total``."""
    out: dict[tuple[str, str], int] = {}
    for s in collection.samples:
        if s.name == "openstack_log_lines_total":
            out[(s.label("file"), s.label("outcome"))] = int(s.value)
    return out


def test_every_line_of_every_real_log_is_parsed_or_skipped(
        realcloud: RealCloud, log_sources: dict[str, Source]) -> None:
    files = list(_log_files(realcloud.log_dir))
    before = {p.name: _line_counts(p) for p in files}
    collections = {name: source.collect() for name, source in log_sources.items()}
    after = {p.name: _line_counts(p) for p in files}
    counted: Counter[str] = Counter()
    unparsed: dict[str, int] = {}
    for name, collection in collections.items():
        assert_declared(collection)
        for (file, outcome), n in _lines(collection).items():
            counted[file] += n
            if outcome == "unparsed" and n:
                unparsed[f"{name}:{file}"] = n
        for sample in collection.samples:
            if sample.name == "openstack_log_skipped_lines_total":
                assert sample.label("reason"), f"{name}: lines skipped without a reason"
    unread = [p.name for p in files if counted[p.name] == 0]
    assert not unread, f"log files no source read (globs {dict(LOG_GLOBS)}): {unread}"
    short = {f: (before[f], counted[f], after[f]) for f in before
             if not before[f] <= counted[f] <= after[f]}
    assert not short, f"lines counted outside [lines before, lines after]: {short}"
    assert not unparsed, "unexplained lines:\n" + _unparsed_samples(log_sources, unparsed)


def _unparsed_samples(sources: dict[str, Source], unparsed: dict[str, int]) -> str:
    """The first unparsed lines each parser kept, to show in the failure."""
    lines = [f"{k}: {n} line(s)" for k, n in sorted(unparsed.items())]
    for source in sources.values():
        for path, parser in getattr(source, "_parsers", {}).items():
            for line in list(getattr(parser, "unparsed_sample", ()))[:5]:
                lines.append(f"  {Path(path).name}: {line[:300]}")
    return "\n".join(lines)


def _requests_total(collections: dict[str, Collection]) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for c in collections.values():
        for s in c.samples:
            if s.name == "openstack_log_http_requests_total":
                out[(s.label("service"), s.label("method"), s.label("url"),
                     s.label("status"))] = s.value
    return out


def _token(realcloud: RealCloud) -> tuple[str, str]:
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": realcloud.username, "password": realcloud.password,
            "domain": {"name": realcloud.domain}}}},
        "scope": {"project": {"name": realcloud.project_name,
                              "domain": {"name": realcloud.domain}}}}}
    answer = requests.post(f"{realcloud.auth_url}/auth/tokens", json=body, timeout=60)
    answer.raise_for_status()
    return answer.headers["X-Subject-Token"], answer.json()["token"]["project"]["id"]


def test_request_counters_move_by_the_requests_made(
        realcloud: RealCloud, log_sources: dict[str, Source]) -> None:
    baseline = _requests_total({n: s.collect() for n, s in log_sources.items()})
    token, project = _token(realcloud)
    missing = uuid.uuid4()
    # (service, path, times, status) on URLs no service calls by itself
    plan: list[tuple[str, str, int, int]] = [
        ("keystone", "/v3/domains", 3, 200),
        ("nova", "/v2.1/flavors/detail", 2, 200),
        ("nova", f"/v2.1/servers/{missing}", 2, 404),
        ("placement", "/resource_classes", 2, 200),
        ("neutron", "/v2.0/routers", 2, 200),
        ("glance", "/v2/images", 2, 200),
        ("cinder", f"/v3/{project}/types", 2, 200),
    ]
    sent: list[tuple[str, str, int]] = []
    for service, path, times, status in plan:
        for _ in range(times):
            headers = {"X-Auth-Token": token}
            if service == "placement":
                headers["OpenStack-API-Version"] = "placement 1.39"
            answer = requests.get(ROOTS[service] + path, timeout=60, headers=headers)
            assert answer.status_code == status, (service, path, answer.status_code)
            sent.append((service, path, status))
    # gunicorn writes an access line just after sending the answer: read until all are in
    deadline = time.monotonic() + 20
    after = dict(baseline)
    while True:
        after.update(_requests_total({n: s.collect() for n, s in log_sources.items()}))
        delta = {k: v - baseline.get(k, 0) for k, v in after.items() if v != baseline.get(k, 0)}
        if _all_counted(delta, plan) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # one token issued by this test
    auth = [(k, v) for k, v in delta.items() if k[0] == "keystone" and k[1] == "POST"
            and k[2].endswith("/auth/tokens") and k[3] == "201"]
    assert sum(v for _, v in auth) >= 1, delta
    for service, path, times, status in plan:
        found = {k: v for k, v in delta.items()
                 if k[0] == service and k[1] == "GET" and k[3] == str(status)
                 and _same_route(k[2], path)}
        assert sum(found.values()) == times, (
            f"{service} GET {path} {status}: sent {times}, counted {found}; delta {delta}")


def _all_counted(delta: dict[tuple[str, ...], float],
                 plan: list[tuple[str, str, int, int]]) -> bool:
    return all(sum(v for k, v in delta.items() if k[0] == service and k[1] == "GET"
                   and k[3] == str(status) and _same_route(k[2], path)) >= times
               for service, path, times, status in plan)


def _same_route(template: str, path: str) -> bool:
    """A URL template (ids as ``{...}``) matches a concrete path of the same shape."""
    t_parts, p_parts = template.split("?")[0].strip("/").split("/"), path.strip("/").split("/")
    return len(t_parts) == len(p_parts) and all(
        t == p or (t.startswith("{") and t.endswith("}")) for t, p in zip(t_parts, p_parts,
                                                                            strict=True))

