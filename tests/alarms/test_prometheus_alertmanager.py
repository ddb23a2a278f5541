"""The real peers: Alertmanager (Debian's prometheus-alertmanager) receives stackwatch's
alerts and sees them resolved; Prometheus (Debian's prometheus) loads the exported rules
(`promtool check rules` passes) and, scraping stackwatch's /metrics, fires the same
alerts as stackwatch for a scenario: an API slow and its endpoint check CRITICAL."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from servers import free_port
from stackwatch.cli import main
from stackwatch.config import parse_config
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.server import Monitor

pytestmark = pytest.mark.integration

ALARMS = """
alarms:
  - name: nova-slow
    metric: openstack_api_endpoint_latency_seconds
    match: {service: nova}
    statistic: max
    period: 3
    threshold: 1
    severity: critical
  - name: endpoint-down
    check: api.endpoint
    status: [critical]
    group_by: [service]
"""


class Knob:
    """A source whose latency and endpoint status the test sets (the cloud it watches)."""

    name = "api.compute"

    def __init__(self) -> None:
        self.latency = 0.1
        self.status = Status.OK
        self.lock = threading.Lock()

    def collect(self) -> Collection:
        with self.lock:
            latency, status = self.latency, self.status
        now = time.time()
        return Collection(
            samples=(Sample.of("openstack_api_endpoint_latency_seconds", latency, now,
                               service="nova", region="R"),),
            checks=(CheckResult("api.endpoint", status, f"nova: {status.name}",
                                make_labels(service="nova", service_type="compute"),
                                timestamp=now),))

    def set(self, latency: float, status: Status) -> None:
        with self.lock:
            self.latency, self.status = latency, status


def _binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: scripts/test installs it"
    return path


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _until(what: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = what()
        except OSError:
            last = None
        if last:
            return last
        time.sleep(0.3)
    return last


@contextmanager
def running(args: list[str], log: Path, ready_url: str) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=out)
    try:
        assert _until(lambda: urllib.request.urlopen(ready_url, timeout=2).status == 200,
                      45), log.read_text(errors="replace")[-2000:]
        yield
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    (tmp_path / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    url = f"http://127.0.0.1:{port}"
    with running([_binary("prometheus-alertmanager"), f"--config.file={tmp_path / 'am.yml'}",
                  f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{port}",
                  "--cluster.listen-address="], tmp_path / "am.log", url + "/-/ready"):
        yield url


@pytest.fixture
def monitor(tmp_path: Path, alertmanager: str) -> Iterator[tuple[Monitor, Knob, Path]]:
    (tmp_path / "alarms.yaml").write_text(ALARMS)
    config = parse_config({
        "clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s.sqlite")},
        "intervals": {"api": 0.5},
        "alarms": {"file": str(tmp_path / "alarms.yaml"), "refresh": 2,
                   "actions": ["log://", "alertmanager+" + alertmanager]}})
    knob = Knob()
    with Monitor(config, [knob], listen=("127.0.0.1", 0)) as made:
        assert made.alarms is not None and made.alarms.wait_for_cycles(2, 30)
        yield made, knob, tmp_path / "alarms.yaml"


def firing(monitor: Monitor) -> set[str]:
    assert monitor.alarms is not None
    return {r.alarm for r in monitor.alarms.engine.current() if r.state == "alarm"}


def am_alerts(url: str) -> dict[str, dict[str, Any]]:
    return {a["labels"]["alertname"]: a for a in _get(url + "/api/v2/alerts")}


def test_alertmanager_receives_and_resolves(monitor: tuple[Monitor, Knob, Path],
                                            alertmanager: str) -> None:
    made, knob, _ = monitor
    knob.set(5.0, Status.CRITICAL)
    got = _until(lambda: {"nova-slow", "endpoint-down"} <= set(am_alerts(alertmanager)))
    assert got, am_alerts(alertmanager)
    alerts = am_alerts(alertmanager)
    slow = alerts["nova-slow"]
    assert slow["labels"] == {"alertname": "nova-slow", "severity": "critical",
                              "service": "nova", "region": "R"}
    assert slow["annotations"]["summary"] == "max over 3s 5 > 1"
    assert slow["status"]["state"] == "active"
    assert alerts["endpoint-down"]["labels"]["service"] == "nova"
    time.sleep(5)  # past a refresh (2 s): still active, not expired
    assert am_alerts(alertmanager)["nova-slow"]["status"]["state"] == "active"
    knob.set(0.1, Status.OK)
    resolved = _until(lambda: not ({"nova-slow", "endpoint-down"} & set(
        am_alerts(alertmanager))))
    assert resolved, am_alerts(alertmanager)
    assert firing(made) == set()


def test_prometheus_loads_the_rules_and_fires_the_same_alerts(
        monitor: tuple[Monitor, Knob, Path], tmp_path: Path) -> None:
    made, knob, alarms_file = monitor
    rules = tmp_path / "rules.yml"
    exported = CliRunner().invoke(main, ["export", "prometheus-rules", "--alarms",
                                         str(alarms_file), "--interval", "1", "-o", str(rules)])
    assert exported.exit_code == 0, exported.output
    check = subprocess.run([_binary("promtool"), "check", "rules", str(rules)],
                           capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    port = free_port()
    target = made.url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{rules}']\n"
        "scrape_configs:\n"
        f"  - job_name: stackwatch\n    static_configs: [{{targets: ['{target}']}}]\n")
    url = f"http://127.0.0.1:{port}"
    with running([_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                  f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prom.log",
                 url + "/-/ready"):
        def prometheus_firing() -> set[str]:
            alerts = _get(url + "/api/v1/alerts")["data"]["alerts"]
            return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

        time.sleep(4)  # a few scrapes of the calm cloud
        assert prometheus_firing() == firing(made) == set()
        knob.set(5.0, Status.CRITICAL)
        # the defaults on the same series fire too (api-endpoint-down, api-endpoint-slow)
        wanted = {"nova-slow", "endpoint-down", "api-endpoint-down", "api-endpoint-slow"}
        assert _until(lambda: firing(made) == wanted), firing(made)
        assert _until(lambda: prometheus_firing() == firing(made)), prometheus_firing()
        knob.set(0.1, Status.OK)
        # (the mean over 180 s may stay above 2 s a while: in both)
        assert _until(lambda: firing(made) == prometheus_firing() and not (
            firing(made) & (wanted - {"api-endpoint-slow"}))), (firing(made),
                                                                prometheus_firing())
