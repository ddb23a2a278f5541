"""`stackwatch alarms check-config` and `stackwatch export prometheus-rules`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stackwatch.cli import main

pytestmark = pytest.mark.unit


def test_check_config_names_each_bad_alarm_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text(yaml.safe_dump({"alarms": [
        {"name": "api-endpoint-slow", "threshold": 0.5},
        {"name": "typo", "metric": "openstack_nova_up", "thresold": 1},
        {"name": "nan", "metric": "openstack_nova_up", "threshold": "eighty"}]}))
    result = CliRunner().invoke(main, ["alarms", "check-config", str(path)])
    assert result.exit_code == 1
    assert f"{path}: typo.thresold: unknown field" in result.output
    assert f"{path}: nan.threshold: Input should be a valid number" in result.output
    assert "with problems" in result.output


def test_check_config_of_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text(yaml.safe_dump({"alarms": [{"name": "disk-80", "enabled": False}]}))
    result = CliRunner().invoke(main, ["alarms", "check-config", str(path)])
    assert result.exit_code == 0 and "0 with problems" in result.output


def test_exported_default_rules_pass_promtool(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text(yaml.safe_dump({"alarms": [
        {"name": "pair", "composite": {"and": ["disk-80", "disk-90"]}},
        {"name": "office", "check": "api.endpoint", "time_constraints": [
            {"start": "0 9 * * 1-5", "duration": 28800}]}]}))
    result = CliRunner().invoke(main, ["export", "prometheus-rules", "--alarms", str(path)])
    assert result.exit_code == 0, result.output
    assert "# pair: skipped: composite alarm" in result.output
    assert "# office: time constraints not exported" in result.output
    rules = yaml.safe_load(result.output)["groups"][0]["rules"]
    by_name = {r["alert"]: r for r in rules}
    assert by_name["disk-90"]["expr"] == (
        "(last_over_time(stackwatch_node_filesystem_avail_bytes[120s])) / "
        "(last_over_time(stackwatch_node_filesystem_size_bytes[120s])) < 0.1")
    assert by_name["process-missing"]["expr"] == (
        'stackwatch_check_status{check="node.process"} >= 1 <= 2')
    (tmp_path / "rules.yml").write_text(result.output)
    check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")],
                           capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
