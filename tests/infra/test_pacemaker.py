"""infra.pacemaker on crm_mon outputs (tests/data/infra/pacemaker/, healthy and each
failure state), and ``crm_mon`` replaced by programs that hang, fail or print garbage."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from infra.faulty import fake_program
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.pacemaker import PacemakerSource, cluster_results, parse_crm_mon

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "infra" / "pacemaker"
STATES = ("healthy", "resource-stopped", "failed-action", "recovered", "no-quorum",
          "node-unclean", "node-offline", "node-standby")


def results(name: str) -> Collection:
    return cluster_results(parse_crm_mon((DATA / f"{name}.xml").read_text()))


def only(out: Collection, name: str, **labels: str) -> CheckResult:
    [found] = [c for c in out.checks if c.name == name
               and all(dict(c.labels).get(k) == v for k, v in labels.items())]
    return found


def value(out: Collection, name: str, **labels: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items())]
    return found


def test_healthy_cluster() -> None:
    out = results("healthy")
    assert_declared(out, source="infra")
    for name in ("pacemaker.quorum", "pacemaker.resources", "pacemaker.failed_actions"):
        assert only(out, name).status is Status.OK, name
    assert "DC ctl2" in only(out, "pacemaker.quorum").message
    assert {dict(c.labels)["host"]: c.status for c in out.checks
            if c.name == "pacemaker.node"} == {h: Status.OK for h in ("ctl1", "ctl2", "ctl3")}
    assert value(out, "pacemaker_nodes", state="online") == 3
    assert value(out, "pacemaker_resources", role="Promoted") == 3
    pacemaker = evaluate(default_catalog(), out.checks).service("pacemaker")
    assert pacemaker is not None and pacemaker.status is Status.OK
    assert len(pacemaker.members) == 3


def test_the_recordings_are_what_they_say() -> None:
    """The legacy one is crm_mon's pre-2.0 format; every other the 2.x one."""
    assert parse_crm_mon((DATA / "legacy.xml").read_text()) == parse_crm_mon(
        (DATA / "failed-action.xml").read_text())
    assert (DATA / "legacy.xml").read_text().startswith("<crm_mon version=")
    assert (DATA / "VERSION").read_text().startswith("Pacemaker 2.")


@pytest.mark.parametrize(("state", "check", "status", "words"), [
    ("resource-stopped", "pacemaker.resources", Status.WARNING,
     "1 stopped that should run: haproxy-clone/haproxy"),
    ("failed-action", "pacemaker.resources", Status.CRITICAL, "rabbitmq (FAILED on ctl3)"),
    ("failed-action", "pacemaker.resources", Status.CRITICAL,
     "openstack-cinder-volume (FAILED on ctl1, ctl2)"),
    ("failed-action", "pacemaker.failed_actions", Status.WARNING,
     "rabbitmq_monitor_10000 on ctl3: not running"),
    ("failed-action", "pacemaker.failed_actions", Status.WARNING,
     "openstack-cinder-volume_start_0 on ctl1: error"),
    ("recovered", "pacemaker.resources", Status.OK, "14 resource instances active"),
    ("recovered", "pacemaker.failed_actions", Status.WARNING,
     "2 failed actions: openstack-cinder-volume_start_0 on ctl1: error"),
    ("no-quorum", "pacemaker.quorum", Status.CRITICAL, "partition WITHOUT quorum (DC ctl3)"),
    ("no-quorum", "pacemaker.node", Status.CRITICAL, "ctl2 UNCLEAN (needs fencing)"),
    ("node-unclean", "pacemaker.node", Status.CRITICAL, "ctl1 UNCLEAN (needs fencing)"),
    ("node-unclean", "pacemaker.resources", Status.WARNING,
     "5 on UNCLEAN nodes, unknown until fenced: galera on ctl1, haproxy on ctl1"),
    ("node-offline", "pacemaker.node", Status.CRITICAL, "ctl1 OFFLINE"),
    ("node-offline", "pacemaker.resources", Status.WARNING,
     "3 stopped that should run: galera-master/galera, haproxy-clone/haproxy, "
     "rabbitmq-clone/rabbitmq"),
    ("node-standby", "pacemaker.node", Status.WARNING, "ctl2 online, in standby"),
    ("legacy", "pacemaker.resources", Status.CRITICAL, "rabbitmq (FAILED on ctl3)"),
    ("legacy", "pacemaker.failed_actions", Status.WARNING,
     "rabbitmq_monitor_10000 on ctl3: not running"),
])
def test_each_failure_state(state: str, check: str, status: Status, words: str) -> None:
    out = results(state)
    assert_declared(out, source="infra")
    found = [c for c in out.checks if c.name == check and c.status is status]
    assert found and any(words in c.message for c in found), out.checks


def test_a_disabled_resource_is_not_missed_but_a_stopped_one_is() -> None:
    out = results("resource-stopped")
    assert "openstack-manila-share" not in only(out, "pacemaker.resources").message
    assert value(out, "pacemaker_resources_stopped") == 1


def test_no_quorum_and_two_nodes_offline_lose_the_pacemaker_service() -> None:
    out = results("no-quorum")
    assert value(out, "pacemaker_quorum") == 0
    assert value(out, "pacemaker_nodes", state="offline") == 2
    assert value(out, "pacemaker_nodes", state="unclean") == 2
    pacemaker = evaluate(default_catalog(), out.checks).service("pacemaker")
    assert pacemaker is not None and pacemaker.status is Status.CRITICAL
    assert "quorum lost" in pacemaker.message or "down" in pacemaker.message


def test_every_metric_is_emitted_by_the_recordings() -> None:
    assert_covered([results(name) for name in ("healthy", "failed-action", "no-quorum")],
                   "infra.pacemaker")


@pytest.mark.parametrize(("text", "words"), [
    ("this is not xml <", "not XML"),
    ("<cib><configuration/></cib>", "unexpected document <cib>"),
    ('<pacemaker-result api-version="2.30"><nodes/></pacemaker-result>', "no summary"),
])
def test_garbage_is_an_invalid_response(text: str, words: str) -> None:
    with pytest.raises(InvalidResponse, match=words):
        parse_crm_mon(text)


def test_a_status_that_is_not_ok_is_unavailable() -> None:
    text = ('<pacemaker-result api-version="2.30" request="crm_mon --output-as=xml">'
            '<status code="102" message="Not connected"><errors><error>crm_mon: Error: '
            'cluster is not available on this node</error></errors></status>'
            '</pacemaker-result>')
    with pytest.raises(SourceUnavailable, match="Not connected"):
        parse_crm_mon(text)


@pytest.mark.integration
@pytest.mark.parametrize("state", STATES)
def test_the_real_crm_mon_on_each_recorded_cib_agrees(state: str) -> None:
    """The real crm_mon, through the source's command path, on the CIB each recording was
    printed from: the same checks (an upgraded Pacemaker that prints otherwise shows here)."""
    crm_mon = shutil.which("crm_mon")
    assert crm_mon, "crm_mon is not installed (Debian: pacemaker-cli-utils)"
    cib = DATA / "cib" / f"{state}.xml"
    source = PacemakerSource(["env", f"CIB_file={cib}", crm_mon, "--one-shot",
                              "--output-as=xml"], "ctl1", 30)
    live = source.collect()
    assert value(live, "stackwatch_infra_target_up", target="ctl1") == 1
    judged = {(c.name, c.labels, c.status, c.message) for c in live.checks}
    assert judged == {(c.name, c.labels, c.status, c.message) for c in results(state).checks}


def source_with(tmp_path: Path, script: str, timeout: float = 5.0) -> PacemakerSource:
    program = fake_program(tmp_path, "crm_mon", script)
    return PacemakerSource([str(program), "--one-shot", "--output-as=xml"], "ctl1", timeout)


def test_the_real_command_path_reads_a_recorded_output(tmp_path: Path) -> None:
    out = source_with(tmp_path, f"cat {DATA / 'failed-action.xml'}").collect()
    assert only(out, "pacemaker.resources").status is Status.CRITICAL
    assert value(out, "stackwatch_infra_target_up", target="ctl1") == 1


@pytest.mark.integration
def test_a_hanging_crm_mon_is_killed_with_its_children_and_unknown(tmp_path: Path) -> None:
    pids = tmp_path / "child.pid"
    source = source_with(tmp_path, f"sleep 30 & echo $! > {pids}; wait", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SourceTimeout, match=r"crm_mon: no answer within 1s \(killed\)"):
        source.collect()
    assert time.monotonic() - started < 5
    child = Path(f"/proc/{pids.read_text().strip()}/stat")
    deadline = time.monotonic() + 5
    while alive(child):
        assert time.monotonic() < deadline, "the command's child outlived it"
        time.sleep(0.05)


def alive(stat: Path) -> bool:
    """Whether the process of ``/proc/<pid>/stat`` still runs (not gone, not a zombie)."""
    try:
        return stat.read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("script", "error", "words"), [
    ("echo 'Segmentation fault' >&2; exit 139", SourceUnavailable,
     "crm_mon: exit status 139: Segmentation fault"),
    ("head -c 300 /dev/urandom", InvalidResponse, "crm_mon: not XML"),
    ("echo '<crm_mon version=\"1.1\"><summary>'", InvalidResponse, "not XML"),
    ("kill -9 $$", SourceUnavailable, "killed by signal 9"),
])
def test_failing_and_garbage_commands(tmp_path: Path, script: str, error: type[Exception],
                                      words: str) -> None:
    with pytest.raises(error, match=words):
        source_with(tmp_path, script).collect()


def test_a_missing_program_is_unavailable(tmp_path: Path) -> None:
    source = PacemakerSource([str(tmp_path / "crm_mon")], "ctl1", 5)
    with pytest.raises(SourceUnavailable, match="not found"):
        source.collect()
