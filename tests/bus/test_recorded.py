"""Recorded real notifications (tests/data/notifications) into events and operations."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stackwatch.bus.events import distil
from stackwatch.bus.timings import Timings
from stackwatch.bus.wire import Poison, decode, parse_time
from stackwatch.model import Event, Severity

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent.parent / "data" / "notifications"
LIMIT = 10 * 1024 * 1024


def recorded() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(DATA.glob("0*.json"))]


def inner(record: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(json.loads(record["body"])["oslo.message"])
    return message


def event_of(name: str) -> Event:
    record = json.loads((DATA / name).read_text())
    return distil(decode(record["body"], LIMIT), record["exchange"])


def attrs(event: Event) -> dict[str, str]:
    return dict(event.attributes)


def test_every_recorded_type_becomes_its_event() -> None:
    files = recorded()
    assert len({name.split("_", 1)[1] for name, _ in files}) == len(files) >= 90
    services = {"nova": "nova", "openstack": "cinder", "neutron": "neutron",
                "glance": "glance", "keystone": "keystone"}
    for name, record in files:
        message = inner(record)
        event = distil(decode(record["body"], LIMIT), record["exchange"])
        assert event.kind == "notification"
        assert event.event_type == message["event_type"] == name[5:-5], name
        assert event.service == services[record["exchange"]], name
        assert event.timestamp == parse_time(message["timestamp"]), name
        assert attrs(event)["message_id"] == message["message_id"]
        assert event.request_id == (message.get("_context_request_id") or
                                    message["payload"].get("initiator", {}).get("request_id")
                                    or ""), name
        error = record["routing_key"].endswith(".error") or (
            attrs(event).get("state") == "error" and attrs(event).get("old_state") != "error")
        assert (event.severity >= Severity.ERROR) == error, name
        payload = json.dumps(message["payload"])
        for rid in event.resource_ids:
            assert rid in payload, (name, rid)
        if message["event_type"].startswith(("compute.instance.", "instance.")):
            assert event.resource_ids and attrs(event)["instance_id"] == event.resource_ids[0]
        assert "<token>" not in json.dumps(event.attributes)


def test_failed_boot_names_its_fault() -> None:
    legacy = event_of("0082_compute_task.build_instances.json")
    versioned = event_of("0083_compute_task.build_instances.error.json")
    for event in (legacy, versioned):
        assert event.severity == Severity.ERROR
        assert event.resource_ids == ("8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a",)
        assert attrs(event)["exception"] == "NoValidHost_Remote"
        assert attrs(event)["fault"].startswith("No valid host was found")
        assert event.request_id == "req-d230b742-9820-4f10-9b12-23d9763ef114"
    assert attrs(legacy)["code"] == "500"


def test_instance_and_volume_fields() -> None:
    create = attrs(event_of("0112_instance.create.end.json"))
    legacy = attrs(event_of("0111_compute.instance.create.end.json"))
    for a in (create, legacy):
        assert a["state"] == "active" and a["flavor_name"] == "m1.fake"
        assert a["project"] == "de912f432d76441d9a692064394cb3d4"
        assert parse_time(a["launched_at"]) is not None
    assert create["instance_id"] == legacy["instance_id"]
    volume = event_of("0066_volume.create.end.json")
    assert volume.resource_ids == ("2c1060f6-5fb2-45fa-a918-6376ba0a8e63",)
    assert volume.host == "vm" and attrs(volume)["state"] == "available"
    auth = event_of("0021_identity.authenticate.json")
    assert attrs(auth)["outcome"] == "failure" and auth.severity == Severity.WARNING
    exists = attrs(event_of("0135_compute.instance.exists.json"))
    assert exists["audit_period_beginning"] == "2026-11-21 06:00:00"


def test_recorded_sequence_pairs_into_operations() -> None:
    timings = Timings()
    ops = []
    for _name, record in recorded():
        ops += timings.feed(distil(decode(record["body"], LIMIT), record["exchange"]))
    closed = {(o.resource_id, o.operation): o for o in ops if o.outcome != "open"}
    failed = closed[("8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a", "create")]
    assert failed.outcome == "failure" and "NoValidHost" in failed.fault
    vm = "114d3df5-f31f-4f8a-887c-de20ad447ed8"
    migrate = closed[(vm, "migrate")]  # a cold migration: resize keeping the flavor
    start = inner(json.loads((DATA / "0137_compute.instance.resize.prep.start.json")
                             .read_text()))["timestamp"]
    end = inner(json.loads((DATA / "0157_compute.instance.finish_resize.end.json")
                           .read_text()))["timestamp"]
    expected = parse_time(end) - parse_time(start)  # type: ignore[operator]
    assert migrate.outcome == "success" and migrate.duration == pytest.approx(expected)
    assert closed[(vm, "resize_confirm")].duration is not None
    # legacy and versioned twins of one pair make one operation
    assert len([o for o in ops if o.key == migrate.key and o.outcome != "open"]) == 1
    volume = closed[("2c1060f6-5fb2-45fa-a918-6376ba0a8e63", "volume_create")]
    assert volume.outcome == "success" and volume.duration is not None


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "bad-json"),
    (b'["a list"]', "no-envelope"),
    (b'{"event_type": "x", "message_id": "1", "payload": {}}', "no-envelope"),
    (b'{"oslo.version": "3.0", "oslo.message": "{}"}', "unknown-version"),
    (b'{"oslo.version": "2.0", "oslo.message": "{\\"payload\\": {}}"}', "no-event-type"),
    (b'{"oslo.version": "2.0", "oslo.message": "' + b"x" * (LIMIT + 1) + b'"}', "too-large"),
])
def test_malformed_messages_are_poison_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(Poison) as caught:
        decode(body, LIMIT)
    assert caught.value.reason.startswith(reason + ":")


def test_tokens_are_never_kept() -> None:
    record = json.loads((DATA / "0066_volume.create.end.json").read_text())
    message = inner(record)
    message["_context_auth_token"] = "gAAAAAsecret-token-1"
    message["payload"]["nested"] = {"auth_token": "gAAAAAsecret-token-2"}
    for separators in ((", ", ": "), (",", ":")):  # oslo's JSON, and compact JSON
        body = json.dumps({"oslo.version": "2.0",
                           "oslo.message": json.dumps(message, separators=separators)})
        note = decode(body, LIMIT)
        event = distil(note, record["exchange"])
        for text in (note.raw, repr(event)):
            assert "secret-token" not in text
        assert json.loads(note.raw)["payload"]["nested"]["auth_token"] == "<redacted>"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-21 06:12:28.586920", "2026-11-21T06:12:28.586920+00:00"),  # oslo's own
    ("2026-11-21T06:12:28.586920", "2026-11-21T06:12:28.586920+00:00"),
    ("2026-12-31 23:59:59.999999", "2026-12-31T23:59:59.999999+00:00"),
    ("2026-11-21T06:12:28Z", "2026-11-21T06:12:28+00:00"),
    ("2026-11-21T06:12:28.000000+0100", "2026-11-21T06:12:28+01:00"),
    ("2026-11-21 06:12:61.586920", None), ("2026-11-21 06:12:2x.586920", None),
    ("2026-13-21 06:12:28.586920", None), ("2026-11-21 06:12:28.5869-0", None), ("", None),
])
def test_notification_times(text: str, expected: str | None) -> None:
    """oslo's format goes the quick way (the minute remembered): the same seconds, to the
    microsecond, as datetime's, and what is not a time is none."""
    want = None if expected is None else datetime.fromisoformat(expected).timestamp()
    assert parse_time(text) == want
    assert parse_time(text) == want  # the minute from the cache this time
