"""Network: neutron agents by type and host, routers per L3 agent with the stranded
ones first, IP availability per network and floating IPs.

Agents come from ``api.network``'s ``openstack_neutron_agent_state`` samples judged
by its ``neutron.agent`` checks; routers from its router items (each with the L3
agents hosting it, as ``agents/{id}/l3-routers`` lists them). A router is
*stranded* when no agent hosting it is alive: its traffic has stopped until it is
moved to a live agent.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pydantic import BaseModel

from stackwatch.model import ItemKind, Status
from stackwatch.query.compute import service_key
from stackwatch.query.context import Context
from stackwatch.query.models import SEVERITY_ORDER
from stackwatch.query.quotas import project_names
from stackwatch.query.samples import RangeView, sample_range
from stackwatch.query.sight import Sight, sight
from stackwatch.query.times import Stamped

SOURCE = "api.network"
#: networks listed on the page (fullest first)
NETWORKS_SHOWN = 30
#: router rows listed on the page: the stranded ones first, then the others
STRANDED_SHOWN = 100
ROUTERS_SHOWN = 30
#: agents listed on the page, worst first (the API pages through them all)
AGENTS_SHOWN = 100


class AgentRow(BaseModel):
    """A neutron agent: alive or dead, admin state, the check's verdict; an L3 agent
    with the routers it hosts."""

    id: str
    binary: str
    host: str
    availability_zone: str
    alive: bool
    admin_state_up: bool
    status: str
    message: str
    routers: float | None
    region: str
    cloud: str


class RouterRow(BaseModel):
    """A router on one L3 agent hosting it (an HA router has a row per agent)."""

    id: str
    name: str
    status: str
    project: str
    project_name: str
    ha: bool
    agent_id: str
    agent_host: str
    agent_alive: bool | None  # null: the agent is not among the latest agents
    stranded: bool            # no agent hosting the router is alive
    message: str
    cloud: str


class L3AgentRow(BaseModel):
    """An L3 agent and how many of its routers are stranded."""

    id: str
    host: str
    alive: bool
    routers: float
    stranded: int


class NetworkIPs(BaseModel):
    """Used and total IPs of one network (its subnets added up)."""

    network_id: str
    network_name: str
    project_id: str
    subnets: int
    used: float
    total: float
    share: float


class FloatingIPs(BaseModel):
    """Floating IPs by status, and those associated with a port but not ACTIVE."""

    total: float | None
    by_status: dict[str, float]
    associated_not_active: float | None


class NetworkPage(Stamped):
    """Everything the network page shows."""

    agents: list[AgentRow]
    agents_total: int
    agents_dead: int
    agents_by_binary: dict[str, dict[str, int]]
    l3_agents: list[L3AgentRow]
    routers: list[RouterRow]     # stranded ones first, then others (a few of each)
    routers_listed: int          # router rows in all
    stranded: int                # stranded routers (not rows)
    networks: list[NetworkIPs]
    networks_total: int
    floating_ips: FloatingIPs
    floating_chart: RangeView
    sight: list[Sight]
    start: float
    end: float


def agents(ctx: Context, binary: str = "", host: str = "", alive: bool | None = None
           ) -> list[AgentRow]:
    """Neutron's agents, worst first; filtered by binary, host and liveness."""
    checks = {service_key(dict(c.labels)): c for c in ctx.checks() if c.name == "neutron.agent"}
    routers = {(s.label("cloud"), s.label("l3_agent_id")): s.value
               for s in ctx.store.latest_samples("openstack_neutron_l3_agent_routers")}
    rows = []
    for s in ctx.store.latest_samples("openstack_neutron_agent_state"):
        verdict = checks.get(service_key(dict(s.labels), "hostname", "service"))
        row = AgentRow(
            id=s.label("id"), binary=s.label("service"), host=s.label("hostname"),
            availability_zone=s.label("availability_zone"), alive=s.value == 1,
            admin_state_up=s.label("adminState") == "up",
            status=verdict.status.name if verdict else Status.UNKNOWN.name,
            message=verdict.message if verdict else "no check of it stored",
            routers=routers.get((s.label("cloud"), s.label("id"))), region=s.label("region"),
            cloud=s.label("cloud"))
        if ((not binary or row.binary == binary) and (not host or row.host == host)
                and (alive is None or row.alive == alive)):
            rows.append(row)
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.status, 3), r.binary, r.host))
    return rows


def routers(ctx: Context, stranded: bool | None = None, agent: str = "") -> list[RouterRow]:
    """Routers per L3 agent (a row per router and agent hosting it), the stranded ones
    first; ``agent`` is an agent's id or host."""
    alive = {(s.label("cloud"), s.label("id")): s.value == 1
             for s in ctx.store.latest_samples("openstack_neutron_agent_state")}
    names = project_names(ctx)
    rows = []
    for item in ctx.store.latest_items(ItemKind.ROUTER):
        cloud = item.attribute("cloud")
        ids = [a for a in item.attribute("l3_agent_ids").split(",") if a]
        agent_hosts = item.host.split(",")
        lost = item.attribute("agents_alive") == "0"
        if stranded is not None and lost != stranded:
            continue
        for index, agent_id in enumerate(ids):
            agent_host = agent_hosts[index] if index < len(agent_hosts) else ""
            if agent and agent not in (agent_id, agent_host):
                continue
            rows.append(RouterRow(
                id=item.id, name=item.name, status=item.status, project=item.project,
                project_name=names.get(item.project, ""), ha=item.attribute("ha") == "true",
                agent_id=agent_id, agent_host=agent_host,
                agent_alive=alive.get((cloud, agent_id)), stranded=lost, message=item.message,
                cloud=cloud))
    rows.sort(key=lambda r: (not r.stranded, r.agent_alive is not False, r.agent_host,
                             r.name, r.id))
    return rows


def l3_agents(ctx: Context, rows: list[RouterRow]) -> list[L3AgentRow]:
    """Each L3 agent with its routers' count and how many of them are stranded; dead
    ones first."""
    stranded: Counter[tuple[str, str]] = Counter(
        (r.cloud, r.agent_id) for r in rows if r.stranded)
    out = [L3AgentRow(id=s.label("l3_agent_id"), host=s.label("agent_host"),
                      alive=s.label("agent_alive") == "true", routers=s.value,
                      stranded=stranded[(s.label("cloud"), s.label("l3_agent_id"))])
           for s in ctx.store.latest_samples("openstack_neutron_l3_agent_routers")]
    out.sort(key=lambda a: (a.alive, -a.stranded, a.host))
    return out


def networks(ctx: Context) -> list[NetworkIPs]:
    """IP use per network (its subnets added up), the fullest first."""
    used: dict[tuple[str, ...], float] = defaultdict(float)
    total: dict[tuple[str, ...], float] = defaultdict(float)
    subnets: Counter[tuple[str, ...]] = Counter()
    for name, into in (("used", used), ("total", total)):
        for s in ctx.store.latest_samples(f"openstack_neutron_network_ip_availabilities_{name}"):
            key = (s.label("cloud"), s.label("network_id"), s.label("network_name"),
                   s.label("project_id"))
            into[key] += s.value
            if name == "total":
                subnets[key] += 1
    out = [NetworkIPs(network_id=k[1], network_name=k[2], project_id=k[3],
                      subnets=subnets[k], used=used.get(k, 0.0), total=t,
                      share=used.get(k, 0.0) / t if t > 0 else 0.0)
           for k, t in total.items()]
    out.sort(key=lambda n: (-n.share, n.network_name))
    return out


def floating_ips(ctx: Context) -> FloatingIPs:
    """Floating IPs by status now."""
    by_status: Counter[str] = Counter()
    for s in ctx.store.latest_samples("openstack_neutron_floating_ips_by_status"):
        by_status[s.label("status")] += int(s.value)
    total = ctx.store.latest_samples("openstack_neutron_floating_ips")
    stuck = ctx.store.latest_samples("openstack_neutron_floating_ips_associated_not_active")
    return FloatingIPs(total=sum(s.value for s in total) if total else None,
                       by_status={k: float(v) for k, v in by_status.most_common()},
                       associated_not_active=sum(s.value for s in stuck) if stuck else None)


def network_page(ctx: Context, seconds: float) -> NetworkPage:
    """The network page over the last ``seconds``."""
    found = agents(ctx)
    by_binary: dict[str, Counter[str]] = defaultdict(Counter)
    for agent in found:
        by_binary[agent.binary][agent.status] += 1
    rows = routers(ctx)
    lost = [r for r in rows if r.stranded]
    ips = networks(ctx)
    checks = ctx.checks()
    start = ctx.now - seconds
    return NetworkPage(
        timestamp=ctx.now, agents=found[:AGENTS_SHOWN], agents_total=len(found),
        agents_dead=sum(1 for a in found if not a.alive),
        agents_by_binary={b: dict(c) for b, c in sorted(by_binary.items())},
        l3_agents=l3_agents(ctx, rows),
        routers=lost[:STRANDED_SHOWN] + rows[len(lost):][:ROUTERS_SHOWN],
        routers_listed=len(rows), stranded=len({(r.cloud, r.id) for r in lost}),
        networks=ips[:NETWORKS_SHOWN], networks_total=len(ips),
        floating_ips=floating_ips(ctx),
        floating_chart=sample_range(ctx, "openstack_neutron_floating_ips_by_status", start,
                                    ctx.now, step=seconds / 240),
        sight=[s for s in (sight(checks, SOURCE, r) for r in
                           ("agents", "ip_availability", "floating_ips")) if s.blind],
        start=start, end=ctx.now)
