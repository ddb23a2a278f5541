"""From the overview to the cause, with real clicks and keys: a compute node dies in the
demo's cloud; its problem links to the service, whose page opens on the failing member
with its reason; the map's cell and the node page lead to the same member."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from .conftest import Tab
from .demo import INTERVAL_S, Demo

pytestmark = pytest.mark.browser


def _service(demo: Demo, name: str) -> dict[str, object]:
    found: dict[str, object] = next(s for s in demo.get("/api/v1/health")["health"]["services"]
                                    if s["name"] == name)
    return found


@pytest.fixture(scope="module")
def dead_compute(demo: Demo) -> Iterator[str]:
    """A compute node down (nova-compute stops heartbeating), seen by the monitor."""
    members: list[dict[str, str]] = _service(demo, "nova-compute")["members"]  # type: ignore[assignment]
    hosts = sorted(m["host"] for m in members)
    host = hosts[-1]
    demo.inject("compute-down", host=host)
    try:
        demo.wait_for(f"nova-compute on {host} down", lambda: any(
            m["host"] == host and m["status"] == "CRITICAL"
            for m in _service(demo, "nova-compute")["members"]),  # type: ignore[attr-defined]
            timeout=3 * INTERVAL_S)
        yield host
    finally:
        demo.clear("compute-down")
        demo.wait_for("nova-compute OK again",
                      lambda: _service(demo, "nova-compute")["status"] == "OK",
                      timeout=3 * INTERVAL_S)


def test_problem_to_service_to_failing_member(tab: Tab, dead_compute: str) -> None:
    host = dead_compute
    tab.open("/overview")
    page = tab.page
    problem = page.locator("#problems li", has_text="nova-compute")
    expect(problem).to_contain_text(f"on {host}")
    expect(problem.locator(".badge")).to_have_text("WARNING")  # one of several is down
    problem.get_by_role("link", name="nova-compute").click()
    page.wait_for_url(f"{tab.base}/services/nova-compute")
    expect(page.locator("main h1")).to_contain_text("nova-compute WARNING")
    member = page.locator(f"details#m-{host}")
    expect(member).to_have_attribute("open", "")  # a failing member is shown open
    expect(member.locator("summary")).to_contain_text(f"CRITICAL {host}")
    expect(member.locator("tbody")).to_contain_text(f"nova-compute on {host} is down")
    expect(page.locator("details.member[open]")).to_have_count(1)  # the others are OK
    tab.shot("clickthrough-service")
    tab.assert_clean("problem -> service")


def test_map_cell_by_keyboard_then_node_page(tab: Tab, dead_compute: str) -> None:
    host = dead_compute
    tab.open("/overview")
    page = tab.page
    cell = page.locator(f"#map a[href='/services/nova-compute#m-{host}']")
    expect(cell.locator("xpath=..")).to_have_class(re.compile(r"\bst-critical\b"))
    expect(cell).to_have_attribute("title", re.compile(f"CRITICAL .* {host} is down"))
    cell.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{tab.base}/services/nova-compute#m-{host}")
    expect(page.locator(f"details#m-{host}:target")).to_contain_text("is down")
    # the map's column header leads to the node, which names the same member and reason
    tab.open("/overview")
    page.locator(f"#map thead a[href='/nodes/{host}']").click()
    page.wait_for_url(f"{tab.base}/nodes/{host}")
    row = page.locator("#members tr", has_text="nova-compute")
    expect(row.locator(".badge")).to_have_text("CRITICAL")
    expect(row).to_contain_text(f"nova-compute on {host} is down")
    expect(page.locator("main h1")).to_contain_text(f"{host} CRITICAL")
    row.get_by_role("link", name="nova-compute").click()
    page.wait_for_url(f"{tab.base}/services/nova-compute#m-{host}")
    tab.shot("clickthrough-node")
    tab.assert_clean("map -> service -> node")
