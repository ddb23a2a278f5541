"""Fixtures of the browser tests: ``stackwatch demo`` run as a user runs it, and Chromium.

- ``demo`` (session): ``stackwatch demo`` in a subprocess on a free port, its work
  directory in the session's tmp dir (:mod:`.demo`); stopped after the session.
- ``browser`` (session): Debian's Chromium (``/usr/bin/chromium``; a browser is never
  downloaded), headless, driven by Playwright.
- ``tab``: a fresh browser context and page on the demo (:class:`Tab`): console errors,
  uncaught exceptions, failed requests and 4xx/5xx answers are its ``problems``; every
  response the browser saw (headers and body) is kept in ``responses`` for the secrets
  grep (test_secrets), which runs last.
- ``artefacts``: where screenshots go, ``$STACKWATCH_ARTEFACTS`` or ``tests/artefacts``
  (ignored by git), printed at the end of the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from .demo import Demo, run_demo

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (scripts/test installs it)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}  # a laptop screen
_ARTEFACTS: list[Path] = []


@dataclass(frozen=True)
class Seen:
    """One response the browser got: where from, its headers and body."""

    url: str
    status: int
    headers: str
    body: bytes


@dataclass
class Responses:
    """Every response the browser got during the session."""

    seen: list[Seen] = field(default_factory=list)

    def record(self, response: Response) -> None:
        try:
            body = response.body()
        except Exception:  # a redirect's or an aborted request's body is not kept
            body = b""
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers_array())
        self.seen.append(Seen(response.url, response.status, headers, body))


def slug(path: str) -> str:
    """A file name for a page's path: ``/services/nova-api`` -> ``services-nova-api``."""
    return re.sub(r"[^A-Za-z0-9_.@-]+", "-", path).strip("-") or "root"


class Tab:
    """A page on the demo with what went wrong on it recorded (see the module docstring)."""

    def __init__(self, page: Page, base: str, artefacts: Path) -> None:
        self.page = page
        self.base = base
        self.artefacts = artefacts
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._answered)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def _failed(self, request: Request) -> None:
        # what a navigation cancels (the page's refresh, the icon the old page was still
        # loading) is not a failure of either page
        if request.failure == "net::ERR_ABORTED" and (
                request.resource_type == "fetch" or request.url.endswith("/favicon.svg")):
            return
        self.problems.append(f"request failed: {request.url}: {request.failure}")

    def _answered(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def open(self, path: str, statuses: tuple[int, ...] = (200,)) -> Response:
        """Load ``path`` of the demo; its answer must have one of ``statuses``."""
        self.problems.clear()
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None, path
        assert response.status in statuses, f"{path}: {response.status}"
        return response

    def shot(self, name: str) -> Path:
        """A full-page screenshot kept among the artefacts."""
        path = self.artefacts / f"{slug(name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self, what: str) -> None:
        """Nothing went wrong since the last :meth:`open`."""
        assert not self.problems, f"{what}: {self.problems}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The secrets grep runs last of the browser tests, after every page the others made
    the browser see (and before any test of another folder: the browser, the demo and
    Playwright's event loop are this package's and end with it)."""
    last = [i for i in items if "browser/test_secrets.py" in i.nodeid]
    if not last:
        return
    rest = [i for i in items if i not in last]
    ours = [n for n, i in enumerate(rest) if "tests/browser/" in i.nodeid]
    at = ours[-1] + 1 if ours else len(rest)
    items[:] = rest[:at] + last + rest[at:]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _ARTEFACTS:
        terminalreporter.write_line(f"browser test screenshots: {path}")


@pytest.fixture(scope="session")
def artefacts() -> Path:
    root = os.environ.get("STACKWATCH_ARTEFACTS")
    path = (Path(root) if root else Path(__file__).parents[1] / "artefacts") / "browser"
    path.mkdir(parents=True, exist_ok=True)
    _ARTEFACTS.append(path.resolve())
    return path


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo the browser tests look at (small cloud, 10 s interval), calm: its faults
    are the tests' (test_story watches a demo of its own play its story)."""
    with run_demo(tmp_path_factory.mktemp("demo"), "--calm") as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="package")
def responses() -> Responses:
    return Responses()


@pytest.fixture
def tab(browser: Browser, demo: Demo, artefacts: Path, responses: Responses) -> Iterator[Tab]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.on("response", responses.record)
    page = context.new_page()
    yield Tab(page, demo.url, artefacts)
    context.close()
