"""A report's printable HTML page in Chromium: its five sections with the known history's
figures, nothing fetched from anywhere, and a PDF printed from it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route

from review.history import HOUR, NOVA_500_PER_HOUR, write_history
from stackwatch.catalog.loader import default_catalog
from stackwatch.query.context import Context
from stackwatch.review.report import build, html
from stackwatch.store.opening import open_alarm_store, open_store

from .conftest import VIEWPORT

pytestmark = pytest.mark.browser


def test_a_weekly_report_renders_and_prints(browser: Browser, tmp_path: Path,
                                            artefacts: Path) -> None:
    history = write_history(tmp_path, time.time() // HOUR * HOUR)
    store = open_store(history.config, create=False)
    states = open_alarm_store(history.config, create=False)
    try:
        report = build(Context(store, default_catalog(), now=history.now,
                               alarm_states=states), "weekly")
    finally:
        states.close()
        store.close()
    page_file = tmp_path / "weekly.html"
    page_file.write_text(html(report), encoding="utf-8")
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    fetched: list[str] = []

    def refuse(route: Route) -> None:
        fetched.append(route.request.url)
        route.abort()

    context.route("http*://**", refuse)
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(page_file.as_uri())
        headings = page.locator("h2").all_inner_texts()
        assert [h.split(" (")[0] for h in headings] == [
            "Failed servers", "Usage and quotas", "Capacity and its trend",
            "Alarms of the period", "Top API errors"]
        assert "NoValidHost" in page.locator("#failed").inner_text()
        capacity = page.locator("#capacity").inner_text()
        assert "Free vCPU" in capacity and "runs out" in capacity
        assert "nova_api_5xx" in page.locator("#alarms").inner_text()
        errors_row = page.locator("#api-errors tbody tr").first.inner_text()
        assert f"{NOVA_500_PER_HOUR * 7 * 24}" in errors_row and "500" in errors_row
        page.screenshot(path=str(artefacts / "report-weekly.png"), full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
        (artefacts / "report-weekly.pdf").write_bytes(pdf)
    finally:
        context.close()
    assert fetched == [] and errors == []
