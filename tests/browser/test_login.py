"""A read token in Chromium: made with ``stackwatch token create`` on the demo's store,
given to the login form, it opens a session the header names; the session's cookie is
not the token; the pages read; logging out ends it. The token goes to the secrets grep."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from stackwatch.tokens import digest
from stackwatch.web.auth import SESSION_COOKIE

from .conftest import Tab
from .demo import Demo

pytestmark = pytest.mark.browser


def _token(demo: Demo, name: str, role: str) -> str:
    made = subprocess.run(
        [sys.executable, "-c", "from stackwatch.cli import main; main()", "token", "create",
         "--name", name, "--role", role, "--store", str(demo.store)],
        capture_output=True, text=True, check=True, timeout=60)
    token = made.stdout.strip()
    assert token.startswith("sw_") and token not in made.stderr
    demo.made += [token, digest(token)]  # neither may show in any answer
    return token


def test_a_read_token_logs_in_reads_and_logs_out(tab: Tab, demo: Demo) -> None:
    token = _token(demo, "browser-reader", "read")
    page = tab.page
    tab.open("/login?next=/sources")
    page.get_by_label("Token").fill(token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{tab.base}/sources")
    who = page.locator("header form.logout")
    expect(who).to_contain_text("browser-reader")
    expect(who.locator("span")).to_have_attribute("title", "role read")
    [cookie] = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["value"] != token and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    nav = page.eval_on_selector_all("header nav a[href]",
                                    "els => els.map(e => e.getAttribute('href'))")
    for path in nav:
        tab.open(path)
        expect(page.locator("header form.logout")).to_contain_text("browser-reader")
        tab.assert_clean(path)
    who.get_by_role("button", name="log out").click()
    page.wait_for_url(f"{tab.base}/login")
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]


def test_a_wrong_token_is_refused_at_the_login_form(tab: Tab) -> None:
    page = tab.page
    tab.open("/login?next=/overview")
    page.get_by_label("Token").fill("sw_" + "x" * 43)
    with page.expect_response(f"{tab.base}/login") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("That token is invalid.")
    assert page.url.startswith(f"{tab.base}/login")
