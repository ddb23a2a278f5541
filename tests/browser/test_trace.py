"""An instance's error story in Chromium: a server of the demo's cloud goes to ERROR
(``servers-error``), an operator reads it through nova's API (openstacksdk, the demo's
clouds.yaml), then finds it from the dashboard's search box by its uuid: the trace page
tells its error story, and a request on it opens that request's trace."""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator

import pytest
from openstack.config import OpenStackConfig
from openstack.connection import Connection
from playwright.sync_api import expect

from stackwatch.sim.workdir import CLOUD_NAME
from stackwatch.web.pages.site import PAGES

from .conftest import Tab
from .demo import INTERVAL_S, Demo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(all(p.path != "/trace/{id}" for p in PAGES),
                       reason="no trace page on this branch yet (branch pages-logs)"),
    # openstacksdk warns of its own deprecations when it reads a clouds.yaml
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

FAULT = "internal error: process exited while connecting to monitor"  # servers-error's


@pytest.fixture(scope="module")
def failed_server(demo: Demo) -> Iterator[str]:
    """The uuid of a server the demo's cloud put in ERROR, once its trace is stored."""
    said = demo.inject("servers-error", count="1", message=FAULT)
    name = said.rsplit(": ", 1)[1]
    try:
        region = OpenStackConfig(config_files=[str(demo.workdir / "sim" / "clouds.yaml")]
                                 ).get_one(CLOUD_NAME)
        connection = Connection(config=region)
        try:
            [found] = [s for s in connection.compute.servers(all_projects=True, name=name)
                       if s.name == name]
            server = connection.compute.get_server(found.id)  # a request naming it
            assert server.status == "ERROR"
        finally:
            connection.close()

        def told() -> bool:  # its ERROR record and the request that read it
            try:
                trace = demo.get(f"/trace/{server.id}.json")
            except urllib.error.HTTPError:
                return False
            return bool(trace["errors"] and trace["requests"])
        demo.wait_for(f"the trace of {server.id}", told, timeout=3 * INTERVAL_S)
        yield str(server.id)
    finally:
        demo.clear("servers-error")


def test_the_search_box_opens_an_instance_error_story(tab: Tab, failed_server: str) -> None:
    page = tab.page
    tab.open("/overview")
    page.keyboard.press("/")
    page.keyboard.type(failed_server)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{tab.base}/trace/{failed_server}")
    expect(page.locator("main h1")).to_contain_text(failed_server)
    story = page.locator("#error-story li")
    expect(story.first).to_be_visible()
    expect(page.locator("#error-story")).to_contain_text(FAULT)
    assert page.locator("#timeline tbody tr.step").count() >= story.count()
    tab.shot("trace-instance")
    tab.assert_clean(f"/trace/{failed_server}")
    # a request in the story opens its own trace, which leads back to the instance
    request = page.locator("#timeline td.ids a[href^='/trace/req-']").first
    request_id = request.inner_text().strip()
    request.click()
    page.wait_for_url(f"{tab.base}/trace/{request_id}")
    expect(page.locator("main h1")).to_contain_text(request_id)
    expect(page.locator(f"#timeline a[href='/trace/{failed_server}']").first).to_be_visible()
    tab.shot("trace-request")
    tab.assert_clean(f"/trace/{request_id}")


def test_the_instance_page_tells_its_failed_action_and_fault(tab: Tab, demo: Demo,
                                                             failed_server: str) -> None:
    def read() -> bool:  # api.compute read the server's actions since it changed
        view = demo.get(f"/api/v1/instances/{failed_server}/timeline")
        return any(a["result"] == "error" for a in view["actions"]) and bool(view["faults"])
    demo.wait_for(f"the actions of {failed_server}", read, timeout=3 * INTERVAL_S)
    page = tab.page
    tab.open(f"/trace/{failed_server}")
    page.locator("#instance-link").click()
    page.wait_for_url(f"{tab.base}/instance/{failed_server}")
    expect(page.locator("main h1")).to_contain_text(failed_server)
    expect(page.locator("#actions tr.st-critical").first).to_contain_text("reboot")
    expect(page.locator("#timeline")).to_contain_text(FAULT)
    expect(page.locator("#timeline")).to_contain_text("fault")
    tab.shot("instance")
    tab.assert_clean(f"/instance/{failed_server}")
    # and back to the whole trace
    page.locator("#trace-link").click()
    page.wait_for_url(f"{tab.base}/trace/{failed_server}")
