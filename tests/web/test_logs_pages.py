"""The logs page, the trace page, the service pages' log charts and their API routes, over
what the simulator's logs say once faults were injected in them: a 5xx burst on nova's
API, a server put in ERROR, a 401 storm on keystone."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import load_config
from stackwatch.logcli import trace
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.logs import logs_sources
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app

pytestmark = [
    pytest.mark.integration,
    # openstacksdk's own deprecations, raised while it reads clouds.yaml
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

BURST = 30
STORM = 60
ATTACKER = "198.51.100.77"
ERROR_MESSAGE = "internal error: process exited while connecting to monitor"


@dataclass
class Faulty:
    """The store after the faults, and what was done to the cloud."""

    store: SQLiteStore
    store_path: Path
    server_id: str
    looked_at: float  # when the test read the server in ERROR through the API


def _collect(sources: list[Any], store: SQLiteStore) -> None:
    for source in sources:
        store.write(source.collect(), source.name)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    root = tmp_path_factory.mktemp("faulty")
    with SimulatedCloud(workdir=root, size="small", seed=3) as cloud:
        config = load_config(cloud.config_path)
        (cloud_config,) = config.clouds
        sources = logs_sources(cloud_config, config)
        store = SQLiteStore(config.store.path)
        _collect(sources, store)  # the sources' first collection: their baseline
        time.sleep(0.05)
        # a server goes to ERROR; then an operator reads it through nova's API
        said = cloud.inject("servers-error", count="1", message=ERROR_MESSAGE)
        name = said.rsplit(": ", 1)[1]
        (server_id,) = [s.id for s in cloud.state.servers if s.name == name]
        time.sleep(0.05)
        region = OpenStackConfig(config_files=[str(cloud.clouds_yaml)]).get_one(
            "stackwatch-sim")
        connection = Connection(config=region)
        looked_at = time.time()
        assert connection.compute.get_server(server_id).status == "ERROR"
        connection.close()
        _collect(sources, store)
        time.sleep(0.05)
        cloud.inject("api-5xx-burst", service="compute", count=str(BURST))
        cloud.inject("auth-401-storm", source=ATTACKER, count=str(STORM))
        _collect(sources, store)
        yield Faulty(store, config.store.path, server_id, looked_at)
        store.close()


def _get(store: SQLiteStore, *paths: str) -> list[tuple[int, str]]:
    async def go() -> list[tuple[int, str]]:
        app = make_app(store, load_catalog(), clock=time.time, max_age=600)
        async with TestClient(TestServer(app)) as client:
            out = []
            for path in paths:
                response = await client.get(path, allow_redirects=False)
                out.append((response.status, response.headers.get("Location", "")
                            if response.status in (301, 302) else await response.text()))
            return out
    return asyncio.run(go())


def get(store: SQLiteStore, path: str, status: int = 200) -> str:
    [(code, body)] = _get(store, path)
    assert code == status, body[:2000]
    return body


def get_json(store: SQLiteStore, path: str, status: int = 200) -> Any:
    return json.loads(get(store, path, status))


def _text(html: str) -> str:
    """A page's text without its tags, spaces folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_logs_page_shows_the_burst_and_its_records(faulty: Faulty) -> None:
    page = get_json(faulty.store, "/logs.json?range=1h")
    rows = {(r["service"], r["host"]): r for r in page["errors"]["series"]}
    nova = rows[("nova", "controller")]
    # every 5xx of the burst was counted, as growth since the baseline
    assert nova["server_errors"] == pytest.approx(BURST)
    assert nova["errors"] >= BURST  # the burst's ERROR records, and the server's
    assert page["errors"]["series"][0]["service"] == "nova"  # the most errors first
    chart = {s["labels"]["service"]: s for s in page["server_errors"]["series"]}
    assert chart["nova"]["total"] == pytest.approx(BURST)
    assert max(p["v"] for p in chart["nova"]["points"]) > 0
    # the records: nova's API errors of the burst, newest first, each with its request
    records = page["records"]["items"]
    times = [r["timestamp"] for r in records]
    assert times == sorted(times, reverse=True)
    burst = [r for r in records if r["event_type"] == "nova.api.openstack.wsgi"]
    assert len(burst) == BURST and all(r["request_id"].startswith("req-") for r in burst)
    html = get(faulty.store, "/logs?range=1h")
    text = _text(html)
    assert f"{BURST} HTTP 5xx" in text
    assert "Unexpected exception in API method" in text
    assert f'href="/trace/{burst[0]["request_id"]}"' in html
    assert f'href="/trace/{faulty.server_id}"' in html  # the server's ERROR record


def test_logs_page_filters_and_pages(faulty: Faulty) -> None:
    first = get_json(faulty.store, "/logs.json?range=1h&service=nova&limit=10")
    assert first["records"]["total"] >= BURST + 1
    assert {r["service"] for r in first["records"]["items"]} == {"nova"}
    assert [s["service"] for s in first["errors"]["series"]] == ["nova"]
    second = get_json(faulty.store, "/logs.json?range=1h&service=nova&limit=10&offset=10")
    assert second["records"]["items"][0]["timestamp"] <= first["records"]["items"][-1][
        "timestamp"]
    assert not {r["request_id"] for r in first["records"]["items"]} & {
        r["request_id"] for r in second["records"]["items"]}
    critical = get_json(faulty.store, "/logs.json?range=1h&severity=critical")
    assert critical["records"]["items"] == [] and critical["severity"] == "CRITICAL"
    assert get_json(faulty.store, "/logs.json?range=1h&host=nowhere")["records"]["total"] == 0
    html = get(faulty.store, "/logs?range=1h&service=nova&limit=10")
    assert 'rel="next"' in html and "offset=10" in html
    assert "severity" in get(faulty.store, "/logs?severity=bogus", 400)


def test_trace_page_tells_the_error_story_in_time_order(faulty: Faulty) -> None:
    story = get_json(faulty.store, f"/trace/{faulty.server_id}.json")
    assert story["kind"] == "instance" and story["id"] == faulty.server_id
    steps = story["steps"]
    assert [s["timestamp"] for s in steps] == sorted(s["timestamp"] for s in steps)
    failed = next(s for s in steps if "Setting instance vm_state to ERROR" in s["message"])
    assert failed["error"] and failed["traceback"] and failed["service"] == "nova"
    assert ERROR_MESSAGE in failed["message"]
    assert any("libvirt.libvirtError" in line for line in failed["detail"])
    # the operator's look at the server came after it failed, as its own request
    looked = next(s for s in steps if s["origin"] == "nova.api.openstack.requestlog"
                  and s["timestamp"] >= faulty.looked_at and "GET" in s["message"])
    assert looked["timestamp"] > failed["timestamp"] and not looked["error"]
    assert looked["gap_seconds"] is not None and looked["gap_seconds"] >= 0
    assert looked["request_id"] in {r["request_id"] for g in story["requests"]
                                    for r in g["requests"]}
    assert story["errors"] == sum(s["error"] for s in steps) >= 1
    html = get(faulty.store, f"/trace/{faulty.server_id}")
    story_html = html.split('id="error-story"', 1)[1].split("</ol>", 1)[0]
    assert "Setting instance vm_state to ERROR" in story_html and "libvirtError" in story_html
    timeline = html.split('id="timeline"', 1)[1]
    assert timeline.index("Setting instance vm_state to ERROR") < timeline.index(
        looked["request_id"])
    assert 'class="step failed"' in timeline


def test_trace_search_redirects_and_unknown_ids_are_404(faulty: Faulty) -> None:
    [(status, location), (twin_status, twin_location)] = _get(
        faulty.store, f"/trace?id=+{faulty.server_id}+", f"/trace.json?id={faulty.server_id}")
    assert (status, location) == (302, f"/trace/{faulty.server_id}")
    assert (twin_status, twin_location) == (302, f"/trace/{faulty.server_id}.json")
    missing = get(faulty.store, "/trace/req-00000000-0000-0000-0000-000000000000", 404)
    assert "nothing found for req-00000000-0000-0000-0000-000000000000" in missing
    assert '<body data-refresh="0">' in missing  # an error page does not poll for itself
    search = get(faulty.store, "/trace")
    assert 'id="recent"' in search and f'href="/trace/{faulty.server_id}"' in search
    assert re.search(r'<body data-refresh="[1-9]', search)  # a good page refreshes live


def test_keystone_page_lists_the_storm_source(faulty: Faulty) -> None:
    page = get_json(faulty.store, "/services/keystone.json?range=1h")
    logs = page["logs"]
    assert logs["service"] == "keystone"
    brute = logs["bruteforce"]
    [offender] = [o for o in brute["offenders"] if o["address"] == ATTACKER]
    assert offender["failures"] == STORM and "keystone" in offender["seen_in"]
    assert brute["window_seconds"] == 300 and brute["threshold"] == 20
    assert brute["status"] == "WARNING"  # 60 failures: over 20, under 5 x 20
    failures = {s["labels"]["host"]: s["total"] for s in logs["auth_failures"]["series"]}
    assert failures == {"controller": pytest.approx(STORM)}
    login = next(o for o in logs["operations"] if o["url"] == "/v3/auth/tokens"
                 and o["method"] == "POST")
    assert login["requests"] >= STORM and login["p50"] is not None
    html = get(faulty.store, "/services/keystone?range=1h")
    table = _text(html.split('id="offenders"', 1)[1].split("</table>", 1)[0])
    assert f"{ATTACKER} {STORM}" in table
    assert "within 5 min" in _text(html)
    # a service of no API of its own has no log charts
    assert get_json(faulty.store, "/services/nova-compute.json")["logs"] is None


def test_nova_api_page_has_the_burst_in_its_charts(faulty: Faulty) -> None:
    logs = get_json(faulty.store, "/services/nova-api.json?range=1h")["logs"]
    classes = {s["labels"]["class"]: s["total"] for s in logs["requests"]["series"]}
    assert classes["5xx"] == pytest.approx(BURST)
    assert {s["labels"]["host"]: s["total"] for s in logs["server_errors"]["series"]} == {
        "controller": pytest.approx(BURST)}
    assert sum(o["server_errors"] for o in logs["operations"]) == pytest.approx(BURST)
    html = get(faulty.store, "/services/nova-api?range=1h")
    assert "Requests per minute, by status (nova logs)" in html and 'id="operations"' in html


def test_api_routes_serve_the_same(faulty: Faulty) -> None:
    store = faulty.store
    page = get_json(store, "/logs.json?range=1h&service=nova")
    start = page["start"]
    errors = get_json(store, f"/api/v1/logs/errors?start={start}&service=nova")
    [nova] = errors["series"]
    assert nova["server_errors"] == pytest.approx(BURST)
    assert nova["errors"] == pytest.approx(page["errors"]["series"][0]["errors"])
    assert errors["step"] > 0 and nova["points"]
    records = get_json(store, f"/api/v1/logs/records?start={start}&service=nova&limit=5")
    assert records["items"] == page["records"]["items"][:5]
    assert records["total"] == page["records"]["total"] and records["next_offset"] == 5
    trace_json = get_json(store, f"/api/v1/traces/{faulty.server_id}")
    assert trace_json == get_json(store, f"/trace/{faulty.server_id}.json") | {
        "timestamp": trace_json["timestamp"], "time": trace_json["time"]}
    missing = get_json(store, "/api/v1/traces/req-nothing", 404)
    assert missing["error"]["message"].startswith("nothing found for req-nothing")
    bad = get_json(store, "/api/v1/logs/records?severity=loud", 400)
    assert bad["error"]["message"].startswith("severity")
    spec = get_json(store, "/api/v1/openapi.json")
    assert {"/api/v1/traces/{id}", "/api/v1/logs/records", "/api/v1/logs/errors"} <= set(
        spec["paths"])


def test_cli_trace_prints_the_same_story(faulty: Faulty) -> None:
    story = get_json(faulty.store, f"/api/v1/traces/{faulty.server_id}")
    result = CliRunner().invoke(trace, [faulty.server_id, "--store", str(faulty.store_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("    ")]
    assert len(lines) == len(story["steps"])
    for line, step in zip(lines, story["steps"], strict=True):
        assert step["message"] in line and step["service"] in line
