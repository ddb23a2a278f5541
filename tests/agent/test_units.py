"""The systemd units: what ships is what ``install-units`` writes by default, systemd reads
both without a complaint, and they are hardened."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackwatch.agent.units import UNITS, render, shipped
from stackwatch.cli import main

pytestmark = pytest.mark.unit

ANALYZE = shutil.which("systemd-analyze")


def _fake_stackwatch(directory: Path) -> Path:
    program = directory / "bin" / "stackwatch"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    return program


def _keys(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values (a key may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize("name", UNITS)
def test_the_package_ships_the_default_units(name: str) -> None:
    assert shipped(name) == render(name)


def test_install_units_writes_both_for_a_user(tmp_path: Path) -> None:
    program = _fake_stackwatch(tmp_path)
    result = CliRunner().invoke(main, ["install-units", "--prefix", str(tmp_path / "units"),
                                       "--user", "stackwatch", "--exec", str(program)])
    assert result.exit_code == 0, result.output
    agent = _keys((tmp_path / "units" / "stackwatch-agent.service").read_text())
    assert agent["Service"]["ExecStart"] == [
        f"{program} agent --config /etc/stackwatch/agent.yaml"]
    assert agent["Service"]["User"] == ["stackwatch"]
    assert "DynamicUser" not in agent["Service"]
    server = _keys((tmp_path / "units" / "stackwatch-server.service").read_text())
    assert server["Service"]["ExecStart"] == [
        f"{program} server --config /etc/stackwatch/stackwatch.yaml"]
    assert "wrote" in result.output and "systemctl daemon-reload" in result.output


@pytest.mark.parametrize("name", UNITS)
def test_the_units_are_hardened(name: str) -> None:
    service = _keys(render(name))["Service"]
    assert service["DynamicUser"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["Restart"] == ["on-failure"]
    assert service["NoNewPrivileges"] == ["yes"]
    state = service["StateDirectory"][0]
    assert service["WorkingDirectory"] == [f"/var/lib/{state}"]
    assert _keys(render(name))["Install"]["WantedBy"] == ["multi-user.target"]
    # parsed as systemd's ini dialect would be: no duplicate key, one value each
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(render(name))
    assert parser["Service"]["Type"] == "exec"


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("user", [None, "root"])
def test_systemd_reads_them_without_a_complaint(tmp_path: Path, user: str | None) -> None:
    assert ANALYZE is not None
    program = _fake_stackwatch(tmp_path)
    for name in UNITS:
        path = tmp_path / name
        path.write_text(render(name, str(program), user))
        done = subprocess.run([ANALYZE, "verify", "--man=no", str(path)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
        if user is None:  # a dynamic user: what systemd itself says of the hardening
            security = subprocess.run([ANALYZE, "security", "--offline=yes", str(path)],
                                      capture_output=True, text=True, timeout=120)
            summary = security.stdout.rsplit("exposure level for", 1)[1]
            level = float(summary.split(":")[1].split()[0])
            assert level <= 3.0, (name, level)  # systemd's scale: 0 (tight) .. 10 (exposed)
    # the check can fail: an unknown key and a bad value are reported
    bad = tmp_path / "bad.service"
    bad.write_text(render(UNITS[0], str(program)).replace("Restart=on-failure",
                                                          "Restart=on-failure\nRestartz=1"))
    done = subprocess.run([ANALYZE, "verify", "--man=no", str(bad)], capture_output=True,
                          text=True, timeout=120)
    assert "Unknown key" in done.stderr
