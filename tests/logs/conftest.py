"""Fixtures for the log tests: the recorded real logs and a store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "logs"


@pytest.fixture(scope="session")
def reference_logs() -> Path:
    """``../shared/reference/logs``: excerpts of real OpenStack 2026.1 log files."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference logs missing at {REFERENCE}")
    return REFERENCE


def reference_files() -> list[Path]:
    """Every recorded log file (INDEX.json excluded), sub-folders included."""
    return sorted(p for p in REFERENCE.rglob("*") if p.is_file() and p.name != "INDEX.json")
