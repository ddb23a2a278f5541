"""``sql.glance``: images by status and visibility, their total size, image members.

glance soft-deletes (``deleted = 1``, status ``deleted``): deleted rows are left
out, as the API leaves them out. Two queries, each its own resource.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from stackwatch.model import Collection
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource


class GlanceSql(SqlSource):
    """Glance's database."""

    database = "glance"

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("images", self.images, self.interval("images")),
            Resource("members", self.members, self.interval("members")),
        )

    def images(self) -> Collection:
        i = t.images
        rows = self.rows("images by status and visibility", sa.select(
            i.c.status, i.c.visibility, sa.func.count(), sa.func.sum(i.c.size))
            .where(i.c.deleted == sa.false()).group_by(i.c.status, i.c.visibility))
        samples = [self.sample("openstack_glance_db_images", n, status=str(status),
                               visibility=str(visibility))
                   for status, visibility, n, _ in sorted(rows, key=lambda r: (r[0], r[1]))]
        size = sum(float(total or 0) for *_, total in rows)
        samples.append(self.sample("openstack_glance_db_images_size_bytes", size))
        return Collection(tuple(samples))

    def members(self) -> Collection:
        m = t.image_members
        n = self.scalar("image members", sa.select(sa.func.count()).select_from(m)
                        .where(m.c.deleted == sa.false()))
        return Collection((self.sample("openstack_glance_db_image_members", n),))
