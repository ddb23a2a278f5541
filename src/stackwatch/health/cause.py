"""Root cause: which symptoms explain the others, roots first in restoration order.

This is the interface the alarm views use. This minimal version finds no cause: every
symptom is a root, ordered by the operations guide's restoration order
(:data:`RESTORATION_ORDER`: network, storage, message queue and database, keystone,
schedulers, APIs, the rest, dashboard), then by when it started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackwatch.catalog.loader import Catalog

#: The operations guide's order to bring services back, by stage: the catalog services
#: of each (services not listed rank after the APIs, before the dashboard).
RESTORATION_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("network", ("haproxy", "ovsdb-server", "ovs-vswitchd", "ovn-ovsdb-server-nb",
                 "ovn-ovsdb-server-sb", "ovn-northd", "ovn-controller")),
    ("storage", ("ceph-mon", "ceph-osd", "glusterfs", "cinder-volume")),
    ("message queue and database", ("rabbitmq", "mysql", "memcached", "pacemaker")),
    ("keystone", ("keystone",)),
    ("schedulers", ("nova-conductor", "nova-scheduler", "placement", "cinder-scheduler")),
    ("APIs", ("nova-api", "neutron-server", "glance-api", "cinder-api")),
    ("the rest", ()),
    ("dashboard", ("horizon",)),
)
_REST = next(i for i, (stage, _) in enumerate(RESTORATION_ORDER) if stage == "the rest")


@dataclass(frozen=True, slots=True)
class Symptom:
    """Something wrong, about a service (and a member, a host)."""

    key: str
    service: str
    member: str = ""
    host: str = ""
    kind: str = ""
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class Explained:
    """A symptom with the key of the symptom that explains it (None: a root)."""

    symptom: Symptom
    cause: str | None
    reason: str
    rank: int


def stage_of(service: str, catalog: Catalog) -> int:
    """The restoration stage of a service (by name or alias)."""
    spec = catalog.service(service)
    name = spec.name if spec is not None else service
    for index, (_, services) in enumerate(RESTORATION_ORDER):
        if name in services:
            return index
    return _REST


def explain(symptoms: Sequence[Symptom], catalog: Catalog) -> list[Explained]:
    """Roots first (restoration order, then the oldest), each followed by its
    consequences; here every symptom is a root."""
    ordered = sorted(symptoms, key=lambda s: (stage_of(s.service, catalog), s.since, s.key))
    return [Explained(s, None, f"root: {RESTORATION_ORDER[stage_of(s.service, catalog)][0]}",
                      rank) for rank, s in enumerate(ordered)]
