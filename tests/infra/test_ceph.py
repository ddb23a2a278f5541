"""infra.ceph on ``ceph status/df/osd tree -f json`` outputs (tests/data/infra/ceph/<state>/),
served by a stand-in ``ceph`` program through the real command path; and ``ceph`` hanging,
failing or printing garbage."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.faulty import fake_program
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import Percent
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.ceph import CephSource, judge_pgs

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "infra" / "ceph"
USAGE = Percent(warning=80, critical=90)


def ceph_program(directory: Path, state: str) -> Path:
    """A ``ceph`` that answers the three commands from a state's recorded files."""
    folder = DATA / state
    return fake_program(directory, "ceph", f"""
case "$*" in
  *"osd tree -f json"*) cat {folder}/osd-tree.json ;;
  *"status -f json"*) cat {folder}/status.json ;;
  *"df -f json"*) cat {folder}/df.json ;;
  *"health detail -f json"*) cat {folder}/health-detail.json ;;
  *"mon dump -f json"*) cat {folder}/mon-dump.json ;;
  *) echo "unexpected: $*" >&2; exit 22 ;;
esac""")


def collect(tmp_path: Path, state: str) -> Collection:
    program = ceph_program(tmp_path, state)
    return CephSource([str(program), "--id", "monitor", "--keyring", "/etc/ceph/secret.key"],
                      "st1", 5, USAGE).collect()


def checks(out: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name
            and all(dict(c.labels).get(k) == v for k, v in labels.items())]


def value(out: Collection, name: str, **labels: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items())]
    return found


def test_healthy(tmp_path: Path) -> None:
    out = collect(tmp_path, "healthy")
    assert_declared(out, source="infra")
    for name in ("ceph.health", "ceph.quorum", "ceph.pgs", "ceph.usage"):
        [found] = checks(out, name)
        assert found.status is Status.OK, found
    assert {dict(c.labels)["host"]: c.status for c in checks(out, "ceph.osd")} == {
        "st1": Status.OK, "st2": Status.OK, "st3": Status.OK}
    assert value(out, "ceph_osds_up") == 6 and value(out, "ceph_monitors_in_quorum") == 3
    assert value(out, "ceph_pool_objects", pool="volumes") == 14
    health = evaluate(default_catalog(), out.checks)
    osd, mon = health.service("ceph-osd"), health.service("ceph-mon")
    assert osd is not None and osd.status is Status.OK and len(osd.members) == 3
    assert mon is not None and mon.status is Status.OK   # members from the quorum names


@pytest.mark.parametrize(("state", "check", "status", "words"), [
    ("osd-down", "ceph.health", Status.WARNING, "OSD_DOWN: 1 osds down"),
    ("osd-down", "ceph.osd", Status.WARNING, "st2: osd.3 down (1 of 2 up)"),
    ("osd-down", "ceph.pgs", Status.WARNING,
     "19 of 33 pgs degraded: 12 active+undersized+degraded, 7 active+undersized"),
    ("osd-out", "ceph.osd", Status.WARNING, "st2: osd.3 down (1 of 2 up)"),
    ("osd-out", "ceph.pgs", Status.WARNING,
     "7 of 33 pgs degraded: 6 active+recovery_wait+degraded, 1 active+recovering+degraded"),
    ("recovery-paused", "ceph.health", Status.WARNING,
     "OSDMAP_FLAGS: nobackfill,norecover flag(s) set"),
    ("recovery-paused", "ceph.pgs", Status.WARNING,
     "14 of 33 pgs degraded: 13 active+recovery_wait+degraded, 1 active+recovering+degraded"),
    ("recovery-paused", "ceph.osd", Status.WARNING, "st1: osd.1 out (2 of 2 up)"),
    ("host-down", "ceph.health", Status.WARNING, "OSD_HOST_DOWN: 1 host (2 osds) down"),
    ("host-down", "ceph.health", Status.WARNING, "MON_DOWN: 1/3 mons down, quorum st1,st3"),
    ("host-down", "ceph.osd", Status.CRITICAL, "st2: all 2 OSDs down"),
    ("host-down", "ceph.pgs", Status.WARNING, "33 of 33 pgs degraded"),
    ("host-down", "ceph.quorum", Status.WARNING, "2 of 3 monitors in quorum: st1, st3"),
    ("host-down", "ceph.mon", Status.CRITICAL, "mon.st2 out of quorum"),
    ("pgs-inactive", "ceph.pgs", Status.CRITICAL,
     "33 of 33 pgs not active: 22 undersized+degraded+peered, 11 undersized+peered"),
    ("pgs-inactive", "ceph.health", Status.WARNING,
     "PG_AVAILABILITY: Reduced data availability"),
    ("pgs-inactive", "ceph.osd", Status.CRITICAL, "st3: all 2 OSDs down"),
    ("near-full", "ceph.health", Status.WARNING, "OSD_NEARFULL: 6 nearfull osd(s)"),
    ("near-full", "ceph.health", Status.WARNING, "POOL_NEARFULL: 5 pool(s) nearfull"),
    ("legacy-jewel", "ceph.health", Status.WARNING, "1 mons down, quorum 0,2 st1,st3"),
    ("legacy-jewel", "ceph.mon", Status.CRITICAL, "mon.st2 out of quorum"),
])
def test_each_failure_state(tmp_path: Path, state: str, check: str, status: Status,
                            words: str) -> None:
    out = collect(tmp_path, state)
    assert_declared(out, source="infra")
    found = [c for c in checks(out, check) if c.status is status]
    assert found and any(words in c.message for c in found), checks(out, check)


def test_an_osd_down_and_out_is_no_longer_in_osd_down(tmp_path: Path) -> None:
    """Ceph counts in OSD_DOWN the OSDs down and in only: osd.3 out, Ceph warns only of
    the objects it is recovering; the tree still shows it down, and so does ceph.osd."""
    out = collect(tmp_path, "osd-out")
    [health] = checks(out, "ceph.health")
    assert health.message.startswith("HEALTH_WARN: PG_DEGRADED")
    assert "OSD_DOWN" not in health.message
    assert value(out, "ceph_osds_in") == 5 and value(out, "ceph_osds_up") == 5
    assert value(out, "ceph_osd_in", osd="osd.3", host="st2") == 0


def test_a_host_down_is_a_ceph_osd_member_down(tmp_path: Path) -> None:
    out = collect(tmp_path, "host-down")
    osd = evaluate(default_catalog(), out.checks).service("ceph-osd")
    assert osd is not None and osd.status is Status.WARNING
    assert "down: st2" in osd.message
    assert value(out, "ceph_osd_up", osd="osd.2", host="st2") == 0
    assert value(out, "ceph_health_check", check="OSD_HOST_DOWN") == 1
    mon = evaluate(default_catalog(), out.checks).service("ceph-mon")
    assert mon is not None and mon.status is Status.WARNING and "st2" in mon.message


def test_the_monmap_is_asked_only_when_a_monitor_is_out(tmp_path: Path) -> None:
    """``ceph mon dump`` answers nothing here: the healthy state must not need it."""
    folder = DATA / "healthy"
    program = fake_program(tmp_path, "ceph", f"""
case "$*" in
  *"osd tree -f json"*) cat {folder}/osd-tree.json ;;
  *"status -f json"*) cat {folder}/status.json ;;
  *"df -f json"*) cat {folder}/df.json ;;
  *) echo "unexpected: $*" >&2; exit 22 ;;
esac""")
    out = CephSource([str(program)], "st1", 5, USAGE).collect()
    assert {dict(c.labels)["host"] for c in checks(out, "ceph.mon")} == {"st1", "st2", "st3"}


def test_usage_against_lower_thresholds(tmp_path: Path) -> None:
    """The near-full recording is about 25 % raw used: over thresholds of 20 / 24 %."""
    program = ceph_program(tmp_path, "near-full")
    out = CephSource([str(program)], "st1", 5, Percent(warning=20, critical=24)).collect()
    [usage] = checks(out, "ceph.usage")
    assert usage.status is Status.CRITICAL and usage.message.startswith("raw 2")
    assert 0.24 < value(out, "ceph_used_raw_ratio") < 0.3


def test_every_metric_is_emitted(tmp_path: Path) -> None:
    assert_covered([collect(tmp_path, s) for s in ("healthy", "recovery-paused", "host-down")],
                   "infra.ceph")


@pytest.mark.parametrize(("states", "status"), [
    ({"active+clean": 10, "active+clean+scrubbing+deep": 2}, Status.OK),
    ({"active+clean": 10, "active+undersized+degraded": 2}, Status.WARNING),
    ({"active+clean": 10, "stale+active+clean": 1}, Status.CRITICAL),
    ({"active+clean": 10, "undersized+degraded+peered": 1}, Status.CRITICAL),
    ({"unknown": 481}, Status.CRITICAL),
])
def test_pg_states(states: dict[str, float], status: Status) -> None:
    assert judge_pgs(states)[0] is status


@pytest.mark.parametrize(("script", "error", "words"), [
    ("echo '[errno 13] RADOS permission denied (error connecting to the cluster)' >&2; "
     "exit 13", SourceUnavailable, "ceph status: exit status 13: .*permission denied"),
    ("echo 'HEALTH_OK'", InvalidResponse, "ceph status: not JSON: 'HEALTH_OK'"),
    ("echo '[1, 2]'", InvalidResponse, "expected a JSON object"),
    ("echo '{\"health\": {\"status\": \"HEALTHY\"}}'", InvalidResponse, "is not HEALTH_"),
])
def test_failures(tmp_path: Path, script: str, error: type[Exception], words: str) -> None:
    program = fake_program(tmp_path, "ceph", script)
    with pytest.raises(error, match=words) as info:
        CephSource([str(program), "--key", "AQBsecretkey=="], "st1", 5, USAGE).collect()
    assert "AQBsecretkey" not in str(info.value)   # the configured arguments never show


@pytest.mark.integration
def test_a_hanging_ceph_is_unknown_after_the_timeout(tmp_path: Path) -> None:
    # what ceph does when no monitor answers: it waits
    program = fake_program(tmp_path, "ceph", "sleep 30")
    with pytest.raises(SourceTimeout, match="ceph status: no answer within 1s"):
        CephSource([str(program)], "st1", 1, USAGE).collect()
