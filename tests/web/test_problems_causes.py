"""Where problems are listed — the overview page, ``/api/v1/health`` and
``stackwatch status`` — the cause comes first and its consequences follow it, each
saying "because of ...", with no alarm defined."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import click
import pytest
from aiohttp.test_utils import TestClient, TestServer

from stackwatch.catalog.loader import load_catalog
from stackwatch.commands import render_status
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status, make_labels
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.app import make_app

pytestmark = pytest.mark.unit

CATALOG = load_catalog()


def nova(binary: str, host: str, status: Status) -> CheckResult:
    return CheckResult("nova.service", status, f"{binary} on {host} is "
                       f"{'up' if status is Status.OK else 'down'}",
                       make_labels(binary=binary, host=host, region="RegionOne"),
                       timestamp=time.time())


def endpoint(service_type: str, status: Status) -> CheckResult:
    return CheckResult("api.endpoint", status, f"{service_type} answers",
                       make_labels(service_type=service_type, service=service_type,
                                   region="RegionOne"), timestamp=time.time())


def checks() -> tuple[CheckResult, ...]:
    """The conductor killed, both computes down since; the APIs answer; one scheduler up.
    Stamped when called: checks older than the staleness limit are UNKNOWN."""
    return (nova("nova-conductor", "ctl1", Status.CRITICAL),
            nova("nova-compute", "cmp1", Status.CRITICAL),
            nova("nova-compute", "cmp2", Status.CRITICAL),
            nova("nova-scheduler", "ctl1", Status.OK),
            endpoint("compute", Status.OK), endpoint("identity", Status.OK))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.sqlite")
    s.write(Collection(checks=checks()), source="api.compute")
    yield s
    s.close()


def fetch(store: SQLiteStore, path: str) -> str:
    async def go() -> str:
        app = make_app(store, CATALOG, clock=time.time, max_age=300)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path)
            assert response.status == 200
            return await response.text()

    return asyncio.run(go())


def test_health_api_lists_the_cause_first(store: SQLiteStore) -> None:
    problems = json.loads(fetch(store, "/api/v1/health"))["problems"]
    assert [(p["key"], p["cause"]) for p in problems] == [
        ("service:nova-conductor", None),
        ("service:nova-compute", "service:nova-conductor")]
    assert problems[1]["because"] == ("because of nova-conductor (ctl1) down: nova-compute "
                                      "needs nova-conductor")
    assert problems[1]["hosts"] == ["cmp1", "cmp2"]


def test_overview_indents_the_consequence(store: SQLiteStore) -> None:
    html = fetch(store, "/")
    listed = html[html.index('<ol class="problems"'):html.index("</ol>")]
    items = listed.split("<li ")[1:]
    assert len(items) == 2
    assert "nova-conductor" in items[0] and "consequence" not in items[0]
    assert 'consequence"' in items[1] and "nova-compute" in items[1]
    assert "because of nova-conductor" in unescape(items[1])


def test_status_prints_causes_first() -> None:
    now = checks()
    lines = [click.unstyle(line) for line in
             render_status(evaluate(CATALOG, now), list(now), catalog=CATALOG)]
    start = lines.index("problems, causes first:")
    cause, consequence = lines[start + 1:start + 3]
    assert cause.startswith("  * CRITICAL nova-conductor on ctl1:")
    assert consequence.startswith("      - CRITICAL nova-compute on cmp1, cmp2:")
    assert consequence.endswith("-- because of nova-conductor (ctl1) down: nova-compute "
                                "needs nova-conductor")
    # nothing explained, no section: the service lines say it all
    alone = (nova("nova-compute", "cmp1", Status.CRITICAL),)
    assert "problems, causes first:" not in render_status(
        evaluate(CATALOG, alone), list(alone), catalog=CATALOG)
