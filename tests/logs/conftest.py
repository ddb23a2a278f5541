"""Fixtures for the log tests: the recorded real logs and a store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# Real OpenStack 2026.1 log files, recorded by scripts/record_logs.py (see its README).
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "recorded" / "logs"


@pytest.fixture(scope="session")
def reference_logs() -> Path:
    """``tests/data/recorded/logs``: the tails of real OpenStack 2026.1 log files."""
    if not REFERENCE.is_dir():
        pytest.fail(f"recorded logs missing at {REFERENCE}")
    return REFERENCE


def reference_files() -> list[Path]:
    """Every recorded log file (INDEX.json and README.md excluded), sub-folders included."""
    return sorted(p for p in REFERENCE.rglob("*")
                  if p.is_file() and p.name not in ("INDEX.json", "README.md"))
