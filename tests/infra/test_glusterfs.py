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
    assert {dict(c.labels)["host"]: c.status for c in checks(out, "glusterfs.brick")} == {
        "gl1": Status.OK, "gl2": Status.OK, "gl3": Status.OK}
    health = evaluate(default_catalog(), out.checks).service("glusterfs")
    assert health is not None and health.status is Status.OK and len(health.members) == 3


@pytest.mark.parametrize(("state", "check", "labels", "status", "words"), [
    ("brick-down", "glusterfs.brick", {"host": "gl2"}, Status.WARNING,
     "gl2: bricks down: nova-instances /bricks/nova/brick"),
    ("brick-down", "glusterfs.volume", {"volume": "nova-instances"}, Status.WARNING,
     "1 of 3 bricks down: gl2:/bricks/nova/brick; 428 entries to heal"),
    ("heal-pending", "glusterfs.volume", {"volume": "nova-instances"}, Status.WARNING,
     "74 entries to heal (gl1:/bricks/nova/brick 39, gl3:/bricks/nova/brick 35)"),
    ("split-brain", "glusterfs.volume", {"volume": "cinder-volumes"}, Status.CRITICAL,
     "4 entries in split-brain"),
    ("split-brain", "glusterfs.brick", {"host": "gl3"}, Status.WARNING,
     "self-heal daemon down"),
])
def test_each_failure_state(tmp_path: Path, state: str, check: str, labels: dict[str, str],
                            status: Status, words: str) -> None:
    out = collect(tmp_path, state)
    assert_declared(out, source="infra")
    [found] = checks(out, check, **labels)
    assert found.status is status and words in found.message, found


def test_a_brick_down_cannot_say_what_it_has_to_heal(tmp_path: Path) -> None:
    out = collect(tmp_path, "brick-down")
    heal = {s.label("brick"): s.value for s in out.samples
            if s.name == "glusterfs_heal_entries" and s.label("volume") == "nova-instances"}
    assert heal == {"gl1:/bricks/nova/brick": 214, "gl3:/bricks/nova/brick": 214}
    up = {s.label("brick"): s.value for s in out.samples if s.name == "glusterfs_brick_up"
          and s.label("volume") == "nova-instances"}
    assert up["gl2:/bricks/nova/brick"] == 0


def test_every_metric_is_emitted(tmp_path: Path) -> None:
    assert_covered([collect(tmp_path, s) for s in ("healthy", "split-brain")], "infra.glusterfs")


def test_a_volume_without_self_heal_is_judged_on_its_bricks(tmp_path: Path) -> None:
    folder = DATA / "healthy"
    program = fake_program(tmp_path, "gluster", f"""
case "$*" in
  *"volume status"*) cat {folder}/volume-status.xml ;;
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
