"""The alarm tables behave alike on SQLite and PostgreSQL: states replaced and
forgotten, history newest first, acknowledgements, silences active for their time."""

from __future__ import annotations

import json
import time

from stackwatch.store.base import AckRecord, AlarmRecord, AlarmTransition, SilenceRecord
from stackwatch.store.opening import open_alarm_store
from stores import Stores

KEY = (("host", "c1"),)


def test_alarm_tables(stores: Stores) -> None:
    states = open_alarm_store(stores.config())
    try:
        now = time.time()
        first = AlarmRecord("a", KEY, "alarm", "critical", now - 10, "x > 1", 2.0, now - 10)
        states.save_alarms([first, AlarmRecord("b", (), "ok", "", now, "fine", None, now)],
                           [], [AlarmTransition(now - 10, "a", KEY, "new", "alarm", "critical",
                                                "x > 1", 2.0)])
        later = AlarmRecord("a", KEY, "ok", "", now, "x <= 1", 0.5, now)
        states.save_alarms([later], [("b", ())],
                           [AlarmTransition(now, "a", KEY, "alarm", "ok", "", "x <= 1", 0.5)])
        assert states.alarm_states() == [later]
        history = states.alarm_history(now - 60, now + 1)
        assert [(t.previous, t.current, t.value) for t in history] == [
            ("alarm", "ok", 0.5), ("new", "alarm", 2.0)]
        assert states.alarm_history(now - 60, now + 1, alarm="b") == []
        states.acknowledge(AckRecord("a", KEY, "alice", "on it", now))
        states.acknowledge(AckRecord("a", KEY, "bob", "mine now", now + 1))
        assert [(a.by, a.reason) for a in states.acks()] == [("bob", "mine now")]
        states.unacknowledge([("a", KEY)])
        assert states.acks() == []
        matchers = json.dumps([["host", "=~", "c.*"]])
        sid = states.add_silence(SilenceRecord(0, matchers, now - 1, now + 60, "carol",
                                               "maintenance", now))
        states.add_silence(SilenceRecord(0, matchers, now + 100, now + 200, "dan", "later",
                                         now))
        assert [s.by for s in states.silences(now)] == ["carol"]
        assert len(states.silences()) == 2
        assert states.end_silence(sid, now) and not states.end_silence(sid, now)
        assert states.silences(now) == []
        assert states.prune_alarms(now + 0.5) == 3  # both transitions and the ended silence
    finally:
        states.close()


def test_window_values(stores: Stores) -> None:
    """Per current series and slot, each statistic the engine reads from the store; a
    sample at the window's very end counts in the last slot; avg is exactly the store's
    sum over its count (the engine's semantics before the store computed it)."""
    from stackwatch.model import Collection, Sample

    store = stores.open()
    try:
        now = time.time()
        store.write(Collection(samples=tuple(
            Sample.of("openstack_nova_up", v, now - age, region="R")
            for age, v in ((50, 1.0), (40, 5.0), (10, 3.0), (0, 2.0)))
            + tuple(Sample.of("openstack_nova_up", v, now - age, region="S")
                    for age, v in ((25, 0.1), (20, 0.7), (15, 1e16), (12, -0.3)))),
            "api.compute")
        store.write(Collection(samples=(Sample.of("openstack_nova_up", 9.0, now - 5,
                                                  region="gone"),)), "other")
        store.write(Collection(), "other")  # the "gone" series is no longer current

        def read(statistic: str) -> dict[tuple[tuple[str, str], ...], list[float | None]]:
            found = store.window_values("openstack_nova_up", statistic, now - 60, 30, 2)
            assert len(found.slots) == 2
            return {found.decode(key): [column[j] for column in found.slots]
                    for j, key in enumerate(found.keys)}

        r, s = (("region", "R"),), (("region", "S"),)
        assert read("count") == {r: [2, 2], s: [None, 4]}
        assert read("min") == {r: [1.0, 2.0], s: [None, -0.3]}
        assert read("max") == {r: [5.0, 3.0], s: [None, 1e16]}
        assert read("last") == {r: [5.0, 2.0], s: [None, -0.3]}
        sums, counts, avgs = read("sum"), read("count"), read("avg")
        assert sums[r] == [6.0, 5.0] and avgs[r] == [3.0, 2.5]
        total, count = sums[s][1], counts[s][1]
        assert total is not None and count is not None and avgs[s] == [None, total / count]
    finally:
        store.close()
