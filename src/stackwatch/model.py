"""The three things every source produces: samples, check results and events, and the
items of the cloud's inventory that a count cannot name.

* :class:`Sample` — a number at a time with labels, named the Prometheus way
  (``openstack_nova_instances{state="error"} 3``).
* :class:`CheckResult` — a judgement with Nagios semantics: a :class:`Status`
  (exit codes 0/1/2/3), a message and perfdata.
* :class:`Event` — something that happened: a notification, an instance
  action, a log record worth keeping, with request and resource ids.
* :class:`Item` — one thing of the inventory as it is now: *which* server is in
  ERROR and its fault, *which* volume is stuck deleting and since when. Samples
  count them; items name them. A source's items are current state: each run
  replaces the previous run's.

UNKNOWN means "could not look", never "is broken": a source that cannot reach
what it watches reports UNKNOWN with the reason, and nothing downstream reads
that as CRITICAL.

All are frozen and hashable; labels are stored as a sorted tuple of
pairs so that equal label sets compare equal whatever order they were given in.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


def make_labels(labels: Mapping[str, object] | None = None, **extra: object) -> Labels:
    """Return labels as a sorted tuple of ``(name, value)`` strings."""
    merged: dict[str, object] = dict(labels or {})
    merged.update(extra)
    return tuple(sorted((str(k), str(v)) for k, v in merged.items()))


class Status(enum.IntEnum):
    """Nagios states; the value is the plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """Worst of several statuses: CRITICAL > WARNING > UNKNOWN > OK.

        UNKNOWN ranks below WARNING when combining, as Nagios does for host
        groups: a known problem outranks a blind spot. An empty input is OK.
        """
        rank = {cls.OK: 0, cls.UNKNOWN: 1, cls.WARNING: 2, cls.CRITICAL: 3}
        return max(statuses, key=rank.__getitem__, default=cls.OK)


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one metric, with labels, at one time (seconds since epoch)."""

    name: str
    value: float
    labels: Labels = ()
    timestamp: float = field(default_factory=time.time)

    @classmethod
    def of(
        cls, name: str, value: float, timestamp: float | None = None, **labels: object
    ) -> Sample:
        """Build a sample with keyword labels: ``Sample.of("x", 1, service="nova")``."""
        when = time.time() if timestamp is None else timestamp
        return cls(name, float(value), make_labels(labels), when)

    def label(self, name: str, default: str = "") -> str:
        """The value of one label, or ``default``."""
        for key, value in self.labels:
            if key == name:
                return value
        return default


@dataclass(frozen=True, slots=True)
class PerfDatum:
    """One Nagios perfdata item: ``label=value[uom];warn;crit;min;max``."""

    label: str
    value: float
    uom: str = ""
    warn: float | None = None
    crit: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    def render(self) -> str:
        """Render in the Nagios plugin perfdata syntax."""

        def num(x: float | None) -> str:
            if x is None:
                return ""
            return str(int(x)) if float(x).is_integer() else f"{x:g}"

        label = f"'{self.label}'" if any(c in self.label for c in " '=") else self.label
        parts = [f"{num(self.value)}{self.uom}", num(self.warn), num(self.crit),
                 num(self.minimum), num(self.maximum)]
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        return f"{label}={';'.join(parts)}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A judgement on one thing: status, a one-line message, perfdata."""

    name: str
    status: Status
    message: str
    labels: Labels = ()
    perfdata: tuple[PerfDatum, ...] = ()
    timestamp: float = field(default_factory=time.time)

    def nagios_line(self) -> str:
        """``STATUS - message | perfdata`` as a Nagios plugin prints it."""
        line = f"{self.status.name} - {self.message}"
        if self.perfdata:
            line += " | " + " ".join(p.render() for p in self.perfdata)
        return line


class Severity(enum.IntEnum):
    """Severity of an event, aligned with oslo.log / oslo.messaging priorities."""

    DEBUG = 10
    INFO = 20
    AUDIT = 25
    WARNING = 30
    ERROR = 40
    CRITICAL = 50


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, kept for tracing and for the event views.

    ``kind`` says where it came from (``notification``, ``instance_action``,
    ``log``, ``fault``); ``event_type`` is the specific type
    (``compute.instance.create.end``, ``nova.compute.manager``...).
    ``resource_ids`` holds ids of the instances, volumes, ports... it concerns.
    ``key``, when not empty, is the event's natural key: the store keeps one event per
    key (an instance action's event read again after a restart is not stored twice).
    """

    kind: str
    event_type: str
    timestamp: float
    severity: Severity = Severity.INFO
    service: str = ""
    host: str = ""
    message: str = ""
    request_id: str = ""
    resource_ids: tuple[str, ...] = ()
    attributes: Labels = ()
    key: str = ""


class ItemKind(enum.StrEnum):
    """What an :class:`Item` is (its ``kind``)."""

    SERVER = "server"          # a nova server in ERROR, with its fault
    HYPERVISOR = "hypervisor"  # a nova hypervisor: state up/down, status enabled/disabled
    VOLUME = "volume"          # a cinder volume in a transient or error status
    SNAPSHOT = "snapshot"      # a cinder snapshot in a transient or error status
    ROUTER = "router"          # a neutron router with the L3 agents hosting it


@dataclass(frozen=True, slots=True)
class Item:
    """One thing of the cloud's inventory, as a source saw it now.

    ``kind`` is an :class:`ItemKind` value and ``id`` the thing's id in OpenStack
    (unique per kind); ``status`` its state (``ERROR``, ``deleting``, ``up``);
    ``host`` and ``project`` (an id) where it lives and whose it is; ``message`` why
    it is in that state (a server's fault). ``since`` is when it entered its state
    when the API says (a fault's time, a volume's ``updated_at``): the age of a stuck
    volume is counted from it. ``timestamp`` is when it was seen.
    """

    kind: str
    id: str
    name: str = ""
    status: str = ""
    host: str = ""
    project: str = ""
    message: str = ""
    since: float | None = None
    attributes: Labels = ()
    timestamp: float = field(default_factory=time.time)

    def attribute(self, name: str, default: str = "") -> str:
        """The value of one attribute, or ``default``."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default


@dataclass(frozen=True, slots=True)
class Collection:
    """What one run of one source produced."""

    samples: tuple[Sample, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    events: tuple[Event, ...] = ()
    items: tuple[Item, ...] = ()

    def __add__(self, other: Collection) -> Collection:
        return Collection(self.samples + other.samples, self.checks + other.checks,
                          self.events + other.events, self.items + other.items)
