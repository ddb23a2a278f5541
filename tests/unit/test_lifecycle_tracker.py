"""The lifecycle records into events once, counters, durations and the stuck check."""

from __future__ import annotations

import time

import pytest

from stackwatch.model import Sample, Status
from stackwatch.sources.lifecycle import (
    DURATION_BUCKETS,
    Action,
    ActionEvent,
    Fault,
    LifeTracker,
    Migration,
)

pytestmark = pytest.mark.unit


def sample(name: str, value: float, /, **labels: object) -> Sample:
    return Sample.of(name, value, **labels)


def values(samples: list[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {s.labels: s.value for s in samples if s.name == name}


def test_an_action_is_emitted_once_settled_and_counted_once() -> None:
    now = time.time()
    tracker = LifeTracker("openstack_nova")
    running = Action("i-1", "req-1", "create", now, now, "", events=(
        ActionEvent("conductor_schedule_and_build_instances", now, now + 1, "Success"),
        ActionEvent("compute__do_build_and_run_instance", now + 1, None, ""),))
    first = tracker.action_events([running])
    # the finished step only: the action is not settled while a step runs
    assert [e.event_type for e in first] == ["create/conductor_schedule_and_build_instances"]
    done = Action("i-1", "req-1", "create", now, now + 9, "", events=(
        running.events[0],
        ActionEvent("compute__do_build_and_run_instance", now + 1, now + 9, "Success",
                    "cmp-1")))
    second = tracker.action_events([done])
    assert [e.event_type for e in second] == ["create/compute__do_build_and_run_instance",
                                               "create"]
    action = second[-1]
    assert dict(action.attributes)["result"] == "success" and action.host == "cmp-1"
    assert "in 9.0s" in action.message and action.request_id == "req-1"
    assert tracker.action_events([done]) == []  # read again: nothing new
    failed = Action("i-2", "req-2", "reboot", now, now, "Error", events=(
        ActionEvent("compute_reboot_instance", now, now, "Error", details="boom"),))
    [step, act] = tracker.action_events([failed])
    assert act.severity >= 40 and dict(act.attributes)["result"] == "error"
    assert "boom" in step.message
    samples = tracker.action_samples(sample)
    assert values(samples, "openstack_nova_instance_actions_total") == {
        (("action", "create"), ("result", "success")): 1,
        (("action", "reboot"), ("result", "error")): 1}
    assert values(samples, "openstack_nova_instance_actions_failed_total") == {(): 1}


def test_faults_once_per_instance_time_and_code() -> None:
    tracker = LifeTracker("openstack_nova")
    fault = Fault("i-1", "500", "No valid host was found.\n There are not enough hosts.",
                  1000.0, "Traceback...")
    [event] = tracker.fault_events([fault, fault])
    assert event.kind == "fault" and event.resource_ids == ("i-1",)
    assert event.message == "No valid host was found. There are not enough hosts."
    assert tracker.fault_events([fault]) == []
    later = Fault("i-1", "500", "again", 2000.0)
    assert len(tracker.fault_events([later])) == 1
    assert values(tracker.action_samples(sample), "openstack_nova_instance_faults_total") == {
        (("code", "500"),): 2}


def test_migrations_progress_duration_and_stuck() -> None:
    now = time.time()
    tracker = LifeTracker("openstack_nova", stuck_after=600)
    fresh = Migration("m-1", "i-1", "live-migration", "running", "a", "b", now - 30, now - 30)
    old = Migration("m-2", "i-2", "migration", "migrating", "a", "c", now - 3600, now - 3600)
    events = tracker.migration_events([fresh, old])
    assert [e.event_type for e in events] == ["live-migration/running", "migration/migrating"]
    samples, check = tracker.migration_samples([fresh, old], now, sample)
    assert check.status is Status.WARNING and "m-2" in check.message
    assert "m-1" not in check.message
    assert values(samples, "openstack_nova_migrations_stuck") == {(): 1}
    assert values(samples, "openstack_nova_host_migrations") == {
        (("direction", "out"), ("host", "a")): 2, (("direction", "in"), ("host", "b")): 1,
        (("direction", "in"), ("host", "c")): 1}
    done = Migration("m-1", "i-1", "live-migration", "completed", "a", "b", now - 30, now + 15)
    [event] = tracker.migration_events([done, done])
    assert dict(event.attributes)["duration"] == "45.0"
    failed = Migration("m-2", "i-2", "migration", "error", "a", "c", now - 3600, now)
    tracker.migration_events([failed])
    samples, check = tracker.migration_samples([done, failed], now, sample)
    assert check.status is Status.OK
    buckets = {dict(s.labels)["le"]: s.value for s in samples
               if s.name == "openstack_nova_migration_duration_seconds_bucket"
               and s.label("migration_type") == "live-migration"}
    assert len(buckets) == len(DURATION_BUCKETS) + 1
    assert buckets["30"] == 0 and buckets["60"] == 1 and buckets["+Inf"] == 1
    assert values(samples, "openstack_nova_migrations_failed_total")[
        (("migration_type", "migration"),)] == 1
    # a status seen again is no new event; the duration counted once
    assert tracker.migration_events([done]) == []
    samples, _ = tracker.migration_samples([done], now, sample)
    assert values(samples, "openstack_nova_migration_duration_seconds_count")[
        (("migration_type", "live-migration"),)] == 1


def test_the_memory_is_bounded() -> None:
    tracker = LifeTracker("openstack_nova", memory=3)
    faults = [Fault(f"i-{n}", "500", "x", float(n)) for n in range(5)]
    assert len(tracker.fault_events(faults)) == 5
    # the oldest were forgotten: seen again, they come again; the newest do not
    assert len(tracker.fault_events(faults[-3:])) == 0
    assert len(tracker.fault_events(faults[:1])) == 1
