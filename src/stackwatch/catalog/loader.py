"""Typed, validated loading of ``services.yaml`` and ``metrics/*.yaml``.

Every problem in every file is gathered and raised as one
:class:`~stackwatch.errors.ConfigError` whose lines name the file and the
entry (``metrics/api.yaml: entry 3 (openstack_nova_total_vms): type: ...``),
so a bad catalog is fixed in one round. A metric declared twice, in one file
or across files, is an error, as prometheus_client's ``DuplicateTimeseries``.

Not every service is expected on every cloud: one a release removed
(``removed_in``), one of the other ML2 backend (``network_backend``) or an ``optional``
backend (GlusterFS) counts
only when seen. :meth:`Catalog.deployed` says which backends the watched clouds
use and :meth:`Catalog.expects` answers per service.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stackwatch.errors import ConfigError

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_*-]+)*$")
# Sample name suffixes of a histogram family (Prometheus exposition format).
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# openstack-exporter gauges whose names end in _total; kept so its dashboards work.
EXPORTER_GAUGES_NAMED_TOTAL = frozenset({
    "openstack_placement_resource_total",
    "openstack_neutron_network_ip_availabilities_total",
    "openstack_neutron_subnets_total",
})
# Process names that say nothing of the service (interpreters, WSGI servers, wrappers):
# such a process is matched by its command line only.
GENERIC_PROCESS_NAMES = frozenset({
    "python", "python3", "gunicorn", "uwsgi", "apache2", "httpd", "sh", "bash", "env",
    "runuser", "sudo",
})
# Units that must show in the metric name (Prometheus base-unit naming).
_UNIT_IN_NAME = {"seconds": "_seconds", "bytes": "_bytes"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    """Kind of node a service runs on."""

    CONTROLLER = "controller"
    COMPUTE = "compute"
    NETWORK = "network"
    STORAGE = "storage"


class HAMode(StrEnum):
    """How the members of a service share the work."""

    ACTIVE_ACTIVE = "active/active"
    ACTIVE_PASSIVE = "active/passive"


class NetworkBackend(StrEnum):
    """Neutron's ML2 mechanism driver: its agents and processes differ."""

    OVN = "ovn"   # ovn-northd, the NB/SB ovsdb-servers, ovn-controller, OVN metadata agent
    OVS = "ovs"   # the Open vSwitch, L3, DHCP and metadata agents


class Port(_Frozen):
    """A default bind port of a service."""

    port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    purpose: str = ""
    #: not listening on every node (legacy, TLS, clustering, a range, inside a namespace):
    #: the node's port check looks at it only when the configuration names it
    optional: bool = False


class ServiceSpec(_Frozen):
    """One OpenStack or infrastructure service: processes, ports, role, HA mode."""

    name: str = Field(min_length=1)
    project: str = Field(min_length=1)
    description: str = Field(min_length=1)
    roles: tuple[Role, ...] = Field(min_length=1)
    ha: HAMode
    quorum: bool = False
    depends_on: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    cmdline: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    service_type: str | None = None
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    #: the release that no longer has it (``Train``): it counts only when seen
    removed_in: str | None = Field(None, min_length=1)
    #: the ML2 backend it belongs to; none: every cloud has it
    network_backend: NetworkBackend | None = None
    #: a backend a cloud may well not use (GlusterFS for instance storage): counts only
    #: when seen
    optional: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the service is known under: its own, endpoint type, aliases."""
        extra = (self.service_type,) if self.service_type else ()
        return tuple(dict.fromkeys((self.name, *extra, *self.aliases)))


class MetricSpec(_Frozen):
    """One metric family: name, type, unit, labels, emitting source, description."""

    name: str
    type: Literal["gauge", "counter", "histogram"]
    unit: str = ""
    labels: tuple[str, ...] = ()
    source: str
    description: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _prometheus_name(cls, value: str) -> str:
        if not _METRIC_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid Prometheus metric name")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a valid label name")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate label in {list(value)}")
        return value

    @field_validator("source")
    @classmethod
    def _source_name(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value):
            raise ValueError(f"{value!r} is not a source name like api.compute or sql.nova")
        return value

    @model_validator(mode="after")
    def _naming(self) -> MetricSpec:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if (self.type != "counter" and self.name.endswith("_total")
                and self.name not in EXPORTER_GAUGES_NAMED_TOTAL):
            raise ValueError(f"{self.type} {self.name} must not end in _total (counters only)")
        if self.type == "histogram" and "le" in self.labels:
            raise ValueError("histogram labels must not include 'le' (added per bucket)")
        suffix = _UNIT_IN_NAME.get(self.unit)
        if suffix and suffix not in self.name:
            raise ValueError(f"unit {self.unit} needs {suffix} in the name (base units)")
        return self

    def sample_names(self) -> tuple[str, ...]:
        """Names the family's samples carry (``x_bucket``/``x_sum``/``x_count`` for histograms)."""
        if self.type == "histogram":
            return tuple(self.name + suffix for suffix in HISTOGRAM_SUFFIXES)
        return (self.name,)


@dataclass(frozen=True)
class Catalog:
    """Services and metrics, validated; look-ups by name."""

    services: tuple[ServiceSpec, ...]
    metrics: Mapping[str, MetricSpec]
    _by_sample: Mapping[str, MetricSpec] = field(repr=False, compare=False)
    _by_service_name: Mapping[str, ServiceSpec] = field(repr=False, compare=False)
    #: the ML2 backends of the watched clouds (:meth:`deployed`); by default both
    network_backends: frozenset[NetworkBackend] = frozenset(NetworkBackend)

    @classmethod
    def build(cls, services: Sequence[ServiceSpec], metrics: Iterable[MetricSpec]) -> Catalog:
        """Index already-validated specs (names must be unique)."""
        by_name = {m.name: m for m in metrics}
        by_sample = {sample: m for m in by_name.values() for sample in m.sample_names()}
        by_service = {alias: s for s in services for alias in s.names}
        return cls(tuple(services), MappingProxyType(by_name),
                   MappingProxyType(by_sample), MappingProxyType(by_service))

    def deployed(self, network_backends: Iterable[str]) -> Catalog:
        """This catalog for clouds using these ML2 backends (``ovn``, ``ovs``)."""
        return replace(self, network_backends=frozenset(map(NetworkBackend, network_backends)))

    def expects(self, spec: ServiceSpec) -> bool:
        """Whether the watched clouds should have ``spec``: not removed by a release, and
        of no ML2 backend or one they use. A service not expected counts only when seen."""
        return spec.removed_in is None and not spec.optional and (
            spec.network_backend is None or spec.network_backend in self.network_backends)

    def metric_for_sample(self, sample_name: str) -> MetricSpec | None:
        """The family a sample name belongs to (``x_bucket`` -> histogram ``x``), if declared."""
        return self._by_sample.get(sample_name)

    def service(self, name: str) -> ServiceSpec | None:
        """A service by its name, endpoint type or alias."""
        return self._by_service_name.get(name)

    def service_for_process(self, name: str, cmdline: str | Sequence[str]) -> ServiceSpec | None:
        """The service a process belongs to, from psutil's ``name()`` and ``cmdline()``.

        The longest ``cmdline`` pattern found in the command line wins (so
        ``gunicorn: worker [nova-api]`` is nova-api, ``/usr/bin/nova-compute`` beats a
        ``rabbit`` further along); otherwise a specific (non-generic) process name listed
        in ``processes`` (``nova-scheduler: ServiceWrapper worker(0)`` -> nova-scheduler).
        """
        text = cmdline if isinstance(cmdline, str) else " ".join(cmdline)
        best: ServiceSpec | None = None
        longest = 0
        for spec in self.services:
            for pattern in spec.cmdline:
                if len(pattern) > longest and pattern in text:
                    best, longest = spec, len(pattern)
        if best is not None:
            return best
        base = name.split(":", 1)[0].strip()
        if base in GENERIC_PROCESS_NAMES:
            return None
        return next((spec for spec in self.services if base in spec.processes), None)

    def services_on_port(self, port: int, protocol: str = "tcp") -> list[ServiceSpec]:
        """Services whose default bind ports include ``port`` (HAProxy fronts share them)."""
        return [spec for spec in self.services
                if any(p.port == port and p.protocol == protocol for p in spec.ports)]

    def metrics_of(self, source: str) -> list[MetricSpec]:
        """Metrics whose ``source`` matches (``api.compute``, or a prefix such as ``api``)."""
        return [m for m in self.metrics.values()
                if m.source == source or m.source.startswith(source + ".")]


def catalog_dir() -> Path:
    """The catalog folder shipped inside the package."""
    return Path(str(resources.files("stackwatch.catalog")))


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in err['loc']) or '(entry)'}: {err['msg']}"
            for err in exc.errors()]


def _read_yaml(path: Path, label: str, problems: list[str]) -> Any:
    try:
        # libyaml's loader when PyYAML has it: the same documents, 7x less CPU
        return yaml.load(path.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        problems.append(f"{label}: cannot read: {exc.strerror}")
    except yaml.YAMLError as exc:
        problems.append(f"{label}: not valid YAML: {exc}")
    return None


def _entry_label(label: str, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{label}: entry {index}" + (f" ({name})" if name else "")


def _load_services(path: Path, problems: list[str]) -> list[ServiceSpec]:
    label = path.name
    data = _read_yaml(path, label, problems)
    if data is None:
        return []
    raw_entries = data.get("services") if isinstance(data, dict) else None
    if not isinstance(raw_entries, list):
        problems.append(f"{label}: expected a mapping with a 'services' list")
        return []
    services: list[ServiceSpec] = []
    for index, raw in enumerate(raw_entries):
        where = _entry_label(label, index, raw)
        try:
            services.append(ServiceSpec.model_validate(raw))
        except ValidationError as exc:
            problems.extend(f"{where}: {p}" for p in _problems(exc))
    seen: dict[str, str] = {}
    for service in services:
        for alias in service.names:
            if alias in seen:
                problems.append(f"{label}: {service.name}: name {alias!r} already used by "
                                f"{seen[alias]}")
            else:
                seen[alias] = service.name
    known = {s.name: s for s in services}
    for service in services:
        for dependency in service.depends_on:
            if dependency not in known:
                problems.append(f"{label}: {service.name}: depends_on {dependency!r} "
                                "is not a service in the catalog")
                continue
            backend = known[dependency].network_backend
            if backend is not None and backend != service.network_backend:
                problems.append(f"{label}: {service.name}: depends_on {dependency!r}, which "
                                f"only clouds with network_backend {backend.value} have")
    return services


def _load_metrics(
    path: Path, problems: list[str], declared: dict[str, str]
) -> list[MetricSpec]:
    label = f"metrics/{path.name}"
    data = _read_yaml(path, label, problems)
    if data is None:
        return []  # an empty file declares nothing
    if not isinstance(data, list):
        problems.append(f"{label}: expected a list of metric entries")
        return []
    metrics: list[MetricSpec] = []
    for index, raw in enumerate(data):
        where = _entry_label(label, index, raw)
        try:
            metric = MetricSpec.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{where}: {p}" for p in _problems(exc))
            continue
        if metric.name in declared:
            problems.append(f"{where}: duplicate metric {metric.name}, "
                            f"already declared in {declared[metric.name]}")
            continue
        declared[metric.name] = where
        metrics.append(metric)
    return metrics


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate ``services.yaml`` and every ``metrics/*.yaml`` under ``directory``.

    Raises :class:`ConfigError` listing every problem, each naming file and entry.
    """
    root = catalog_dir() if directory is None else directory
    problems: list[str] = []
    services = _load_services(root / "services.yaml", problems)
    declared: dict[str, str] = {}
    metrics: list[MetricSpec] = []
    for path in sorted((root / "metrics").glob("*.yaml")):
        metrics.extend(_load_metrics(path, problems, declared))
    # Histogram sample names must not collide with another family's name.
    for metric in metrics:
        for sample in metric.sample_names():
            if sample != metric.name and sample in declared:
                problems.append(f"{declared[sample]}: {sample} collides with the samples "
                                f"of histogram {metric.name}")
    if problems:
        raise ConfigError(f"catalog {root}: {len(problems)} problem(s):\n  "
                          + "\n  ".join(problems))
    return Catalog.build(services, metrics)


@functools.cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded and validated once per process."""
    return load_catalog()
