"""The web app over a real SQLite store: /metrics parses as Prometheus text, the API answers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.catalog.loader import load_catalog
from stackwatch.model import CheckResult, Collection, Event, Sample, Severity, Status, make_labels
from stackwatch.query.times import range_seconds
from stackwatch.runner import Runner
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app
from stackwatch.web.pages.page import PARTIAL_HEADER, STATUS_HEADER

from .conftest import DownSource, member_check

pytestmark = pytest.mark.unit

NOW = time.time()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    runner = Runner([DownSource("api.network")], timeout=5)
    for run in runner.run_once():
        s.write(run.collection)
    s.write(Collection(
        samples=(
            Sample.of("stackwatch_source_up", 1, NOW - 5, source="api.compute"),
            Sample.of("stackwatch_source_last_success_timestamp_seconds", NOW - 5, NOW - 5,
                      source="api.compute"),
            Sample.of("stackwatch_source_errors_total", 2, NOW - 5, source="api.compute"),
            Sample.of("undeclared_thing", 7, NOW - 1, kind="x"),
            Sample.of("openstack_nova_total_vms", 4, NOW - 1000, region="r"),
        ),
        checks=(
            CheckResult("stackwatch_source", Status.OK, "api.compute: 3 samples",
                        make_labels(source="api.compute"), timestamp=NOW - 5),
            member_check("nova-compute", "cmp1", Status.OK),
            member_check("nova-compute", "cmp2", Status.CRITICAL),
            CheckResult("service_state", Status.OK, "nova-conductor on ctl1 is up",
                        make_labels(binary="nova-conductor", host="ctl1"),
                        timestamp=NOW - 1000),
        ),
        events=(
            Event("log", "nova.compute.manager", NOW - 10, Severity.ERROR, "nova", "cmp2",
                  "boom", "req-1", ("vm-1",)),
            Event("notification", "compute.instance.create.end", NOW - 20, service="nova",
                  request_id="req-2", resource_ids=("vm-2",)),
        ),
    ))
    yield s
    s.close()


def fetch(store: SQLiteStore, path: str, headers: dict[str, str] | None = None
          ) -> tuple[int, str, str]:
    async def go() -> tuple[int, str, str]:
        app = make_app(store, load_catalog(), clock=lambda: NOW, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path, headers=headers)
            return response.status, response.headers["Content-Type"], await response.text()
    return asyncio.run(go())


def get_json(store: SQLiteStore, path: str, status: int = 200) -> Any:
    code, _, body = fetch(store, path)
    assert code == status, body
    return json.loads(body)


def test_metrics_parse_with_types_and_help_without_timestamps(store: SQLiteStore) -> None:
    status, content_type, body = fetch(store, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    up = families["stackwatch_source_up"]
    assert up.type == "gauge"
    assert up.documentation.startswith("1 when the last run of the source succeeded")
    values = {s.labels["source"]: s.value for s in up.samples}
    assert values == {"api.compute": 1.0, "api.network": 0.0}
    # the scraper stamps the scrape (Prometheus's guidance for exporters)
    assert [s for f in families.values() for s in f.samples if s.timestamp is not None] == []
    errors = families["stackwatch_source_errors"]  # counter family, samples end in _total
    assert errors.type == "counter"
    assert {s.name for s in errors.samples} == {"stackwatch_source_errors_total"}
    assert families["undeclared_thing"].type == "unknown"
    assert body.count("# TYPE stackwatch_source_up ") == 1
    assert "openstack_nova_total_vms" not in families  # older than max_age: left out


def test_health_checks_samples_sources(store: SQLiteStore) -> None:
    report = get_json(store, "/api/v1/health")
    assert report["timestamp"] == NOW and report["time"].endswith("Z")
    health = report["health"]
    compute = next(s for s in health["services"] if s["name"] == "nova-compute")
    assert compute["status"] == "WARNING"
    assert compute["message"] == "1 of 2 up; down: cmp2"
    network = next(s for s in health["services"] if s["name"] == "neutron-server")
    assert network["status"] == "UNKNOWN"
    assert health["status"] == "WARNING"  # a known problem outranks a blind spot
    conductor = next(s for s in health["services"] if s["name"] == "nova-conductor")
    assert conductor["status"] == "UNKNOWN"  # its only check is older than max_age
    assert conductor["members"][0]["message"].startswith("stale: last seen 1000 s ago")
    # what nothing watches is not OK: it says so, and does not count for the cloud
    rabbit = next(s for s in health["services"] if s["name"] == "rabbitmq")
    assert (rabbit["status"], rabbit["watched"]) == ("UNWATCHED", False)
    # problems: the known one (WARNING) before the blind ones (UNKNOWN)
    problems = [(p["status"], p["what"]) for p in report["problems"]]
    assert problems[0] == ("WARNING", "nova-compute")
    assert report["problems"][0]["hosts"] == ["cmp2"]
    assert ("UNKNOWN", "neutron-server") in problems

    critical = get_json(store, "/api/v1/checks?status=critical")
    assert [c["labels"]["host"] for c in critical["items"]] == ["cmp2"]
    assert critical["total"] == 1 and critical["next_offset"] is None
    every = get_json(store, "/api/v1/checks")
    assert every["items"][0]["status"] == "CRITICAL"  # worst first
    page = get_json(store, "/api/v1/checks?limit=1&offset=1")
    assert page["items"] == every["items"][1:2] and page["next_offset"] == 2
    assert get_json(store, "/api/v1/checks?status=bogus", 400)["error"]["message"].startswith(
        "status:")
    assert get_json(store, "/api/v1/checks?limit=0", 400)["error"]["message"].startswith(
        "limit:")
    matched = get_json(store, '/api/v1/checks?labels={"host": "cmp1"}')["items"]
    assert [c["labels"]["host"] for c in matched] == ["cmp1"]

    samples = get_json(store, "/api/v1/samples?name=stackwatch_source_up")
    ages = {s["labels"]["source"]: s["age_seconds"] for s in samples}
    assert ages["api.compute"] == pytest.approx(5, abs=0.01)
    ranged = get_json(store, f"/api/v1/samples/range?name=stackwatch_source_up&start={NOW - 60}"
                      '&labels={"source": "api.compute"}')
    assert [[p["v"] for p in s["points"]] for s in ranged["series"]] == [[1.0]]
    assert ranged["end"] == NOW  # end defaults to now
    [stats] = get_json(store, "/api/v1/samples/statistics?name=stackwatch_source_errors_total"
                       f"&start={NOW - 60}")
    assert (stats["count"], stats["max"], stats["last"]) == (1, 2.0, 2.0)
    [old] = get_json(store, "/api/v1/samples?name=openstack_nova_total_vms")
    assert old["age_seconds"] == pytest.approx(1000, abs=0.01)  # kept, with its age
    assert get_json(store, "/api/v1/samples", 400)["error"]["message"].startswith("name:")
    bad = get_json(store, "/api/v1/samples/range?name=x&start=yesterday", 400)["error"]
    assert bad["status"] == 400 and bad["message"].startswith("start:")
    assert get_json(store, "/api/v1/samples?name=x&labels=[1]", 400)["error"][
        "message"].startswith("labels:")
    assert get_json(store, f"/api/v1/samples/range?name=x&start={NOW}&end={NOW - 1}", 400)[
        "error"]["message"].startswith("end:")
    assert get_json(store, "/api/v1/nothing", 404)["error"]["status"] == 404

    sources = {s["source"]: s for s in get_json(store, "/api/v1/sources")}
    assert sources["api.compute"]["up"] == 1.0
    assert sources["api.compute"]["last_success_age_seconds"] == pytest.approx(5, abs=0.01)
    assert sources["api.compute"]["errors_total"] == 2.0
    assert sources["api.network"]["status"] == "UNKNOWN"
    assert "connection refused" in sources["api.network"]["message"]
    assert sources["api.network"]["last_success_age_seconds"] is None
    assert get_json(store, "/api/v1/sources/api.compute")["up"] == 1.0
    assert get_json(store, "/api/v1/sources/nope", 404)["error"]["message"].startswith(
        "source:")


def test_events(store: SQLiteStore) -> None:
    every = get_json(store, "/api/v1/events")["items"]
    assert [e["request_id"] for e in every] == ["req-2", "req-1"]
    assert get_json(store, "/api/v1/events?kind=log")["items"][0]["severity"] == "ERROR"
    assert [e["event_type"] for e in get_json(store, "/api/v1/events?resource_id=vm-2")[
        "items"]] == ["compute.instance.create.end"]
    assert get_json(store, "/api/v1/events?request_id=req-1&kind=log,notification")["items"][0][
        "resource_ids"] == ["vm-1"]
    assert get_json(store, "/api/v1/events?kind=log&kind=notification")["total"] == 2
    assert get_json(store, "/api/v1/events?severity=error")["total"] == 1
    one = get_json(store, "/api/v1/events?limit=1")
    assert (len(one["items"]), one["total"], one["next_offset"]) == (1, 2, 1)
    assert get_json(store, f"/api/v1/events?start={NOW - 5}")["items"] == []


def test_openapi_document_lists_every_route(store: SQLiteStore) -> None:
    spec = get_json(store, "/api/v1/openapi.json")
    assert spec["openapi"].startswith("3.1")
    assert {"/api/v1/health", "/api/v1/checks", "/api/v1/samples/range",
            "/api/v1/events"} <= set(spec["paths"])
    params = {p["name"]: p for p in spec["paths"]["/api/v1/sources/{source}"]["get"][
        "parameters"]}
    assert params["source"]["in"] == "path" and params["source"]["required"]
    status, _, page = fetch(store, "/api/v1/docs")
    assert status == 200 and "/api/v1/samples/range" in page


def test_pages_and_their_json_twins(store: SQLiteStore) -> None:
    status, kind, page = fetch(store, "/overview")
    assert status == 200 and kind.startswith("text/html")
    assert 'href="/services/nova-compute"' in page  # a problem links to its service
    assert "1 of 2 up; down: cmp2" in page
    twin = get_json(store, "/overview.json")
    assert twin["problems"][0]["what"] == "nova-compute"
    assert twin["rows"][0]["cells"]["cmp2"]["status"] == "CRITICAL"
    status, _, service = fetch(store, "/services/nova-compute")
    assert status == 200 and 'id="m-cmp2"' in service and "service_state" in service
    status, _, missing = fetch(store, "/services/nope")
    assert status == 404 and "not in the catalog" in missing
    status, _, bad = fetch(store, "/overview?range=forever")
    assert status == 400 and "time range" in bad
    status, _, node = fetch(store, "/nodes/cmp2")
    assert status == 200 and "nova-compute" in node


@pytest.mark.parametrize("path", ["/overview", "/services/nova-compute", "/nodes/cmp2",
                                  "/checks", "/sources"])
def test_live_refresh_gets_the_main_part_of_every_page(store: SQLiteStore, path: str) -> None:
    # the pages' script refreshes with this header every 10 s; each answered 500 while the
    # main block alone could not see the macros its template imports at its top
    status, kind, part = fetch(store, path, {PARTIAL_HEADER: "1"})
    assert status == 200 and kind.startswith("text/html"), part
    _, _, whole = fetch(store, path)
    assert "<html" not in part and "<header" not in part
    main = whole.split('<main id="main" tabindex="-1">', 1)[1].split("</main>", 1)[0]
    assert part.strip() == main.strip()
    assert '<span class="badge st-' in part  # the status macro's output


def test_a_refresh_says_the_clouds_status_for_the_header(store: SQLiteStore) -> None:
    # the header's pill is outside the refreshed part: it stayed OK through any fault
    async def go() -> tuple[str, str]:
        app = make_app(store, load_catalog(), clock=lambda: NOW, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/sources", headers={PARTIAL_HEADER: "1"})
            return (response.headers[STATUS_HEADER],
                    unquote(response.headers[STATUS_HEADER + "-Message"]))
    status, message = asyncio.run(go())
    health = get_json(store, "/api/v1/health")["health"]
    assert (status, message) == (health["status"], health["message"]) == (
        "WARNING", health["message"])
    assert "nova-compute" in message


def test_a_big_cloud_folds_its_compute_nodes_into_one_column(tmp_path: Path) -> None:
    from stackwatch.query.context import Context
    from stackwatch.query.overview import COMPUTE_COLUMN, MAX_NODE_COLUMNS, overview

    store = SQLiteStore(tmp_path / "big.sqlite")
    computes = [f"cmp{i:03d}" for i in range(MAX_NODE_COLUMNS + 10)]
    checks = [member_check("nova-compute", h, Status.CRITICAL if h == "cmp007" else Status.OK)
              for h in computes]
    checks += [member_check("nova-conductor", f"ctl{i}", Status.OK) for i in range(3)]
    store.write(Collection(checks=tuple(checks)))
    view = overview(Context(store, load_catalog(), time.time()))
    store.close()
    assert view.columns == ["endpoint", "ctl0", "ctl1", "ctl2", COMPUTE_COLUMN]
    compute = next(r for r in view.rows if r.name == "nova-compute")
    folded = compute.cells[COMPUTE_COLUMN]
    assert folded.status == "CRITICAL" and folded.counts == {"OK": len(computes) - 1,
                                                             "CRITICAL": 1}
    assert view.rows[0].name == "nova-compute"  # the worst row first
    assert view.problems[0].hosts == ["cmp007"]


# ------------------------------------------------- what schemathesis found (test_api_schema)
def test_a_wrong_method_is_a_405_that_says_which_methods_are(store: SQLiteStore) -> None:
    async def go() -> tuple[int, str, Any]:
        app = make_app(store, load_catalog(), clock=lambda: NOW, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.request("TRACE", "/api/v1/health")
            return response.status, response.headers.get("Allow", ""), await response.json()
    status, allow, body = asyncio.run(go())
    assert (status, body["error"]["status"]) == (405, 405)
    assert "GET" in allow.split(",")  # RFC 9110: a 405 carries Allow


def _parameter(spec: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in spec["paths"][path]["get"]["parameters"]
                                 if p["name"] == name)
    return found


def test_parameters_document_what_is_accepted(store: SQLiteStore) -> None:
    spec = get_json(store, "/api/v1/openapi.json")
    # label matchers are JSON text: the document says so with the parameter's content
    labels = _parameter(spec, "/api/v1/samples", "labels")
    assert "schema" not in labels
    assert labels["content"]["application/json"]["schema"] == {
        "type": "object", "additionalProperties": {"type": "string"}}
    assert get_json(store, "/api/v1/checks?labels=")["total"] == len(  # empty: no matcher
        get_json(store, "/api/v1/checks")["items"])
    # statuses and severities: the pattern admits exactly the names, in any case
    for path, name, good, bad in (
            ("/api/v1/checks", "status", ["critical", "OK,Warning", " CRITICAL , unknown ", ""],
             ["bogus", "OK;WARNING", "OKAY"]),
            ("/api/v1/events", "severity", ["error", "AUDIT", ""], ["ERR", "error,info"])):
        pattern = re.compile(_parameter(spec, path, name)["schema"]["pattern"])
        for value in good:
            assert pattern.search(value), (name, value)
            assert get_json(store, f"{path}?{name}={value}")["total"] >= 0
        for value in bad:
            assert not pattern.search(value), (name, value)
            assert get_json(store, f"{path}?{name}={value}", 400)["error"][
                "message"].startswith(f"{name}:")


def test_a_time_range_parameter_documents_what_it_accepts(store: SQLiteStore) -> None:
    spec = get_json(store, "/api/v1/openapi.json")
    pattern = re.compile(_parameter(spec, "/api/v1/nodes/{host}", "range")["schema"]["pattern"])
    for good in ("15m", "6h", "7d", "2w", "010h"):
        assert pattern.search(good) and range_seconds(good) > 0
    for bad in ("0h", "6", "h", "6y", "forever", "\u0663h"):  # an Arabic-Indic 3 too
        assert not pattern.search(bad)
        with pytest.raises(ValueError):
            range_seconds(bad)
    assert get_json(store, "/api/v1/nodes/cmp2?range=forever", 400)["error"][
        "message"].startswith("range:")


def test_events_with_only_an_end_are_the_hour_before_it(store: SQLiteStore) -> None:
    # was: start defaulted to an hour before now, so an end earlier than that was a 400
    before = get_json(store, f"/api/v1/events?end={NOW - 15}")["items"]
    assert [e["request_id"] for e in before] == ["req-2"]
    assert get_json(store, f"/api/v1/events?end={NOW - 7200}")["items"] == []
