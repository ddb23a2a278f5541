"""infra.glusterfs on ``gluster --xml`` outputs (tests/data/infra/glusterfs/<state>/) served by
a stand-in ``gluster`` program; and ``gluster`` hanging, refusing or printing garbage."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.faulty import fake_program
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.glusterfs import GlusterSource, parse_heal

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "infra" / "glusterfs"
NOT_REPLICATED = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cliOutput>'
                  '<opRet>-1</opRet><opErrno>0</opErrno><opErrstr>Volume scratch is not of type '
                  'replicate/disperse</opErrstr></cliOutput>')


def gluster_program(directory: Path, state: str) -> Path:
    folder = DATA / state
    return fake_program(directory, "gluster", f"""
case "$*" in
  "--mode=script volume status all --xml") cat {folder}/volume-status.xml ;;
  "--mode=script volume info --xml") cat {folder}/volume-info.xml ;;
  "--mode=script volume heal "*" info summary --xml") cat {folder}/heal-$4.xml ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac""")


def collect(tmp_path: Path, state: str) -> Collection:
    return GlusterSource([str(gluster_program(tmp_path, state))], "gl1", 5).collect()


def checks(out: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name
            and all(dict(c.labels).get(k) == v for k, v in labels.items())]


def test_healthy(tmp_path: Path) -> None:
    out = collect(tmp_path, "healthy")
    assert_declared(out, source="infra")
    assert {dict(c.labels)["volume"]: c.status for c in checks(out, "glusterfs.volume")} == {
        "nova-instances": Status.OK, "cinder-volumes": Status.OK}
    [brick] = checks(out, "glusterfs.brick")
    assert brick.status is Status.OK and brick.message == "gl1: 5 bricks up"
    assert value(out, "glusterfs_self_heal_daemon_up", host="gl1") == 1
    health = evaluate(default_catalog(), out.checks).service("glusterfs")
    assert health is not None and health.status is Status.OK and len(health.members) == 1


NOVA = "gl1:/tmp/stackwatch-gluster/bricks/nova"


@pytest.mark.parametrize(("state", "check", "labels", "status", "words"), [
    ("brick-down", "glusterfs.brick", {"host": "gl1"}, Status.WARNING,
     "gl1: bricks down: nova-instances /tmp/stackwatch-gluster/bricks/nova2"),
    ("brick-down", "glusterfs.volume", {"volume": "nova-instances"}, Status.WARNING,
     f"1 of 3 bricks down: {NOVA}2; 21 entries to heal (listed by {NOVA}1 21, {NOVA}3 21)"),
    ("brick-down", "glusterfs.volume", {"volume": "cinder-volumes"}, Status.OK,
     "cinder-volumes: 2 bricks up, nothing to heal"),
    ("heal-pending", "glusterfs.volume", {"volume": "nova-instances"}, Status.WARNING,
     f"nova-instances: 21 entries to heal (listed by {NOVA}1 21, {NOVA}3 21)"),
    ("heal-pending", "glusterfs.brick", {"host": "gl1"}, Status.OK, "gl1: 5 bricks up"),
    ("split-brain", "glusterfs.volume", {"volume": "cinder-volumes"}, Status.CRITICAL,
     "cinder-volumes: 1 entry in split-brain (choose a copy"),
    ("shd-down", "glusterfs.brick", {"host": "gl1"}, Status.WARNING,
     "gl1: 5 bricks up; self-heal daemon down"),
    ("volume-stopped", "glusterfs.volume", {"volume": "nova-instances"}, Status.CRITICAL,
     "nova-instances: volume stopped (gluster volume start nova-instances)"),
    ("volume-stopped", "glusterfs.brick", {"host": "gl1"}, Status.OK, "gl1: 2 bricks up"),
    ("all-stopped", "glusterfs.volume", {"volume": "cinder-volumes"}, Status.CRITICAL,
     "cinder-volumes: volume stopped"),
])
def test_each_failure_state(tmp_path: Path, state: str, check: str, labels: dict[str, str],
                            status: Status, words: str) -> None:
    out = collect(tmp_path, state)
    assert_declared(out, source="infra")
    [found] = checks(out, check, **labels)
    assert found.status is status and words in found.message, found


def value(out: Collection, name: str, **labels: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name
               and all(s.label(k) == v for k, v in labels.items())]
    return found


def test_a_brick_down_cannot_say_what_it_has_to_heal(tmp_path: Path) -> None:
    out = collect(tmp_path, "brick-down")
    heal = {s.label("brick"): s.value for s in out.samples
            if s.name == "glusterfs_heal_entries" and s.label("volume") == "nova-instances"}
    assert heal == {f"{NOVA}1": 21, f"{NOVA}3": 21}
    assert value(out, "glusterfs_brick_up", volume="nova-instances", brick=f"{NOVA}2") == 0
    assert value(out, "glusterfs_bricks_up", volume="nova-instances") == 2


def test_split_brain_entries_are_counted_per_brick(tmp_path: Path) -> None:
    out = collect(tmp_path, "split-brain")
    split = {s.label("brick"): s.value for s in out.samples
             if s.name == "glusterfs_split_brain_entries" and s.label("volume") == "cinder-volumes"}
    assert split == {"gl1:/tmp/stackwatch-gluster/bricks/cinder1": 1,
                     "gl1:/tmp/stackwatch-gluster/bricks/cinder2": 1}
    [cinder] = checks(out, "glusterfs.volume", volume="cinder-volumes")
    assert "to heal" not in cinder.message   # the split-brain entry is not one self-heal heals


def test_a_stopped_volume_has_no_heal_asked(tmp_path: Path) -> None:
    out = collect(tmp_path, "volume-stopped")   # the stand-in fails any other command
    assert value(out, "glusterfs_bricks", volume="nova-instances") == 3
    assert value(out, "glusterfs_bricks_up", volume="nova-instances") == 0


def test_a_distribute_volume_is_not_asked_to_heal(tmp_path: Path) -> None:
    """The recorded info with cinder-volumes' type changed: the stand-in fails its heal."""
    folder = DATA / "healthy"
    info = tmp_path / "volume-info.xml"
    text = (folder / "volume-info.xml").read_text()
    assert text.count("<typeStr>Replicate</typeStr>") == 2
    info.write_text(text.replace("<typeStr>Replicate</typeStr>",
                                 "<typeStr>Distribute</typeStr>", 1))
    program = fake_program(tmp_path, "gluster", f"""
case "$*" in
  *"volume status"*) cat {folder}/volume-status.xml ;;
  *"volume info"*) cat {info} ;;
  *"heal nova-instances"*) cat {folder}/heal-nova-instances.xml ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac""")
    out = GlusterSource([str(program)], "gl1", 5).collect()
    assert {dict(c.labels)["volume"]: c.status for c in checks(out, "glusterfs.volume")} == {
        "nova-instances": Status.OK, "cinder-volumes": Status.OK}


def test_a_configured_volume_that_does_not_exist_is_critical(tmp_path: Path) -> None:
    program = gluster_program(tmp_path, "healthy")
    out = GlusterSource([str(program)], "gl1", 5, ["nova-instances", "manila-shares"]).collect()
    [missing] = checks(out, "glusterfs.volume", volume="manila-shares")
    assert missing.status is Status.CRITICAL and "no such volume" in missing.message
    [nova] = checks(out, "glusterfs.volume", volume="nova-instances")
    assert nova.status is Status.OK


def test_every_metric_is_emitted(tmp_path: Path) -> None:
    assert_covered([collect(tmp_path, s) for s in ("healthy", "split-brain")], "infra.glusterfs")


def test_a_volume_without_self_heal_is_judged_on_its_bricks(tmp_path: Path) -> None:
    folder = DATA / "healthy"
    program = fake_program(tmp_path, "gluster", f"""
case "$*" in
  *"volume status"*) cat {folder}/volume-status.xml ;;
  *"volume info"*) cat {folder}/volume-info.xml ;;
  *"heal nova-instances"*) echo '{NOT_REPLICATED}'; exit 2 ;;
  *) cat {folder}/heal-$4.xml ;;
esac""")
    out = GlusterSource([str(program)], "gl1", 5).collect()
    [volume] = checks(out, "glusterfs.volume", volume="nova-instances")
    assert volume.status is Status.OK
    with pytest.raises(SourceUnavailable, match="not of type replicate/disperse"):
        parse_heal(NOT_REPLICATED, "scratch")


@pytest.mark.parametrize(("script", "error", "words"), [
    ("echo 'Connection failed. Please check if gluster daemon is operational.'; exit 1",
     SourceUnavailable, "gluster volume status all: exit status 1: Connection failed"),
    ("echo 'No volumes present'", InvalidResponse, "gluster volume status: not XML"),
    ("echo '<cliOutput><opRet>-1</opRet><opErrstr>Another transaction is in progress"
     "</opErrstr></cliOutput>'", SourceUnavailable, "Another transaction is in progress"),
    ("printf '<cliOutput><opRet>0</opRet><volStat'", InvalidResponse, "not XML"),
])
def test_failures(tmp_path: Path, script: str, error: type[Exception], words: str) -> None:
    program = fake_program(tmp_path, "gluster", script)
    with pytest.raises(error, match=words):
        GlusterSource([str(program)], "gl1", 5).collect()


@pytest.mark.integration
def test_a_hanging_gluster_is_unknown_after_the_timeout(tmp_path: Path) -> None:
    program = fake_program(tmp_path, "gluster", "sleep 30")
    with pytest.raises(SourceTimeout, match="gluster volume status all: no answer within 1s"):
        GlusterSource([str(program)], "gl1", 1).collect()
