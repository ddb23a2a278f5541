"""What the node checks look at here: the node's name and roles, its services and ports.

* **host**: ``node.host``, else the host name (as nova's ``host`` defaults to it), so
  a process check and nova's own service list name the same member;
* **roles**: ``node.roles``, else detected from what runs (:func:`detect_roles`);
* **services**: those of the catalog on one of the roles, that the watched clouds have
  (:meth:`Catalog.expects`) and ``node.ignore`` does not name — *expected*: absent,
  they are CRITICAL — and any other service seen running, which counts only while seen;
* **ports** of a service: ``node.ports`` for it, else its catalog ports that every
  node listens on (not ``optional``).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from stackwatch.catalog.loader import Catalog, Role, ServiceSpec
from stackwatch.config import NodeConfig
from stackwatch.sources.node.match import ProcessMatcher, ServiceProcesses, detect_roles


@dataclass(frozen=True, slots=True)
class Looked:
    """A service the node checks look at, and whether this node must run it."""

    spec: ServiceSpec
    expected: bool


@dataclass(frozen=True, slots=True)
class NodePort:
    """A port a service must listen on here."""

    port: int
    protocol: str = "tcp"
    purpose: str = ""


def node_host(config: NodeConfig) -> str:
    """The node's name: ``node.host``, else the host name (nova's ``host`` default)."""
    return config.host or socket.gethostname()


class NodePlan:
    """The node's name, roles, services and ports (see the module docstring)."""

    def __init__(self, catalog: Catalog, config: NodeConfig | None = None) -> None:
        self.catalog = catalog
        self.config = config or NodeConfig()
        self.host = node_host(self.config)
        self.matcher = ProcessMatcher(catalog)
        self._ignored = {name for name in self.config.ignore}
        self._ignored |= {spec.name for name in self.config.ignore
                          if (spec := catalog.service(name)) is not None}

    def roles(self, groups: Mapping[str, ServiceProcesses]) -> tuple[tuple[Role, ...], bool]:
        """The node's roles, and whether they were detected (not configured)."""
        if self.config.roles is not None:
            return tuple(self.config.roles), False
        return detect_roles(self.catalog, dict(groups)), True

    def services(self, groups: Mapping[str, ServiceProcesses]) -> list[Looked]:
        """Every service to look at: the expected ones, then the others seen running."""
        roles = set(self.roles(groups)[0])
        looked = [Looked(spec, True) for spec in self.catalog.services
                  if roles.intersection(spec.roles) and self.catalog.expects(spec)
                  and spec.name not in self._ignored]
        named = {entry.spec.name for entry in looked}
        for name, found in groups.items():
            spec = self.catalog.service(name)
            if spec is not None and name not in named and found.running \
                    and name not in self._ignored:
                looked.append(Looked(spec, False))
        return looked

    def ports(self, spec: ServiceSpec) -> list[NodePort]:
        """The ports ``spec`` must listen on here."""
        configured = self.config.ports.get(spec.name)
        if configured is not None:
            return [NodePort(port) for port in configured]
        return [NodePort(p.port, p.protocol, p.purpose) for p in spec.ports if not p.optional]

    def owners_of_port(self, port: int) -> list[ServiceSpec]:
        """The services that listen on ``port`` here (configured, else the catalog's)."""
        configured = [self.catalog.service(name) for name, ports in self.config.ports.items()
                      if port in ports]
        found = [spec for spec in configured if spec is not None]
        if found:
            return found
        return [spec for spec in self.catalog.services_on_port(port)
                if spec.name not in self.config.ports]
