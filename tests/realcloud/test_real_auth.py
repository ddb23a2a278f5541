"""A wrong password in the monitor's clouds.yaml, as the real keystone's access log sees it.

Keystone counts every failed login towards ``lockout_failure_attempts``: one run of
the six API sources must cost one ``POST /v3/auth/tokens`` answered 401 (not one
per source), later cycles of the same monitor none (until clouds.yaml changes), and
the mended file must authenticate at the next cycle.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml
from click.testing import CliRunner

from realcloud.cloud import RealCloud
from stackwatch.cli import main as stackwatch_cli
from stackwatch.config import parse_config
from stackwatch.runner import Runner
from stackwatch.sources.registry import (
    API_SOURCE_NAMES,
    OPTIONAL_API_SOURCE_NAMES,
    build_sources,
)

WRONG = "not-the-monitor-password"
# keystone's access log (apache combined + duration); stackwatch's logins carry its own
# User-Agent ("stackwatch/0.1.0 keystoneauth1/..."), which tells them from others'
LOGIN = re.compile(r'"POST /v3/auth/tokens HTTP/1\.[01]" (\d{3}) \d+ "[^"]*" "stackwatch/')
SETTLE_S = 3.0  # gunicorn writes the access line as it answers; leave it time to land


class KeystoneLogins:
    """``POST /v3/auth/tokens`` lines appended to keystone's access log, by status."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def take(self) -> dict[int, int]:
        """Statuses of the logins logged since the last call."""
        time.sleep(SETTLE_S)
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read()
        end = text.rfind(b"\n") + 1  # a line being written is read next time
        self.offset += end
        seen: dict[int, int] = {}
        for line in text[:end].decode(errors="replace").splitlines():
            found = LOGIN.search(line)
            if found:
                status = int(found.group(1))
                seen[status] = seen.get(status, 0) + 1
        return seen


def _clouds_yaml(realcloud: RealCloud, path: Path, password: str) -> Path:
    data = yaml.safe_load(realcloud.clouds_yaml.read_text())
    for cloud in data["clouds"].values():
        cloud["auth"]["password"] = password
    path.write_text(yaml.safe_dump(data))
    return path


def _config(realcloud: RealCloud, workdir: Path, clouds_yaml: Path) -> dict[str, object]:
    config = realcloud.stackwatch_config(databases=(), store=workdir / "store.sqlite")
    clouds = config["clouds"]
    assert isinstance(clouds, list)
    clouds[0]["clouds_yaml"] = str(clouds_yaml)
    return config


def test_a_wrong_password_is_one_failed_login_in_keystones_log(
        realcloud: RealCloud, tmp_path: Path) -> None:
    clouds_yaml = _clouds_yaml(realcloud, tmp_path / "clouds.yaml", WRONG)
    config = _config(realcloud, tmp_path, clouds_yaml)
    config_path = tmp_path / "stackwatch.yaml"
    config_path.write_text(yaml.safe_dump(config))
    logins = KeystoneLogins(realcloud.log_dir / "keystone-access.log")

    # each `collect --once` is one cycle of a fresh monitor: one failed login each
    for _ in range(2):
        result = CliRunner().invoke(stackwatch_cli, ["collect", "--once", "--config",
                                                     str(config_path), "-s", "api"])
        assert result.exit_code == 3, result.output
        assert logins.take() == {401: 1}
        assert "refused at" in result.output and WRONG not in result.output

    # a long-running monitor (the server's runner): one, then none while refused
    sources = [s for s in build_sources(parse_config(config)) if s.name.startswith("api.")]
    # the six every cloud has and the optional services' (absent from this catalog): all
    # share the one login
    assert len(sources) == len(API_SOURCE_NAMES) + len(OPTIONAL_API_SOURCE_NAMES)
    runner = Runner(sources, 180)
    first = runner.run_once()
    assert logins.take() == {401: 1}
    assert not any(run.ok for run in first)
    assert all("not retrying until its credentials" in run.reason for run in first), first
    for _ in range(2):
        assert not any(run.ok for run in runner.run_once())
        assert logins.take() == {}

    # the password mended in the file: the next cycle authenticates, once
    _clouds_yaml(realcloud, clouds_yaml, realcloud.password)
    mended = runner.run_once()
    assert all(run.ok for run in mended), [run.reason for run in mended]
    assert logins.take() == {201: 1}

