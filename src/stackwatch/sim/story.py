"""The demo's story: faults that come and go on the simulated cloud on a schedule.

A :class:`Story` is data: acts, each a fault scenario of :mod:`stackwatch.sim.faults`
injected ``at`` seconds into a cycle, held ``hold`` seconds, then cleared; the cycle
repeats. A :class:`Storyteller` plays one in a thread over anything with the
simulated cloud's ``inject(name, **params)`` and ``clear(name)``
(:class:`~stackwatch.sim.cloud.SimulatedCloud`), and tells where it is
(:meth:`Storyteller.state`) for the dashboard. An inject or clear that fails is
logged with its reason and counted; the story goes on. Stopping clears what is
still injected.

:func:`demo_story`, what ``stackwatch demo`` plays (times at ``--story-speed 1``,
where the demo collects every 10 s)::

    0:00-1:00  calm: the overview all green
    1:00-2:00  a compute node dies         compute-down on the first compute host
    2:40-3:40  keystone sees a password    auth-401-storm: 500 failed logins from
               storm                       203.0.113.50 in keystone's (and HAProxy's) logs,
                                           over the 30 s before
    4:20-5:20  a volume gets stuck         volume-stuck-deleting: one volume in
               deleting                    'deleting' for two hours
    6:00       again

Each fault shows on the health overview within one collection (nova-compute WARNING
with its host down; ``logs.auth_bruteforce`` naming the address; the
``cinder.volumes_stuck`` check naming the volume) and is gone one collection after
its clear. The storm is a burst of failed logins written at once, spread over the
half minute before, which the brute-force check remembers for its window: the demo
runs with a window of :data:`HOLD_S` (``logs.bruteforce_window``), so the storm
leaves the overview as its act ends, as the others do. ``--story-speed N`` divides
every time here, the demo's intervals and its brute-force window by N.
"""

from __future__ import annotations

import collections
import enum
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from stackwatch.errors import SimulatorError, StackwatchError
from stackwatch.sim import faults

log = logging.getLogger(__name__)

INTERVAL_S = 10.0
"""How often ``stackwatch demo`` collects (``--story-speed`` divides it, as the story)."""
CALM_S = 60.0
"""The story's first minute: nothing injected, so the overview is seen all green first."""
HOLD_S = 60.0
"""How long each fault of the demo's story lasts: six 10 s collections, time to look and
click through; also the demo's brute-force window (see the module docstring)."""
GAP_S = 40.0
"""Between one fault's clear and the next fault: its recovery is seen on its own."""
STORM_SOURCE = "203.0.113.50"  # TEST-NET-3 (RFC 5737): never a real client


class FaultTarget(Protocol):
    """What a story plays on: the simulated cloud's fault interface."""

    def inject(self, name: str, /, **params: Any) -> str: ...

    def clear(self, name: str) -> str: ...


class Clock(Protocol):
    """Where a storyteller reads the time and how it waits (a test's clock jumps)."""

    def now(self) -> float:
        """Seconds on a clock that only goes forward."""
        ...

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to ``seconds``; True when ``stop`` is set."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, waiting on the stop event."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(seconds)


class Action(enum.StrEnum):
    INJECT = "inject"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Act:
    """One fault: scenario ``scenario`` injected ``at`` seconds into the cycle, cleared
    ``hold`` seconds later."""

    title: str       # what a first-time user is told: "a compute node dies"
    scenario: str    # a name in stackwatch.sim.faults.SCENARIOS
    at: float
    hold: float
    params: tuple[tuple[str, str], ...] = ()
    look_for: str = ""  # where the fault shows on the dashboard

    @property
    def until(self) -> float:
        """Seconds into the cycle at which it is cleared."""
        return self.at + self.hold

    def described(self) -> str:
        """``compute-down host=compute-0001``."""
        return " ".join((self.scenario, *(f"{k}={v}" for k, v in self.params)))


@dataclass(frozen=True, slots=True)
class Cue:
    """One thing to do in a cycle: inject or clear an act, ``offset`` seconds in."""

    offset: float
    action: Action
    act: Act


@dataclass(frozen=True, slots=True)
class Story:
    """Acts played in a cycle of ``cycle`` seconds, repeated until stopped.

    Checked when made: known scenarios and parameters, every act inside the cycle, and
    no two acts of one scenario at once (the clear of one would undo the other).
    """

    acts: tuple[Act, ...]
    cycle: float

    def __post_init__(self) -> None:
        if not self.acts:
            raise SimulatorError("a story needs at least one act")
        if not self.cycle > 0:
            raise SimulatorError(f"story cycle must be > 0 seconds, not {self.cycle}")
        for act in self.acts:
            scenario = faults.get(act.scenario)  # an unknown name: SimulatorError
            unknown = sorted({k for k, _ in act.params} - set(scenario.params))
            if unknown:
                raise SimulatorError(f"act {act.title!r}: scenario {act.scenario} has no "
                                     f"parameter {', '.join(unknown)}")
            if act.at < 0 or not act.hold > 0 or act.until > self.cycle:
                raise SimulatorError(
                    f"act {act.title!r}: at {act.at:g} s held {act.hold:g} s does not fit "
                    f"in the {self.cycle:g} s cycle (at >= 0, hold > 0, at + hold <= cycle)")
        for one, other in itertools.combinations(self.acts, 2):
            if one.scenario == other.scenario and one.at < other.until and \
                    other.at < one.until:
                raise SimulatorError(f"acts {one.title!r} and {other.title!r} both hold "
                                     f"{one.scenario} at once")

    def cues(self) -> tuple[Cue, ...]:
        """One cycle's injects and clears in time order; at a tie, clears first."""
        cues = [Cue(a.at, Action.INJECT, a) for a in self.acts]
        cues += [Cue(a.until, Action.CLEAR, a) for a in self.acts]
        return tuple(sorted(cues, key=lambda c: (c.offset, c.action != Action.CLEAR)))

    def summary(self) -> str:
        """One line: each act's title and times in the cycle, and the cycle."""
        acts = ", ".join(f"{a.title} ({_mmss(a.at)}-{_mmss(a.until)})"
                         for a in sorted(self.acts, key=lambda a: a.at))
        return f"{acts}; again every {_mmss(self.cycle)}"


def _mmss(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:02.0f}" if rest == int(rest) else f"{rest:04.1f}"
    return f"{int(minutes)}:{text}"


def demo_story(compute_host: str, speed: float = 1.0) -> Story:
    """What ``stackwatch demo`` plays (see the module docstring), ``speed`` times faster;
    ``compute_host`` dies."""
    if not speed > 0:
        raise SimulatorError(f"story speed must be > 0, not {speed}")
    calm, hold, gap = CALM_S / speed, HOLD_S / speed, GAP_S / speed
    storm_at = calm + hold + gap
    volume_at = storm_at + hold + gap
    return Story((
        Act("a compute node dies", "compute-down", calm, hold,
            (("host", compute_host),),
            f"nova-compute: {compute_host} down (compute page, services)"),
        # the burst spread over half the brute-force window (one act long): CRITICAL at
        # once, OK again as the act ends, at any speed
        Act("keystone sees a password storm", "auth-401-storm", storm_at, hold,
            (("source", STORM_SOURCE), ("count", "500"), ("seconds", f"{hold / 2:g}")),
            f"logs.auth_bruteforce names {STORM_SOURCE} (keystone page, auth failures)"),
        Act("a volume gets stuck deleting", "volume-stuck-deleting", volume_at, hold,
            (("count", "1"), ("minutes", "120")),
            "cinder.volumes_stuck names the volume (storage page)"),
    ), volume_at + hold + gap)


def first_compute_host(cloud: Any) -> str:
    """The first nova-compute host of a running simulated cloud, by name (read on the
    simulator's loop, where its state changes); ``""`` when it has none."""
    def hosts() -> list[str]:
        return sorted(s.host for s in cloud.state.compute_services
                      if s.binary == "nova-compute")

    found: list[str] = cloud.call(hosts)
    return found[0] if found else ""


# ------------------------------------------------------------------ state


@dataclass(frozen=True, slots=True)
class Playing:
    """An act injected now: since when, until when (Unix seconds), what the inject did."""

    act: Act
    since: float
    until: float
    said: str


@dataclass(frozen=True, slots=True)
class Played:
    """One inject or clear done (or failed), at Unix time ``at``, ``offset`` seconds
    after the story began, in cycle ``cycle`` (from 1)."""

    act: Act
    action: Action
    at: float
    offset: float
    cycle: int
    ok: bool
    message: str  # what the simulator said, or why it failed


@dataclass(frozen=True, slots=True)
class Upcoming:
    """The next inject or clear and when (Unix seconds)."""

    act: Act
    action: Action
    at: float


@dataclass(frozen=True, slots=True)
class StoryState:
    """Where the story is, for the dashboard and the demo's screen."""

    running: bool
    started_at: float | None       # Unix seconds; None before the start
    cycle: int                     # the cycle being played, from 1 (0 before the start)
    cycle_seconds: float
    current: tuple[Playing, ...]   # acts injected now, earliest first
    next: Upcoming | None
    injected: int
    cleared: int
    failed: int                    # injects and clears that failed
    history: tuple[Played, ...]    # the latest injects and clears, oldest first


def story_summary(state: StoryState) -> dict[str, object]:
    """What the dashboard's overview says of the story: ``now``, ``next`` (sentences, UTC
    times), ``failed``."""
    def hhmmss(at: float) -> str:
        return time.strftime("%H:%M:%S", time.gmtime(at))

    now = "; ".join(f"{p.act.title} since {hhmmss(p.since)} UTC"
                    + (f" (look at {p.act.look_for})" if p.act.look_for else "")
                    for p in state.current) or "calm"
    upcoming = ""
    if state.next is not None:
        verb = "" if state.next.action == Action.INJECT else "end of: "
        upcoming = f"{verb}{state.next.act.title} at {hhmmss(state.next.at)} UTC"
    return {"now": now, "next": upcoming, "failed": state.failed}


def story_line(state: StoryState) -> str:
    """One line for a terminal: what is injected now and what comes next."""
    def hhmmss(at: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(at))

    now = "; ".join(f"{p.act.title} since {hhmmss(p.since)}" for p in state.current)
    parts = [f"now {now}" if now else "now calm"]
    if state.next is not None:
        verb = "" if state.next.action == Action.INJECT else "end of: "
        parts.append(f"next {verb}{state.next.act.title} at {hhmmss(state.next.at)}")
    if state.failed:
        parts.append(f"{state.failed} failed (see the log)")
    return "story: " + "; ".join(parts)


# ------------------------------------------------------------------ the teller


class Storyteller:
    """Plays a :class:`Story` over a :class:`FaultTarget` in a thread, in a loop.

    ``run`` is the thread's body; a test may call it directly with a clock that jumps.
    """

    def __init__(self, story: Story, target: FaultTarget, *, clock: Clock | None = None,
                 stop: threading.Event | None = None, keep: int = 50) -> None:
        self.story = story
        self.target = target
        self.clock = clock or SystemClock()
        self.stop_event = stop or threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._started_at: float | None = None  # Unix seconds at the story's start
        self._t0 = 0.0                          # clock.now() at the story's start
        self._cycle = 0
        self._current: dict[str, Playing] = {}  # scenario -> the act injected
        self._next: Upcoming | None = None
        self._counts = collections.Counter[str]()
        self._history: collections.deque[Played] = collections.deque(maxlen=keep)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Storyteller:
        """Play in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="stackwatch-story", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop, clearing what is still injected; waits for the thread (safe twice)."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Storyteller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self) -> None:
        """Play the cycles until the stop event is set, then clear what is injected."""
        with self._lock:
            self._t0 = self.clock.now()
            self._started_at = time.time()
            self._running = True
        log.info("story: %s", self.story.summary())
        try:
            for cycle in itertools.count(1):
                base = (cycle - 1) * self.story.cycle
                with self._lock:
                    self._cycle = cycle
                for cue in self.story.cues():
                    with self._lock:
                        self._next = Upcoming(cue.act, cue.action,
                                              self._wall(base + cue.offset))
                    if self._wait_until(self._t0 + base + cue.offset):
                        return
                    self._play(cue, cycle)
        finally:
            with self._lock:
                self._next = None
                left = list(self._current.values())
            for playing in left:
                self._play(Cue(0.0, Action.CLEAR, playing.act), self._cycle)
            with self._lock:
                self._running = False

    # ------------------------------------------------------------ state

    def state(self) -> StoryState:
        """Where the story is now (safe from any thread)."""
        with self._lock:
            return StoryState(
                running=self._running, started_at=self._started_at, cycle=self._cycle,
                cycle_seconds=self.story.cycle,
                current=tuple(sorted(self._current.values(), key=lambda p: p.since)),
                next=self._next, injected=self._counts["inject"],
                cleared=self._counts["clear"], failed=self._counts["failed"],
                history=tuple(self._history))

    # ------------------------------------------------------------ inside

    def _wall(self, offset: float) -> float:
        """Unix seconds of ``offset`` seconds into the story."""
        return (self._started_at or 0.0) + offset

    def _wait_until(self, due: float) -> bool:
        """Wait for ``due`` on the clock; True when stopped first."""
        while not self.stop_event.is_set():
            left = due - self.clock.now()
            if left <= 0:
                return False
            if self.clock.wait(left, self.stop_event):
                return True
        return True

    def _play(self, cue: Cue, cycle: int) -> None:
        act = cue.act
        if cue.action == Action.CLEAR:
            with self._lock:
                injected = act.scenario in self._current
            if not injected:  # its inject failed: nothing of the story's to undo
                log.debug("story: %s was not injected; nothing to clear", act.scenario)
                return
        try:
            if cue.action == Action.INJECT:
                said = self.target.inject(act.scenario, **dict(act.params))
            else:
                said = self.target.clear(act.scenario)
        except Exception as exc:  # logged and counted: a scenario's bug must not end the story
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, StackwatchError):
                log.warning("story: %s %s (%s) failed: %s; the story goes on",
                            cue.action, act.described(), act.title, exc)
            else:
                log.exception("story: %s %s (%s) failed; the story goes on",
                              cue.action, act.described(), act.title)
            # a failed clear leaves the act current: the fault may still be on, and the
            # next clear (or the stop) tries again
            self._record(cue, cycle, ok=False, message=reason)
            return
        log.info("story: %s %s (%s): %s", cue.action, act.described(), act.title, said)
        self._record(cue, cycle, ok=True, message=said)

    def _record(self, cue: Cue, cycle: int, *, ok: bool, message: str) -> None:
        with self._lock:
            offset = self.clock.now() - self._t0
            at = self._wall(offset)
            self._counts[str(cue.action) if ok else "failed"] += 1
            self._history.append(Played(cue.act, cue.action, at, offset, cycle, ok, message))
            if ok and cue.action == Action.INJECT:
                self._current[cue.act.scenario] = Playing(cue.act, at, at + cue.act.hold,
                                                          message)
            elif ok:
                self._current.pop(cue.act.scenario, None)

