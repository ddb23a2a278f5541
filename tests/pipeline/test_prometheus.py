"""A real Prometheus (Debian's package) scrapes /metrics and can query what it got."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stackwatch.config import parse_config
from stackwatch.server import Monitor

from .conftest import ConstantSource, DownSource

pytestmark = pytest.mark.integration


def _binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: scripts/test installs Debian's 'prometheus' package"
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_promtool_finds_no_problem_in_the_exposition(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s")},
                           "intervals": {"api": 0.2}})
    with Monitor(config, [ConstantSource("api.compute"), DownSource("api.network")],
                 listen=("127.0.0.1", 0)) as monitor:
        assert monitor.wait_for_runs(2, timeout=10)
        with urllib.request.urlopen(monitor.url + "/metrics", timeout=5) as response:
            body = response.read()
    result = subprocess.run([_binary("promtool"), "check", "metrics"], input=body,
                            capture_output=True, check=False, timeout=30)
    problems = (result.stdout + result.stderr).decode()
    # the test source's metric is deliberately undeclared (untyped, no help of its own)
    problems = "\n".join(line for line in problems.splitlines()
                         if line and "stackwatch_test_value" not in line)
    assert problems == "", problems


def test_prometheus_scrapes_and_queries(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s")},
                           "intervals": {"api": 0.5}})
    with Monitor(config, [ConstantSource("api.compute"), DownSource("api.network")],
                 listen=("127.0.0.1", 0)) as monitor:
        assert monitor.wait_for_runs(2, timeout=10)
        target = monitor.url.removeprefix("http://")
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: stackwatch\n    static_configs: [{{targets: ['{target}']}}]\n")
        port = _free_port()
        with (tmp_path / "prometheus.log").open("wb") as log_file:
            process = subprocess.Popen(
                [_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            query = urllib.parse.quote("stackwatch_source_up")
            deadline = time.monotonic() + 45
            result: list[Any] = []
            while time.monotonic() < deadline and len(result) < 2:
                time.sleep(0.5)
                try:
                    result = _get(f"http://127.0.0.1:{port}/api/v1/query?query={query}")[
                        "data"]["result"]
                except OSError:
                    continue
            log = (tmp_path / "prometheus.log").read_text(errors="replace")
            assert len(result) == 2, log[-2000:]
            values = {r["metric"]["source"]: float(r["value"][1]) for r in result}
            assert values == {"api.compute": 1.0, "api.network": 0.0}
            targets = _get(f"http://127.0.0.1:{port}/api/v1/targets")["data"]["activeTargets"]
            assert [t["health"] for t in targets] == ["up"], targets
        finally:
            process.terminate()
            process.wait(20)
