"""``build_sources(config)``: the one place that turns ``stackwatch.yaml`` into sources.

Per cloud, each kind of source is built by its package's factory, imported
only here and only when configured::

    api   stackwatch.sources.openstack_api:api_sources(cloud, intervals)   always
    sql   stackwatch.sources.sql:sql_sources(cloud, intervals)             when databases
    logs  stackwatch.sources.logs:logs_sources(cloud, config)              when logs.root
    infra stackwatch.sources.infra:infra_sources(cloud)                    when infra pieces

Once, for the machine stackwatch runs on (not per cloud):

    node  stackwatch.sources.node:node_sources(config)    when the node section is there
    synthetic  stackwatch.synthetic.source:SyntheticSource  when synthetic.enabled

A kind whose package or factory is not installed does not stop the others: it
becomes a :class:`MissingSource` per expected source name, whose every run
raises :class:`SourceUnavailable` naming what is missing, so the gap shows as
UNKNOWN in ``status``, ``/api/v1/sources`` and the freshness metrics.
``CloudConfig.disable`` removes sources by name or kind. With several clouds,
source names are prefixed with the cloud's name (``east/api.compute``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from stackwatch.config import CloudConfig, Config
from stackwatch.errors import SourceUnavailable
from stackwatch.model import Collection, make_labels
from stackwatch.sources.base import Source
from stackwatch.sources.crosscheck import crosscheck_sources

log = logging.getLogger(__name__)

API_SOURCE_NAMES = ("api.identity", "api.compute", "api.placement", "api.network",
                    "api.image", "api.block_storage")
#: The API sources of services a cloud may not run (watched while its catalog lists them;
#: not expected, so not stood in for when the API package is missing).
OPTIONAL_API_SOURCE_NAMES = (
    "api.orchestration", "api.load_balancer", "api.baremetal", "api.dns",
    "api.shared_file_system", "api.container_infrastructure_management", "api.database",
    "api.metric", "api.object_store")


@dataclass(frozen=True)
class MissingSource:
    """Stands in for a source whose code is not there; every run is UNKNOWN with the reason."""

    name: str
    reason: str

    def collect(self) -> Collection:
        raise SourceUnavailable(self.reason)


@dataclass(frozen=True)
class RenamedSource:
    """A source under its cloud's prefix (``east/api.compute``) when several clouds are watched.

    The sources it waits for (``after``, e.g. the cross-check's API and SQL
    sources) are those of the same cloud, so they carry the same prefix. Its samples
    and checks carry ``cloud`` (the prefix's name), as its items' attributes do: two
    clouds may share a region name and host names, and each series and verdict must
    still be one cloud's.
    """

    prefix: str
    inner: Source

    @property
    def name(self) -> str:
        return self.prefix + self.inner.name

    @property
    def after(self) -> tuple[str, ...]:
        return tuple(self.prefix + name for name in getattr(self.inner, "after", ()))

    def collect(self) -> Collection:
        return self._labelled(self.inner.collect())

    def collect_until(self, deadline: float) -> Collection:
        """The inner source's own deadline handling, when it has one."""
        collect_until = getattr(self.inner, "collect_until", None)
        if callable(collect_until):
            found: Collection = collect_until(deadline)
            return self._labelled(found)
        return self.collect()

    def _labelled(self, found: Collection) -> Collection:
        """``found`` with ``cloud`` (the prefix's name) on every sample and check, and
        among every item's attributes."""
        cloud = self.prefix.removesuffix("/")
        samples = tuple(replace(s, labels=make_labels(dict(s.labels), cloud=cloud))
                        for s in found.samples)
        checks = tuple(replace(c, labels=make_labels(dict(c.labels), cloud=cloud))
                       for c in found.checks)
        items = tuple(replace(i, attributes=make_labels(dict(i.attributes), cloud=cloud))
                      for i in found.items)
        return Collection(samples, checks, found.events, items)


@dataclass(frozen=True)
class _Kind:
    kind: str
    target: str                                    # "module:function"
    call: Callable[[Callable[..., Any], CloudConfig, Config], list[Source]]
    wanted: Callable[[CloudConfig], bool]
    expected: Callable[[CloudConfig], tuple[str, ...]]


KINDS: tuple[_Kind, ...] = (
    _Kind("api", "stackwatch.sources.openstack_api:api_sources",
          lambda f, cloud, config: list(f(cloud, config.intervals)),
          lambda cloud: True, lambda cloud: API_SOURCE_NAMES),
    _Kind("sql", "stackwatch.sources.sql:sql_sources",
          lambda f, cloud, config: list(f(cloud, config.intervals)),
          lambda cloud: bool(cloud.databases),
          lambda cloud: tuple(f"sql.{db}" for db in sorted(cloud.databases))),
    _Kind("logs", "stackwatch.sources.logs:logs_sources",
          lambda f, cloud, config: list(f(cloud, config)),
          lambda cloud: cloud.logs.root is not None, lambda cloud: ("logs",)),
    _Kind("infra", "stackwatch.sources.infra:infra_sources",
          lambda f, cloud, config: list(f(cloud)),
          lambda cloud: bool(cloud.infra.pieces()),
          lambda cloud: tuple(f"infra.{piece}" for piece in cloud.infra.pieces())),
)


def _factory(target: str) -> Callable[..., Any] | str:
    """The factory function, or a sentence saying why it cannot be had."""
    module_name, attribute = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return f"{module_name} is not installed"
        raise
    factory = getattr(module, attribute, None)
    if not callable(factory):
        return f"{module_name} has no {attribute}() yet"
    return factory  # type: ignore[no-any-return]


def _cloud_sources(cloud: CloudConfig, config: Config) -> list[Source]:
    sources: list[Source] = []
    for kind in KINDS:
        if not kind.wanted(cloud) or not cloud.enabled(kind.kind):
            continue
        factory = _factory(kind.target)
        if isinstance(factory, str):
            log.warning("cloud %s: %s sources unavailable: %s", cloud.name, kind.kind, factory)
            sources.extend(MissingSource(name, f"{kind.kind} sources unavailable: {factory}")
                           for name in kind.expected(cloud))
        else:
            sources.extend(kind.call(factory, cloud, config))
    sources.extend(crosscheck_sources(sources))  # API against SQL, when both are configured
    return [s for s in sources if cloud.enabled(s.name)]


NODE_TARGET = "stackwatch.sources.node:node_sources"


def _node_sources(config: Config) -> list[Source]:
    """The node checks (``node.processes``, ``node.ports``, ``node.host``) when configured."""
    if config.node is None:
        return []
    factory = _factory(NODE_TARGET)
    if isinstance(factory, str):
        log.warning("node sources unavailable: %s", factory)
        return [MissingSource(f"node.{part}", f"node sources unavailable: {factory}")
                for part in config.node.parts]
    found: list[Source] = factory(config)
    return found


def build_sources(config: Config) -> list[Source]:
    """Every source the configuration asks for, named uniquely."""
    several = len(config.clouds) > 1
    sources: list[Source] = []
    for cloud in config.clouds:
        for source in _cloud_sources(cloud, config):
            sources.append(RenamedSource(f"{cloud.name}/", source) if several else source)
    sources.extend(_node_sources(config))  # the machine's own, whatever the clouds
    if config.synthetic.enabled:  # the cloud used as a user would, at its own interval
        from stackwatch.synthetic.source import SyntheticSource

        sources.append(SyntheticSource(config.synthetic))
    if config.backups is not None:  # the age of the last good backup of each database
        from stackwatch.sources.backup import BackupSource

        sources.append(BackupSource(config))
    return sources
