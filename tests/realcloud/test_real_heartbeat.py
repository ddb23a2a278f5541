"""Heartbeat late on the real control plane: a stopped nova-compute is seen before nova
says it is down (issue 12, "Faster than the cloud's own verdict").

One nova-compute is stopped (as test_real_faults does: its process group, started
again with its own command line after). stackwatch's ``api.compute`` and ``sql.nova``
look every 10 s (a ``stackwatch collect`` loop at the server's interval); the test
records when ``nova.heartbeat`` (the API's ``updated_at`` on the API's clock) and
``nova.db_heartbeat`` (the database's, on its clock) first say late, and when nova
itself says down (``nova.service`` CRITICAL), and prints both figures. Each look reads
the service lists only (the rest of the two sources was read once before the stop and
is not due again), as a server at a 10 s interval reads them. nova reports every
10 s (``report_interval``) and says down after 60 s (``service_down_time``): late is
past 20 s, so within 30 s of the stop with a 10 s loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from realcloud.cloud import RealCloud
from realcloud.truth import Truth
from stackwatch.config import parse_config
from stackwatch.model import CheckResult, Status
from stackwatch.runner import collect_once
from stackwatch.sources.base import Source
from stackwatch.sources.registry import build_sources

HOST, PROCESS = "fake-compute-2", "nova-compute-2"
LOOP_S = 10.0
DETECT_WITHIN_S = 30.0
NOVA_SAYS_DOWN_WITHIN_S = 180.0


def _state(truth: Truth) -> str:
    rows = [s for s in truth.cli("compute", "service", "list")
            if s["Host"] == HOST and s["Binary"] == "nova-compute"]
    assert len(rows) == 1, rows
    return str(rows[0]["State"])


#: read once before the stop, not due after: every run reads the service lists only
#: (``api.compute.services``, ``sql.nova.services``: no interval of their own)
ONCE = ("api.compute.servers", "api.compute.hypervisors", "api.compute.capacity",
        "api.compute.flavors", "api.compute.aggregates", "api.compute.quotas",
        "api.compute.usage", "sql.nova.instances", "sql.nova.compute_nodes")


@pytest.fixture
def sources(realcloud: RealCloud, tmp_path_factory: pytest.TempPathFactory) -> list[Source]:
    """api.compute and sql.nova, each read once whole (before the stop)."""
    store = tmp_path_factory.mktemp("heartbeat") / "stackwatch.sqlite"
    config = parse_config({**realcloud.stackwatch_config(store=store),
                           "intervals": {name: 3600.0 for name in ONCE}})
    found = [s for s in build_sources(config) if s.name in ("api.compute", "sql.nova")]
    collect_once(found, timeout=180)
    return found


@pytest.fixture
def stopped(realcloud: RealCloud, truth: Truth) -> Iterator[float]:
    """The nova-compute stopped; its stop time (monotonic); started again after."""
    assert _state(truth) == "up", "the nova-compute must be up before the test"
    argv = realcloud.command_line(PROCESS)
    realcloud.stop(PROCESS)
    stopped_at = time.monotonic()
    try:
        yield stopped_at
    finally:
        realcloud.start_bg(PROCESS, argv)
        deadline = time.monotonic() + 180
        while _state(truth) != "up" and time.monotonic() < deadline:
            time.sleep(5)
        assert _state(truth) == "up", "nova-compute did not come back"


def _about(checks: list[CheckResult], name: str) -> CheckResult | None:
    found = [c for c in checks if c.name == name and dict(c.labels).get("host") == HOST
             and dict(c.labels).get("binary") == "nova-compute"]
    return found[0] if found else None


def test_a_stopped_nova_compute_is_late_before_nova_says_down(
        sources: list[Source], stopped: float) -> None:
    seen: dict[str, float] = {}
    messages: dict[str, str] = {}
    deadline = stopped + NOVA_SAYS_DOWN_WITHIN_S
    while "nova says down" not in seen and time.monotonic() < deadline:
        started = time.monotonic()
        checks = [c for run in collect_once(sources, timeout=60)
                  for c in run.collection.checks]
        at = time.monotonic() - stopped
        for label, name in (("api late", "nova.heartbeat"), ("sql late", "nova.db_heartbeat"),
                            ("nova says down", "nova.service")):
            check = _about(checks, name)
            bad = Status.CRITICAL if name == "nova.service" else Status.WARNING
            if check is not None and check.status >= bad and label not in seen:
                seen[label], messages[label] = at, check.message
        time.sleep(max(0.0, LOOP_S - (time.monotonic() - started)))
    print(f"\nheartbeat late after the stop: API {seen.get('api late', -1):.0f} s "
          f"({messages.get('api late')}), SQL {seen.get('sql late', -1):.0f} s; "
          f"nova says down after {seen.get('nova says down', -1):.0f} s")
    assert "api late" in seen and "sql late" in seen, seen
    assert seen["api late"] <= DETECT_WITHIN_S, seen
    assert seen["sql late"] <= DETECT_WITHIN_S, seen
    assert "nova says down" in seen, seen
    assert seen["api late"] < seen["nova says down"], seen
    assert "report interval 10 s" in messages["api late"]
