"""`stackwatch sim`: bad input is one line and exit 2; a running simulator takes faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from stackwatch.sim.cli import parse_latency, sim

pytestmark = pytest.mark.integration


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(sim, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--size", "huge"], "unknown size 'huge'"),
    (["--scenario", "meteor-strike"], "unknown scenario 'meteor-strike'"),
    (["--db-url", "not a url"], "bad --db-url"),
    (["--db-url", "mysql+pymysql://root@127.0.0.1:1/"], "cannot create the service databases"),
    (["--latency", "fast"], "is not a duration"),
    (["--servers", "-5"], "servers must be >= 0"),
    (["--scenario", "compute-down:planet=mars"], "unknown parameter"),
    (["--scenario", "compute-down:host"], "is not K=V"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], says: str) -> None:
    code, out, err = run("--workdir", str(tmp_path), *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stackwatch sim: error: ") and says in lines[0]


def test_unusable_workdir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    code, _, err = run("--workdir", str(tmp_path / "a-file" / "sim"))
    assert code == 2
    assert "cannot use" in err and len(err.strip().splitlines()) == 1


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run("--workdir", str(tmp_path), "--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1


def test_fault_without_a_running_simulator(tmp_path: Path) -> None:
    code, _, err = run("fault", "compute-down", "--workdir", str(tmp_path))
    assert code == 2 and "no simulator runs in" in err
    code, _, err = run("fault", "no-such-fault", "--workdir", str(tmp_path))
    assert code == 2 and "unknown scenario" in err


def test_latency_parsing() -> None:
    assert parse_latency("20ms") == pytest.approx(0.02)
    assert parse_latency("1.5s") == 1.5
    assert parse_latency("0") == 0.0


def test_scenarios_are_listed() -> None:
    code, out, _ = run("scenarios")
    assert code == 0
    for name in ("compute-down", "l3-agent-dead", "api-500", "token-bloat"):
        assert name in out


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("cli")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stackwatch.cli import main; main()", "sim",
         "--workdir", str(workdir),
         "--size", "small"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        assert proc.stdout is not None
        exports = {}
        for _ in range(2):
            line = proc.stdout.readline()
            assert line.startswith("export "), line
            key, _, value = line.removeprefix("export ").strip().partition("=")
            exports[key] = value
        yield workdir, exports
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not (workdir / "sim.json").exists()


def test_foreground_run_prints_exports_and_takes_faults(
        running: tuple[Path, dict[str, str]]) -> None:
    workdir, exports = running
    assert exports == {"OS_CLIENT_CONFIG_FILE": str(workdir / "clouds.yaml"),
                       "OS_CLOUD": "stackwatch-sim"}
    auth = yaml.safe_load((workdir / "clouds.yaml").read_text())["clouds"]["stackwatch-sim"]
    env = {**os.environ, **exports}
    listing = subprocess.run(["openstack", "compute", "service", "list", "-f", "value",
                              "-c", "Host", "-c", "State"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "compute-0002 up" in listing.stdout

    code, out, err = run("fault", "compute-down", "--param", "host=compute-0002",
                         "--workdir", str(workdir))
    assert code == 0, err
    assert "compute-0002" in out
    listing = subprocess.run(["openstack", "compute", "service", "list", "-f", "value",
                              "-c", "Host", "-c", "State"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert "compute-0002 down" in listing.stdout
    code, out, _ = run("fault", "compute-down", "--clear", "--workdir", str(workdir))
    assert code == 0 and "compute-0002" in out
    code, _, err = run("fault", "compute-down", "--param", "planet=mars",
                       "--workdir", str(workdir))
    assert code == 2 and "unknown parameter" in err
    assert requests.get(auth["auth"]["auth_url"], timeout=10).status_code == 200
    code, out, _ = run("status", "--workdir", str(workdir))
    assert code == 0 and json.loads(out)["counts"]["hypervisor"] == 4
