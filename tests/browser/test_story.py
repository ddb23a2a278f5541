"""The demo's story seen in Chromium: each fault it injects is on the overview within two
collections and gone within two collections of its clear.

``stackwatch demo --story-speed`` :data:`SPEED` (every time of the story and the demo's
interval divided by it) plays one whole cycle while the overview, opened once, refreshes
itself in place (``r``, the refresh the page does every 10 s, asked for every
:data:`POLL_S`). What was injected and since when is read from the page too: its story
note ("a compute node dies since 23:41:07 UTC"). A screenshot of each fault is kept.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from stackwatch.sim.story import INTERVAL_S, STORM_SOURCE, demo_story

from .conftest import VIEWPORT, Tab
from .demo import Demo, run_demo

pytestmark = pytest.mark.browser

SPEED = 6.0  # collections every 1.7 s, each fault held 10 s, the cycle one minute
POLL_S = 0.5
EVERY = INTERVAL_S / SPEED
#: two collections, the second of which may take a moment on a loaded machine; the
#: story note's times are whole seconds; and the poll that sees it
WITHIN = 2 * EVERY + 1.0 + POLL_S
_SINCE = re.compile(r"since (\d\d):(\d\d):(\d\d) UTC")


@dataclass(frozen=True)
class Look:
    """One look at the overview: when, its story note, its verdict, its problems."""

    at: float
    story: str
    verdict: str
    pill: str  # the header's status
    problems: tuple[str, ...]


@pytest.fixture(scope="module")
def story_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("story"), "--story-speed", str(SPEED)) as running:
        yield running


def _look(tab: Tab) -> Look:
    page = tab.page
    with page.expect_response(lambda r: r.request.headers.get("x-stackwatch-partial") == "1"):
        page.keyboard.press("r")
    page.wait_for_timeout(50)  # the answer swapped in
    seen = page.evaluate("""(() => ({
        story: (document.querySelector('aside.story') || {}).innerText || '',
        verdict: (document.getElementById('verdict') || {}).innerText || '',
        pill: (document.getElementById('cloud-status') || {}).innerText || '',
        problems: [...document.querySelectorAll('#problems li')].map(li => li.innerText)}))()""")
    return Look(time.time(), seen["story"], seen["verdict"], seen["pill"],
                tuple(seen["problems"]))


def _since(text: str, title: str, seen_at: float) -> float:
    """The epoch time of "<title> since HH:MM:SS UTC" in the story note, seen at
    ``seen_at`` (the latest such time not after it)."""
    part = text.split(title, 1)[1]
    match = _SINCE.search(part)
    assert match, text
    day = time.gmtime(seen_at)
    at = calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, int(match[1]), int(match[2]),
                          int(match[3]), 0, 0, 0))
    return at - 86400 if at > seen_at + 1 else at


def test_each_fault_of_the_story_shows_within_two_collections_and_clears(
        browser: Browser, story_demo: Demo, artefacts: Path) -> None:
    members = next(s for s in story_demo.get("/api/v1/health")["health"]["services"]
                   if s["name"] == "nova-compute")["members"]
    host = sorted(m["host"] for m in members)[0]  # the story's: the first compute host
    story = demo_story(host, SPEED)
    shows: dict[str, Callable[[str], bool]] = {
        "compute-down": lambda p: p.startswith("WARNING") and "nova-compute" in p
        and f"down: {host}" in p,
        "auth-401-storm": lambda p: "logs.auth_bruteforce" in p and STORM_SOURCE in p,
        "volume-stuck-deleting": lambda p: "cinder.volumes_stuck" in p and "stuck" in p,
    }
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    tab = Tab(context.new_page(), story_demo.url, artefacts)
    try:
        tab.open("/overview")
        looks: list[Look] = []
        shot: set[str] = set()
        end = time.time() + story.cycle + WITHIN + 2
        while time.time() < end:
            looks.append(_look(tab))
            for act in story.acts:
                if act.scenario not in shot and any(shows[act.scenario](p)
                                                    for p in looks[-1].problems):
                    tab.shot(f"story-{act.scenario}")
                    shot.add(act.scenario)
            time.sleep(POLL_S)
        tab.assert_clean("the overview through a whole story")
    finally:
        context.close()

    assert looks[0].story.startswith("Demo: calm") and not looks[0].problems, looks[0]
    # the header's pill follows the verdict without a reload
    assert all(lk.pill == lk.verdict.split()[-1] for lk in looks), [
        lk for lk in looks if lk.pill != lk.verdict.split()[-1]][:3]
    for act in story.acts:
        on = [look for look in looks if act.title in look.story.split(" · next:")[0]]
        assert on, f"the story note never said {act.title!r}"
        injected = _since(on[0].story, act.title, on[0].at)
        cleared = injected + act.hold
        symptom = shows[act.scenario]
        before = [lk for lk in looks if lk.at < injected - 1]
        assert not any(symptom(p) for lk in before for p in lk.problems), act.title
        first = next((lk for lk in looks if lk.at >= injected
                      and any(symptom(p) for p in lk.problems)), None)
        assert first is not None and first.at - injected <= WITHIN, (
            f"{act.title}: not on the overview within {WITHIN:.1f} s of {injected:.0f}",
            first, [lk for lk in looks if injected <= lk.at <= injected + WITHIN])
        assert first.verdict.split()[-1] in ("WARNING", "CRITICAL"), first  # the cloud's
        after = [lk for lk in looks if lk.at >= cleared]
        gone = next((lk for lk in after if not any(symptom(p) for p in lk.problems)), None)
        assert gone is not None and gone.at - cleared <= WITHIN, (
            f"{act.title}: still on the overview {WITHIN:.1f} s after its clear",
            [lk for lk in after if lk.at <= cleared + WITHIN])
        # and it stays gone until the story comes back to it
        again = injected + story.cycle
        assert not any(symptom(p) for lk in looks if gone.at <= lk.at < again - 1
                       for p in lk.problems), act.title
        print(f"{act.title}: on the overview {first.at - injected:.1f} s after its "
              f"injection, gone {gone.at - cleared:.1f} s after its clear")
    assert shot == set(shows)
