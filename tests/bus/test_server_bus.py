"""The consumer inside ``stackwatch server`` (a thread beside collection, its metrics on
/metrics), and ``stackwatch usage-audit`` on what it stored."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bus.helpers import publish, wait_for
from stackwatch.cli import main
from stackwatch.config import parse_config
from stackwatch.model import Collection
from stackwatch.server import Monitor
from stackwatch.sim import notifications as notes

pytestmark = pytest.mark.integration


class NoSource:
    name = "api.compute"

    def collect(self) -> Collection:
        return Collection()


def test_server_consumes_and_usage_audit_reports(rabbitmq: Any, tmp_path: Path) -> None:
    prefix = f"stackwatch-s{time.monotonic_ns()}"
    settings = {"clouds": [{"name": "x", "bus": {"url": rabbitmq.url, "queue_prefix": prefix,
                                                 "batch_seconds": 0.05}}],
                "store": {"path": str(tmp_path / "s.db")}, "intervals": {"api": 3600}}
    config = parse_config(settings)
    now = datetime.now(UTC)
    launched = now - timedelta(hours=3)
    vm = "00000000-0000-4000-8000-0000000000aa"
    boot = notes.build("compute.instance.create.end", launched, {
        "instance_id": vm, "instance_flavor_id": "f1",
        "launched_at": f"{launched:%Y-%m-%dT%H:%M:%S}.000000"}, publisher_id="compute.cmp-3")
    with Monitor(config, [NoSource()], listen=("127.0.0.1", 0)) as monitor:
        [consumer] = monitor.consumers
        wait_for("the server's consumer bound its queues", lambda: consumer.counters.connected)
        publish(rabbitmq.url, [boot])
        wait_for("stored", lambda: consumer.counters.stored >= 1)
        consumer._write_metrics(force=True)
        with urllib.request.urlopen(f"{monitor.url}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        assert "stackwatch_bus_connected 1.0" in text
        assert "stackwatch_bus_messages_stored_total 1.0" in text
    (tmp_path / "stackwatch.yaml").write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(main, ["usage-audit", "--config",
                                       str(tmp_path / "stackwatch.yaml")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("WARNING - 1 usage discrepancies (missing-exists)")
    assert f"{vm}  missing-exists" in result.output
    from kombu.connection import Connection

    with Connection(rabbitmq.url) as conn:  # type: ignore[no-untyped-call]
        channel = conn.channel()
        for topic in config.clouds[0].bus.topics:
            channel.queue_delete(f"{prefix}.{topic}")
