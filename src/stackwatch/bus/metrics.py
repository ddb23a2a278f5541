"""The consumer's metrics: its counters, and operation figures over a window of what the
store holds (catalog/metrics/bus.yaml)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from stackwatch.bus.records import Operation
from stackwatch.model import Sample

QUANTILES = (0.5, 0.9, 0.99)
ALL = "all"


@dataclass
class Counters:
    """What the consumer counted since it started."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    reconnects: int = 0
    connected: bool = False
    lag: float = 0.0
    poison: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)

    def samples(self, now: float) -> list[Sample]:
        out = [
            Sample.of("stackwatch_bus_connected", 1 if self.connected else 0, now),
            Sample.of("stackwatch_bus_messages_consumed_total", self.consumed, now),
            Sample.of("stackwatch_bus_messages_stored_total", self.stored, now),
            Sample.of("stackwatch_bus_messages_duplicate_total", self.duplicates, now),
            Sample.of("stackwatch_bus_reconnects_total", self.reconnects, now),
            Sample.of("stackwatch_bus_lag_seconds", self.lag, now),
        ]
        out += [Sample.of("stackwatch_bus_poison_total", n, now, reason=reason)
                for reason, n in sorted(self.poison.items())]
        out += [Sample.of("stackwatch_bus_queue_messages", n, now, queue=queue)
                for queue, n in sorted(self.queues.items())]
        return out


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (nearest rank)."""
    rank = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[rank]


def _percentiles(name: str, groups: Mapping[tuple[tuple[str, str], ...], list[float]],
                 now: float) -> list[Sample]:
    out = []
    for labels, values in sorted(groups.items()):
        values.sort()
        for q in QUANTILES:
            out.append(Sample.of(name, quantile(values, q), now, quantile=f"{q:g}",
                                 **dict(labels)))
    return out


def operation_samples(operations: Iterable[Operation], open_ops: Iterable[Operation],
                      now: float) -> list[Sample]:
    """Counts, duration, request and build percentiles of the operations ended in a window,
    and the open ones per type."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    durations: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
    requests: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
    builds: dict[tuple[tuple[str, str], ...], list[float]] = defaultdict(list)
    for op in operations:
        if op.ended is None:
            continue
        counts[(op.operation, op.host, op.outcome)] += 1
        if op.outcome != "success":
            continue
        duration = op.duration
        if duration is not None:
            for host in (op.host, ALL):
                durations[(("host", host), ("operation", op.operation))].append(duration)
            if op.operation == "create":
                for host in (op.host, ALL):
                    builds[(("host", host), ("measure", "start_to_end"))].append(duration)
        if op.request_started is not None:
            requests[(("operation", op.operation),)].append(
                max(0.0, op.ended - op.request_started))
        if op.build_seconds is not None:
            for host in (op.host, ALL):
                builds[(("host", host), ("measure", "launched_minus_created"))].append(
                    op.build_seconds)
    out = [Sample.of("openstack_notification_operations", n, now, operation=operation,
                     host=host, outcome=outcome)
           for (operation, host, outcome), n in sorted(counts.items())]
    out += _percentiles("openstack_notification_operation_duration_seconds", durations, now)
    out += _percentiles("openstack_notification_request_duration_seconds", requests, now)
    out += _percentiles("openstack_nova_instance_build_seconds", builds, now)
    opened: dict[str, int] = defaultdict(int)
    for op in open_ops:
        opened[op.operation] += 1
    out += [Sample.of("openstack_notification_open_operations", n, now, operation=operation)
            for operation, n in sorted(opened.items())]
    return out
