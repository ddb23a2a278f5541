"""The checks of the node stackwatch runs on: processes, ports and the host itself.

``node_sources(config)`` (called by :mod:`stackwatch.sources.registry` when
``stackwatch.yaml`` has a ``node:`` section) builds, per ``node.parts``:

    node.processes   processes.py   every catalog process of the node's roles, counted
    node.ports       ports.py       their bind ports listening, held by the right process
    node.host        host.py        disks, inodes, load, memory, swap, network, disk I/O
    node.dataplane   dataplane.py   network nodes: qrouter-/qdhcp- namespaces and dnsmasq
                                    against what neutron says the node hosts

What to look at (host name, roles, services, ports) is :mod:`.plan`; which service a
process is, :mod:`.match`; the process table and sockets, :mod:`.table` (/proc, or a
recorded table in tests). ``stackwatch check`` and ``stackwatch nrpe-config``
(:mod:`.cli`) run the same checks once, the Nagios way. Nothing here imports numba:
the agent that runs these on every node stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.catalog.loader import Catalog, default_catalog
from stackwatch.config import CloudConfig, Config, NodeConfig
from stackwatch.errors import ConfigError
from stackwatch.sources.base import Source
from stackwatch.sources.node.dataplane import DataplaneSource
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.processes import ProcessesSource
from stackwatch.sources.node.table import ProcessReader, SharedTable

__all__ = ["DataplaneSource", "HostSource", "NodePlan", "PortsSource", "ProcessesSource",
           "build_node_sources", "node_sources"]

SOURCE_NAMES = {"processes": "node.processes", "ports": "node.ports", "host": "node.host",
                "dataplane": "node.dataplane"}


def build_node_sources(node: NodeConfig, catalog: Catalog,
                       clouds: Sequence[CloudConfig] = ()) -> list[Source]:
    """The node sources ``node.parts`` asks for (``clouds``: where ``node.neutron`` is)."""
    plan = NodePlan(catalog, node)
    # one read of the process table serves both in a run; a command line is read only
    # where the name may be a catalog service's
    table = SharedTable(ProcessReader(node.proc_root, wants_cmdline=plan.matcher.may_be_ours))
    sources: list[Source] = []
    if "processes" in node.parts:
        sources.append(ProcessesSource(plan, table=table))
    if "ports" in node.parts:
        sources.append(PortsSource(plan, table=table))
    if "host" in node.parts:
        sources.append(HostSource(node, plan.host))
    if node.wants_dataplane() and node.neutron is not None:
        cloud = next((c for c in clouds if c.name == node.neutron.cloud), None)
        if cloud is None:
            raise ConfigError(f"node.neutron.cloud: {node.neutron.cloud!r} is not a cloud")
        # imported here: the API client is for network nodes only (the agent stays light)
        from stackwatch.sources.openstack_api.client import ApiClient
        client = ApiClient(cloud.name, clouds_yaml=cloud.clouds_yaml, region=cloud.region,
                           timeout=cloud.api_timeout, concurrency=2,
                           verify_tls=cloud.verify_tls)
        dataplane = node.dataplane
        sources.append(DataplaneSource(plan.host, client, dataplane.ip_command,
                                       dataplane.timeout, dataplane.netns_root))
    return sources


def node_sources(config: Config) -> list[Source]:
    """The node sources of ``config.node`` (none without it)."""
    if config.node is None:
        return []
    return build_node_sources(config.node, default_catalog().deployed(config.network_backends),
                              config.clouds)
