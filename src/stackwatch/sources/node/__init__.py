"""The checks of the node stackwatch runs on: processes, ports and the host itself.

``node_sources(config)`` (called by :mod:`stackwatch.sources.registry` when
``stackwatch.yaml`` has a ``node:`` section) builds, per ``node.parts``:

    node.processes   processes.py   every catalog process of the node's roles, counted
    node.ports       ports.py       their bind ports listening, held by the right process
    node.host        host.py        disks, inodes, load, memory, swap, network, disk I/O

What to look at (host name, roles, services, ports) is :mod:`.plan`; which service a
process is, :mod:`.match`; the process table and sockets, :mod:`.table` (psutil, or a
recorded table in tests). ``stackwatch check`` and ``stackwatch nrpe-config``
(:mod:`.cli`) run the same checks once, the Nagios way. Nothing here imports numba:
the agent that runs these on every node stays light.
"""

from __future__ import annotations

from stackwatch.catalog.loader import Catalog, default_catalog
from stackwatch.config import Config, NodeConfig
from stackwatch.sources.base import Source
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.processes import ProcessesSource

__all__ = ["HostSource", "NodePlan", "PortsSource", "ProcessesSource", "build_node_sources",
           "node_sources"]

SOURCE_NAMES = {"processes": "node.processes", "ports": "node.ports", "host": "node.host"}


def build_node_sources(node: NodeConfig, catalog: Catalog) -> list[Source]:
    """The node sources ``node.parts`` asks for."""
    plan = NodePlan(catalog, node)
    sources: list[Source] = []
    if "processes" in node.parts:
        sources.append(ProcessesSource(plan))
    if "ports" in node.parts:
        sources.append(PortsSource(plan))
    if "host" in node.parts:
        sources.append(HostSource(node, plan.host))
    return sources


def node_sources(config: Config) -> list[Source]:
    """The node sources of ``config.node`` (none without it)."""
    if config.node is None:
        return []
    return build_node_sources(config.node, default_catalog().deployed(config.network_backends))
