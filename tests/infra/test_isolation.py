"""The infrastructure sources from stackwatch.yaml, run by the runner side by side: a refused
RabbitMQ, a hanging crm_mon and a missing ovs-vsctl are each UNKNOWN with the reason and
counted, while a working memcached and libvirt are read; no password shows anywhere."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from infra.faulty import fake_program
from servers import RabbitMQ, start_memcached
from stackwatch.catalog.loader import default_catalog
from stackwatch.config import load_config
from stackwatch.health.evaluate import evaluate
from stackwatch.model import Status
from stackwatch.runner import Runner
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.integration

SECRET = "Rabb1t-pw-never-shown"
NODE = Path(__file__).resolve().parents[1] / "data" / "infra" / "libvirt" / "node.xml"


def test_failing_pieces_never_stop_the_others(rabbitmq: RabbitMQ, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    crm_mon = fake_program(tmp_path, "crm_mon", "sleep 30")
    caplog.set_level(logging.DEBUG)
    with start_memcached() as memcached:
        path = tmp_path / "stackwatch.yaml"
        path.write_text(f"""
clouds:
  - name: c
    infra:
      command_timeout: 1
      rabbitmq: {{url: "http://127.0.0.1:{rabbitmq.mgmt_port}", user: guest,
                 password: {SECRET}}}
      memcached: {{servers: [{{address: "{memcached.address}", host: ctl1}}]}}
      pacemaker: {{command: ["{crm_mon}"]}}
      libvirt: {{command: ["{shutil.which('virsh') or 'virsh'}"], uri: "test://{NODE}",
                host: cmp1}}
      ovs: {{command: ["{tmp_path / 'missing' / 'ovs-vsctl'}"]}}
""")
        config = load_config(path)
        sources = [s for s in build_sources(config) if s.name.startswith("infra.")]
        runner = Runner(sources, timeout=config.timeout, catalog=default_catalog())
        started = time.monotonic()
        runs = {run.source: run for run in runner.run_once()}
        elapsed = time.monotonic() - started
    assert elapsed < 20
    assert runs["infra.memcached"].ok and runs["infra.libvirt"].ok
    reasons = {name: runs[name].reason for name in ("infra.rabbitmq", "infra.pacemaker",
                                                    "infra.ovs")}
    assert "SourceAuthError" in reasons["infra.rabbitmq"] and "HTTP 401" in reasons[
        "infra.rabbitmq"]
    assert "SourceTimeout" in reasons["infra.pacemaker"]
    assert "not found" in reasons["infra.ovs"]
    for name in reasons:
        assert not runs[name].ok
        errors = [s.value for s in runs[name].collection.samples
                  if s.name == "stackwatch_source_errors_total"]
        assert errors == [1], name
    checks = [c for run in runs.values() for c in run.collection.checks]
    health = evaluate(default_catalog(), checks)
    memcached_health, rabbit = health.service("memcached"), health.service("rabbitmq")
    assert memcached_health is not None and memcached_health.status is Status.OK
    assert rabbit is not None and rabbit.status is Status.UNKNOWN
    assert "could not look" in rabbit.message   # not "not watched"
    everything = caplog.text + repr(runs) + health.message
    assert SECRET not in everything
