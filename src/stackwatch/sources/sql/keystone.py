"""``sql.keystone``: token rows (total, expired, per user) and revocation events.

On fernet clouds the ``token`` table exists and stays empty: 0 is normal
there. On UUID-token clouds a growing count is the token-bloat signal
(``keystone-manage token_flush`` not running).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from stackwatch.model import Collection, Sample
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.nova import utcnow

#: How many users with the most token rows are reported by name.
TOP_USERS = 20


class KeystoneSql(SqlSource):
    """Keystone's database."""

    database = "keystone"

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("tokens", self.tokens, self.interval("tokens")),
            Resource("revocation_events", self.revocation_events,
                     self.interval("revocation_events")),
        )

    def tokens(self) -> Collection:
        tk = t.token
        total = self.scalar("token rows", sa.select(sa.func.count()).select_from(tk))
        expired = self.scalar("expired token rows", sa.select(sa.func.count()).select_from(tk)
                              .where(tk.c.expires < utcnow()))
        per_user = self.rows("token rows per user", sa.select(tk.c.user_id, sa.func.count())
                             .group_by(tk.c.user_id)
                             .order_by(sa.func.count().desc()).limit(TOP_USERS))
        samples: list[Sample] = [self.sample("openstack_keystone_db_tokens", total),
                                 self.sample("openstack_keystone_db_tokens_expired", expired)]
        samples += [self.sample("openstack_keystone_db_tokens_per_user", n,
                                user_id=str(user or "")) for user, n in per_user]
        return Collection(tuple(samples))

    def revocation_events(self) -> Collection:
        n = self.scalar("revocation events", sa.select(sa.func.count())
                        .select_from(t.revocation_event))
        return Collection((self.sample("openstack_keystone_db_revocation_events", n),))
