"""The commands through click's CliRunner: formats, Nagios exit codes, clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.cli import main
from stackwatch.model import CheckResult, Collection, Status, make_labels
from stackwatch.store.sqlite import SQLiteStore

from .conftest import member_check

pytestmark = pytest.mark.unit

CLOUDS_YAML = """\
clouds:
  refused:
    auth:
      auth_url: http://127.0.0.1:9/identity/v3
      username: admin
      password: secret-not-printed
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A cloud whose keystone refuses connections (port 9 on 127.0.0.1)."""
    (tmp_path / "clouds.yaml").write_text(CLOUDS_YAML)
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds:\n  - {name: refused, clouds_yaml: clouds.yaml}\n"
                    "store: {path: store.sqlite}\ntimeouts: {api: 20}\n")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_collect_once_json_reports_each_source_unknown(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "--format", "json",
                    "-s", "api.compute", "-s", "api.identity")
    assert code == 3, out
    data = json.loads(out)
    assert [s["source"] for s in data["sources"]] == ["api.identity", "api.compute"]
    assert all(not s["ok"] and "SourceUnavailable" in s["reason"] for s in data["sources"])
    checks = [c for c in data["checks"] if c["name"] == "stackwatch_source"]
    assert {c["status"] for c in checks} == {"UNKNOWN"}
    assert all("age_seconds" in s for s in data["samples"])
    assert "secret-not-printed" not in out


def test_collect_once_prometheus_and_table(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "--format", "prometheus",
                    "-s", "api.image")
    assert code == 3
    families = {f.name: f for f in text_string_to_metric_families(out)}
    assert [s.value for s in families["stackwatch_source_up"].samples] == [0.0]
    code, out = run("collect", "--once", "--config", str(config), "-s", "api.image")
    assert code == 3
    assert out.splitlines()[0].split() == ["SOURCE", "STATUS", "SECONDS", "SAMPLES", "REASON"]
    assert out.splitlines()[1].startswith("api.image")


def test_unknown_source_name_is_a_usage_error(config: Path) -> None:
    code, out = run("collect", "--once", "--config", str(config), "-s", "api.nothing")
    assert code == 2
    assert "no source matches api.nothing" in out


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text("clouds: [{name: a, colour: red}]\n")
    code, out = run("status", "--config", str(path))
    assert code == 2
    assert f"stackwatch: error: {path}: clouds.0.colour" in out


def test_status_collecting_from_a_refused_cloud_is_unknown(config: Path) -> None:
    code, out = run("status", "--config", str(config), "-s", "api.compute")
    assert code == 3
    lines = out.splitlines()
    assert lines[0].startswith("STACKWATCH UNKNOWN - ")
    assert any("nova-compute" in line and "could not look: source api.compute failed" in line
               for line in lines)
    assert "sources:" in lines


@pytest.mark.parametrize(
    ("members", "code", "named"),
    [
        ([("nova-compute", "cmp1", Status.OK), ("nova-compute", "cmp2", Status.OK)], 0, None),
        ([("nova-compute", "cmp1", Status.OK), ("nova-compute", "cmp2", Status.CRITICAL)], 1,
         "nova-compute"),
        ([("neutron-l3-agent", "net1", Status.CRITICAL)], 2, "neutron-l3-agent"),
    ],
)
def test_status_from_store_exit_codes(
    config: Path, members: list[tuple[str, str, Status]], code: int, named: str | None
) -> None:
    store = SQLiteStore(config.parent / "store.sqlite")
    store.write(Collection(checks=tuple(member_check(*m) for m in members)))
    store.close()
    exit_code, out = run("status", "--config", str(config), "--from-store")
    assert exit_code == code, out
    summary = out.splitlines()[0]
    if named:
        assert named in summary
    else:
        assert summary.startswith("STACKWATCH OK - all 1 watched services OK")
    exit_code, out = run("status", "--config", str(config), "--from-store", "--format", "json",
                         "--members")
    assert json.loads(out)["code"] == code


def test_status_from_store_treats_stale_checks_as_unknown(config: Path) -> None:
    store = SQLiteStore(config.parent / "store.sqlite")
    old = CheckResult("service_state", Status.OK, "up",
                      make_labels(binary="nova-compute", host="cmp1"), timestamp=time.time() - 900)
    store.write(Collection(checks=(old,)))
    store.close()
    code, out = run("status", "--config", str(config), "--from-store", "--max-age", "300",
                    "--members")
    assert code == 3
    assert "stale: last seen 900 s ago" in out


def test_status_from_store_without_store_says_so(config: Path) -> None:
    code, out = run("status", "--config", str(config), "--from-store")
    assert code == 2
    assert "no store; is `stackwatch server` running?" in out
