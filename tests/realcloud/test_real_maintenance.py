"""Compute maintenance against the real nova: ``stackwatch fix compute-maintenance``
disables a real nova-compute with its reason (dry run first, then ``--apply``) and
enables it again; nova's os-services shows the reason between, and the store's audit
log holds both actions with who made them. The host is enabled again whatever happens."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from realcloud.cloud import RealCloud
from realcloud.truth import Truth
from stackwatch.cli import main as stackwatch_cli
from stackwatch.store.sqlite import SQLiteStore

HOST = "fake-compute-1"
REASON = "realcloud test: compute maintenance runbook"


def nova_compute(truth: Truth) -> dict[str, object]:
    rows = [s for s in truth.cli("compute", "service", "list", "--long")
            if s["Host"] == HOST and s["Binary"] == "nova-compute"]
    assert len(rows) == 1, rows
    return dict(rows[0])


@pytest.fixture
def config(realcloud: RealCloud, truth: Truth, tmp_path: Path) -> Iterator[Path]:
    """stackwatch.yaml with the fix enabled and this user an operator; the host is
    enabled again after the test, whatever happened."""
    assert nova_compute(truth)["Status"] == "enabled"
    data = realcloud.stackwatch_config(store=tmp_path / "stackwatch.sqlite")
    data["fixes"] = {"enabled": ["compute-maintenance"], "cli_operators": [getpass.getuser()]}
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        yield path
    finally:
        truth.run("compute", "service", "set", "--enable", HOST, "nova-compute")


def fix(config: Path, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(stackwatch_cli, ["fix", "compute-maintenance", *args,
                                                 "--config", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.output)
    return answer


def test_disable_and_enable_a_real_compute_host(config: Path, truth: Truth) -> None:
    dry = fix(config, f"host={HOST}", f"reason={REASON}")
    assert [(c["action"], c["target"], c["after"]) for c in dry["changes"]] == [  # type: ignore[union-attr]
        ("disable", f"nova-compute {HOST}", f"disabled: {REASON}")]
    notes = dry["notes"]
    assert isinstance(notes, list) and any("room elsewhere" in n for n in notes), notes
    assert nova_compute(truth)["Status"] == "enabled"  # the dry run changed nothing

    done = fix(config, f"host={HOST}", f"reason={REASON}", "--apply")
    assert done["ok"], done
    shown = nova_compute(truth)
    assert (shown["Status"], shown["Disabled Reason"]) == ("disabled", REASON)

    back = fix(config, f"host={HOST}", "enable=yes")
    assert any(n.startswith(f"after-work check: {HOST} service: ok")
               for n in back["notes"]), back  # type: ignore[union-attr]
    assert fix(config, f"host={HOST}", "enable=yes", "--apply")["ok"]
    shown = nova_compute(truth)
    assert (shown["Status"], shown["Disabled Reason"]) == ("enabled", None)

    data = yaml.safe_load(config.read_text())
    store = SQLiteStore(Path(data["store"]["path"]))
    try:
        entries = store.audit(0, 4e9, runbook="compute-maintenance")
    finally:
        store.close()
    applied = sorted((e.action, e.after, e.result, e.actor) for e in entries if not e.dry_run)
    actor = f"cli:{getpass.getuser()}"
    assert applied == [("disable", f"disabled: {REASON}", "applied", actor),
                       ("enable", "enabled", "applied", actor)]
    assert sum(e.dry_run for e in entries) == 2
