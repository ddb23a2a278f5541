"""The monitor end to end on 127.0.0.1: loop → store → web, with real sources and HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.cli import main
from stackwatch.config import parse_config
from stackwatch.errors import StackwatchError
from stackwatch.server import Monitor

from .conftest import ConstantSource, DownSource, SlowSource

pytestmark = pytest.mark.integration


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_monitor_collects_stores_and_serves(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s.db")},
                           "intervals": {"api": 0.2, "sql": 0.2}, "timeouts": {"sql": 0.3}})
    slow = SlowSource("sql.nova", seconds=30)
    sources = [ConstantSource("api.compute"), DownSource("api.network"), slow]
    try:
        with Monitor(config, sources, listen=("127.0.0.1", 0)) as monitor:
            assert monitor.url.startswith("http://127.0.0.1:")
            assert monitor.wait_for_runs(6, timeout=20)
            families = {f.name: f for f in text_string_to_metric_families(
                get(monitor.url + "/metrics"))}
            up = {s.labels["source"]: s.value for s in families["stackwatch_source_up"].samples}
            assert up == {"api.compute": 1.0, "api.network": 0.0, "sql.nova": 0.0}
            assert families["stackwatch_test_value"].type == "unknown"
            sources_view = {s["source"]: s for s in json.loads(
                get(monitor.url + "/api/v1/sources"))}
            assert "timed out after 0.3 s" in sources_view["sql.nova"]["message"] or (
                "previous run still hung" in sources_view["sql.nova"]["message"])
            assert sources_view["api.network"]["errors_total"] >= 1
    finally:
        slow.release.set()
    assert (tmp_path / "s.db").exists()


def test_server_command_runs_for_a_duration(tmp_path: Path) -> None:
    (tmp_path / "stackwatch.yaml").write_text(
        "clouds: [{name: nowhere, clouds_yaml: clouds.yaml}]\nstore: {path: store.sqlite}\n")
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    result = CliRunner().invoke(main, ["server", "--config", str(tmp_path / "stackwatch.yaml"),
                                       "--listen", "127.0.0.1:0", "--duration", "1.5"])
    assert result.exit_code == 0, result.output
    assert "stackwatch server: 6 sources" in result.output
    assert "serving on http://127.0.0.1:" in result.output
    assert (tmp_path / "store.sqlite").exists()


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s.db")}})
    with Monitor(config, [], listen=("127.0.0.1", 0)) as first:
        port = int(first.url.rpartition(":")[2])
        second = Monitor(config, [], listen=("127.0.0.1", port))
        with pytest.raises(StackwatchError, match=f"cannot listen on 127.0.0.1:{port}"):
            second.start()


def test_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "stackwatch.yaml").write_text(
        "clouds: [{name: nowhere, clouds_yaml: clouds.yaml}]\nstore: {path: store.sqlite}\n"
        "web: {listen: '127.0.0.1:0'}\n")
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    process = subprocess.Popen(
        [sys.executable, "-c", "from stackwatch.cli import main; main()", "server",
         "--config", str(tmp_path / "stackwatch.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        assert get(url + "/api/v1/health")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
