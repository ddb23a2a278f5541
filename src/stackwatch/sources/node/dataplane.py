"""``node.dataplane``: neutron's routers and DHCP servers on a network node, against neutron.

What runs here: the network namespaces (``ip netns list``, or the files of
``/run/netns``) — ``qrouter-<router>`` of the L3 agent, ``qdhcp-<network>`` of the DHCP
agent — and the ``dnsmasq`` processes, each serving the network whose state directory
its command line names (neutron's ``Dnsmasq`` driver passes
``--pid-file=/var/lib/neutron/dhcp/<network>/pid``, ``--dhcp-hostsfile=.../host``,
``--addn-hosts``, ``--dhcp-optsfile``, ``--dhcp-leasefile`` under it).

What neutron says is here: ``GET /v2.0/agents?host=<host>``, then per L3 agent
``/agents/{id}/l3-routers`` and per DHCP agent ``/agents/{id}/dhcp-networks`` — one
call each per run. Checks, labelled ``service`` and ``host`` so that health makes
them the agent's member on this node:

* ``node.dataplane.routers`` {service=neutron-l3-agent}: CRITICAL naming the routers
  without their namespace; WARNING naming ``qrouter-`` namespaces left over (of no
  router neutron places here); OK with the count.
* ``node.dataplane.dhcp`` {service=neutron-dhcp-agent}: CRITICAL naming the networks
  without their namespace or their dnsmasq; WARNING naming namespaces and dnsmasq
  processes left over.

A check is given when neutron has that agent here or something of its kind is left
over. ``ip`` missing, hanging or failing, or neutron not answering, make both UNKNOWN
with the reason. Metrics: ``stackwatch_dataplane_{expected,namespaces,dnsmasq,
missing,leftover}{host,kind}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stackwatch.errors import InvalidResponse, SourceError, SourceUnavailable
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra import command as commands
from stackwatch.sources.infra.base import check, named, sample
from stackwatch.sources.node.table import ProcessInfo, ProcessReader

ROUTER_PREFIX = "qrouter-"
DHCP_PREFIX = "qdhcp-"
#: a dnsmasq option's path under neutron's DHCP state directory: ``.../dhcp/<network>/``
_STATE_PATH = re.compile(r"/dhcp/([0-9a-fA-F-]{36})/")
#: the agents and what each hosts: (agent_type, path, key, kind, service)
AGENT_KINDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("L3 agent", "l3-routers", "routers", "router", "neutron-l3-agent"),
    ("DHCP agent", "dhcp-networks", "networks", "network", "neutron-dhcp-agent"),
)


class Getter(Protocol):
    """What the dataplane needs of :class:`~stackwatch.sources.openstack_api.ApiClient`."""

    def get(self, service_type: str, path: str, *, params: Any = None,
            microversion: bool = True) -> Any: ...


@dataclass(frozen=True, slots=True)
class Hosted:
    """What neutron places on this node; ``None``: no such agent here."""

    routers: frozenset[str] | None
    networks: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Running:
    """What runs here: namespace names, and the network each dnsmasq serves (pid ->)."""

    namespaces: frozenset[str]
    dnsmasq: dict[int, str]


# ------------------------------------------------------------------ readers
def parse_netns(text: str) -> frozenset[str]:
    """The names ``ip netns list`` printed (``qrouter-… (id: 3)``: the name is the first word)."""
    return frozenset(line.split()[0] for line in text.splitlines() if line.strip())


def list_namespaces(ip_command: Sequence[str], timeout: float,
                    netns_root: Path | None = None) -> frozenset[str]:
    """The node's network namespaces: ``ip netns list``, or the entries of ``netns_root``."""
    if netns_root is not None:
        try:
            return frozenset(entry.name for entry in netns_root.iterdir())
        except FileNotFoundError:
            return frozenset()       # no namespace was ever made: iproute2 makes it lazily
        except OSError as exc:
            raise SourceUnavailable(f"{netns_root}: {exc.strerror}") from None
    return parse_netns(commands.run(ip_command, ["netns", "list"], timeout).stdout)


def dnsmasq_network(process: ProcessInfo) -> str | None:
    """The network a dnsmasq serves, from its state paths; ``None`` for another dnsmasq."""
    if process.name != "dnsmasq" and not (
            process.cmdline and Path(process.cmdline[0]).name == "dnsmasq"):
        return None
    for arg in process.cmdline[1:]:
        found = _STATE_PATH.search(arg)
        if found:
            return found.group(1).lower()
    return None


#: Every process's pid, name, command line and state: all the dataplane needs (from
#: ``/proc``, each command line read once it is settled, as the node table reads them).
read_names = ProcessReader()


def read_running(ip_command: Sequence[str], timeout: float, netns_root: Path | None,
                 processes: Callable[[], Iterable[ProcessInfo]] = read_names) -> Running:
    """Namespaces and neutron's dnsmasq processes of this node."""
    namespaces = list_namespaces(ip_command, timeout, netns_root)
    served = {p.pid: network for p in processes()
              if not p.zombie and (network := dnsmasq_network(p)) is not None}
    return Running(namespaces, served)


def _ids(document: Any, key: str, what: str) -> frozenset[str]:
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        raise InvalidResponse(f"{what}: no list of {key} with ids")
    return frozenset(i["id"] for i in items)


def read_hosted(client: Getter, host: str) -> Hosted:
    """What neutron's L3 and DHCP agents on ``host`` host (one call per agent)."""
    agents = client.get("network", "/v2.0/agents", params={"host": host})
    listed = agents.get("agents") if isinstance(agents, dict) else None
    if not isinstance(listed, list):
        raise InvalidResponse("GET /v2.0/agents: no list of agents")
    found: dict[str, frozenset[str]] = {}
    for agent_type, path, key, _, _ in AGENT_KINDS:
        for agent in listed:
            if isinstance(agent, dict) and agent.get("agent_type") == agent_type \
                    and agent.get("host") == host and isinstance(agent.get("id"), str):
                what = f"GET /v2.0/agents/{agent['id']}/{path}"
                ids = _ids(client.get("network", f"/v2.0/agents/{agent['id']}/{path}"),
                           key, what)
                found[key] = found.get(key, frozenset()) | ids
    return Hosted(found.get("routers"), found.get("networks"))


# ------------------------------------------------------------------ judging
def judge(host: str, hosted: Hosted, running: Running) -> Collection:
    """The checks and counts of what neutron places here against what runs."""
    routers_here = {n.removeprefix(ROUTER_PREFIX) for n in running.namespaces
                    if n.startswith(ROUTER_PREFIX)}
    dhcp_here = {n.removeprefix(DHCP_PREFIX) for n in running.namespaces
                 if n.startswith(DHCP_PREFIX)}
    dnsmasq_here = set(running.dnsmasq.values())
    samples: list[Sample] = []
    checks: list[CheckResult] = []

    def counts(kind: str, expected: int, present: int, missing: int, leftover: int) -> None:
        labels = {"host": host, "kind": kind}
        samples.extend([sample("stackwatch_dataplane_expected", expected, labels),
                        sample("stackwatch_dataplane_namespaces", present, labels),
                        sample("stackwatch_dataplane_missing", missing, labels),
                        sample("stackwatch_dataplane_leftover", leftover, labels)])

    # routers
    expected = hosted.routers or frozenset()
    missing = sorted(expected - routers_here)
    leftover = sorted(routers_here - expected)
    counts("router", len(expected), len(routers_here), len(missing), len(leftover))
    if hosted.routers is not None or leftover:
        status, words = Status.OK, f"{host}: {len(expected)} routers, each with its namespace"
        if hosted.routers is None:
            words = f"{host}: no L3 agent here"
        if leftover:
            status, words = Status.WARNING, (
                f"{host}: {len(leftover)} router namespaces left over (no router neutron "
                f"places here): " + named([ROUTER_PREFIX + r for r in leftover]))
        if missing:
            status, words = Status.CRITICAL, (
                f"{host}: {len(missing)} of {len(expected)} routers neutron places here "
                f"have no namespace: " + named(missing)
                + (f"; {len(leftover)} left over: " + named([ROUTER_PREFIX + r for r in
                                                            leftover]) if leftover else ""))
        checks.append(check("node.dataplane.routers", status, words,
                            service="neutron-l3-agent", host=host))

    # DHCP: a namespace and a dnsmasq per network
    networks = hosted.networks or frozenset()
    no_namespace = sorted(networks - dhcp_here)
    no_dnsmasq = sorted(networks - dnsmasq_here)
    extra_ns = sorted(dhcp_here - networks)
    extra_dnsmasq = sorted((pid, net) for pid, net in running.dnsmasq.items()
                           if net not in networks)
    counts("network", len(networks), len(dhcp_here), len(set(no_namespace) | set(no_dnsmasq)),
           len(extra_ns) + len(extra_dnsmasq))
    samples.append(sample("stackwatch_dataplane_dnsmasq", len(running.dnsmasq),
                          {"host": host}))
    if hosted.networks is not None or extra_ns or extra_dnsmasq:
        critical = [f"{len(gone)} of {len(networks)} networks with DHCP here have no "
                    f"{what}: " + named(gone)
                    for what, gone in (("namespace", no_namespace), ("dnsmasq", no_dnsmasq))
                    if gone]
        warning = []
        if extra_ns:
            warning.append(f"{len(extra_ns)} DHCP namespaces left over: "
                           + named([DHCP_PREFIX + n for n in extra_ns]))
        if extra_dnsmasq:
            warning.append(f"{len(extra_dnsmasq)} dnsmasq left over: " + named(
                [f"pid {pid} (network {net})" for pid, net in extra_dnsmasq]))
        if critical or warning:
            status = Status.CRITICAL if critical else Status.WARNING
            words = f"{host}: " + "; ".join(critical + warning)
        else:
            status = Status.OK
            words = (f"{host}: {len(networks)} networks with DHCP, each with its namespace "
                     f"and dnsmasq" if hosted.networks is not None
                     else f"{host}: no DHCP agent here")
        checks.append(check("node.dataplane.dhcp", status, words,
                            service="neutron-dhcp-agent", host=host))
    return Collection(tuple(samples), tuple(checks))


def cannot_look(host: str, reason: str) -> Collection:
    """Both agents' members UNKNOWN with the reason."""
    return Collection(checks=tuple(
        check(f"node.dataplane.{name}", Status.UNKNOWN, f"{host}: cannot look: {reason}",
              service=service, host=host)
        for name, service in (("routers", "neutron-l3-agent"), ("dhcp", "neutron-dhcp-agent"))))


class DataplaneSource:
    """``node.dataplane``: namespaces and dnsmasq here against what neutron places here."""

    name = "node.dataplane"

    def __init__(self, host: str, client: Getter, ip_command: Sequence[str] = ("ip",),
                 timeout: float = 10.0, netns_root: Path | None = None,
                 processes: Callable[[], Iterable[ProcessInfo]] = read_names) -> None:
        self.host = host
        self.client = client
        self.ip_command = tuple(ip_command)
        self.timeout = timeout
        self.netns_root = netns_root
        self.processes = processes

    def collect(self) -> Collection:
        # what runs first: neutron's answer is then never older than what it is compared to
        # for a router neutron just moved away (left over for one run, not missing)
        try:
            running = read_running(self.ip_command, self.timeout, self.netns_root,
                                   self.processes)
        except SourceError as exc:
            return cannot_look(self.host, str(exc))
        try:
            hosted = read_hosted(self.client, self.host)
        except SourceError as exc:
            return cannot_look(self.host, f"neutron: {exc}")
        return judge(self.host, hosted, running)
