"""The trends page, its JSON twin and the API's trends and reports, over the known
history."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from review.history import HOUR, NOVA_500_PER_HOUR, History, write_history
from stackwatch.catalog.loader import load_catalog
from stackwatch.store.log_history import HourlyRequests
from stackwatch.store.opening import open_store
from stackwatch.web.app import make_app

pytestmark = pytest.mark.unit


def _get(history: History, *paths: str) -> list[tuple[int, str]]:
    store = open_store(history.config, create=False)

    async def go() -> list[tuple[int, str]]:
        backfill = [HourlyRequests(history.t0 - 5 * HOUR, "keystone", "", "", 42, None)]
        app = make_app(store, load_catalog(), clock=lambda: history.now, max_age=600,
                       extras={"log_backfill": lambda: backfill})
        async with TestClient(TestServer(app)) as client:
            out = []
            for path in paths:
                response = await client.get(path)
                out.append((response.status, await response.text()))
            return out
    try:
        return asyncio.run(go())
    finally:
        store.close()


def test_trends_page_and_api(tmp_path: Path) -> None:
    history = write_history(tmp_path, time.time() // HOUR * HOUR)
    end = int(history.now)
    (page, twin, api, report, bad) = _get(
        history, "/trends?range=14d", "/trends.json?range=14d", "/api/v1/trends?range=14d",
        f"/api/v1/reports/weekly?end={end}", "/api/v1/reports/yearly")
    assert page[0] == 200, page[1][:2000]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[1]))
    assert "When capacity runs out" in text and "Free vCPU" in text
    # the cloud's row: free now, per day, R², the date (2 hosts, 2 vCPU an hour each)
    assert re.search(r"Free vCPU \(cloud\) \d+ -96 1\.00 \d{4}-\d\d-\d\d \d\d:\d\d", text)
    for key in ("requests", "instances", "flavors", "volumes", "free_vcpu"):
        assert f'id="trend-{key}"' in page[1]
    assert page[1].count("<svg") >= 5
    assert twin[0] == api[0] == 200
    assert json.loads(twin[1])["charts"] == json.loads(api[1])["charts"]
    charts = {c["key"]: c for c in json.loads(api[1])["charts"]}
    old = {ln["labels"]["service"]: ln for ln in charts["requests"]["lines"]}["keystone"]
    assert [(p["t"], p["v"]) for p in old["points"]] == [(history.t0 - 4.5 * HOUR, 42)]
    free = charts["free_vcpu"]
    assert free["lines"][0]["forecast"]["date"] == pytest.approx(history.runs_out(), abs=1)
    assert report[0] == 200
    data = json.loads(report[1])
    assert data["kind"] == "weekly" and data["end"] == end
    assert data["api_errors"][0]["count"] == pytest.approx(NOVA_500_PER_HOUR * 7 * 24)
    assert data["failed_servers"][0]["name"] == "web-7"
    assert bad[0] == 400
    assert re.search(r'<nav.*href="/trends"', page[1], re.S)  # in the navigation
