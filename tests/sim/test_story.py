"""The demo's story: a schedule of faults, played over the real simulated cloud.

The storyteller runs here with a clock that jumps to each wait's end, so a cycle of
minutes plays in a moment, on a real :class:`SimulatedCloud`: what each act injects is
checked in the cloud's ground truth and logs, not in a stand-in.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from stackwatch.errors import SimulatorError
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.story import (
    CALM_S,
    INTERVAL_S,
    STORM_SOURCE,
    Act,
    Action,
    Playing,
    Story,
    StoryState,
    Storyteller,
    Upcoming,
    demo_story,
    first_compute_host,
    story_line,
)


class JumpingClock:
    """A clock that jumps to the end of each wait; the story stops at ``end``.

    ``look`` is called with the time at the start of each wait, after the cue before it
    was played: what the story did is seen there.
    """

    def __init__(self, end: float, look: Callable[[float], None] | None = None) -> None:
        self.t = 0.0
        self.end = end
        self.look = look

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        if self.look is not None:
            self.look(self.t)
        if self.t + seconds >= self.end:
            self.t = self.end
            stop.set()
            return True
        self.t += seconds
        return stop.is_set()


def played(teller: Storyteller) -> list[tuple[float, str, str, bool]]:
    return [(p.offset, str(p.action), p.act.scenario, p.ok) for p in teller.state().history]


def stuck_volumes(cloud: SimulatedCloud) -> int:
    return sum(1 for v in cloud.state.volumes if v.status == "deleting")


def silent_hosts(cloud: SimulatedCloud) -> set[str]:
    return {s.host for s in cloud.state.compute_services if s.id in cloud.state.silent_services}


def storm_lines(cloud: SimulatedCloud) -> int:
    access = cloud.log_dir / "apache2" / "keystone_access.log"
    return sum(1 for line in access.read_text().splitlines()
               if line.startswith(f"{STORM_SOURCE} ") and '" 401 ' in line)


# ------------------------------------------------------------------ the schedule


@pytest.mark.unit
@pytest.mark.parametrize(("acts", "cycle", "error"), [
    ((), 60, "at least one act"),
    ((Act("x", "compute-down", 0, 10),), 0, "cycle must be > 0"),
    ((Act("x", "no-such-fault", 0, 10),), 60, "unknown scenario 'no-such-fault'"),
    ((Act("x", "compute-down", 0, 10, (("colour", "red"),)),), 60,
     "scenario compute-down has no parameter colour"),
    ((Act("x", "compute-down", 55, 10),), 60, "does not fit in the 60 s cycle"),
    ((Act("x", "compute-down", -1, 10),), 60, "does not fit"),
    ((Act("x", "compute-down", 0, 0),), 60, "does not fit"),
    ((Act("x", "compute-down", 0, 20), Act("y", "compute-down", 10, 20)), 60,
     "acts 'x' and 'y' both hold compute-down at once"),
])
def test_a_story_that_cannot_be_played_is_refused_with_the_reason(
        acts: tuple[Act, ...], cycle: float, error: str) -> None:
    with pytest.raises(SimulatorError, match=error):
        Story(acts, cycle)


@pytest.mark.unit
def test_cues_come_in_time_order_with_a_clear_before_an_inject_at_the_same_time() -> None:
    story = Story((Act("b", "volume-stuck-deleting", 20, 10),
                   Act("a", "compute-down", 10, 10),
                   Act("c", "compute-down", 30, 5)), 40)
    assert [(c.offset, str(c.action), c.act.title) for c in story.cues()] == [
        (10, "inject", "a"), (20, "clear", "a"), (20, "inject", "b"),
        (30, "clear", "b"), (30, "inject", "c"), (35, "clear", "c")]


@pytest.mark.unit
@pytest.mark.parametrize("speed", [1.0, 6.0])
def test_the_demo_story_gives_each_fault_time_to_be_seen_and_to_clear(speed: float) -> None:
    """A calm first minute, each fault held 3+ collections, 2+ collections between a
    clear and the next fault, the cycle a few minutes: at any speed, counted in the
    demo's collections (its interval is divided by the speed too)."""
    story = demo_story("compute-0002", speed)
    every = INTERVAL_S / speed
    acts = sorted(story.acts, key=lambda a: a.at)
    assert [a.scenario for a in acts] == [
        "compute-down", "auth-401-storm", "volume-stuck-deleting"]
    assert dict(acts[0].params) == {"host": "compute-0002"}
    assert acts[0].at == pytest.approx(CALM_S / speed)
    assert all(a.hold >= 3 * every for a in acts)
    gaps = [later.at - earlier.until for earlier, later in itertools.pairwise(acts)]
    gaps.append(story.cycle - acts[-1].until + acts[0].at)  # to the next cycle's first
    assert min(gaps) >= 2 * every
    assert 3 * 60 <= story.cycle * speed <= 10 * 60
    # the storm's burst lies within the brute-force window the demo runs with (one act)
    assert float(dict(acts[1].params)["seconds"]) < acts[1].hold
    assert story.summary() == (
        "a compute node dies (1:00-2:00), keystone sees a password storm (2:40-3:40), "
        "a volume gets stuck deleting (4:20-5:20); again every 6:00" if speed == 1 else
        "a compute node dies (0:10-0:20), keystone sees a password storm (0:26.7-0:36.7), "
        "a volume gets stuck deleting (0:43.3-0:53.3); again every 1:00")


@pytest.mark.unit
def test_the_story_line_says_what_is_on_and_what_comes_next() -> None:
    act = Act("a compute node dies", "compute-down", 60, 60)
    at = time.mktime((2026, 5, 1, 12, 1, 0, 0, 0, -1))
    state = StoryState(True, at - 60, 1, 360, (Playing(act, at, at + 60, "down"),),
                       Upcoming(act, Action.CLEAR, at + 60), 1, 0, 2, ())
    assert story_line(state) == ("story: now a compute node dies since 12:01:00; "
                                 "next end of: a compute node dies at 12:02:00; "
                                 "2 failed (see the log)")
    calm = StoryState(True, at, 1, 360, (), Upcoming(act, Action.INJECT, at + 60), 0, 0, 0, ())
    assert story_line(calm) == "story: now calm; next a compute node dies at 12:02:00"


# ------------------------------------------------------------------ played on the cloud

@pytest.mark.integration
def test_the_demo_story_injects_and_clears_each_fault_at_its_time_and_repeats(
        cloud: SimulatedCloud) -> None:
    host = first_compute_host(cloud)
    assert host == sorted(s.host for s in cloud.state.compute_services
                          if s.binary == "nova-compute")[0]
    story = demo_story(host)
    seen: dict[float, tuple[set[str], int, int]] = {}
    storms_before = storm_lines(cloud)

    def look(t: float) -> None:
        cloud.flush()
        seen[t] = (silent_hosts(cloud), stuck_volumes(cloud), storm_lines(cloud))

    end = 2 * story.cycle + CALM_S + 1  # two cycles and the third's first inject
    teller = Storyteller(story, cloud, clock=JumpingClock(end, look))
    teller.run()

    cycle = story.cycle
    expected = []
    for base in (0.0, cycle):
        expected += [(base + 60, "inject", "compute-down", True),
                     (base + 120, "clear", "compute-down", True),
                     (base + 160, "inject", "auth-401-storm", True),
                     (base + 220, "clear", "auth-401-storm", True),
                     (base + 260, "inject", "volume-stuck-deleting", True),
                     (base + 320, "clear", "volume-stuck-deleting", True)]
    expected += [(2 * cycle + 60, "inject", "compute-down", True),
                 (end, "clear", "compute-down", True)]  # the stop clears what is on
    assert played(teller) == expected
    # what the cloud showed after each cue
    assert seen[60][0] == {host} and seen[120][0] == set()
    assert seen[0][1] == 0 and seen[260][1] == 1 and seen[320][1] == 0
    assert seen[160][2] - seen[120][2] == 500 and seen[160][2] > storms_before
    assert seen[cycle + 60][0] == {host} and seen[cycle + 260][1] == 1
    assert silent_hosts(cloud) == set() and stuck_volumes(cloud) == 0
    state = teller.state()
    assert not state.running and state.current == () and state.next is None
    assert (state.injected, state.cleared, state.failed) == (7, 7, 0)
    assert state.cycle == 3


@pytest.mark.integration
def test_the_state_tells_what_is_injected_since_when_and_what_comes_next(
        cloud: SimulatedCloud) -> None:
    story = Story((Act("a volume gets stuck", "volume-stuck-deleting", 10, 20),), 60)
    states: dict[float, StoryState] = {}
    teller = Storyteller(story, cloud, clock=JumpingClock(
        45, lambda t: states.setdefault(t, teller.state())))
    teller.run()
    start = states[0].started_at
    assert start is not None
    first, held, after = states[0], states[10], states[30]
    assert first.current == () and first.next is not None
    assert (first.next.act.title, first.next.action, first.next.at) == (
        "a volume gets stuck", Action.INJECT, start + 10)
    [on] = held.current
    assert (on.since, on.until) == (start + 10, start + 30)
    assert "1 volume(s) stuck in 'deleting'" in on.said
    assert held.next is not None and (held.next.action, held.next.at) == (
        Action.CLEAR, start + 30)
    assert after.current == () and after.next is not None
    assert after.next.at == start + 70 and after.cycle == 2  # the next cycle's inject


@pytest.mark.integration
def test_a_failing_inject_is_counted_and_the_story_goes_on(
        cloud: SimulatedCloud, caplog: pytest.LogCaptureFixture) -> None:
    story = Story((Act("a node that is not there dies", "compute-down", 5, 10,
                       (("host", "compute-9999"),)),
                   Act("a volume gets stuck", "volume-stuck-deleting", 20, 10)), 40)
    seen: dict[float, int] = {}

    def look(t: float) -> None:
        cloud.flush()
        seen[t] = stuck_volumes(cloud)

    teller = Storyteller(story, cloud, clock=JumpingClock(39, look))
    with caplog.at_level("INFO", logger="stackwatch.sim.story"):
        teller.run()
    assert played(teller) == [(5, "inject", "compute-down", False),
                              (20, "inject", "volume-stuck-deleting", True),
                              (30, "clear", "volume-stuck-deleting", True)]
    assert seen[20] == 1 and seen[30] == 0
    failed = teller.state().history[0]
    assert failed.message == "SimulatorError: no nova-compute on host 'compute-9999'"
    assert teller.state().failed == 1 and teller.state().injected == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["story: inject compute-down host=compute-9999 (a node that is not "
                        "there dies) failed: no nova-compute on host 'compute-9999'; the "
                        "story goes on"]
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert sum(m.startswith("story: inject volume-stuck-deleting (a volume gets stuck): 1 ")
               for m in infos) == 1
    assert sum(m.startswith("story: clear volume-stuck-deleting (a volume gets stuck): ")
               for m in infos) == 1


@pytest.mark.integration
def test_stop_ends_a_wait_at_once_and_clears_what_the_story_injected(
        cloud: SimulatedCloud) -> None:
    host = first_compute_host(cloud)
    story = Story((Act("a compute node dies", "compute-down", 0, 600,
                       (("host", host),)),), 1200)
    teller = Storyteller(story, cloud).start()  # the real clock
    deadline = time.monotonic() + 10
    while not teller.state().current:
        assert time.monotonic() < deadline, "the act was not injected"
        time.sleep(0.02)
    assert silent_hosts(cloud) == {host}
    assert cloud.state.compute_service(host, "nova-compute").updated_at < \
        cloud.state.now() - timedelta(minutes=4)
    started = time.monotonic()
    teller.stop()
    assert time.monotonic() - started < 5  # not the ten minutes left of the act
    assert silent_hosts(cloud) == set() and not teller.state().running
    assert [(str(p.action), p.ok) for p in teller.state().history] == [
        ("inject", True), ("clear", True)]
