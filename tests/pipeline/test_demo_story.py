"""The demo's promise: each fault of its story is seen not OK through the REST API within
two collections of its injection, and OK again within two collections of its clear.

The real simulated cloud, the real monitor with the demo's own configuration and the
demo's own story, both :data:`SPEED` times faster (``stackwatch demo --story-speed``);
``/api/v1/health`` is read every :data:`POLL_S` throughout one cycle.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.commands import demo_config
from stackwatch.config import load_config
from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.story import (
    INTERVAL_S,
    STORM_SOURCE,
    Action,
    Played,
    Storyteller,
    demo_story,
    first_compute_host,
    story_summary,
)
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.integration

SPEED = 6.0  # collections every 1.7 s, each fault held 10 s, the cycle one minute
POLL_S = 0.2


@dataclass(frozen=True)
class Seen:
    """One read of ``/api/v1/health``: when it came back, and what it said."""

    at: float
    health: dict[str, Any]


def read_health(url: str) -> Seen:
    with urllib.request.urlopen(url + "/api/v1/health", timeout=10) as response:
        body = json.loads(response.read())["health"]
    return Seen(time.time(), body)


def _others(health: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in health["others"] if c["name"] == name]


def compute_down(host: str) -> Callable[[dict[str, Any]], bool]:
    def shows(health: dict[str, Any]) -> bool:
        [service] = [s for s in health["services"] if s["name"] == "nova-compute"]
        return service["status"] != "OK" and any(
            m["host"] == host and m["status"] == "CRITICAL" for m in service["members"])
    return shows


def storm(health: dict[str, Any]) -> bool:
    return any(c["status"] in ("WARNING", "CRITICAL") and STORM_SOURCE in c["message"]
               for c in _others(health, "logs.auth_bruteforce"))


def stuck_volume(health: dict[str, Any]) -> bool:
    return any(c["status"] == "WARNING" and "1 volume(s) stuck" in c["message"]
               for c in _others(health, "cinder.volumes_stuck"))


def test_each_fault_of_the_story_is_seen_within_two_collections_and_clears(
        tmp_path: Path) -> None:
    every = INTERVAL_S / SPEED
    within = 2 * every + POLL_S  # two collections, and the poll that sees the second
    with SimulatedCloud(workdir=tmp_path / "sim", size="small", seed=1) as cloud:
        config = demo_config(load_config(cloud.config_path), tmp_path, SPEED)
        assert config.interval("api.block_storage") == config.interval("logs.keystone") == every
        sources = build_sources(config)
        host = first_compute_host(cloud)
        story = demo_story(host, SPEED)
        symptoms = {"compute-down": compute_down(host), "auth-401-storm": storm,
                    "volume-stuck-deleting": stuck_volume}
        teller = Storyteller(story, cloud)
        told: list[dict[str, Any]] = []  # what the overview said of the story while on
        with Monitor(config, sources, default_catalog().deployed(config.network_backends),
                     listen=("127.0.0.1", 0),
                     extras={"story": lambda: story_summary(teller.state())}) as monitor:
            assert monitor.wait_for_runs(len(sources), timeout=60)
            seen: list[Seen] = []
            with teller:
                end = time.time() + max(a.until for a in story.acts) + within + 1
                while time.time() < end:
                    seen.append(read_health(monitor.url))
                    if not told and teller.state().current:
                        with urllib.request.urlopen(monitor.url + "/overview.json",
                                                    timeout=10) as response:
                            told.append(json.loads(response.read())["story"])
                    time.sleep(POLL_S)
                history = teller.state().history
    # the overview tells a first-time user what is going on
    assert told and told[0]["now"].startswith(story.acts[0].title), told
    assert [(str(p.action), p.act.scenario, p.ok) for p in history] == [
        (str(action), act.scenario, True)
        for act in sorted(story.acts, key=lambda a: a.at)
        for action in (Action.INJECT, Action.CLEAR)]
    first_inject = history[0].at
    calm = [s for s in seen if s.at < first_inject]
    assert calm and calm[-1].health["status"] == "OK", calm[-1].health["message"]

    def between(start: float, stop: float) -> list[Seen]:
        return [s for s in seen if start <= s.at <= stop]

    for inject, clear in zip(history[::2], history[1::2], strict=True):
        assert isinstance(inject, Played) and inject.action == Action.INJECT
        shows = symptoms[inject.act.scenario]
        what = inject.act.title
        assert not any(shows(s.health) for s in between(inject.at - 5, inject.at - 1)), \
            f"{what}: shown before it was injected"
        early = between(inject.at, inject.at + within)
        assert any(shows(s.health) and s.health["status"] != "OK" for s in early), (
            f"{what}: not seen within {within:.1f} s of its injection",
            [s.health["message"] for s in early])
        late = between(clear.at, clear.at + within)
        back = [s for s in late if not shows(s.health)]
        assert back and back[-1].health["status"] == "OK", (
            f"{what}: not OK within {within:.1f} s of its clear",
            [s.health["message"] for s in late])
