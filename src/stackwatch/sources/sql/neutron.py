"""``sql.neutron``: agents alive (heartbeat within ``agent_down_time``), routers per L3 agent.

The agents also give one ``neutron.db_agent`` check each, judged as the API's
``neutron.agent`` is: the database's view, which health counts when the API's
could not be read; and one ``neutron.db_heartbeat`` each: the age of its
``heartbeat_timestamp`` on the database's clock, late past twice ``report_interval``
(``sources/heartbeat.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from stackwatch.model import CheckResult, Collection
from stackwatch.sources.heartbeat import NEUTRON_REPORT_INTERVAL, heartbeat_check
from stackwatch.sources.openstack_api.network import Agent, _agent_check
from stackwatch.sources.resources import Resource
from stackwatch.sources.sql import tables as t
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.nova import utcnow

#: neutron's ``agent_down_time`` default (seconds).
AGENT_DOWN_TIME_S = 75.0

#: The database's view of a neutron agent (the API's is ``neutron.agent``).
AGENT_CHECK = "neutron.db_agent"
#: The database's view of its heartbeat (the API's is ``neutron.heartbeat``).
HEARTBEAT_CHECK = "neutron.db_heartbeat"


class NeutronSql(SqlSource):
    """Neutron's database."""

    database = "neutron"

    def __init__(self, url: str, *, agent_down_time: float = AGENT_DOWN_TIME_S,
                 report_interval: float = NEUTRON_REPORT_INTERVAL, **options: Any) -> None:
        super().__init__(url, **options)
        #: seconds without a heartbeat after which an agent is dead (neutron.conf)
        self.agent_down_time = agent_down_time
        #: neutron.conf ``[AGENT] report_interval``: a heartbeat twice as old is late
        self.report_interval = report_interval

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("agents", self.agents, self.interval("agents")),
            Resource("l3_agent_routers", self.l3_agent_routers,
                     self.interval("l3_agent_routers")),
        )

    def agents(self) -> Collection:
        a = t.agents
        rows = self.rows("agents", sa.select(a.c.id, a.c.agent_type, a.c.host, a.c.binary,
                                             a.c.admin_state_up, a.c.heartbeat_timestamp))
        now = self.db_now or utcnow()
        cutoff = now - dt.timedelta(seconds=self.agent_down_time)
        agents = [Agent(str(id_), str(binary), str(agent_type or ""), str(host),
                        beat is not None and beat >= cutoff, bool(admin), "")
                  for id_, agent_type, host, binary, admin, beat in rows]
        samples = [self.sample("openstack_neutron_db_agent_alive", 1 if agent.alive else 0,
                               host=agent.host, binary=agent.binary,
                               adminState="up" if agent.admin_state_up else "down")
                   for agent in agents]
        checks: list[CheckResult] = [
            replace(check, name=AGENT_CHECK, message=f"{check.message} (database)")
            for check in (_agent_check(agent, self.region_label) for agent in agents)]
        for agent, (*_, beat) in zip(agents, rows, strict=True):
            age = None if beat is None else max(0.0, (now - beat).total_seconds())
            if age is not None:
                samples.append(self.sample("openstack_neutron_db_agent_heartbeat_age_seconds",
                                           age, host=agent.host, binary=agent.binary))
            checks.append(heartbeat_check(HEARTBEAT_CHECK, host=agent.host,
                                          binary=agent.binary, age=age,
                                          interval=self.report_interval, says_up=agent.alive,
                                          enabled=agent.admin_state_up,
                                          region=self.region_label))
        return Collection(tuple(samples), tuple(checks))

    def l3_agent_routers(self) -> Collection:
        a, b = t.agents, t.router_bindings
        rows = self.rows("routers per L3 agent", sa.select(
            a.c.id, a.c.host, sa.func.count(b.c.router_id),
        ).select_from(a.outerjoin(b, b.c.l3_agent_id == a.c.id))
         .where(a.c.agent_type == "L3 agent").group_by(a.c.id, a.c.host))
        return Collection(tuple(
            self.sample("openstack_neutron_db_l3_agent_routers", n, agent_id=str(agent),
                        host=str(host)) for agent, host, n in rows))
