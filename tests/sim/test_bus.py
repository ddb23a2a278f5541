"""Notifications: recorded shapes, the oslo.messaging envelope, kombu memory and a real
RabbitMQ, the usage audit and the queue-without-consumers scenario."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.entity import Queue

from stackwatch.sim import notifications as notes
from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.bus import EXCHANGES, NotificationBus, exchange
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.state import Actor, CloudState, acting


def small_state(seed: int = 9) -> CloudState:
    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=seed, base_url="http://x", admin_password="p")
    return state


def lifecycle(state: CloudState) -> str:
    """Boot, stop, start and delete one server; returns its id."""
    rng = random.Random(3)
    proto = next(s for s in state.servers if s.vm_state == "active")
    server = ops.create_server(
        state,
        name="bus-vm",
        project_id=proto.project_id,
        user_id=proto.user_id,
        flavor=proto.flavor,
        image_id=proto.image_id,
        request_id="req-bus-1",
        rng=rng,
    )
    with acting(
        Actor(
            cause="api", request_id="req-bus-1", user_id=proto.user_id, project_id=proto.project_id
        )
    ):
        ops.finish_build(state, server.id, rng)
    ops.power(state, server.id, False, "req-bus-2")
    ops.power(state, server.id, True, "req-bus-3")
    ops.delete_server(state, server.id, "req-bus-4")
    return server.id


def keys(obj: Any) -> set[str]:
    """All key paths of a JSON value (list items merged), for shape comparisons."""
    out: set[str] = set()

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                out.add(prefix + k)
                walk(v, prefix + k + ".")
        elif isinstance(value, list):
            for v in value:
                walk(v, prefix + "[].")

    walk(obj, "")
    return out


def decode(body: str | bytes) -> dict[str, Any]:
    envelope = json.loads(body)
    assert envelope["oslo.version"] == "2.0" and set(envelope) == {"oslo.version", "oslo.message"}
    message: dict[str, Any] = json.loads(envelope["oslo.message"])
    return message


# ---------------------------------------------------------------------------- pure


@pytest.mark.unit
def test_server_lifecycle_gives_nova_legacy_and_versioned_events() -> None:
    state = small_state()
    seen: list[notes.Notification] = []
    state.subscribe(lambda c: seen.extend(notes.for_change(c)))
    server_id = lifecycle(state)
    related = [n for n in seen if server_id in json.dumps(n.message["payload"])]
    assert any(n.event_type == "port.create.end" for n in related)  # its port, from neutron
    mine = [n for n in related if n.exchange != "neutron"]
    types = [n.event_type for n in mine]
    for expected in (
        "compute.instance.create.start",
        "instance.create.end",
        "compute.instance.power_off.end",
        "instance.power_on.start",
        "compute.instance.delete.start",
        "instance.shutdown.end",
        "instance.delete.end",
        "compute.instance.update",
        "instance.update",
    ):
        assert expected in types, expected
    assert types.index("compute.instance.create.start") < types.index("compute.instance.delete.end")
    for n in mine:
        assert n.exchange == "nova"
        versioned = not n.event_type.startswith("compute.")
        assert n.routing_key == (
            "versioned_notifications.info" if versioned else "notifications.info"
        )
    end = next(n for n in mine if n.event_type == "instance.create.end")
    data = end.message["payload"]["nova_object.data"]
    assert data["uuid"] == server_id and data["state"] == "active" and data["host"]
    assert end.message["publisher_id"] == f"nova-compute:{data['host']}"
    assert end.message["_context_request_id"] == "req-bus-1"


@pytest.mark.unit
def test_messages_keep_the_recorded_shape() -> None:
    state = small_state()
    seen: list[notes.Notification] = []
    state.subscribe(lambda c: seen.extend(notes.for_change(c)))
    lifecycle(state)
    volume = next(iter(state.volumes))
    state.delete("volume", volume.id)
    port = next(iter(state.ports))
    state.delete("port", port.id)
    now = state.now()
    agg = state.add(
        r.Aggregate(
            id="77",
            legacy_id=77,
            uuid="7ded2aa9-ae66-4d40-ad18-01ba73daa4e3",
            name="agg-bus",
            created_at=now,
        )
    )
    state.update("aggregate", agg.id, hosts=("compute-0001",))
    state.update("aggregate", agg.id, metadata={"ssd": "true"})
    state.add(r.Flavor(id="f-bus", name="m1.bus", vcpus=2, ram=2048, disk=20, legacy_id=99))
    assert seen
    events = {n.event_type for n in seen}
    assert {
        "aggregate.create.end",
        "aggregate.addhost.end",
        "aggregate.add_host.end",
        "aggregate.update_metadata.end",
        "flavor.create",
    } <= events
    for n in seen:
        recorded = notes.templates()[n.event_type]["message"]
        assert keys(n.message) == keys(recorded), n.event_type
    cinder = [n for n in seen if n.event_type.startswith("volume.")]
    assert cinder and all(n.exchange == "openstack" for n in cinder)
    assert cinder[-1].message["payload"]["volume_id"] == volume.id
    neutron = [n for n in seen if n.event_type == "port.delete.end"]
    assert neutron and neutron[0].exchange == "neutron"


@pytest.mark.unit
def test_audit_emits_exists_pairs() -> None:
    state = small_state()
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC)
    batch = notes.audit(list(state.servers), end - timedelta(hours=1), end)
    on_hosts = [s for s in state.servers if s.host is not None]
    assert len(batch) == 2 * len(on_hosts)
    assert {n.event_type for n in batch} == {"compute.instance.exists", "instance.exists"}


# ---------------------------------------------------------------------------- transports


def drain(url: str, queue: Queue, limit: int = 10_000) -> list[Any]:
    got = []
    with Connection(url) as conn:
        bound = queue(conn.channel())
        while len(got) < limit:
            message = bound.get(no_ack=True)
            if message is None:
                break
            got.append(message)
    return got


def bind_all(url: str, name: str) -> list[Queue]:
    queues = [
        Queue(name, exchange(ex), routing_key=rk, durable=False, auto_delete=False)
        for ex in EXCHANGES
        for rk in (
            "notifications.info",
            "notifications.error",
            "versioned_notifications.info",
            "versioned_notifications.error",
        )
    ]
    with Connection(url) as conn:
        channel = conn.channel()
        for q in queues:
            q(channel).declare()
    return queues


@pytest.fixture
def memory_bus() -> Iterator[tuple[CloudState, NotificationBus]]:
    state = small_state()
    bus = NotificationBus(state).start()
    yield state, bus
    bus.close()


@pytest.mark.unit
def test_round_trip_through_kombu_memory(memory_bus: tuple[CloudState, NotificationBus]) -> None:
    state, bus = memory_bus
    queues = bind_all("memory://", "stackwatch-test-mem")
    server_id = lifecycle(state)
    bus.flush()
    messages = drain("memory://", queues[0])
    with Connection("memory://") as conn:  # the in-memory broker lives as long as the process
        queues[0](conn.channel()).delete()
    assert messages
    assert all(m.content_type == "application/json" for m in messages)
    events = [decode(m.body) for m in messages]
    types = {e["event_type"] for e in events if server_id in json.dumps(e["payload"])}
    assert {"compute.instance.create.end", "instance.create.end", "instance.delete.end"} <= types
    assert bus.errors == 0


@pytest.mark.integration
def test_round_trip_through_rabbitmq_and_idle_queue(rabbitmq: Any) -> None:
    state = small_state(seed=11)
    bus = NotificationBus(state, rabbitmq.url).start()
    try:
        queues = bind_all(rabbitmq.url, "stackwatch-test-consumer")
        server_id = lifecycle(state)
        volume = next(iter(state.volumes))
        state.delete("volume", volume.id)
        assert "notifications.info" in bus.inject("queue-no-consumers", {})
        assert bus.audit() > 0
        bus.flush()
        messages = drain(rabbitmq.url, queues[0])
        events = [
            (m.delivery_info["exchange"], m.delivery_info["routing_key"], decode(m.body))
            for m in messages
        ]
        nova = {
            e["event_type"]
            for ex, _, e in events
            if ex == "nova" and server_id in json.dumps(e["payload"])
        }
        assert {
            "compute.instance.create.start",
            "instance.create.end",
            "compute.instance.delete.end",
        } <= nova
        assert ("openstack", "notifications.info", "volume.delete.end") in {
            (ex, rk, e["event_type"]) for ex, rk, e in events
        }
        assert any(e["event_type"] == "compute.instance.exists" for _, _, e in events)
        props = messages[0].properties
        assert props["delivery_mode"] == 2 and messages[0].content_encoding == "utf-8"
        depth, consumers = rabbitmq.queue_depths()["notifications.info"]
        assert depth > 0 and consumers == 0  # the audit alone filled it, nobody reads
        bus.clear("queue-no-consumers")
        assert "notifications.info" not in rabbitmq.queue_depths()
        with Connection(rabbitmq.url) as conn:
            queues[0](conn.channel()).delete()
    finally:
        bus.close()


@pytest.mark.integration
def test_unreachable_broker_is_a_clear_error() -> None:
    from stackwatch.errors import SimulatorError

    bus = NotificationBus(small_state(), "amqp://guest:guest@127.0.0.1:1//")
    with pytest.raises(SimulatorError, match="cannot publish notifications"):
        bus.start()


@pytest.mark.unit
def test_refused_login_gives_a_cadf_failure() -> None:
    from datetime import UTC, datetime

    from stackwatch.sim.events import ServedRequest

    served = ServedRequest(
        service="identity",
        method="POST",
        path="/v3/auth/tokens",
        status=401,
        length=109,
        duration=0.3,
        request_id="req-11111111-2222-4333-8444-555555555555",
        user_id=None,
        project_id=None,
        remote_addr="203.0.113.7",
        microversion=None,
        time=datetime.now(UTC),
        user_agent="curl/7.88.1",
    )
    [event] = notes.for_request(served)
    assert (event.exchange, event.routing_key, event.event_type) == (
        "keystone",
        "notifications.info",
        "identity.authenticate",
    )
    payload = event.message["payload"]
    assert payload["outcome"] == "failure"
    assert payload["initiator"]["host"] == {"address": "203.0.113.7", "agent": "curl/7.88.1"}
    assert keys(event.message) == keys(notes.templates()["identity.authenticate"]["message"])
    assert notes.for_request(dataclasses.replace(served, status=201)) == []
