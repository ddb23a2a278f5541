"""``sql.neutron``: agents alive (heartbeat within ``agent_down_time``), routers per L3 agent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from stackwatch.model import Collection
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.nova import utcnow

#: neutron's ``agent_down_time`` default (seconds).
AGENT_DOWN_TIME_S = 75.0


class NeutronSql(SqlSource):
    """Neutron's database."""

    database = "neutron"

    def __init__(self, url: str, *, agent_down_time: float = AGENT_DOWN_TIME_S,
                 **options: Any) -> None:
        super().__init__(url, **options)
        #: seconds without a heartbeat after which an agent is dead (neutron.conf)
        self.agent_down_time = agent_down_time

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("agents", self.agents, self.interval("agents")),
            Resource("l3_agent_routers", self.l3_agent_routers,
                     self.interval("l3_agent_routers")),
        )

    def agents(self) -> Collection:
        a = t.agents
        rows = self.rows("agents", sa.select(a.c.host, a.c.binary, a.c.admin_state_up,
                                             a.c.heartbeat_timestamp))
        cutoff = utcnow() - dt.timedelta(seconds=self.agent_down_time)
        samples = [self.sample("openstack_neutron_db_agent_alive",
                               1 if beat is not None and beat >= cutoff else 0,
                               host=str(host), binary=str(binary),
                               adminState="up" if admin else "down")
                   for host, binary, admin, beat in rows]
        return Collection(tuple(samples))

    def l3_agent_routers(self) -> Collection:
        a, b = t.agents, t.router_bindings
        rows = self.rows("routers per L3 agent", sa.select(
            a.c.id, a.c.host, sa.func.count(b.c.router_id),
        ).select_from(a.outerjoin(b, b.c.l3_agent_id == a.c.id))
         .where(a.c.agent_type == "L3 agent").group_by(a.c.id, a.c.host))
        return Collection(tuple(
            self.sample("openstack_neutron_db_l3_agent_routers", n, agent_id=str(agent),
                        host=str(host)) for agent, host, n in rows))
