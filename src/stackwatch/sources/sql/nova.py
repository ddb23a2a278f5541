"""``sql.nova``: instances in error, services offline, stale compute nodes, capacity totals;
the instances' actions, faults and migrations (:mod:`.nova_life`).

Four queries per collection (each its own resource, so a table a release
lacks makes only its metrics UNKNOWN). Also serves ``nova_cell0``, where
instances that failed scheduling live (same schema): the instance counts of
both carry ``database`` (``nova``, ``nova_cell0``), so each database's count is
its own series and the cloud's total is their sum.

The services table also gives one ``nova.db_service`` check per service, judged
as the API's ``nova.service`` is (up, disabled, down, forced down): the
database's view of the members, which health counts when the API's could not
be read (``stackwatch.health.evaluate.DATABASE_VIEWS``), and one ``nova.db_heartbeat``:
the age of its heartbeat (``last_seen_up``, else ``updated_at``) on the database's
clock, late past twice ``report_interval`` (``sources/heartbeat.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from stackwatch.config import LifecycleConfig
from stackwatch.model import CheckResult, Collection, Sample
from stackwatch.sources.heartbeat import NOVA_REPORT_INTERVAL, heartbeat_check
from stackwatch.sources.openstack_api.compute import _service_check
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.nova_life import NovaLife

MIB = 1024 * 1024

#: nova's ``service_down_time`` default (seconds): a service silent for longer is down.
SERVICE_DOWN_TIME_S = 60.0

#: The database's view of a nova service (the API's is ``nova.service``).
SERVICE_CHECK = "nova.db_service"
#: The database's view of its heartbeat (the API's is ``nova.heartbeat``).
HEARTBEAT_CHECK = "nova.db_heartbeat"


def utcnow() -> dt.datetime:
    """Naive UTC, as OpenStack stores its timestamps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def last_seen(*columns: sa.ColumnElement[dt.datetime]) -> sa.ColumnElement[dt.datetime]:
    return sa.func.coalesce(*columns, type_=sa.DateTime)


# Service rows that are not heartbeating services (nova-api, nova-metadata).
API_SERVICE_BINARIES = ("nova-osapi_compute", "nova-metadata")

class NovaSql(SqlSource):
    """Nova's cell database."""

    database = "nova"

    #: seconds without a heartbeat after which a service counts as down
    service_down_time: float = SERVICE_DOWN_TIME_S

    def __init__(self, url: str, *, report_interval: float = NOVA_REPORT_INTERVAL,
                 lifecycle: LifecycleConfig | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        #: nova.conf ``report_interval``: a heartbeat twice as old is late
        self.report_interval = report_interval
        self.life = NovaLife(self, lifecycle)

    def now(self) -> dt.datetime:
        """The database's clock at this collection's start (ours if it was not read)."""
        return self.db_now or utcnow()

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("instances", self.instances, self.interval("instances")),
            Resource("services", self.services, self.interval("services")),
            Resource("compute_nodes", self.compute_nodes, self.interval("compute_nodes")),
            *self.life_resources(),
        )

    def life_resources(self) -> tuple[Resource, ...]:
        """Actions, faults and migrations (:mod:`.nova_life`)."""
        return (
            Resource("instance_actions", self.life.instance_actions,
                     self.interval("instance_actions")),
            Resource("instance_faults", self.life.instance_faults,
                     self.interval("instance_faults")),
            Resource("migrations", self.life.migrations, self.interval("migrations")),
        )

    def instances(self) -> Collection:
        i = t.instances
        rows = self.rows("instances by vm_state",
                         sa.select(i.c.vm_state, sa.func.count())
                         .where(i.c.deleted == 0).group_by(i.c.vm_state))
        counts = {str(state or ""): float(n) for state, n in rows}
        # every cell database holds instances: ``database`` keeps each one's count apart
        samples = [self.sample("openstack_nova_db_instances", n, vm_state=state,
                               database=self.database)
                   for state, n in sorted(counts.items())]
        # the monitoring guide's query: vm_state='error' and deleted=0
        samples.append(self.sample("openstack_nova_db_instances_error", counts.get("error", 0),
                                   database=self.database))
        return Collection(tuple(samples))

    def services(self) -> Collection:
        s = t.nova_services
        seen = last_seen(s.c.last_seen_up, s.c.updated_at, s.c.created_at)
        # nova-api and nova-metadata register service rows only for version tracking and
        # never heartbeat; os-services hides them too (nova/api/openstack/compute/services.py).
        rows = self.rows("services", sa.select(s.c.host, s.c.binary, s.c.disabled,
                                               s.c.forced_down, seen).where(
            s.c.deleted == 0, s.c.binary.not_in(API_SERVICE_BINARIES)))
        now = self.now()
        cutoff = now - dt.timedelta(seconds=self.service_down_time)
        services = [(str(host), str(binary), bool(disabled), bool(forced), seen_at is not None
                     and seen_at >= cutoff) for host, binary, disabled, forced, seen_at in rows]
        samples = _service_samples(self, "nova", services)
        beats: list[CheckResult] = []
        for (host, binary, disabled, forced, up), (*_, seen_at) in zip(services, rows,
                                                                       strict=True):
            age = None if seen_at is None else max(0.0, (now - seen_at).total_seconds())
            if age is not None:
                samples.append(self.sample("openstack_nova_db_service_heartbeat_age_seconds",
                                           age, host=host, binary=binary))
            beats.append(heartbeat_check(HEARTBEAT_CHECK, host=host, binary=binary, age=age,
                                         interval=self.report_interval,
                                         says_up=up and not forced, enabled=not disabled,
                                         region=self.region_label))
        return Collection(tuple(samples),
                          service_checks(self, SERVICE_CHECK, services) + tuple(beats))

    def compute_nodes(self) -> Collection:
        c = t.compute_nodes
        row = self.rows("compute node totals", sa.select(
            sa.func.count(), sa.func.sum(c.c.vcpus), sa.func.sum(c.c.vcpus_used),
            sa.func.sum(c.c.memory_mb), sa.func.sum(c.c.memory_mb_used),
        ).where(c.c.deleted == 0))[0]
        # A node reports through its nova-compute service's heartbeat (nova servicegroup).
        s = t.nova_services
        cutoff = self.now() - dt.timedelta(seconds=self.service_down_time)
        heartbeat = last_seen(s.c.last_seen_up, s.c.updated_at, s.c.created_at)
        service = s.c.host == c.c.host
        service = sa.and_(service, s.c.binary == "nova-compute", s.c.deleted == 0)
        stale = self.scalar("compute nodes not reporting", sa.select(sa.func.count())
                            .select_from(c.outerjoin(s, service))
                            .where(c.c.deleted == 0,
                                   sa.or_(heartbeat.is_(None), heartbeat < cutoff)))
        count, vcpus, vcpus_used, memory, memory_used = (float(v or 0) for v in row)
        return Collection((
            self.sample("openstack_nova_db_compute_nodes", count),
            self.sample("openstack_nova_db_compute_nodes_stale", stale),
            self.sample("openstack_nova_db_vcpus", vcpus),
            self.sample("openstack_nova_db_vcpus_used", vcpus_used),
            self.sample("openstack_nova_db_memory_bytes", memory * MIB),
            self.sample("openstack_nova_db_memory_used_bytes", memory_used * MIB),
        ))


def _service_samples(source: SqlSource, codename: str,
                     rows: list[tuple[str, str, bool, bool, bool]]) -> list[Sample]:
    """Per service ``..._db_service_up`` plus down / disabled / forced-down counts per binary."""
    samples = []
    down: dict[str, int] = {}
    disabled: dict[str, int] = {}
    forced: dict[str, int] = {}
    for host, binary, is_disabled, is_forced, is_up in rows:
        up = is_up and not is_forced
        samples.append(source.sample(f"openstack_{codename}_db_service_up", 1 if up else 0,
                                     host=host, binary=binary))
        down[binary] = down.get(binary, 0) + (0 if up else 1)
        disabled[binary] = disabled.get(binary, 0) + (1 if is_disabled else 0)
        forced[binary] = forced.get(binary, 0) + (1 if is_forced else 0)
    for binary in sorted(down):
        samples.append(source.sample(f"openstack_{codename}_db_services_down", down[binary],
                                     binary=binary))
        samples.append(source.sample(f"openstack_{codename}_db_services_disabled",
                                     disabled[binary], binary=binary))
        if codename == "nova":
            samples.append(source.sample("openstack_nova_db_services_forced_down",
                                         forced[binary], binary=binary))
    return samples


def service_checks(source: SqlSource, name: str,
                   rows: list[tuple[str, str, bool, bool, bool]]) -> tuple[CheckResult, ...]:
    """One check per service row, judged as the API judges its service list."""
    checks = (_service_check(name, host, binary, "up" if is_up else "down",
                             "disabled" if is_disabled else "enabled", "", is_forced,
                             source.region_label)
              for host, binary, is_disabled, is_forced, is_up in rows)
    return tuple(replace(c, message=f"{c.message} (database)") for c in checks)


class NovaCell0Sql(NovaSql):
    """``nova_cell0``: where instances that failed scheduling live (no services, no nodes,
    no migrations), with their failed ``create`` actions and NoValidHost faults."""

    database = "nova_cell0"

    def resources(self) -> Sequence[Resource]:
        return (Resource("instances", self.instances, self.interval("instances")),
                *self.life_resources()[:2])
