"""Infrastructure sources: one module per piece, each a parser apart from its I/O.

``infra_sources(cloud)`` builds one source per piece the cloud's ``infra``
section configures (:mod:`stackwatch.infra_config`), importing only the modules
of those pieces (an agent checking memcached never imports PyMySQL)::

    infra.rabbitmq   management HTTP API     nodes, partitions, alarms, queues, compute consumers
    infra.mysql      SQL (PyMySQL)           ready, Galera wsrep_*, connections, long queries, locks
    infra.memcached  stats over TCP          connections, evictions, hit rate
    infra.haproxy    stats CSV (HTTP/socket) frontends, backends, servers, 5xx, queues, sessions
    infra.pacemaker  crm_mon XML             nodes, quorum, resources, failed actions
    infra.ceph       ceph ... -f json        health, monitors, OSDs, PGs, usage
    infra.glusterfs  gluster ... --xml       bricks, entries to heal
    infra.libvirt    libvirt-python / virsh  daemon answering, domains by state
    infra.ovs        ovs-vsctl               bridges present, ports, interface errors
    infra.swift      recon middleware (HTTP) replication, async pendings, drives, ring md5s

A piece that cannot be set up (an unreadable password file) becomes a source
that is UNKNOWN with the reason at each run; the others are built and run.
"""

from __future__ import annotations

import importlib
import logging
import socket
from typing import Any

from stackwatch.config import CloudConfig
from stackwatch.infra_config import InfraConfig
from stackwatch.sources.base import Source
from stackwatch.sources.infra.base import Context, Unbuildable

log = logging.getLogger(__name__)

#: piece -> module defining ``build(config, context) -> Source``
MODULES = {
    "rabbitmq": "stackwatch.sources.infra.rabbitmq",
    "mysql": "stackwatch.sources.infra.mysql",
    "memcached": "stackwatch.sources.infra.memcached",
    "haproxy": "stackwatch.sources.infra.haproxy",
    "pacemaker": "stackwatch.sources.infra.pacemaker",
    "ceph": "stackwatch.sources.infra.ceph",
    "glusterfs": "stackwatch.sources.infra.glusterfs",
    "libvirt": "stackwatch.sources.infra.libvirt",
    "ovs": "stackwatch.sources.infra.ovs",
    "swift": "stackwatch.sources.infra.swift",
}


def source_names(infra: InfraConfig) -> tuple[str, ...]:
    """The names of the sources ``infra`` asks for (``infra.rabbitmq``...)."""
    return tuple(f"infra.{piece}" for piece in infra.pieces())


def build_infra(infra: InfraConfig, context: Context) -> list[Source]:
    """One source per configured piece (an agent calls this with its node's section)."""
    sources: list[Source] = []
    for piece in infra.pieces():
        config: Any = getattr(infra, piece)
        try:
            module = importlib.import_module(MODULES[piece])
            sources.append(module.build(config, context))
        except (ValueError, ImportError) as exc:
            reason = f"infra.{piece} cannot be set up: {exc}"
            log.warning("%s", reason)
            sources.append(Unbuildable(f"infra.{piece}", reason))
    return sources


def infra_sources(cloud: CloudConfig) -> list[Source]:
    """The infrastructure sources of one cloud of ``stackwatch.yaml``."""
    context = Context(cloud.infra.command_timeout, socket.gethostname(),
                      cloud.network_backend)
    return build_infra(cloud.infra, context)
