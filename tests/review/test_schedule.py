"""The server's scheduled reports: each kind once its period is over, once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from review.history import HOUR, write_history
from stackwatch.catalog.loader import default_catalog
from stackwatch.config import parse_config
from stackwatch.query.context import Context
from stackwatch.review.report import period_end, period_start
from stackwatch.review.schedule import due_reports
from stackwatch.store.opening import open_store

pytestmark = pytest.mark.unit


def test_periods() -> None:
    # 2026-03-04 (a Wednesday) 15:20 UTC, built here rather than taken from the clock
    import calendar

    now = calendar.timegm((2026, 3, 4, 15, 20, 0))
    day = calendar.timegm((2026, 3, 4, 0, 0, 0))
    assert period_end("daily", now) == day
    assert period_end("weekly", now) == calendar.timegm((2026, 3, 2, 0, 0, 0))  # Monday
    assert period_end("monthly", now) == calendar.timegm((2026, 3, 1, 0, 0, 0))
    assert period_start("monthly", period_end("monthly", now)) == calendar.timegm(
        (2026, 2, 1, 0, 0, 0))  # February: 28 days
    assert period_start("weekly", period_end("weekly", now)) == calendar.timegm(
        (2026, 2, 23, 0, 0, 0))
    assert period_start("daily", day) == day - 86400


def test_each_report_is_written_once_its_period_is_over(tmp_path: Path) -> None:
    now = time.time() // HOUR * HOUR
    history = write_history(tmp_path, now)
    config = parse_config({"clouds": [{"name": "c"}],
                           "store": {"path": str(history.config.path)},
                           "reports": {"schedule": True, "directory": str(tmp_path / "r"),
                                       "kinds": ["daily", "weekly"]}})
    store = open_store(history.config, create=False)
    try:
        written = due_reports(config, lambda at: Context(store, default_catalog(), now=at), now)
        again = due_reports(config, lambda at: Context(store, default_catalog(), now=at),
                            now + 60)
    finally:
        store.close()
    day = time.strftime("%Y-%m-%d", time.gmtime(period_end("daily", now) - 86400))
    assert sorted(p.name for p in written if p.name.startswith("daily")) == [
        f"daily-{day}.html", f"daily-{day}.json"]
    assert len(written) == 4 and again == []
    data = json.loads((tmp_path / "r" / f"daily-{day}.json").read_text())
    assert data["kind"] == "daily" and data["end"] == period_end("daily", now)
    assert "<h2 id=\"capacity-h\">" in (tmp_path / "r" / f"daily-{day}.html").read_text()


def test_the_server_writes_the_reports_it_is_due(tmp_path: Path) -> None:
    from stackwatch.server import Monitor

    now = time.time() // HOUR * HOUR
    history = write_history(tmp_path, now)
    config = parse_config({"clouds": [{"name": "c"}],
                           "store": {"path": str(history.config.path)},
                           "reports": {"schedule": True, "directory": str(tmp_path / "r"),
                                       "kinds": ["daily"], "formats": ["text"]}})
    day = time.strftime("%Y-%m-%d", time.gmtime(period_end("daily", time.time()) - 86400))
    report = tmp_path / "r" / f"daily-{day}.txt"
    with Monitor(config, [], listen=("127.0.0.1", 0)):
        deadline = time.monotonic() + 20
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert report.exists()
    assert report.read_text().startswith("stackwatch daily report:")
