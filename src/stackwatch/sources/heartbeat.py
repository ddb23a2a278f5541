"""Heartbeat late: a service or agent that stopped reporting, seen before the cloud says
it is down.

Nova services write ``updated_at`` every ``report_interval`` (10 s) and nova calls one
down only after ``service_down_time`` (60 s) without; neutron agents write
``heartbeat_timestamp`` every ``agent_report_interval`` (30 s), dead after
``agent_down_time`` (75 s). A heartbeat older than :data:`LATE_FACTOR` report intervals
is late: WARNING ``heartbeat late: last seen 25 s ago, report interval 10 s`` while the
service still says up, CRITICAL once it says down (WARNING when an operator disabled
it). The age is measured on the cloud's own clock (the API's ``Date`` header, the
database's time), never on the monitor's: a skewed monitor clock would make every
heartbeat look late, or none.
"""

from __future__ import annotations

from stackwatch.model import CheckResult, PerfDatum, Status, make_labels

#: nova.conf ``report_interval`` default (seconds)
NOVA_REPORT_INTERVAL = 10.0
#: neutron.conf ``[AGENT] report_interval`` default (seconds)
NEUTRON_REPORT_INTERVAL = 30.0
#: a heartbeat older than this many report intervals is late
LATE_FACTOR = 2.0


def heartbeat_check(name: str, *, host: str, binary: str, age: float | None,
                    interval: float, says_up: bool, enabled: bool = True,
                    region: str = "") -> CheckResult:
    """The verdict on one service's heartbeat ``age`` (seconds, None: never reported)."""
    labels = make_labels(host=host, binary=binary, region=region)
    what = f"{binary} on {host}"
    seen = "never seen" if age is None else f"last seen {age:.0f} s ago"
    detail = f"{seen}, report interval {interval:g} s"
    perf = () if age is None else (PerfDatum("age", round(age, 1), "s",
                                             warn=LATE_FACTOR * interval, minimum=0),)
    if not says_up:
        status = Status.CRITICAL if enabled else Status.WARNING
        return CheckResult(name, status, f"{what}: down, {detail}", labels, perf)
    if age is None:
        return CheckResult(name, Status.UNKNOWN, f"{what}: no heartbeat time", labels)
    if age > LATE_FACTOR * interval:
        return CheckResult(name, Status.WARNING, f"{what}: heartbeat late: {detail}", labels,
                           perf)
    return CheckResult(name, Status.OK, f"{what}: heartbeat {detail}", labels, perf)
