"""``sql.nova_api``: flavors, quota limits, cells, and the host and instance mappings.

nova_api is the top-level database of a cells v2 deployment: it knows which cell
each host and each instance lives in, and keeps a build request for every server
accepted by nova-api but not yet placed in a cell by the conductor (a count that
only grows while scheduling is stuck). Usage is not read: nova counts it from
the cells since Pike, and ``quota_usages`` stays empty. Five queries, each its own
resource, so a table another release lacks makes only its metrics UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from stackwatch.model import Collection
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource


class NovaApiSql(SqlSource):
    """Nova's API database (``nova_api``)."""

    database = "nova_api"

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("flavors", self.flavors, self.interval("flavors")),
            Resource("quotas", self.quotas, self.interval("quotas")),
            Resource("cells", self.cells, self.interval("cells")),
            Resource("host_mappings", self.host_mappings, self.interval("host_mappings")),
            Resource("instance_mappings", self.instance_mappings,
                     self.interval("instance_mappings")),
        )

    def flavors(self) -> Collection:
        n = self.scalar("flavors", sa.select(sa.func.count()).select_from(t.flavors))
        return Collection((self.sample("openstack_nova_api_db_flavors", n),))

    def quotas(self) -> Collection:
        q = t.api_quotas
        rows = self.rows("project quota limits", sa.select(
            q.c.project_id, q.c.resource, q.c.hard_limit).where(q.c.project_id.is_not(None)))
        return Collection(tuple(
            self.sample("openstack_nova_api_db_quota_limit", float(limit or 0),
                        project_id=str(project), resource=str(resource))
            for project, resource, limit in sorted(rows, key=lambda r: (str(r[0]), str(r[1])))))

    def cells(self) -> Collection:
        c = t.cell_mappings
        row = self.rows("cell mappings", sa.select(
            sa.func.count(), sa.func.sum(sa.case((c.c.disabled == sa.true(), 1), else_=0))
        ).select_from(c))[0]
        return Collection((self.sample("openstack_nova_api_db_cells", float(row[0] or 0)),
                           self.sample("openstack_nova_api_db_cells_disabled",
                                       float(row[1] or 0))))

    def host_mappings(self) -> Collection:
        h, c = t.host_mappings, t.cell_mappings
        rows = self.rows("host mappings per cell", sa.select(c.c.name, sa.func.count())
                         .select_from(h.outerjoin(c, h.c.cell_id == c.c.id))
                         .group_by(c.c.name))
        return Collection(tuple(self.sample("openstack_nova_api_db_host_mappings", n,
                                            cell=str(cell or ""))
                                for cell, n in sorted(rows, key=lambda r: str(r[0] or ""))))

    def instance_mappings(self) -> Collection:
        m, c = t.instance_mappings, t.cell_mappings
        live = sa.or_(m.c.queued_for_delete.is_(None), m.c.queued_for_delete == sa.false())
        rows = self.rows("instance mappings per cell", sa.select(c.c.name, sa.func.count())
                         .select_from(m.outerjoin(c, m.c.cell_id == c.c.id))
                         .where(live).group_by(c.c.name))
        builds = self.scalar("build requests", sa.select(sa.func.count())
                             .select_from(t.build_requests))
        samples = [self.sample("openstack_nova_api_db_instance_mappings", n,
                               cell=str(cell or ""))
                   for cell, n in sorted(rows, key=lambda r: str(r[0] or ""))]
        samples.append(self.sample("openstack_nova_api_db_build_requests", builds))
        return Collection(tuple(samples))
