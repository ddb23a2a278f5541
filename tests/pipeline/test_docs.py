"""docs/metrics.md is generated from the catalog and must be current; the README's
commands can be had by its own instructions."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_metric_docs_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_metric_docs.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        "docs/metrics.md does not match the catalog; run `python3 scripts/gen_metric_docs.py`"
        f" and commit it.\n{result.stderr}")


def test_metric_docs_list_every_metric() -> None:
    from stackwatch.catalog.loader import load_catalog

    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for name in load_catalog().metrics:
        assert f"| `{name}` |" in text


def _readme_commands(text: str) -> list[str]:
    """The programs the README's bash blocks run (first word of each command)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            for part in re.split(r"&&|\|", line.split("#", 1)[0]):
                words = part.split()
                if words:
                    commands.append(words[0])
    return commands


def test_readme_says_how_to_get_every_program_it_runs() -> None:
    """``pip install -e .`` gives ``stackwatch``; the openstack client is the cli extra."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    provided = {"stackwatch": "pip install -e .", "openstack": "pip install -e '.[cli]'"}
    used = set(_readme_commands(text)) - {"pip", "bash", "export", "python3"}
    assert "openstack" in used or "openstack CLI" not in text
    for program in used:
        assert program in provided, f"README runs {program}: say how to install it"
        assert provided[program] in text, (program, provided[program])
    assert any(r.startswith("python-openstackclient") for r in extras["cli"])
