"""Fixtures of the source tests: the recorded cloud replayed over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sources.replay import ReplayCloud


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayCloud]:
    """The recorded 2026.1 cloud on 127.0.0.1, fresh for each test."""
    with ReplayCloud(tmp_path) as cloud:
        yield cloud
