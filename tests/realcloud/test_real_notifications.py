"""The notification consumer on the real cloud's RabbitMQ: a server booted, stopped and
deleted, and a failed boot (NoValidHost), become the right events and timings.

The consumer binds its own durable queues (``stackwatch-rc<n>.<topic>``) to the real
exchanges (nova, openstack for cinder, neutron, glance, keystone) and deletes them at the
end; what the services publish reaches it beside the queues oslo.messaging declared.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from realcloud.cloud import RealCloud
from stackwatch.bus.consumer import NotificationConsumer
from stackwatch.bus.records import Operation
from stackwatch.config import BusConfig
from stackwatch.model import Event, Severity
from stackwatch.store.sqlite import SQLiteStore

WAIT_S = 180.0
# openstacksdk 4.x warns about its own deprecations from inside its calls (the tests' own
# hands here, not what is tested)
pytestmark = [pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:openstack")]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(1.0)


@pytest.fixture
def consumer(realcloud: RealCloud, tmp_path: Path) -> Iterator[NotificationConsumer]:
    bus = BusConfig(url=realcloud.amqp_url, queue_prefix=f"stackwatch-rc{time.monotonic_ns()}",
                    exchanges=["nova", "openstack", "neutron", "glance", "keystone"],
                    batch_seconds=0.1)
    store = SQLiteStore(tmp_path / "bus.sqlite")
    running = NotificationConsumer(bus, store).start()
    try:
        wait_for("the consumer bound its queues", lambda: running.counters.connected, 60)
        yield running
    finally:
        running.stop()
        from kombu.connection import Connection

        with Connection(realcloud.amqp_url) as conn:  # type: ignore[no-untyped-call]
            channel = conn.channel()
            for topic in bus.topics:
                channel.queue_delete(f"{bus.queue_prefix}.{topic}")
        store.close()


@pytest.fixture
def sdk(realcloud: RealCloud) -> Any:
    return realcloud.connect()


def _status(sdk: Any, server_id: str) -> str:
    from openstack.exceptions import NotFoundException

    try:
        return str(sdk.compute.get_server(server_id).status)
    except NotFoundException:
        return "GONE"


def events_of(consumer: NotificationConsumer, resource_id: str) -> list[Event]:
    now = time.time()
    return consumer.store.events(now - 3600, now + 60, resource_id=resource_id, limit=10_000)


def operations(consumer: NotificationConsumer, resource_id: str) -> dict[str, Operation]:
    now = time.time()
    return {op.operation: op for op in consumer.store.bus_operations(
        now - 3600, now + 60, resource_id=resource_id)}


def test_boot_stop_delete_and_a_failed_boot(consumer: NotificationConsumer, sdk: Any) -> None:
    flavor = sdk.compute.find_flavor("m1.fake", ignore_missing=False)
    image = sdk.image.find_image("fake-cirros", ignore_missing=False)
    server = sdk.compute.create_server(name="rc-vm-bus", flavor_id=flavor.id,
                                       image_id=image.id, networks="none")
    try:
        wait_for("rc-vm-bus ACTIVE", lambda: _status(sdk, server.id) == "ACTIVE")
        sdk.compute.stop_server(server)
        wait_for("rc-vm-bus SHUTOFF", lambda: _status(sdk, server.id) == "SHUTOFF")
    finally:
        sdk.compute.delete_server(server)
        wait_for("rc-vm-bus gone", lambda: _status(sdk, server.id) == "GONE")
    huge = sdk.compute.create_flavor(name="rc.bus.huge", vcpus=1, ram=64, disk=700000)
    try:
        failed = sdk.compute.create_server(name="rc-vm-bus-novalid", flavor_id=huge.id,
                                           image_id=image.id, networks="none")
        wait_for("rc-vm-bus-novalid ERROR", lambda: _status(sdk, failed.id) == "ERROR")
        sdk.compute.delete_server(failed)
        wait_for("rc-vm-bus-novalid gone", lambda: _status(sdk, failed.id) == "GONE")
    finally:
        sdk.compute.delete_flavor(huge)

    # the events, found by instance id, in both formats
    wanted = {"compute.instance.create.start", "compute.instance.create.end",
              "instance.create.end", "compute.instance.power_off.end", "instance.power_off.end",
              "compute.instance.delete.end", "instance.delete.end", "compute.instance.update"}
    seen = wait_for("the server's notifications stored", lambda: wanted <= {
        e.event_type for e in events_of(consumer, server.id)} and events_of(consumer, server.id))
    created = next(e for e in seen if e.event_type == "compute.instance.create.end")
    attrs = dict(created.attributes)
    assert attrs["state"] == "active" and attrs["flavor_name"] == "m1.fake"
    assert created.host in ("fake-compute-1", "fake-compute-2")
    assert created.request_id.startswith("req-")
    story = {e.event_type for e in consumer.store.events(
        time.time() - 3600, time.time() + 60, request_id=created.request_id)}
    assert {"compute.instance.create.start", "instance.create.end"} <= story

    # the timings: create (with build time), power_off, delete
    ops = wait_for("the operations closed", lambda: (found := operations(consumer, server.id))
                   and {"create", "power_off", "delete"} <= set(found) and found)
    for name in ("create", "power_off", "delete"):
        assert ops[name].outcome == "success", ops[name]
        assert ops[name].duration is not None and 0 <= ops[name].duration < WAIT_S
        assert ops[name].host == created.host
    assert ops["create"].build_seconds is not None and ops["create"].build_seconds >= 0
    assert ops["create"].request_started is not None
    assert ops["create"].request_started <= ops["create"].started  # type: ignore[operator]

    # the failed boot: ERROR events with the fault, a failed create
    errors = wait_for("the failed boot's notifications", lambda: [
        e for e in events_of(consumer, failed.id) if e.severity >= Severity.ERROR
        and e.event_type.startswith("compute_task.build_instances")])
    assert any("No valid host" in dict(e.attributes).get("fault", "") for e in errors)
    assert any(dict(e.attributes).get("exception", "").startswith("NoValidHost")
               for e in errors)
    create = wait_for("the failed create", lambda: operations(consumer, failed.id).get(
        "create"))
    assert create.outcome == "failure" and "No valid host" in create.fault

    # as metrics
    consumer._write_metrics(force=True)
    samples = consumer.store.latest_samples()
    done = {(s.label("operation"), s.label("outcome")): s.value for s in samples
            if s.name == "openstack_notification_operations" and s.label("host") == created.host
            and s.label("operation") == "create"}
    assert done.get(("create", "success"), 0) >= 1
    assert any(s.name == "openstack_nova_instance_build_seconds" and s.label("host") == "all"
               for s in samples)
    assert consumer.counters.poison == {}
