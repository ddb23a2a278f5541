"""``infra.pacemaker``: the Pacemaker/Corosync cluster as ``crm_mon`` prints it in XML.

``crm_mon --one-shot --output-as=xml`` (Pacemaker 2: ``<pacemaker-result>``) or
``crm_mon -1 --as-xml`` (1.1: ``<crm_mon>``) — the same elements either way:
``summary/current_dc`` (quorum), ``nodes/node``, ``resources`` (resources nested in
clones, groups and bundles) and ``failures/failure`` (failed actions). Checks:

* ``pacemaker.node`` {service=pacemaker, host} per cluster member: CRITICAL when
  offline or unclean (it needs fencing); WARNING in standby, maintenance or pending.
* ``pacemaker.quorum`` {service=pacemaker}: CRITICAL without quorum (resources
  stop where ``no-quorum-policy`` says so) or without a DC.
* ``pacemaker.resources`` {service=pacemaker}: CRITICAL when a resource failed or
  is blocked; WARNING when resources that should run are stopped (their target
  role is not Stopped, nor their clone's or group's), unmanaged, or shown active
  only on UNCLEAN nodes (crm_mon keeps their last known role, ``Started``, until
  the node is fenced: whether they run is unknown).
* ``pacemaker.failed_actions`` {service=pacemaker}: WARNING while failed actions
  are recorded (``crm_resource --cleanup`` clears them), each named with its node,
  exit status and reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

from stackwatch.errors import InvalidResponse, SourceUnavailable
from stackwatch.infra_config import PacemakerConfig
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import CommandSource, Context, check, named, sample
from stackwatch.sources.infra.http import excerpt

#: Node attributes read (true/false), in the order a node is judged.
NODE_STATES = ("online", "standby", "maintenance", "pending", "unclean", "shutdown")
#: Elements that group resources (their own id is the resource's parent).
GROUPS = ("clone", "group", "bundle", "replica")


@dataclass(frozen=True, slots=True)
class Node:
    """A cluster node and its state flags."""

    name: str
    kind: str                       # member, remote (guest/bundle) ...
    flags: frozenset[str]           # the NODE_STATES that are true


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource instance (a clone's instance is one each)."""

    id: str
    agent: str
    role: str
    target_role: str
    failed: bool
    blocked: bool
    managed: bool
    nodes: tuple[str, ...]
    parent: str = ""
    parent_disabled: bool = False

    @property
    def should_run(self) -> bool:
        """Stopped, though neither it nor its clone or group is meant to be."""
        return (self.role.lower() == "stopped" and self.target_role.lower() != "stopped"
                and not self.parent_disabled)


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed action Pacemaker keeps until it is cleaned up."""

    op_key: str
    node: str
    exit_status: str
    exit_reason: str
    status: str


@dataclass(frozen=True, slots=True)
class Cluster:
    """What crm_mon said."""

    quorum: bool
    dc: str                         # the DC's name; empty when none is elected
    nodes: tuple[Node, ...]
    resources: tuple[Resource, ...]
    failures: tuple[Failure, ...]


def _true(element: ET.Element, name: str) -> bool:
    return element.get(name, "false").lower() == "true"


def _resources(parent: ET.Element, owner: str = "", disabled: bool = False
               ) -> list[Resource]:
    found = []
    for child in parent:
        if child.tag == "resource":
            found.append(Resource(
                child.get("id", "?"), child.get("resource_agent", ""), child.get("role", ""),
                child.get("target_role", ""), _true(child, "failed"), _true(child, "blocked"),
                child.get("managed", "true").lower() == "true",
                tuple(n.get("name", "") for n in child.findall("node")), owner, disabled))
        elif child.tag in GROUPS:
            ident = child.get("id", owner) if child.tag != "replica" else owner
            off = disabled or _true(child, "disabled") or (
                child.get("target_role", "").lower() == "stopped")
            found += _resources(child, ident, off)
    return found


def parse_crm_mon(text: str) -> Cluster:
    """crm_mon's XML (2.x ``pacemaker-result`` or 1.1 ``crm_mon``) -> :class:`Cluster`."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InvalidResponse(f"crm_mon: not XML ({exc}): {excerpt(text)}") from None
    if root.tag not in ("pacemaker-result", "crm_mon"):
        raise InvalidResponse(f"crm_mon: unexpected document <{root.tag}>")
    status = root.find("status")
    if status is not None and status.get("code", "0") != "0":
        raise SourceUnavailable(f"crm_mon: {status.get('message', 'error')} "
                                f"(code {status.get('code')})")
    dc = root.find("summary/current_dc")
    if dc is None:
        raise InvalidResponse("crm_mon: no summary/current_dc (not a cluster status)")
    nodes = tuple(Node(n.get("name", "?"), n.get("type", "member"),
                       frozenset(f for f in NODE_STATES if _true(n, f)))
                  for n in root.findall("nodes/node"))
    resources_element = root.find("resources")
    resources = tuple(_resources(resources_element)) if resources_element is not None else ()
    failures = tuple(Failure(f.get("op_key", "?"), f.get("node", ""), f.get("exitstatus", ""),
                             f.get("exitreason", ""), f.get("status", ""))
                     for f in root.findall("failures/failure"))
    present = _true(dc, "present")
    return Cluster(present and _true(dc, "with_quorum"), dc.get("name", "") if present else "",
                   nodes, resources, failures)


def judge_node(node: Node) -> tuple[Status, str]:
    """A member's status and why."""
    if "unclean" in node.flags:
        return Status.CRITICAL, f"{node.name} UNCLEAN (needs fencing)"
    if "online" not in node.flags:
        return Status.CRITICAL, f"{node.name} OFFLINE"
    for flag in ("standby", "maintenance", "pending", "shutdown"):
        if flag in node.flags:
            return Status.WARNING, f"{node.name} online, in {flag}"
    return Status.OK, f"{node.name} online"


def cluster_results(cluster: Cluster) -> Collection:
    """Samples and checks of the cluster."""
    samples: list[Sample] = [sample("pacemaker_quorum", 1 if cluster.quorum else 0, {})]
    checks: list[CheckResult] = []
    members = [n for n in cluster.nodes if n.kind in ("member", "")]
    states = Counter(f for n in members for f in n.flags)
    states["offline"] = len([n for n in members if "online" not in n.flags])
    for state in ("online", "offline", "standby", "maintenance", "unclean"):
        samples.append(sample("pacemaker_nodes", states[state], {"state": state}))
    for node in members:
        samples.append(sample("pacemaker_node_online", 1 if "online" in node.flags else 0,
                              {"node": node.name}))
        status, message = judge_node(node)
        checks.append(check("pacemaker.node", status, message, service="pacemaker",
                            host=node.name))
    pacemaker = {"service": "pacemaker"}
    if not cluster.dc:
        checks.append(check("pacemaker.quorum", Status.CRITICAL, "no DC elected: the cluster "
                            "cannot act", **pacemaker))
    elif not cluster.quorum:
        checks.append(check("pacemaker.quorum", Status.CRITICAL, f"partition WITHOUT quorum "
                            f"(DC {cluster.dc}): resources stop as no-quorum-policy says",
                            **pacemaker))
    else:
        checks.append(check("pacemaker.quorum", Status.OK,
                            f"partition with quorum (DC {cluster.dc})", **pacemaker))
    roles = Counter(r.role or "Unknown" for r in cluster.resources)
    samples += [sample("pacemaker_resources", count, {"role": role})
                for role, count in sorted(roles.items())]
    failed = [r for r in cluster.resources if r.failed or r.blocked]
    stopped = [r for r in cluster.resources if r.should_run and not r.failed]
    unmanaged = [r for r in cluster.resources if not r.managed]
    unclean = {n.name for n in cluster.nodes if "unclean" in n.flags}
    unconfirmed = [r for r in cluster.resources if r not in failed and r.nodes
                   and r.role.lower() != "stopped" and set(r.nodes) <= unclean]
    samples += [sample("pacemaker_resources_failed", len(failed), {}),
                sample("pacemaker_resources_stopped", len(stopped), {}),
                sample("pacemaker_failed_actions", len(cluster.failures), {})]
    if failed:
        status, message = Status.CRITICAL, "failed: " + named(
            [f"{r.id} ({'blocked' if r.blocked else 'FAILED'}"
             + (f" on {', '.join(r.nodes)}" if r.nodes else "") + ")" for r in failed])
    elif stopped or unmanaged or unconfirmed:
        parts = []
        if stopped:
            parts.append(f"{len(stopped)} stopped that should run: " + named(
                sorted({f"{r.parent}/{r.id}" if r.parent else r.id for r in stopped})))
        if unmanaged:
            parts.append("unmanaged: " + named(sorted({r.id for r in unmanaged})))
        if unconfirmed:
            parts.append(f"{len(unconfirmed)} on UNCLEAN nodes, unknown until fenced: "
                         + named(sorted({f"{r.id} on {', '.join(r.nodes)}"
                                         for r in unconfirmed})))
        status, message = Status.WARNING, "; ".join(parts)
    else:
        active = len([r for r in cluster.resources if r.role.lower() != "stopped"])
        status, message = Status.OK, f"{active} resource instances active"
    checks.append(check("pacemaker.resources", status, message, **pacemaker))
    if cluster.failures:
        checks.append(check("pacemaker.failed_actions", Status.WARNING,
                            f"{len(cluster.failures)} failed actions: " + named(
                                [f"{f.op_key} on {f.node}: {f.exit_status}"
                                 + (f" ({f.exit_reason})" if f.exit_reason else "")
                                 for f in cluster.failures], 5), **pacemaker))
    else:
        checks.append(check("pacemaker.failed_actions", Status.OK, "no failed actions",
                            **pacemaker))
    return Collection(tuple(samples), tuple(checks))


class PacemakerSource(CommandSource):
    """``crm_mon`` on this node."""

    piece = "pacemaker"

    def read(self, target: str) -> Collection:
        return cluster_results(parse_crm_mon(self.run()))


def build(config: PacemakerConfig, context: Context) -> PacemakerSource:
    """``infra.pacemaker`` for the section ``config``."""
    return PacemakerSource(config.command, config.host or context.host,
                           context.command_timeout)
