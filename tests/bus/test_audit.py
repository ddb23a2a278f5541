"""The usage audit on events distilled from the simulator's notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stackwatch.bus.audit import audit, check
from stackwatch.bus.events import distil
from stackwatch.bus.wire import decode
from stackwatch.model import Event, Status
from stackwatch.sim import notifications as notes

pytestmark = pytest.mark.unit


def events_of(items: list[notes.Notification]) -> list[Event]:
    return [distil(decode(notes.envelope(n.message), 1 << 24), n.exchange) for n in items]


def legacy(event_type: str, t: datetime, vm: str, flavor: str, launched: datetime,
           **extra: str) -> notes.Notification:
    return notes.build(event_type, t, {"instance_id": vm, "instance_flavor_id": flavor,
                                       "launched_at": f"{launched:%Y-%m-%dT%H:%M:%S}.000000",
                                       "deleted_at": "", **extra})


def test_usage_discrepancies() -> None:
    now = datetime.now(UTC)
    launched = now - timedelta(hours=3)
    vms = {k: f"00000000-0000-4000-8000-00000000000{i}" for i, k in
           enumerate(("ok", "flavor", "unaudited", "half", "launch"))}
    items = [legacy("compute.instance.create.end", launched, vm, "f1", launched)
             for vm in vms.values()]
    audited = now - timedelta(minutes=5)
    period = {"audit_period_beginning": f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}",
              "audit_period_ending": f"{audited:%Y-%m-%d %H:%M:%S}"}
    items += [legacy("compute.instance.exists", audited, vms[k], "f1", launched, **period)
              for k in ("ok", "half")]
    items.append(legacy("compute.instance.exists", audited, vms["flavor"], "f2", launched,
                        **period))
    items.append(legacy("compute.instance.exists", audited, vms["launch"], "f1",
                        launched + timedelta(minutes=7), **period))
    items.append(legacy("compute.instance.delete.start", now - timedelta(minutes=30),
                        vms["half"], "f1", launched))
    found = audit(events_of(items), now.timestamp())
    assert {(d.instance_id, d.kind) for d in found} == {
        (vms["flavor"], "flavor-mismatch"), (vms["unaudited"], "missing-exists"),
        (vms["half"], "deleted-without-delete-end"), (vms["launch"], "launched-at-mismatch")}
    assert check(found, now.timestamp()).status is Status.WARNING
    # deleted properly, a recent boot: nothing to say
    done = [*items[:1], legacy("compute.instance.delete.end", now, vms["ok"], "f1", launched),
            legacy("compute.instance.create.end", now, vms["unaudited"], "f1", now)]
    assert audit(events_of(done), now.timestamp()) == []
    assert check([], now.timestamp()).status is Status.OK
