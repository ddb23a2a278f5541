"""``l3-failover``: routers stranded on dead L3 agents, moved to live ones.

A network node dies and the routers its L3 agent hosted stop forwarding until someone
moves them (the operations guide: ``neutron l3-agent-router-remove`` from the dead
agent, ``l3-agent-router-add`` to a live one). The diagnosis reads neutron's agents and
what each L3 agent hosts (as ``api.network`` does); a router is *stranded* when every
agent hosting it is dead. The fix moves each one: ``DELETE
/v2.0/agents/{dead}/l3-routers/{router}``, ``POST /v2.0/agents/{live}/l3-routers``
to the least-loaded live, enabled L3 agent, then checks that the live agent lists it.

Arguments: ``agent`` (only the routers of this dead agent, by host or id) and ``after``
(only agents dead for at least that many seconds, by their last heartbeat: what
``fixes.auto`` passes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackwatch.errors import FixRefused, SourceError
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Change, Diagnosis, Evidence, Plan, fingerprint
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.network import Agent, HostedRouter

L3 = "L3 agent"
WHERE = "neutron API"


@dataclass(frozen=True, slots=True)
class Hosting:
    """The L3 agents, what each hosts, and each agent's last heartbeat (epoch seconds)."""

    agents: dict[str, Agent]
    heartbeats: dict[str, float | None]
    routers: dict[str, HostedRouter]
    hosted_by: dict[str, list[str]]   # router id -> agent ids

    def stranded(self) -> list[str]:
        """Routers every hosting agent of which is dead, by id."""
        return sorted(r for r, agents in self.hosted_by.items()
                      if agents and not any(self.agents[a].alive for a in agents))

    def load(self, agent_id: str) -> int:
        return sum(1 for agents in self.hosted_by.values() if agent_id in agents)

    def dead_for(self, agent_id: str, now: float) -> float | None:
        beat = self.heartbeats.get(agent_id)
        return None if beat is None else max(0.0, now - beat)


def _heartbeat(d: Mapping[str, Any]) -> float | None:
    text = d.get("heartbeat_timestamp")
    if not isinstance(text, str) or not text:
        return None
    try:  # neutron: "2026-12-05 02:33:24" in UTC (no zone)
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def read_hosting(ctx: RunbookContext) -> Hosting:
    """The L3 agents and their routers, read now."""
    client = ctx.client
    agents: dict[str, Agent] = {}
    beats: dict[str, float | None] = {}
    for raw in client.list_all("network", "v2.0/agents", "agents", params={"agent_type": L3},
                               page_size=0):
        agent = Agent.from_api(raw)
        if agent.agent_type == L3:
            agents[agent.id] = agent
            beats[agent.id] = _heartbeat(raw)
    routers: dict[str, HostedRouter] = {}
    hosted_by: dict[str, list[str]] = {}
    for agent_id in sorted(agents):
        body = client.get("network", f"v2.0/agents/{agent_id}/l3-routers")
        for raw in f.items(body, "routers", "neutron l3-routers"):
            if isinstance(raw, Mapping):
                router = HostedRouter.from_api(raw)
                routers[router.id] = router
                hosted_by.setdefault(router.id, []).append(agent_id)
    return Hosting(agents, beats, routers, hosted_by)


def _agent_text(agent: Agent) -> str:
    return f"{agent.host} {agent.id}"


def _agent_id(text: str) -> str:
    return text.rsplit(" ", 1)[-1]


class L3Failover:
    """Routers on dead L3 agents, and moving them to live ones."""

    name = "l3-failover"
    fix = "l3-failover"
    summary = "routers stranded on dead L3 agents; the fix moves them to live agents"

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        hosting = read_hosting(ctx)
        dead = [a for a in hosting.agents.values() if not a.alive]
        live = [a for a in hosting.agents.values() if a.alive and a.admin_state_up]
        stranded = hosting.stranded()
        evidence = [Evidence(label="L3 agents", value=f"{len(hosting.agents)} ({len(live)} "
                             f"live and enabled, {len(dead)} dead)", source=WHERE)]
        for agent in sorted(dead, key=lambda a: a.host):
            age = hosting.dead_for(agent.id, ctx.now)
            since = f", last heartbeat {age:.0f} s ago" if age is not None else ""
            evidence.append(Evidence(label=f"dead L3 agent {agent.host}",
                                     value=f"{hosting.load(agent.id)} routers{since}",
                                     source=f"{WHERE} agent {agent.id}"))
        for router_id in stranded:
            router = hosting.routers[router_id]
            hosts = ", ".join(hosting.agents[a].host for a in hosting.hosted_by[router_id])
            evidence.append(Evidence(label=f"stranded router {router.name or router.id}",
                                     value=f"only on dead {hosts}",
                                     source=f"{WHERE} router {router.id}"))
        if stranded:
            advice = [f"`stackwatch fix l3-failover` shows the moves to the least-loaded live "
                      f"agents; `--apply` makes them ({len(live)} live agent(s))",
                      "by hand: openstack network agent remove router --l3 DEAD ROUTER; "
                      "openstack network agent add router --l3 LIVE ROUTER",
                      "then find out why the network node's agent died (its log, the node)"]
            if not live:
                advice.insert(0, "no live L3 agent to move the routers to: bring one back")
            return Diagnosis(runbook=self.name, verdict="CRITICAL",
                             summary=f"{len(stranded)} router(s) stranded on dead L3 agent(s) "
                                     f"{', '.join(sorted(a.host for a in dead))}",
                             evidence=evidence, advice=advice)
        if dead:
            # what this runbook is about is fixed: no traffic stopped (the dead agent itself
            # stays CRITICAL in the neutron.agent check)
            return Diagnosis(runbook=self.name, verdict="OK",
                             summary=f"no router stranded; L3 agent(s) dead on "
                                     f"{', '.join(a.host for a in dead)} (hosting none, or "
                                     "with a live agent too)",
                             evidence=evidence,
                             advice=["bring the dead agents back or delete them "
                                     "(openstack network agent delete ID)"])
        return Diagnosis(runbook=self.name, verdict="OK",
                         summary=f"every L3 agent alive ({len(hosting.agents)}); no router "
                                 "stranded", evidence=evidence)

    def plan(self, ctx: RunbookContext, args: dict[str, str]) -> Plan:
        unknown = set(args) - {"agent", "after"}
        if unknown:
            raise FixRefused(f"l3-failover: unknown argument(s) {', '.join(sorted(unknown))} "
                             "(it takes agent=HOST|ID and after=SECONDS)", "args")
        try:
            after = float(args.get("after", "0"))
        except ValueError:
            raise FixRefused(f"l3-failover: after={args['after']!r} is not a number of "
                             "seconds", "args") from None
        hosting = read_hosting(ctx)
        live = [a for a in hosting.agents.values() if a.alive and a.admin_state_up]
        load = {a.id: hosting.load(a.id) for a in live}
        changes: list[Change] = []
        notes: list[str] = []
        for router_id in hosting.stranded():
            dead = [hosting.agents[a] for a in hosting.hosted_by[router_id]]
            if args.get("agent") and not any(args["agent"] in (a.host, a.id) for a in dead):
                continue
            ages = [hosting.dead_for(a.id, ctx.now) for a in dead]
            if after and any(age is None or age < after for age in ages):
                continue
            if not live:
                notes.append(f"router {router_id}: no live L3 agent to move it to")
                continue
            target = min(live, key=lambda a: (load[a.id], a.host, a.id))
            load[target.id] += 1
            router = hosting.routers[router_id]
            for agent in dead:
                changes.append(Change(target=router_id, action="move",
                                      before=_agent_text(agent), after=_agent_text(target)))
            notes.append(f"router {router.name or '-'} {router_id} (project "
                         f"{router.project_id or '-'}): {', '.join(a.host for a in dead)} -> "
                         f"{target.host}")
        draft = Plan(runbook=self.fix, changes=changes, fingerprint="", args=dict(args),
                     notes=notes)
        return draft.model_copy(update={"fingerprint": self._digest(hosting, draft)})

    def fingerprint(self, ctx: RunbookContext, plan: Plan) -> str:
        return self._digest(read_hosting(ctx), plan)

    @staticmethod
    def _digest(hosting: Hosting, plan: Plan) -> str:
        """Where each planned router is hosted now, and whether the agents named are
        alive: a router moved, or an agent back or gone, since the dry run changes it."""
        routers = sorted({c.target for c in plan.changes})
        agents = sorted({_agent_id(t) for c in plan.changes for t in (c.before, c.after)})
        return fingerprint([(r, sorted(hosting.hosted_by.get(r, []))) for r in routers],
                           [(a, a in hosting.agents and hosting.agents[a].alive)
                            for a in agents])

    def apply(self, ctx: RunbookContext, plan: Plan) -> list[Applied]:
        client = ctx.client
        done: list[Applied] = []
        for change in plan.changes:
            router, dead, live = change.target, _agent_id(change.before), _agent_id(change.after)
            try:
                client.send("DELETE", "network", f"v2.0/agents/{dead}/l3-routers/{router}")
                client.send("POST", "network", f"v2.0/agents/{live}/l3-routers",
                            {"router_id": router})
                body = client.get("network", f"v2.0/agents/{live}/l3-routers")
                hosted = {str(r.get("id")) for r in f.items(body, "routers", "l3-routers")
                          if isinstance(r, Mapping)}
            except SourceError as exc:
                done.append(Applied(change=change, ok=False, result=str(exc)))
                continue
            if router in hosted:
                done.append(Applied(change=change, ok=True, result="applied"))
            else:
                done.append(Applied(change=change, ok=False,
                                    result=f"added, but {change.after} does not list it"))
        return done


RUNBOOK = L3Failover()
