"""The consumer against a real RabbitMQ (tests/servers.py) with the simulator publishing:
every type becomes an event, poison is set aside, failures are failed operations with
their fault, and a broker restart or a kill -9 of ``stackwatch consume`` in the middle of
a stream loses nothing and stores nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.helpers import consumers, counts, publish, publish_raw, stream, wait_for
from stackwatch.bus.consumer import NotificationConsumer
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import BusConfig
from stackwatch.model import Collection, Severity
from stackwatch.sim import ops
from stackwatch.sim.bus import NotificationBus
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.state import Actor, CloudState, acting
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[2] / "src"


def small_state(seed: int = 21) -> CloudState:
    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=seed, base_url="http://x", admin_password="p")
    return state


@pytest.fixture
def consumer(rabbitmq: Any, tmp_path: Path) -> Iterator[NotificationConsumer]:
    prefix = f"stackwatch-t{time.monotonic_ns()}"
    store = SQLiteStore(tmp_path / "store.sqlite")
    bus = BusConfig(url=rabbitmq.url, queue_prefix=prefix, batch_seconds=0.05)
    running = NotificationConsumer(bus, store).start()
    wait_for("the consumer bound its queues", lambda: running.counters.connected)
    yield running
    running.stop()
    from kombu.connection import Connection

    with Connection(rabbitmq.url) as conn:  # type: ignore[no-untyped-call]
        channel = conn.channel()
        for topic in bus.topics:
            channel.queue_delete(f"{prefix}.{topic}")
    store.close()


def busy_cloud(state: CloudState) -> dict[str, str]:
    """Boot, stop, start, delete a server, a failed boot (NoValidHost), a build failing on
    its host, a server failing a reboot, and deletions in cinder, neutron, glance."""
    rng = random.Random(5)
    proto = next(s for s in state.servers if s.vm_state == "active")
    ids: dict[str, str] = {}

    def boot(name: str, request_id: str) -> str:
        server = ops.create_server(state, name=name, project_id=proto.project_id,
                                   user_id=proto.user_id, flavor=proto.flavor,
                                   image_id=proto.image_id, request_id=request_id, rng=rng)
        return str(server.id)

    ids["ok"] = boot("bus-ok", "req-bus-ok")
    with acting(Actor(cause="api", request_id="req-bus-ok", user_id=proto.user_id,
                      project_id=proto.project_id)):
        ops.finish_build(state, ids["ok"], rng)
    for request_id, act in (
            ("req-bus-stop", lambda: ops.power(state, ids["ok"], False, "req-bus-stop")),
            ("req-bus-start", lambda: ops.power(state, ids["ok"], True, "req-bus-start")),
            ("req-bus-delete", lambda: ops.delete_server(state, ids["ok"], "req-bus-delete"))):
        with acting(Actor(cause="api", request_id=request_id, user_id=proto.user_id,
                          project_id=proto.project_id)):
            act()
    ids["novalid"] = boot("bus-novalid", "req-bus-novalid")
    with acting(Actor(cause="api", request_id="req-bus-novalid", user_id=proto.user_id,
                      project_id=proto.project_id)):
        ops.fail_build(state, ids["novalid"], no_valid_host=True)
    ids["onhost"] = boot("bus-onhost", "req-bus-onhost")
    state.update("server", ids["onhost"], host=proto.host, node=proto.node)
    with acting(Actor(cause="api", request_id="req-bus-onhost", user_id=proto.user_id,
                      project_id=proto.project_id)):
        ops.fail_build(state, ids["onhost"], message="Build of instance aborted: disk full")
    ids["reboot"] = proto.id
    with acting(Actor(cause="api", request_id="req-bus-reboot", user_id=proto.user_id,
                      project_id=proto.project_id)):
        ops.set_error(state, proto.id, "internal error: qemu unexpectedly closed the monitor")
    for kind, table in (("volume", state.volumes), ("snapshot", state.snapshots),
                        ("port", state.ports), ("image", state.images)):
        record = next(iter(table))
        state.delete(kind, record.id)
    return ids


def test_every_simulated_notification_becomes_an_event(
        rabbitmq: Any, consumer: NotificationConsumer) -> None:
    state = small_state()
    bus = NotificationBus(state, rabbitmq.url).start()
    try:
        started = time.time()
        ids = busy_cloud(state)
        bus.audit()
        bus.flush()
        published = bus.published
        assert bus.errors == 0 and published > 50
        wait_for("every notification stored",
                 lambda: consumer.counters.stored >= published, timeout=60)
    finally:
        bus.close()
    store = consumer.store
    events = store.events(started - 60, time.time() + 60, kinds=["notification"],
                          limit=100_000)
    assert len(events) == published  # each once
    assert {e.event_type for e in events} == set(bus.by_event)
    for event_type, n in bus.by_event.items():
        assert sum(e.event_type == event_type for e in events) == n, event_type
    # found by resource id and request id, as the trace looks them up
    story = store.events(started - 60, time.time() + 60, resource_id=ids["ok"])
    assert {"compute.instance.create.end", "instance.delete.end",
            "compute.instance.power_off.start"} <= {e.event_type for e in story}
    assert store.events(started - 60, time.time() + 60, request_id="req-bus-stop")

    # failures: failed operations with their fault, events at ERROR, and metrics
    ops_seen = {(o.resource_id, o.operation): o
                for o in store.bus_operations(started - 60, time.time() + 60)}
    novalid = ops_seen[(ids["novalid"], "create")]
    assert novalid.outcome == "failure" and "No valid host" in novalid.fault
    onhost = ops_seen[(ids["onhost"], "create")]
    assert onhost.outcome == "failure" and "disk full" in onhost.fault
    reboot = ops_seen[(ids["reboot"], "reboot")]
    assert reboot.outcome == "failure" and "qemu unexpectedly closed" in reboot.fault
    ok = ops_seen[(ids["ok"], "create")]
    assert ok.outcome == "success" and ok.build_seconds is not None
    assert ops_seen[(ids["ok"], "delete")].outcome == "success"
    errors = store.events(started - 60, time.time() + 60, resource_id=ids["novalid"],
                          min_severity=Severity.ERROR)
    assert any("No valid host" in dict(e.attributes).get("fault", "") for e in errors)
    assert store.events(started - 60, time.time() + 60, request_id="req-bus-novalid",
                        min_severity=Severity.ERROR)

    consumer._write_metrics(force=True)
    samples = store.latest_samples()
    mine = [s for s in samples if s.name.startswith(("stackwatch_bus_", "openstack_notif",
                                                     "openstack_nova_instance_build"))]
    assert_declared(Collection(samples=tuple(mine)), source="bus")
    failures: dict[tuple[str, str], float] = {}
    for s in mine:
        if s.name == "openstack_notification_operations":
            key = (s.label("operation"), s.label("outcome"))
            failures[key] = failures.get(key, 0) + s.value
    assert failures.get(("create", "failure"), 0) >= 2
    assert failures.get(("reboot", "failure"), 0) >= 1
    assert any(s.name == "openstack_nova_instance_build_seconds" for s in mine)

    # poison: set aside with the reason, counted, acknowledged (the queue drains)
    bodies = [b"{not json", b'{"no": "envelope"}',
              b'{"oslo.version": "9.9", "oslo.message": "{}"}',
              b'{"oslo.version": "2.0", "oslo.message": "' + b"x" * (10 * 1024 * 1024) + b'"}']
    publish_raw(rabbitmq.url, bodies)
    wait_for("poison set aside", lambda: len(store.bus_poison()) >= 4)
    reasons = sorted(p.reason.split(":", 1)[0] for p in store.bus_poison())
    assert reasons == ["bad-json", "no-envelope", "too-large", "unknown-version"]
    assert consumer.counters.poison == {"bad-json": 1, "no-envelope": 1, "too-large": 1,
                                        "unknown-version": 1}
    queue = f"{consumer.config.queue_prefix}.notifications.info"
    wait_for("the poison acknowledged",
             lambda: rabbitmq.queue_depths().get(queue, (1, 0))[0] == 0, timeout=30)
    consumer._write_metrics(force=True)
    latest = Collection(samples=tuple(s for s in consumer.store.latest_samples()
                                      if s.name.startswith("stackwatch_bus_")))
    assert_covered(latest, "bus", exclude=[
        "openstack_notification_operations", "openstack_notification_operation_duration_seconds",
        "openstack_notification_request_duration_seconds",
        "openstack_nova_instance_build_seconds", "openstack_notification_open_operations"])


def start_consume(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "stackwatch", "-v", "consume",
                                 "--config", str(config)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def test_kill_and_broker_restart_lose_nothing_and_store_nothing_twice(
        rabbitmq: Any, tmp_path: Path) -> None:
    prefix = f"stackwatch-k{time.monotonic_ns()}"
    path = tmp_path / "store.sqlite"
    config = tmp_path / "stackwatch.yaml"
    config.write_text(yaml.safe_dump({
        "clouds": [{"name": "t", "bus": {"url": rabbitmq.url, "queue_prefix": prefix,
                                         "reconnect_seconds": 0.5}}],
        "store": {"path": str(path)}}))
    log = tmp_path / "consume.log"
    queues = [f"{prefix}.notifications.info", f"{prefix}.versioned_notifications.info"]

    def consuming() -> bool:
        return all(consumers(rabbitmq.url, q) >= 1 for q in queues)

    # each third is a few of the consumer's batches (1,000): the kill comes after the first
    # is stored, with most of the third still to come
    total = 15_000
    items = stream(total)
    parts = [items[: total // 3], items[total // 3: 2 * total // 3], items[2 * total // 3:]]
    proc = start_consume(config, log)
    try:
        wait_for("consume bound its queues", consuming, timeout=60)
        # 1. a kill -9 while a stream is consumed: its unacknowledged batch comes again
        publisher = threading.Thread(target=publish, args=(rabbitmq.url, parts[0]))
        publisher.start()
        wait_for("some stored", lambda: counts(path)["messages"] >= 1000, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        publisher.join(60)
        killed_at = counts(path)["messages"]
        assert killed_at < len(parts[0])  # killed in the middle
        # 2. more while nobody consumes, then the broker restarts with the backlog queued
        publish(rabbitmq.url, parts[1])
        rabbitmq.ctl("stop_app")
        rabbitmq.ctl("start_app")
        proc = start_consume(config, log)
        wait_for("consume back", consuming, timeout=60)
        # 3. the broker restarts under a running consumer in the middle of a stream
        half = len(parts[2]) // 2
        publish(rabbitmq.url, parts[2][:half])
        rabbitmq.ctl("stop_app")
        rabbitmq.ctl("start_app")
        wait_for("consume reconnected", consuming, timeout=60)
        publish(rabbitmq.url, parts[2][half:], retry=True)
        wait_for("everything stored", lambda: counts(path)["distinct"] >= total, timeout=120)
        time.sleep(1.0)  # anything stored twice would show now
        stored = counts(path)
        assert stored == {"messages": total, "events": total, "distinct": total, "poison": 0}
        assert "reconnecting" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        from kombu.connection import Connection

        with Connection(rabbitmq.url) as conn:  # type: ignore[no-untyped-call]
            channel = conn.channel()
            for topic in BusConfig().topics:
                channel.queue_delete(f"{prefix}.{topic}")


class FailingStore(SQLiteStore):
    """A real store whose first notification writes fail (a full disk, a lost database)."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    def write_bus(self, batch: Any) -> int:
        if self.failures > 0:
            self.failures -= 1
            from stackwatch.errors import StoreError

            raise StoreError("disk full (test)")
        return super().write_bus(batch)


def test_nothing_is_acknowledged_before_it_is_stored(rabbitmq: Any, tmp_path: Path) -> None:
    prefix = f"stackwatch-f{time.monotonic_ns()}"
    store = FailingStore(tmp_path / "store.sqlite", failures=2)
    bus = BusConfig(url=rabbitmq.url, queue_prefix=prefix, batch_seconds=0.05,
                    reconnect_seconds=0.2)
    running = NotificationConsumer(bus, store).start()
    try:
        wait_for("bound", lambda: running.counters.connected)
        items = stream(500)
        publish(rabbitmq.url, items)
        wait_for("stored after the failures", lambda: running.counters.stored >= 500)
        assert store.failures == 0 and running.counters.reconnects >= 2
        assert counts(tmp_path / "store.sqlite") == {"messages": 500, "events": 500,
                                                     "distinct": 500, "poison": 0}
        wait_for("the queues drained", lambda: all(
            depths.get(f"{prefix}.{t}", (1, 0))[0] == 0
            for depths in [rabbitmq.queue_depths()] for t in bus.topics))
    finally:
        running.stop()
        from kombu.connection import Connection

        with Connection(rabbitmq.url) as conn:  # type: ignore[no-untyped-call]
            channel = conn.channel()
            for topic in bus.topics:
                channel.queue_delete(f"{prefix}.{topic}")
        store.close()
