"""``stackwatch diagnose`` and ``stackwatch fix`` on the simulator: the verdict is the
exit code, the dry run prints the moves and changes nothing, ``--apply`` carries it
out, and a refusal exits 2 with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stackwatch.cli import main
from stackwatch.config import load_config
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.sqlite import SQLiteStore

from .test_fixer import bindings

pytestmark = pytest.mark.integration


def config_file(cloud: SimulatedCloud, tmp_path: Path, **fixes: object) -> Path:
    data = yaml.safe_load(cloud.config_path.read_text())
    data["clouds"][0]["clouds_yaml"] = str(cloud.clouds_yaml)
    data["store"] = {"path": str(tmp_path / "store.sqlite")}
    data["fixes"] = fixes
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_diagnose_dry_run_apply_and_a_refusal(cloud: SimulatedCloud, tmp_path: Path) -> None:
    runner = CliRunner()
    disabled = config_file(cloud, tmp_path)
    healthy = runner.invoke(main, ["diagnose", "l3-failover", "--config", str(disabled)])
    assert healthy.exit_code == 0, healthy.output
    assert "l3-failover: OK" in healthy.output
    cloud.inject("l3-agent-dead")
    try:
        sick = runner.invoke(main, ["diagnose", "l3-failover", "--config", str(disabled),
                                    "--format", "json"])
        assert sick.exit_code == 2, sick.output
        [found] = json.loads(sick.output)
        assert found["verdict"] == "CRITICAL" and "stranded" in found["summary"]
        before = bindings(cloud)
        dry = runner.invoke(main, ["fix", "l3-failover", "--config", str(disabled)])
        assert dry.exit_code == 0, dry.output
        assert "dry run (nothing changed" in dry.output and " move " in dry.output
        assert bindings(cloud) == before
        refused = runner.invoke(main, ["fix", "l3-failover", "--apply", "--config",
                                       str(disabled)])
        assert refused.exit_code == 2
        assert "refused: l3-failover is not enabled" in refused.output
        assert bindings(cloud) == before
        enabled = config_file(cloud, tmp_path, enabled=["l3-failover"])
        done = runner.invoke(main, ["fix", "l3-failover", "--apply", "--config",
                                    str(enabled)])
        assert done.exit_code == 0, done.output
        assert bindings(cloud) != before
        after = runner.invoke(main, ["diagnose", "l3-failover", "--config", str(enabled)])
        assert after.exit_code == 0 and "no router stranded" in after.output
        bad = runner.invoke(main, ["fix", "l3-failover", "colour=blue", "--config",
                                   str(enabled)])
        assert bad.exit_code == 2 and "unknown argument(s) colour" in bad.output
    finally:
        cloud.clear("l3-agent-dead")
    config = load_config(enabled)
    store = SQLiteStore(config.store.path)
    try:
        entries = store.audit(0, 2e9)
    finally:
        store.close()
    results = {e.result.split(":")[0] for e in entries}
    assert {"dry run", "refused", "applied"} <= results
    assert all(e.actor.startswith("cli:") for e in entries)
