"""The bus tables in both stores: a batch written once, duplicates left out, operations
never reopened, a pair resumed after a restart, poison kept, raw payloads pruned."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from stackwatch.bus.events import distilled, note
from stackwatch.bus.records import BusBatch, PoisonMessage
from stackwatch.bus.timings import Timings
from stackwatch.bus.wire import decode
from stackwatch.sim import notifications as notes
from stores import Stores

LIMIT = 10 * 1024 * 1024


def batch_of(items: list[notes.Notification], timings: Timings, received: float) -> BusBatch:
    written, ops = [], []
    for n in items:
        decoded = decode(notes.envelope(n.message), LIMIT)
        d = distilled(decoded, n.exchange)
        written.append(note(decoded, d, n.exchange, n.routing_key, received))
        ops += timings.feed(written[-1].event())
    return BusBatch(written, (), ops)


def test_bus_tables(stores: Stores) -> None:
    store = stores.open()
    try:
        now = time.time()
        t0 = datetime.fromtimestamp(now - 30, UTC)
        t1 = datetime.fromtimestamp(now - 10, UTC)
        vm = "5f0e4a52-0000-4000-8000-00000000c0de"
        values = {"instance_id": vm, "uuid": vm, "host": "cmp-7",
                  "created_at": f"{t0:%Y-%m-%d %H:%M:%S}+00:00",
                  "launched_at": f"{t1:%Y-%m-%dT%H:%M:%S}.000000"}
        start = [notes.build(et, t0, values, publisher_id="compute.cmp-7", request_id="req-x")
                 for et in ("compute.instance.create.start", "instance.create.start")]
        end = [notes.build(et, t1, values, publisher_id="compute.cmp-7", request_id="req-x")
               for et in ("compute.instance.create.end", "instance.create.end")]
        first = batch_of(start, Timings(), now)
        assert store.write_bus(first) == 2
        assert store.write_bus(first) == 0  # a redelivered batch: nothing twice
        events = store.events(now - 60, now + 60, resource_id=vm)
        assert [e.event_type for e in events] == ["compute.instance.create.start",
                                                  "instance.create.start"]
        assert store.events(now - 60, now + 60, request_id="req-x")
        # a restart between start and end: the pair is resumed from the store
        state = store.bus_state(now - 3600)
        assert {m.message_id for m in first.notes} <= state.message_ids
        assert [(o.resource_id, o.span) for o in state.open_operations] == [(vm, "create")]
        resumed = Timings()
        resumed.resume(state.open_operations, state.closed)
        second = batch_of(end, resumed, now + 1)
        assert store.write_bus(second) == 2
        # a batch of one message stored before and one not: the new one alone, its event too
        other = {**values, "instance_id": "5f0e4a52-0000-4000-8000-0000000000ff",
                 "uuid": "5f0e4a52-0000-4000-8000-0000000000ff"}
        delete = notes.build("instance.delete.start", t1, other, request_id="req-y")
        third = batch_of([end[0], delete], Timings(), now + 2)
        assert store.write_bus(third) == 1
        assert [e.event_type for e in store.events(now - 60, now + 60, request_id="req-y")] \
            == ["instance.delete.start"]
        [op] = store.bus_operations(now - 60, now + 60, resource_id=vm)
        assert op.outcome == "success" and op.host == "cmp-7"
        assert op.duration == (t1 - t0).total_seconds()
        assert op.build_seconds == (t1.replace(microsecond=0) - t0.replace(microsecond=0)
                                    ).total_seconds()
        # a late twin cannot reopen it
        store.write_bus(BusBatch(operations=[first.operations[0]]))
        [again] = store.bus_operations(now - 60, now + 60, resource_id=vm)
        assert again.outcome == "success"
        store.write_bus(BusBatch(poison=[PoisonMessage(now, "bad-json: x", "nova",
                                                       "notifications.info", 9, "{not json")]))
        assert [p.reason for p in store.bus_poison()] == ["bad-json: x"]
        raw = store.bus_raw(first.notes[0].message_id)
        assert raw is not None and vm in raw
        assert store.prune_bus(now + 10) == 5
        assert store.bus_raw(first.notes[0].message_id) is None
        # the store's retention takes the rest (events, operations, poison) with it
        assert store.prune(now + 10) >= 5 + 1 + 1
        assert store.bus_operations(0, now + 60) == [] and store.bus_poison() == []
        assert store.events(0, now + 60, kinds=["notification"]) == []
    finally:
        store.close()
