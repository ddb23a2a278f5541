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
    assert value(out, "ceph_osds_up") == 12 and value(out, "ceph_monitors_in_quorum") == 3
    health = evaluate(default_catalog(), out.checks)
    osd, mon = health.service("ceph-osd"), health.service("ceph-mon")
    assert osd is not None and osd.status is Status.OK and len(osd.members) == 3
    assert mon is not None and mon.status is Status.OK   # members from the quorum names


@pytest.mark.parametrize(("state", "check", "status", "words"), [
    ("osd-down", "ceph.health", Status.WARNING, "OSD_DOWN: 1 osds down"),
    ("osd-down", "ceph.osd", Status.WARNING, "st2: osd.6 down (3 of 4 up)"),
    ("osd-down", "ceph.pgs", Status.WARNING, "123 of 481 pgs degraded"),
    ("osd-out", "ceph.osd", Status.WARNING, "st2: osd.6 down"),
    ("osd-out", "ceph.pgs", Status.WARNING, "122 active+remapped+backfill_wait"),
    ("host-down", "ceph.health", Status.CRITICAL, "PG_AVAILABILITY: Reduced data availability"),
    ("host-down", "ceph.osd", Status.CRITICAL, "st2: all 4 OSDs down"),
    ("host-down", "ceph.pgs", Status.CRITICAL, "193 of 481 pgs not active"),
    ("host-down", "ceph.quorum", Status.WARNING, "2 of 3 monitors in quorum: st1, st3"),
    ("near-full", "ceph.health", Status.WARNING, "OSD_NEARFULL: 2 nearfull osd(s)"),
    ("near-full", "ceph.usage", Status.CRITICAL, "pool volumes 93% used"),
    ("near-full", "ceph.usage", Status.CRITICAL, "raw 87% used"),
    ("legacy-jewel", "ceph.health", Status.WARNING, "1 mons down, quorum 0,2 st1,st3"),
    ("legacy-jewel", "ceph.mon", Status.CRITICAL, "mon.st2 out of quorum"),
])
def test_each_failure_state(tmp_path: Path, state: str, check: str, status: Status,
                            words: str) -> None:
    out = collect(tmp_path, state)
    assert_declared(out, source="infra")
    found = [c for c in checks(out, check) if c.status is status]
    assert found and any(words in c.message for c in found), checks(out, check)


def test_a_host_down_is_a_ceph_osd_member_down(tmp_path: Path) -> None:
    out = collect(tmp_path, "host-down")
    osd = evaluate(default_catalog(), out.checks).service("ceph-osd")
    assert osd is not None and osd.status is Status.WARNING
    assert "down: st2" in osd.message
    assert value(out, "ceph_osd_up", osd="osd.5", host="st2") == 0
    assert value(out, "ceph_health_check", check="PG_AVAILABILITY") == 2


def test_every_metric_is_emitted(tmp_path: Path) -> None:
    assert_covered([collect(tmp_path, s) for s in ("healthy", "osd-out", "host-down")],
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
