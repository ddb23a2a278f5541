"""``sql.cinder``: volumes and snapshots by status and size, services offline.

Three queries per collection, each its own resource. The services also give
one ``cinder.db_service`` check each (the database's view; see ``sql.nova``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from stackwatch.model import Collection, Sample
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.nova import (
    SERVICE_DOWN_TIME_S,
    _service_samples,
    last_seen,
    service_checks,
    utcnow,
)

GIB = 1024 ** 3

#: The database's view of a cinder service (the API's is ``cinder.service``).
SERVICE_CHECK = "cinder.db_service"


class CinderSql(SqlSource):
    """Cinder's database."""

    database = "cinder"

    #: seconds without a heartbeat after which a service counts as down
    service_down_time: float = SERVICE_DOWN_TIME_S

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("volumes", self.volumes, self.interval("volumes")),
            Resource("snapshots", self.snapshots, self.interval("snapshots")),
            Resource("services", self.services, self.interval("services")),
        )

    def volumes(self) -> Collection:
        v = t.volumes
        rows = self.rows("volumes by status", sa.select(
            v.c.status, sa.func.count(), sa.func.sum(v.c.size),
        ).where(v.c.deleted == sa.false()).group_by(v.c.status))
        by_status = {str(status or ""): (float(n), float(size or 0)) for status, n, size in rows}
        samples: list[Sample] = [self.sample("openstack_cinder_db_volumes", n, status=st)
                   for st, (n, _) in sorted(by_status.items())]
        samples += [
            self.sample("openstack_cinder_db_volume_count",
                        sum(n for n, _ in by_status.values())),
            self.sample("openstack_cinder_db_volume_size_bytes",
                        sum(size for _, size in by_status.values()) * GIB),
            self.sample("openstack_cinder_db_volumes_error", sum(
                n for st, (n, _) in by_status.items() if st.startswith("error"))),
            self.sample("openstack_cinder_db_volumes_deleting", by_status.get("deleting",
                                                                               (0, 0))[0]),
        ]
        return Collection(tuple(samples))

    def snapshots(self) -> Collection:
        s = t.snapshots
        rows = self.rows("snapshots by status", sa.select(s.c.status, sa.func.count())
                         .where(s.c.deleted == sa.false()).group_by(s.c.status))
        by_status = {str(status or ""): float(n) for status, n in rows}
        samples: list[Sample] = [self.sample("openstack_cinder_db_snapshots", n, status=st)
                   for st, n in sorted(by_status.items())]
        samples += [
            self.sample("openstack_cinder_db_snapshot_count", sum(by_status.values())),
            # "creating" is a snapshot in progress (progress below 100%)
            self.sample("openstack_cinder_db_snapshots_in_progress",
                        by_status.get("creating", 0)),
            self.sample("openstack_cinder_db_snapshots_deleting", by_status.get("deleting", 0)),
            self.sample("openstack_cinder_db_snapshots_error", sum(
                n for st, n in by_status.items() if st.startswith("error"))),
        ]
        return Collection(tuple(samples))

    def services(self) -> Collection:
        s = t.cinder_services
        rows = self.rows("services", sa.select(
            s.c.host, s.c.binary, s.c.disabled, last_seen(s.c.updated_at, s.c.created_at),
        ).where(s.c.deleted == sa.false()))
        cutoff = utcnow() - dt.timedelta(seconds=self.service_down_time)
        services = [(str(host), str(binary), bool(disabled), False,
                     seen is not None and seen >= cutoff) for host, binary, disabled, seen in rows]
        return Collection(tuple(_service_samples(self, "cinder", services)),
                          service_checks(self, SERVICE_CHECK, services))
