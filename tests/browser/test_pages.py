"""Every page of the dashboard in Chromium: it renders with its content, without a console
error or a failed request; a screenshot of each is kept; the keyboard reaches everything.

The pages are found as a user finds them: the overview, the navigation, every service of
the catalog, every node, every page declared without a parameter, then every link on
those pages (one visit per path), so a page added on another branch is covered once it
is linked or declared, and a link to a page that does not exist fails here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.web.format import human_number
from stackwatch.web.pages.site import PAGES

from .conftest import Tab
from .demo import Demo

pytestmark = pytest.mark.browser

#: not pages of the dashboard: what links to them is checked elsewhere
_NOT_PAGES = re.compile(r"^/(static/|metrics$|api/)|\.json$")


def _links(tab: Tab) -> list[str]:
    """Paths of the same-origin links on the page (fragment left off)."""
    hrefs: list[str] = tab.page.eval_on_selector_all(
        "a[href]", "els => els.map(e => e.href)")
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if href.startswith(tab.base) and parts.path:
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _start(tab: Tab, demo: Demo) -> list[str]:
    tab.open("/overview")
    nav = tab.page.eval_on_selector_all("header nav a[href]",
                                        "els => els.map(e => e.getAttribute('href'))")
    declared = [p.path for p in PAGES if "{" not in p.path]
    services = [f"/services/{s.name}" for s in default_catalog().services]
    nodes = [f"/nodes/{n['host']}" for n in demo.get("/api/v1/health")["health"]["nodes"]]
    return ["/overview", *nav, *declared, *services, *nodes]


def _check_content(tab: Tab, path: str) -> None:
    """What every page has: a title, one heading that is not the error page's, a nav."""
    page = tab.page
    assert page.title().endswith("· stackwatch"), (path, page.title())
    heading = page.locator("main h1").first.inner_text().strip()
    assert heading and heading != "Cannot show this page", (path, heading)
    assert page.locator("header nav a[aria-current='page']").count() <= 1
    parts = path.split("?")[0].split("/")
    if len(parts) == 3 and parts[1] in ("services", "nodes"):  # one service, one node
        assert heading.split()[0] == parts[2], (path, heading)


def test_every_page_renders_without_errors(tab: Tab, demo: Demo) -> None:
    todo = _start(tab, demo)
    visited: dict[str, str] = {}  # path (no query) -> the URL visited
    untraced: list[str] = []
    shots = []
    while todo:
        url = todo.pop(0)
        path = url.split("?")[0]
        if path in visited or _NOT_PAGES.search(path):
            continue
        visited[path] = url
        if tab.open(url, (200, 404) if path.startswith("/trace/") else (200,)).status == 404:
            # a server the simulator made in ERROR has no log line, request or event: its
            # trace (linked from the compute page) says nothing carries it
            assert "nothing found for" in tab.page.locator("main").inner_text(), url
            untraced.append(path)
            continue
        tab.page.wait_for_load_state("networkidle")
        _check_content(tab, url)
        tab.assert_clean(url)
        shots.append(tab.shot(url))
        todo += _links(tab)
    health = demo.get("/api/v1/health")["health"]
    # every catalog service, every node and every declared page was seen, and more
    assert {f"/services/{s['name']}" for s in health["services"]} <= set(visited)
    assert {f"/nodes/{n['host']}" for n in health["nodes"]} <= set(visited)
    assert {p.path for p in PAGES if "{" not in p.path} <= set(visited)
    assert all(p.exists() and p.stat().st_size > 5000 for p in shots)
    print(f"{len(visited)} pages, screenshots in {shots[0].parent}; traces of nothing: "
          f"{len(untraced)}")


def test_overview_content_matches_the_api(tab: Tab, demo: Demo) -> None:
    tab.open("/overview")
    page = tab.page
    health = demo.get("/api/v1/health")["health"]
    watched = sorted(s["name"] for s in health["services"] if s["watched"])
    rows = sorted(page.locator("#map tbody th[scope=row]").all_inner_texts())
    assert rows == watched
    sources = sorted(s["source"] for s in demo.get("/api/v1/sources"))
    shown = page.locator("section[aria-labelledby=sources-h] tbody tr td:first-child")
    assert sorted(shown.all_inner_texts()) == sources
    # capacity at a glance: the vCPU meter says what placement holds
    vcpu = demo.get("/api/v1/samples?name=openstack_nova_vcpus_capacity")
    total = sum(s["value"] for s in vcpu)
    assert total > 0
    assert f"of {human_number(total)} " in page.locator(".gauge", has_text="vCPU").inner_text()
    tab.assert_clean("/overview")


def test_every_page_json_twin_and_api_list_answers_in_the_browser(tab: Tab, demo: Demo
                                                                   ) -> None:
    # the browser sees the JSON too (the secrets grep reads it); each parses and is 200
    spec = demo.get("/api/v1/openapi.json")
    plain = [path for path, ops in spec["paths"].items() if "get" in ops and "{" not in path
             and not any(p["required"] for p in ops["get"]["parameters"])]
    assert "/api/v1/health" in plain
    twins = [p.path + ".json" for p in PAGES if "{" not in p.path]
    for path in [*twins, *plain, "/api/v1/openapi.json", "/api/v1/docs", "/metrics"]:
        tab.open(path)
        text = tab.page.locator("body").inner_text()
        assert text.strip(), path
        tab.assert_clean(path)


def test_live_refresh_updates_main_in_place(tab: Tab) -> None:
    tab.open("/overview")
    page = tab.page
    page.evaluate("document.getElementById('verdict').dataset.marker = 'before'")
    with page.expect_response(lambda r: r.request.headers.get("x-stackwatch-partial") == "1"
                              ) as answer:
        page.keyboard.press("r")
    assert answer.value.status == 200
    page.wait_for_function("document.getElementById('verdict') && "
                           "!document.getElementById('verdict').dataset.marker")
    assert page.locator("#live").inner_text() == "live"
    assert page.locator("header").count() == 1 and page.locator("main h1").count() == 1
    tab.assert_clean("refresh")


def test_g_then_a_key_goes_to_each_page_and_slash_searches(tab: Tab) -> None:
    tab.open("/overview")
    page = tab.page
    keys = page.eval_on_selector_all(
        "header nav a[data-key]", "els => els.map(e => [e.dataset.key, e.getAttribute('href')])")
    assert len(keys) >= 2 and all(key for key, _ in keys)
    for key, href in keys:
        page.keyboard.press("g")
        page.keyboard.press(key)
        page.wait_for_url(tab.base + href)
        assert page.locator("header nav a[aria-current='page']").get_attribute("href") == href
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "trace-id"
    page.keyboard.type("gf")  # typing in the box is not a shortcut
    assert page.url == tab.base + keys[-1][1]
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "trace-id"
    tab.assert_clean("keyboard")


def _tab_through(tab: Tab) -> set[str]:
    """Press Tab until focus comes back to where it started; what it reached."""
    page = tab.page
    reached: set[str] = set()
    first = None
    for _ in range(2000):
        page.keyboard.press("Tab")
        here = page.evaluate("(() => { const e = document.activeElement;"
                             " return e && e.tagName === 'A' ? e.href + '|' + e.textContent"
                             " : e ? e.tagName + '#' + e.id : ''; })()")
        if here == first:
            return reached
        first = first or here
        reached.add(here)
    raise AssertionError("Tab never came back to the first element")


@pytest.mark.parametrize("kind", ["/overview", "service", "node", "/sources", "/checks",
                                  "nav"])
def test_tab_reaches_every_link(tab: Tab, demo: Demo, kind: str) -> None:
    health = demo.get("/api/v1/health")["health"]
    paths = {"service": [f"/services/{health['services'][0]['name']}"],
             "node": [f"/nodes/{health['nodes'][0]['host']}"]}
    if kind == "nav":
        tab.open("/overview")
        paths["nav"] = tab.page.eval_on_selector_all(
            "header nav a[href]", "els => els.map(e => e.getAttribute('href'))")
    for path in paths.get(kind, [kind]):
        tab.open(path)
        links = set(tab.page.eval_on_selector_all(
            "a[href]", "els => els.filter(e => e.getClientRects().length || "
                       "e.classList.contains('skip')).map(e => e.href + '|' + e.textContent)"))
        reached = _tab_through(tab)
        assert links and links <= reached, (path, links - reached)
        assert "INPUT#trace-id" in reached
        tab.assert_clean(path)
