"""docs/metrics.md is generated from the catalog and must be current."""

from __future__ import annotations

import subprocess
import sys
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
