"""A store with a known history: hourly samples (at the middle of each hour, so an hour's
mean is its middle's value), a server in ERROR, a fault, a failing API and an alarm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stackwatch.config import StoreConfig
from stackwatch.model import Collection, Event, Item, ItemKind, Sample, Severity, make_labels
from stackwatch.store.base import AlarmTransition
from stackwatch.store.opening import open_alarm_store, open_store

HOUR = 3600.0
HOURS = 24 * 10
#: free vCPUs of each of the two hosts at hour 0, and taken per hour
START_FREE, TAKEN_PER_HOUR = 1000.0, 2.0
#: 5xx answers of nova's POST /servers per hour, 404s of glance per hour
NOVA_500_PER_HOUR, GLANCE_404_PER_HOUR = 3, 1


@dataclass(frozen=True)
class History:
    config: StoreConfig
    t0: float     # start of hour 0
    now: float    # the end of the history

    def runs_out(self) -> float:
        """When the cloud's free vCPUs reach zero: hour START_FREE / TAKEN_PER_HOUR, at
        the middle of an hour as all samples are."""
        return self.t0 + HOUR / 2 + START_FREE / TAKEN_PER_HOUR * HOUR


def write_history(directory: Path, now: float) -> History:
    """The history of the :data:`HOURS` hours before ``now`` (an hour boundary)."""
    t0 = now - HOURS * HOUR
    config = StoreConfig(path=directory / "store.sqlite")
    store = open_store(config)
    host = {"availability_zone": "nova", "region": "R"}
    try:
        for h in range(HOURS):
            t = t0 + h * HOUR + HOUR / 2
            free = START_FREE - TAKEN_PER_HOUR * h
            samples = [
                Sample.of("openstack_nova_vcpus_free", free, t, hostname="cmp-1",
                          aggregates="gpu,ssd", **host),
                Sample.of("openstack_nova_vcpus_free", free, t, hostname="cmp-2",
                          aggregates="ssd", **host),
                Sample.of("openstack_nova_vcpus_capacity", 2000, t, hostname="cmp-1",
                          aggregates="gpu,ssd", **host),
                Sample.of("openstack_nova_vcpus_used", 1000 - free, t, hostname="cmp-1",
                          aggregates="gpu,ssd", **host),
                Sample.of("openstack_nova_memory_free_bytes", 64 * 2 ** 30, t,
                          hostname="cmp-1", aggregates="gpu,ssd", **host),
                Sample.of("openstack_nova_running_vms", h // 10, t, hostname="cmp-1",
                          aggregates="gpu,ssd", **host),
                Sample.of("openstack_nova_flavor_servers", 5 + h // 24, t, flavor="m1.small",
                          region="R"),
                Sample.of("openstack_cinder_volumes", 10 + h, t, region="R"),
            ]
            s = samples.append
            for part in range(6):  # the log counters every 10 minutes, as a logs source
                at = t0 + h * HOUR + 300 + 600 * part
                done = h + (part + 1) / 6  # hours of requests so far
                s(Sample.of("openstack_log_http_requests_total", NOVA_500_PER_HOUR * done,
                            at, service="nova", host="ctl", method="POST",
                            url="/v2.1/servers", status="500"))
                s(Sample.of("openstack_log_http_requests_total", 100 * done, at,
                            service="nova", host="ctl", method="GET", url="/v2.1/servers",
                            status="200"))
                s(Sample.of("openstack_log_http_requests_total", GLANCE_404_PER_HOUR * done,
                            at, service="glance", host="ctl", method="GET",
                            url="/v2/images/{id}", status="404"))
                s(Sample.of("openstack_log_lines_total", 10 * done, at, service="nova",
                            file="nova-api.log", outcome="parsed"))
            store.write(Collection(samples=tuple(samples)), "api.compute")
        fault_at = now - 2 * HOUR
        store.write(Collection(
            items=(Item(kind=ItemKind.SERVER, id="4f1c-err", name="web-7", status="ERROR",
                        host="cmp-2", project="p1",
                        message="NoValidHost: No valid host was found.", since=fault_at,
                        timestamp=now - 60),),
            events=(Event(kind="fault", event_type="fault/500", timestamp=fault_at,
                          severity=Severity.ERROR, service="nova",
                          message="NoValidHost: No valid host was found.",
                          resource_ids=("4f1c-err",)),)), "sql.nova")
    finally:
        store.close()
    states = open_alarm_store(config)
    try:
        states.save_alarms([], [], [AlarmTransition(
            ts=now - 3 * HOUR, alarm="nova_api_5xx", labels=make_labels(service="nova"),
            previous="ok", current="firing", severity="critical",
            reason="nova answered 500 to 3 requests in 5 minutes")])
    finally:
        states.close()
    return History(config, t0, now)
