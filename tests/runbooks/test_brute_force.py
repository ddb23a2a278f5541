"""``brute-force`` on the simulator's 401 storm: the address, its failures, first and
last seen and the log are the evidence, the block list is in the advice (the same as
``stackwatch logs blocklist`` prints), and it is OK again once the window has passed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from stackwatch.cli import main
from stackwatch.runbooks import fixer, registry
from stackwatch.sim.cloud import SimulatedCloud

from .conftest import ContextMaker

pytestmark = pytest.mark.integration

SOURCE = "198.51.100.77"


@pytest.fixture
def storm(cloud: SimulatedCloud) -> Iterator[float]:
    """A storm of 150 failed logins over the last 60 s; when it was injected."""
    injected = time.time()
    cloud.inject("auth-401-storm", source=SOURCE, count="150", seconds="60")
    cloud.flush()
    yield injected
    cloud.clear("auth-401-storm")


def test_the_storm_is_named_with_evidence_and_a_block_list(
        cloud: SimulatedCloud, storm: float, contexts: ContextMaker) -> None:
    runbook = registry.runbook("brute-force")
    ctx = contexts()
    found = fixer.diagnose(runbook, ctx)
    assert found.verdict == "CRITICAL", found  # 150 >= 5 x the threshold of 20
    assert SOURCE in found.summary
    [evidence] = [e for e in found.evidence if e.label == SOURCE]
    failures = int(evidence.value.split()[0])
    # the simulator writes each login to keystone's access log and HAProxy's, both with
    # the client's address, and the detector counts each log's line (as the
    # logs.auth_bruteforce check and `logs blocklist` do)
    assert failures == 150 * len(evidence.source.split(", ")), evidence
    first = time.strftime("%H:%M", time.localtime(storm - 60))
    last = time.strftime("%H:%M", time.localtime(storm))
    assert f"first {time.strftime('%Y-%m-%d')}" in evidence.value
    assert first in evidence.value or last in evidence.value
    assert "keystone" in evidence.source and evidence.source.endswith(".log")
    assert f"add stackwatch_bruteforce {SOURCE} -exist" in found.advice
    # the same offenders as `stackwatch logs blocklist` over the same files
    files = evidence.source.split(", ")
    listed = CliRunner().invoke(main, ["logs", "blocklist", "--format", "plain",
                                       "--at", str(ctx.now), *files])
    assert listed.exit_code == 0, listed.output
    assert SOURCE in listed.stdout.split()
    # once the window has passed the address is no longer an offender
    later = contexts()
    later.now = ctx.now + ctx.cloud.logs.bruteforce_window + 61
    calm = fixer.diagnose(runbook, later)
    assert calm.verdict == "OK", calm


def test_no_logs_is_unknown_not_ok(contexts: ContextMaker, tmp_path: object) -> None:
    ctx = contexts()
    ctx.cloud = ctx.cloud.model_copy(update={"logs": ctx.cloud.logs.model_copy(
        update={"root": tmp_path})})
    found = fixer.diagnose(registry.runbook("brute-force"), ctx)
    assert found.verdict == "UNKNOWN" and "no keystone or HAProxy log" in found.summary
