"""The repository stands alone: no code names a development machine's paths, and no test
but the realcloud ones reads anything beside the repository (``../shared``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CODE = ("src", "tests", "bench", "scripts")
SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg", ".ini", ""}
# Recorded data keeps what the real services wrote (its paths are rewritten to
# conventional ones by the recording scripts, and checked in tests/recorded).
RECORDED_LOGS = REPO / "tests" / "data" / "recorded" / "logs"
# Absolute paths of a development machine: home directories, the team's work tree,
# the realcloud's default root. Written in pieces so this file does not match itself.
DEV_PATH = re.compile("(?<![\\w.~-])/(?:" + "|".join(("wo" + "rk", "ho" + "me", "ro" + "ot",
                                                        "Us" + "ers")) + ")/"
                      "|/tmp/" + "real" + "cloud|/tmp/" + "rc-")
# A path built to ``../shared`` (a docstring naming where a design came from is no read).
SHARED = re.compile("[\"']shared/|/ *[\"']shared[\"']|[\"']\\.\\./shared")


def _code_files() -> list[Path]:
    files = []
    for top in CODE:
        for path in (REPO / top).rglob("*"):
            if (path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts
                    and RECORDED_LOGS not in path.parents):
                files.append(path)
    return sorted(files)


def test_no_code_names_a_development_machines_path() -> None:
    found = []
    for path in _code_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if DEV_PATH.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    assert not found, "absolute paths of a development machine:\n" + "\n".join(found)


def test_only_the_realcloud_tests_read_beside_the_repository() -> None:
    realcloud = REPO / "tests" / "realcloud"
    found = []
    for path in _code_files():
        if path.suffix != ".py" or realcloud in path.parents or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SHARED.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    assert not found, "reads ../shared (only tests/realcloud may):\n" + "\n".join(found)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    assert DEV_PATH.search('REFERENCE = Path("/' + 'work/shared/reference/db")')
    assert DEV_PATH.search("/" + "home/alice/x") and DEV_PATH.search("/" + "root/.pyenv")
    assert DEV_PATH.search("--root /tmp/" + "realcloud")
    assert not DEV_PATH.search("/var/log/nova/nova-api.log /usr/lib/python3 ~/work/x")
    assert SHARED.search('parents[3] / "shared" / "' + 'reference"')
    assert SHARED.search('parents[3] / "' + 'shared/reference/infra/ps.txt"')
    assert not SHARED.search("Payloads follow the recordings in ``shared/reference/api``")
