"""The nodes: each host's roles, members, process and port checks, host figures and
the infrastructure checks about it, and the freshness of the agent pushing from it.

A node is known from the health's members, from checks labelled ``host`` and from the
agents pushing here; a hypervisor that is none of these still gets a page saying what is
known of it (its hypervisor item, its servers) and that nothing is watched there.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from stackwatch.model import CheckResult, ItemKind, Sample, Status
from stackwatch.query.agents import AgentView, agents
from stackwatch.query.context import Context
from stackwatch.query.counters import CountView, increases
from stackwatch.query.errors import NotFound
from stackwatch.query.models import SEVERITY_ORDER, CheckView, ItemView, MemberView, NodeView
from stackwatch.query.samples import RangeView, sample_range
from stackwatch.query.times import Stamped, finite

#: the node checks of the host figures, shown as gauges rather than in a list
HOST_CHECKS = ("node.disk", "node.inodes", "node.load", "node.memory", "node.swap",
               "node.network", "node.disk_io")
PROCESS_CHECK = "node.process"
PORT_CHECK = "node.port"
#: the infrastructure sources (stackwatch.sources.infra), by their checks' prefix; the
#: OpenStack services' checks about a host are its members already
INFRA = ("ceph", "glusterfs", "haproxy", "libvirt", "memcached", "mysql", "ovs",
         "pacemaker", "rabbitmq", "swift", "http", "command")


class DiskView(BaseModel):
    """One mounted filesystem: its space and inodes used (``None``: not known)."""

    mount: str
    device: str
    fstype: str
    size_bytes: float = Field(description="used + available, as df counts it")
    used_bytes: float
    percent: float | None = Field(description="space used, 0..100, as df")
    inodes_percent: float | None = Field(description="inodes used, 0..100")


class HostFigures(BaseModel):
    """The host's latest figures; ``None`` where its node.host source sent none."""

    disks: list[DiskView]
    cpus: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    load_per_cpu: float | None = Field(description="5-minute load per CPU")
    memory_total_bytes: float | None
    memory_used_bytes: float | None
    memory_percent: float | None
    swap_total_bytes: float | None
    swap_used_bytes: float | None
    swap_percent: float | None

    @property
    def worst_disk(self) -> DiskView | None:
        known = [d for d in self.disks if d.percent is not None]
        return max(known, key=lambda d: d.percent or 0.0) if known else None


class NodeRow(BaseModel):
    """One node in the list: its verdict, roles, worst problem and a few figures."""

    host: str
    status: str
    message: str = Field(description="its worst check's message, or why it is OK")
    roles: list[str]
    problems: int = Field(description="checks about it not OK")
    pushes: bool = Field(description="an agent pushes from it")
    disk_percent: float | None = Field(description="the fullest mount's used %")
    disk_mount: str
    load_per_cpu: float | None
    memory_percent: float | None


class NodeList(Stamped):
    """Every node, the worst first."""

    nodes: list[NodeRow]


class NodeDetail(Stamped):
    """One node: what runs on it, how its host fares, what is checked about it."""

    host: str
    status: str
    message: str
    watched: bool = Field(description="some check or agent is about this host")
    roles: list[str]
    members: list[MemberView]
    processes: list[CheckView]
    ports: list[CheckView]
    host_checks: list[CheckView]
    infra: list[CheckView] = Field(description="checks of other sources about the host")
    figures: HostFigures
    agents: list[AgentView]
    hypervisors: list[ItemView]
    servers: list[ItemView]
    load: RangeView
    memory: RangeView
    network_bytes: CountView
    network_errors: CountView


def _worst(checks: list[CheckView]) -> tuple[str, str]:
    bad = sorted((c for c in checks if c.status != Status.OK.name),
                 key=lambda c: (SEVERITY_ORDER.get(c.status, 3), c.name))
    if bad:
        return bad[0].status, f"{bad[0].name}: {bad[0].message}"
    return (Status.OK.name, "every check OK") if checks else (Status.UNKNOWN.name,
                                                            "no check about it")


def _sort(checks: list[CheckView]) -> list[CheckView]:
    return sorted(checks, key=lambda c: (SEVERITY_ORDER.get(c.status, 3), c.name,
                                         sorted(c.labels.items())))


def _by_host(checks: list[CheckResult]) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = defaultdict(list)
    for check in checks:
        host = dict(check.labels).get("host", "")
        if host:
            out[host].append(check)
    return out


def _latest(ctx: Context, name: str) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for sample in ctx.store.latest_samples(name):
        out[sample.label("host")].append(sample)
    return out


def _one(found: dict[str, list[Sample]], host: str) -> float | None:
    values = found.get(host, [])
    return finite(values[0].value) if values else None


def _percent(used: float | None, total: float | None) -> float | None:
    if used is None or total is None or total <= 0:
        return None
    return round(100.0 * used / total, 1)


def _figures(ctx: Context, hosts: list[str]) -> dict[str, HostFigures]:
    """The latest host figures of each host, read once per metric."""
    m = {name: _latest(ctx, f"stackwatch_node_{name}") for name in (
        "filesystem_size_bytes", "filesystem_avail_bytes", "filesystem_free_bytes",
        "filesystem_files", "filesystem_files_free", "load1", "load5", "load15", "cpus",
        "memory_total_bytes", "memory_available_bytes", "swap_total_bytes",
        "swap_free_bytes")}
    out = {}
    for host in hosts:
        by_mount: dict[str, dict[str, float]] = defaultdict(dict)
        meta: dict[str, tuple[str, str]] = {}
        for key in ("size_bytes", "avail_bytes", "free_bytes", "files", "files_free"):
            for s in m[f"filesystem_{key}"].get(host, []):
                by_mount[s.label("mount")][key] = s.value
                meta[s.label("mount")] = (s.label("device"), s.label("fstype"))
        disks = []
        for mount, v in by_mount.items():
            size, avail, free = (v.get("size_bytes"), v.get("avail_bytes"),
                                 v.get("free_bytes"))
            used = size - free if size is not None and free is not None else None
            percent = (_percent(used, used + avail) if used is not None and avail is not None
                       else None)
            files, files_free = v.get("files"), v.get("files_free")
            inodes = (_percent(files - files_free, files)
                      if files and files_free is not None else None)
            disks.append(DiskView(mount=mount, device=meta[mount][0], fstype=meta[mount][1],
                                  size_bytes=(used + avail if used is not None and avail is not None
                                              else size or 0.0), used_bytes=used or 0.0,
                                  percent=percent, inodes_percent=inodes))
        disks.sort(key=lambda d: (-(d.percent or 0.0), d.mount))
        cpus, load5 = _one(m["cpus"], host), _one(m["load5"], host)
        mem_total, mem_avail = (_one(m["memory_total_bytes"], host),
                                _one(m["memory_available_bytes"], host))
        swap_total, swap_free = (_one(m["swap_total_bytes"], host),
                                 _one(m["swap_free_bytes"], host))
        mem_used = (mem_total - mem_avail if mem_total is not None and mem_avail is not None
                    else None)
        swap_used = (swap_total - swap_free if swap_total is not None and swap_free is not None
                     else None)
        out[host] = HostFigures(
            disks=disks, cpus=cpus, load1=_one(m["load1"], host), load5=load5,
            load15=_one(m["load15"], host),
            load_per_cpu=round(load5 / cpus, 2) if load5 is not None and cpus else None,
            memory_total_bytes=mem_total, memory_used_bytes=mem_used,
            memory_percent=_percent(mem_used, mem_total), swap_total_bytes=swap_total,
            swap_used_bytes=swap_used, swap_percent=_percent(swap_used, swap_total))
    return out


def _known(ctx: Context) -> tuple[dict[str, NodeView], dict[str, list[CheckResult]],
                                  dict[str, list[AgentView]]]:
    health = ctx.health()
    nodes = {n.host: NodeView(host=n.host, status=n.status.name,
                              roles=[r.value for r in n.roles],
                              members=[MemberView.of(m) for m in n.members])
             for n in health.nodes}
    pushing: dict[str, list[AgentView]] = defaultdict(list)
    for agent in agents(ctx):
        pushing[agent.host].append(agent)
    return nodes, _by_host(ctx.checks()), pushing


def _roles(ctx: Context, host: str, node: NodeView | None) -> list[str]:
    roles = set(node.roles if node else [])
    roles |= {s.label("role") for s in ctx.store.latest_samples("stackwatch_node_role")
              if s.label("host") == host and s.value == 1}
    return sorted(roles)


def _verdict(node: NodeView | None, checks: list[CheckView]) -> tuple[str, str]:
    status, message = _worst(checks)
    if node is not None and SEVERITY_ORDER.get(node.status, 3) < SEVERITY_ORDER.get(status, 3):
        bad = next((m for m in node.members if m.status == node.status), None)
        return node.status, f"{bad.service}: {bad.message}" if bad else node.status
    return status, message


def node_list(ctx: Context) -> NodeList:
    """Every node known from health, host-labelled checks or agents, the worst first."""
    nodes, checks, pushing = _known(ctx)
    hosts = sorted(set(nodes) | set(checks) | set(pushing))
    figures = _figures(ctx, hosts)
    rows = []
    for host in hosts:
        views = [CheckView.of(c, ctx.now) for c in checks.get(host, [])]
        status, message = _verdict(nodes.get(host), views)
        fig = figures[host]
        worst = fig.worst_disk
        rows.append(NodeRow(
            host=host, status=status, message=message, roles=_roles(ctx, host, nodes.get(host)),
            problems=sum(1 for c in views if c.status != Status.OK.name),
            pushes=host in pushing, disk_percent=worst.percent if worst else None,
            disk_mount=worst.mount if worst else "", load_per_cpu=fig.load_per_cpu,
            memory_percent=fig.memory_percent))
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.status, 3), -r.problems, r.host))
    return NodeList(timestamp=ctx.now, nodes=rows)


def node(ctx: Context, host: str, seconds: float = 6 * 3600.0) -> NodeDetail:
    """One node over the last ``seconds``; :class:`NotFound` when nothing knows it."""
    nodes, checks, pushing = _known(ctx)
    hypervisors = [ItemView.of(i, ctx.now) for i in ctx.store.latest_items(ItemKind.HYPERVISOR)
                   if host in (i.name, i.host)]
    names = {host} | {h.name for h in hypervisors} | {h.host for h in hypervisors}
    servers = [ItemView.of(i, ctx.now) for i in ctx.store.latest_items(ItemKind.SERVER)
               if i.host in names or i.attribute("node") in names]
    watched = host in nodes or host in checks or host in pushing
    if not watched and not hypervisors and not servers:
        raise NotFound(f"node: nothing is known of {host!r} (no member, check, agent or "
                       "hypervisor)")
    views = _sort([CheckView.of(c, ctx.now) for c in checks.get(host, [])])
    status, message = _verdict(nodes.get(host), views)
    if not watched:
        status, message = Status.UNKNOWN.name, (
            "not watched: no stackwatch node source or agent reports from this host, "
            "no service member or infrastructure check is about it")
    start, step = ctx.now - seconds, seconds / 240
    only = {"host": host}

    return NodeDetail(
        timestamp=ctx.now, host=host, status=status, message=message, watched=watched,
        roles=_roles(ctx, host, nodes.get(host)),
        members=nodes[host].members if host in nodes else [],
        processes=[c for c in views if c.name == PROCESS_CHECK],
        ports=[c for c in views if c.name == PORT_CHECK],
        host_checks=[c for c in views if c.name in HOST_CHECKS],
        infra=[c for c in views if c.name.split(".")[0] in INFRA],
        figures=_figures(ctx, [host])[host], agents=pushing.get(host, []),
        hypervisors=hypervisors, servers=servers,
        load=sample_range(ctx, "stackwatch_node_load5", start, ctx.now, only, step),
        memory=sample_range(ctx, "stackwatch_node_memory_available_bytes", start, ctx.now,
                            only, step),
        network_bytes=_network(ctx, host, "bytes", start, step),
        network_errors=_network(ctx, host, "errors", start, step))


def _network(ctx: Context, host: str, what: str, start: float, step: float) -> CountView:
    """Received and sent ``what`` per interface: both directions in one view, the series
    labelled ``device`` and ``direction``."""
    views = [increases(ctx, f"stackwatch_node_network_{way}_{what}_total", start, ctx.now,
                       step, by=("device",), keep=lambda labels: labels.get("host") == host)
             for way in ("receive", "transmit")]
    series = [s.model_copy(update={"labels": {**s.labels, "direction": way}})
              for way, view in zip(("receive", "transmit"), views, strict=True)
              for s in view.series]
    series.sort(key=lambda s: (-s.total, s.labels.get("device", "")))
    return views[0].model_copy(update={"name": f"stackwatch_node_network_{what}_total",
                                       "by": ["device", "direction"], "series": series})
