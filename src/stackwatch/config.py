"""``stackwatch.yaml``: what to watch and how, validated once at start-up.

OpenStack credentials are not here: each cloud names an entry of the standard
``clouds.yaml`` (openstacksdk's search path, or the file given). Database
URLs are SQLAlchemy URLs for read-only accounts. Errors name the file and the
field (``stackwatch.yaml: clouds.0.databases.nova: ...``).

Example::

    clouds:
      - name: stackwatch-sim            # entry in clouds.yaml
        clouds_yaml: ./clouds.yaml      # optional; default: the standard search path
        region: RegionOne
        network_backend: ovn            # neutron ML2 backend: ovn (default) or ovs
        databases:                      # service database -> SQLAlchemy URL
          nova: mysql+pymysql://monitor:secret@127.0.0.1/nova
          cinder: sqlite:////var/lib/stackwatch-sim/db/cinder.sqlite
        logs:
          root: /var/log                # nova/nova-api.log, keystone/keystone.log, ...
        bus:
          url: amqp://monitor:secret@127.0.0.1:5672//
        infra:                          # see stackwatch.infra_config
          rabbitmq: {url: "http://127.0.0.1:15672", user: monitor, password_file: rmq.pw}
        agent_down_time: 75             # neutron.conf agent_down_time (sql.neutron)
        heartbeat:                      # report intervals: a heartbeat 2x late is WARNING
          nova_report_interval: 10      # nova.conf report_interval
          neutron_report_interval: 30   # neutron.conf [AGENT] report_interval
        latency:                        # api.latency: median of the last `samples` probes
          samples: 5
          min_samples: 3
          services: {block-storage: {warning: 5, critical: 20}}
        neutron_mtu: {global_physnet_mtu: 9000, path_mtu: 1600}  # the `mtu` runbook
        disable: [sql.keystone]         # source names or kinds not to run for this cloud
    intervals:                          # seconds, per source kind or per source name
      api: 60
      sql: 60
    timeouts:                           # seconds a run may take (DEFAULT_TIMEOUTS)
      api.compute: 180
    store:
      path: /var/lib/stackwatch/store.sqlite
      # url: postgresql://stackwatch:secret@db1:5432/stackwatch   # a store servers share
      retention_days: 14
    web:
      listen: 127.0.0.1:9550
      allow_local: true                 # loopback clients need no token (docs/security.md)
      tls_cert: /etc/stackwatch/cert.pem
      tls_key: /etc/stackwatch/key.pem
    node:                               # the node checks of this machine (sources/node)
      roles: [controller]               # default: detected from what runs
      ignore: [pacemaker]               # catalog services not expected here
      ports: {keystone: [5001]}         # bind ports here, replacing the catalog's
      thresholds: {disk: {warning: 80, critical: 90}}
    server:
      accept_agents: true               # POST /api/v1/ingest takes agents' pushes
    alarms:                             # the alarm engine (docs/alarms.md)
      file: /etc/stackwatch/alarms.yaml # merged over the defaults by name
      actions: ["log://", "alertmanager+http://127.0.0.1:9093"]
    synthetic:                          # the cloud used as a user would (docs/synthetic.md)
      enabled: true                     # on the server's schedule (default: off)
      cloud: stackwatch-synthetic       # clouds.yaml entry: a member of its own project
      interval: 900
      flavor: m1.tiny
      network: private                  # or none / auto
      thresholds: {server_active: {warning: 60, critical: 180}}
    agent:                              # on a node: push to the server (docs/agent.md)
      server: https://monitor.example.net:9550
      token_file: /etc/stackwatch/agent.token
    fixes:                              # what `stackwatch fix` may change (docs/runbooks.md)
      enabled: [l3-failover, token-flush]
      auto: {l3-failover: {after: 300}}  # the server moves routers off an agent dead 300 s
      databases: {keystone: mysql+pymysql://fixer:secret@127.0.0.1/keystone}
    backups:                            # database dumps (docs/backups.md)
      schedule: true                    # the server takes one every `every` seconds
      directory: /var/backups/stackwatch
      databases: {nova: mysql+pymysql://backup:secret@127.0.0.1/nova}
      scratch_url: mysql+pymysql://backup:secret@127.0.0.1/   # verify restores here
      keep_count: 3
      keep_days: 3
    reports: {schedule: true, directory: /var/lib/stackwatch/reports}  # docs/reports.md
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stackwatch.agent.config import AgentConfig
from stackwatch.catalog.loader import Role, default_catalog
from stackwatch.errors import ConfigError
from stackwatch.infra_config import InfraConfig

DEFAULT_INTERVALS: dict[str, float] = {"api": 60.0, "sql": 60.0, "logs": 10.0, "node": 30.0,
                                       "infra": 30.0}
#: Seconds a run may take, per kind, sized for a big cloud (1,000 hypervisors, 20,000
#: servers, 3,000 projects, 10,000 placement providers) on a loaded 2-core machine: the
#: first API run reads every project's quotas and every provider's inventories and usages
#: (some 26,000 requests; 60-95 s measured), the first logs run may catch up megabytes.
#: A source stops reading a little before its timeout and delivers what it read, marked
#: partial; the rest comes with its next run.
#: An infrastructure source waits at most its own timeouts per request or command (10 s by
#: default), for each of its servers in turn.
DEFAULT_TIMEOUTS: dict[str, float] = {"api": 120.0, "sql": 60.0, "logs": 30.0, "node": 30.0,
                                      "infra": 60.0}

#: The service databases stackwatch reads: an ``sql.<database>`` source each
#: (``stackwatch.sources.sql``), but placement's, which only spares the API sources their
#: per-provider requests, as nova's and cinder's spare them their per-project quota
#: requests (``stackwatch.sources.sql.shortcuts``); any other key under ``databases`` is
#: refused rather than silently ignored.
SQL_DATABASES: tuple[str, ...] = ("cinder", "glance", "keystone", "neutron", "nova",
                                  "nova_api", "nova_cell0", "placement")


#: URL schemes ``store.url`` takes; all mean PostgreSQL through psycopg 3.
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogsConfig(_Frozen):
    """Where a cloud's log files are; globs per service override the catalog's defaults."""

    root: Path | None = None
    globs: dict[str, list[str]] = Field(default_factory=dict)
    checkpoint_dir: Path | None = None
    #: the node the files under ``root`` come from (default: the monitor's own host name)
    host: str | None = None
    #: logs of several nodes under one root: a directory (relative to ``root``) -> its
    #: node; the deepest matching directory wins, others fall back to ``host``
    hosts: dict[str, str] = Field(default_factory=dict)

    @field_validator("hosts")
    @classmethod
    def _relative_directories(cls, value: dict[str, str]) -> dict[str, str]:
        for directory, host in value.items():
            parts = Path(directory).parts
            if not parts or Path(directory).is_absolute() or ".." in parts:
                raise ValueError(f"{directory!r} is not a directory under logs.root")
            if not host.strip():
                raise ValueError(f"{directory!r}: the host name is empty")
        return value
    #: large reads (catching up, busy files) parsed by compiled kernels (numba): about twice
    #: the speed, about 150 MB more memory from the first large read on; false keeps the
    #: agent on the pure-Python path (same results)
    compiled: bool = True
    #: ``logs.auth_bruteforce``: an address with ``bruteforce_threshold`` failed
    #: authentications within ``bruteforce_window`` seconds is named (as fail2ban's
    #: maxretry and findtime); it stays named until its failures leave the window
    bruteforce_window: float = Field(300.0, gt=0)
    bruteforce_threshold: int = Field(20, ge=1)


class BusConfig(_Frozen):
    """The message bus the services publish notifications on, and how the notification
    consumer reads it (docs/notifications.md). No ``url``: no consumer."""

    url: str | None = None
    exchanges: list[str] = Field(
        default_factory=lambda: ["nova", "neutron", "glance", "openstack", "keystone", "cinder"]
    )
    #: the topics (routing keys) bound; the consumer's own queue per topic
    topics: list[str] = Field(default_factory=lambda: [
        "notifications.info", "notifications.error",
        "versioned_notifications.info", "versioned_notifications.error"])
    #: its queues are ``<queue_prefix>.<topic>``: its own, never Ceilometer's
    queue_prefix: str = Field("stackwatch", min_length=1)
    #: a bigger message is poison (set aside, acknowledged)
    max_message_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    #: how long the raw payloads (and their ids, the dedup window) are kept
    raw_retention_hours: float = Field(48.0, gt=0)
    #: unacknowledged messages the broker may send ahead (basic.qos prefetch_count)
    prefetch: int = Field(4000, ge=1, le=65535)
    #: messages written (and acknowledged) together, at most
    batch_size: int = Field(1000, ge=1)  # prefetch holds the batch received and those written
    #: a batch is written after this long even when not full
    batch_seconds: float = Field(0.25, gt=0)
    #: seconds between two attempts to reach a broker that went away
    reconnect_seconds: float = Field(2.0, gt=0)
    #: the window the operation timing metrics (percentiles, counts) cover
    metrics_window_seconds: float = Field(3600.0, gt=0)


class LifecycleConfig(_Frozen):
    """How instance actions, faults and migrations are read (docs/lifecycle.md)."""

    #: instances whose actions the API source reads per run at most (newest changes
    #: first; the rest the next run)
    max_instances: int = Field(50, ge=1, le=10_000)
    #: how far back the first run looks for changed instances, faults and actions (s)
    lookback: float = Field(3600.0, gt=0)
    #: a migration in progress for longer than this (s) is stuck: ``nova.migrations``
    #: WARNING naming it
    migration_stuck_after: float = Field(3600.0, gt=0)
    #: rows the database sources read per run at most (newest first)
    max_rows: int = Field(5000, ge=1, le=1_000_000)


#: Endpoint latency (seconds) at which ``api.latency`` warns / is critical, per service
#: type: the median of the last collections' version-document requests is judged.
#: Cinder validates each new token with keystone on its first request (seconds on a
#: busy controller), so it gets more room.
DEFAULT_LATENCY: dict[str, tuple[float, float]] = {
    "identity": (2.0, 10.0), "compute": (2.0, 10.0), "placement": (2.0, 10.0),
    "network": (2.0, 10.0), "image": (2.0, 10.0), "block-storage": (5.0, 20.0),
}


class LatencyThresholds(_Frozen):
    """Latency thresholds of one service type (seconds); unset ones keep the default."""

    warning: float | None = Field(None, gt=0)
    critical: float | None = Field(None, gt=0)


class HeartbeatConfig(_Frozen):
    """The report intervals the cloud's services heartbeat at (``nova.heartbeat``,
    ``neutron.heartbeat``): a heartbeat older than twice its interval is late."""

    #: nova.conf ``[DEFAULT] report_interval``
    nova_report_interval: float = Field(10.0, gt=0)
    #: neutron.conf ``[AGENT] report_interval``
    neutron_report_interval: float = Field(30.0, gt=0)


class LatencyConfig(_Frozen):
    """How ``api.latency`` judges slowness: the median of the last ``samples`` endpoint
    latencies, once ``min_samples`` are there, against per-service thresholds."""

    samples: int = Field(5, ge=1, le=1000)
    min_samples: int = Field(3, ge=1)
    services: dict[str, LatencyThresholds] = Field(default_factory=dict)

    def thresholds(self, service_type: str) -> tuple[float, float]:
        """(warning, critical) seconds for a service type: configured, else the default."""
        warning, critical = DEFAULT_LATENCY.get(service_type, (2.0, 10.0))
        given = self.services.get(service_type)
        if given is not None:
            warning = given.warning if given.warning is not None else warning
            critical = given.critical if given.critical is not None else critical
        return warning, critical

    @model_validator(mode="after")
    def _consistent(self) -> LatencyConfig:
        if self.min_samples > self.samples:
            raise ValueError(f"min_samples {self.min_samples} is more than samples "
                             f"{self.samples}")
        for service_type in self.services:
            if service_type not in DEFAULT_LATENCY:
                raise ValueError(f"services: {service_type!r} is not a service type "
                                 f"({', '.join(DEFAULT_LATENCY)})")
            warning, critical = self.thresholds(service_type)
            if critical < warning:
                raise ValueError(f"services.{service_type}: critical {critical:g} s is "
                                 f"below warning {warning:g} s")
        return self


class NeutronMtuConfig(_Frozen):
    """Neutron's MTU settings, as its configuration has them (the ``mtu`` runbook
    judges each network against them): ``[DEFAULT] global_physnet_mtu``, ``[ml2]
    path_mtu``, ``physical_network_mtus`` and ``overlay_ip_version``, and ``[ml2_type_geneve]
    max_header_size`` (38 under OVN)."""

    global_physnet_mtu: int = Field(1500, ge=68)
    path_mtu: int = Field(0, ge=0)
    physical_network_mtus: dict[str, int] = Field(default_factory=dict)
    overlay_ip_version: Literal[4, 6] = 4
    geneve_max_header_size: int = Field(38, ge=0)


class CloudConfig(_Frozen):
    """One cloud (or region) to watch."""

    name: str
    clouds_yaml: Path | None = None
    region: str | None = None
    databases: dict[str, str] = Field(default_factory=dict)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    bus: BusConfig = Field(default_factory=BusConfig)
    #: neutron's ML2 backend: which agents and processes the cloud has (catalog
    #: ``network_backend``); OVN is neutron's default, ``ovs`` for ML2/OVS
    network_backend: Literal["ovn", "ovs"] = "ovn"
    verify_tls: bool = True
    api_timeout: float = Field(30.0, gt=0)
    api_concurrency: int = Field(16, ge=1, le=256)
    sql_timeout: float = Field(30.0, gt=0)
    #: neutron.conf ``agent_down_time``: seconds after an agent's last heartbeat it is dead
    agent_down_time: float = Field(75.0, gt=0)
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    #: neutron's MTU settings (the ``mtu`` runbook)
    neutron_mtu: NeutronMtuConfig = Field(default_factory=NeutronMtuConfig)
    #: instance actions, faults and migrations (``api.compute``, ``sql.nova``)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    #: infrastructure to check: RabbitMQ, MySQL/Galera, memcached, HAProxy, Pacemaker,
    #: Ceph, GlusterFS, libvirt, Open vSwitch (``stackwatch.infra_config``)
    infra: InfraConfig = Field(default_factory=InfraConfig)
    disable: list[str] = Field(default_factory=list)
    #: metric names (shell patterns) not to export, as openstack-exporter's
    #: ``--disable-metric``: a resource whose every metric is disabled is not read
    disabled_metrics: list[str] = Field(default_factory=list)

    def enabled(self, source_name: str) -> bool:
        """False when ``disable`` names the source (``api.image``) or its kind (``sql``)."""
        kind = source_name.split(".", 1)[0]
        return source_name not in self.disable and kind not in self.disable

    @field_validator("databases")
    @classmethod
    def _urls_look_like_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for database, url in value.items():
            if database not in SQL_DATABASES:
                raise ValueError(f"{database}: stackwatch does not read this database "
                                 f"(it reads {', '.join(SQL_DATABASES)}); remove the entry")
            # the URL is never quoted here: it may hold a password
            if "://" not in url:
                raise ValueError(f"{database}: not a SQLAlchemy URL (dialect://...)")
            if url.split("?", 1)[0].count("@") > 1:
                # SQLAlchemy would read the password up to the first '@' and the rest as
                # the host name, which drivers then quote in their errors
                raise ValueError(f"{database}: more than one '@' in the URL; a '@' in the "
                                 "user name or password must be written %40")
        return value


class StoreConfig(_Frozen):
    """Where samples, checks and events are kept: the SQLite file ``path``, or the
    PostgreSQL database ``url`` that several servers may share (docs/store.md)."""

    path: Path = Path("stackwatch.sqlite")
    #: ``postgresql://user:password@host:port/database``: the central store; ``path`` then
    #: keeps only what belongs to this machine (the request index of the logs it reads)
    url: str | None = None
    #: this server's name among those sharing a PostgreSQL store (default: the host name)
    writer: str | None = None
    retention_days: float = Field(14.0, gt=0)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # the URL is never quoted here: it holds a password
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in POSTGRES_SCHEMES:
            raise ValueError("not a PostgreSQL URL (postgresql://user:password@host:port/"
                             "database); for SQLite, give path instead")
        if rest.split("?", 1)[0].count("@") > 1:
            raise ValueError("more than one '@' in the URL; a '@' in the user name or "
                             "password must be written %40")
        database = rest.split("?", 1)[0].partition("/")[2]
        if not database:
            raise ValueError("the URL names no database (…@host:port/database)")
        return f"postgresql+psycopg://{rest}"

    @field_validator("writer")
    @classmethod
    def _a_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip()):
            raise ValueError(f"{value!r} is not a name (empty, or blanks around it)")
        return value

    @property
    def location(self) -> str:
        """Where the store is, as messages may show it (a URL's password masked)."""
        if self.url is None:
            return str(self.path)
        from stackwatch.redact import redact

        return redact(self.url)


class WebConfig(_Frozen):
    """The HTTP listener for the REST API and ``/metrics``, and who may use it
    (docs/security.md)."""

    listen: str = "127.0.0.1:9550"
    # --- access control (stackwatch.web.auth) and TLS (stackwatch.web.tls)
    #: requests from a loopback address need no token and act as operator
    allow_local: bool = True
    #: /metrics without a token, for a Prometheus scrape
    metrics_public: bool = False
    #: reverse proxies (addresses or networks) whose X-Forwarded-For names the client
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    #: failed authentications per client and minute before it gets 429 for a while
    max_auth_failures: int = Field(10, ge=1)
    #: a PEM certificate (chain) and its private key (unencrypted): serve HTTPS
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        networks = []
        for item in value:
            try:
                networks.append(ip_network(str(item), strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network "
                                 "(10.0.0.5, 10.0.0.0/24, ::1)") from None
        return networks

    @model_validator(mode="after")
    def _cert_and_key(self) -> WebConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("tls_cert", "tls_key") if self.tls_key is None else (
                "tls_key", "tls_cert")
            raise ValueError(f"{given} is set but {missing} is not: give both or neither")
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Threshold(_Frozen):
    """A WARNING and a CRITICAL level; a value at or above one reaches it."""

    warning: float = Field(ge=0)
    critical: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.critical < self.warning:
            raise ValueError(f"critical {self.critical:g} is below warning {self.warning:g}")
        return self


def _percent(warning: float, critical: float) -> Threshold:
    return Threshold(warning=warning, critical=critical)


class NodeThresholds(_Frozen):
    """Levels of the host checks: percentages used, and the load per core."""

    #: the operations guide's: a disk 80 % full is a warning, 90 % critical
    disk: Threshold = Field(default_factory=lambda: _percent(80, 90))
    inodes: Threshold = Field(default_factory=lambda: _percent(80, 90))
    #: memory in use (what MemAvailable does not cover)
    memory: Threshold = Field(default_factory=lambda: _percent(90, 95))
    swap: Threshold = Field(default_factory=lambda: _percent(50, 80))
    #: the 5-minute load average divided by the CPUs online
    load: Threshold = Field(default_factory=lambda: _percent(2, 4))

    @model_validator(mode="after")
    def _percentages(self) -> NodeThresholds:
        for name in ("disk", "inodes", "memory", "swap"):
            level: Threshold = getattr(self, name)
            if level.critical > 100:
                raise ValueError(f"{name}: critical {level.critical:g} is over 100 %")
        return self


NodePart = Literal["processes", "ports", "host", "dataplane"]
NODE_PARTS: tuple[NodePart, ...] = ("processes", "ports", "host")


class NodeNeutronConfig(_Frozen):
    """Where a network node asks neutron what it hosts (``node.dataplane``)."""

    #: a cloud of ``clouds:``: its clouds.yaml entry, region and TLS settings
    cloud: str = Field(min_length=1)


class DataplaneConfig(_Frozen):
    """How ``node.dataplane`` lists the node's network namespaces."""

    #: ``ip`` (iproute2), run as ``ip netns list``
    ip_command: list[str] = Field(default_factory=lambda: ["ip"], min_length=1)
    #: read this directory (``/run/netns``, or the host's in a container) instead of ``ip``
    netns_root: Path | None = None
    #: seconds ``ip netns list`` may take
    timeout: float = Field(10.0, gt=0)


class NodeConfig(_Frozen):
    """The checks of the node stackwatch runs on: its processes, ports and host."""

    #: the node's name as OpenStack reports it (nova's ``host``); default: the host name
    host: str | None = Field(None, min_length=1)
    #: default: detected from what runs (a role whose own services run, docs/node.md)
    roles: list[Role] | None = None
    parts: list[NodePart] = Field(default_factory=lambda: list(NODE_PARTS))
    #: catalog services not expected here even though the roles have them
    ignore: list[str] = Field(default_factory=list)
    #: service -> the TCP ports it listens on here, replacing the catalog's
    ports: dict[str, list[int]] = Field(default_factory=dict)
    thresholds: NodeThresholds = Field(default_factory=NodeThresholds)
    #: only these mount points (default: every real filesystem)
    mounts: list[str] = Field(default_factory=list)
    #: interfaces left out of the network counters (instances' taps and veths churn)
    interfaces_ignored: str = r"^(lo|tap|qvo|qvb|qbr|vnet|veth)"
    #: the kernel log (``/dev/kmsg``) and how far back a disk I/O error counts (seconds)
    kernel_log: Path = Path("/dev/kmsg")
    disk_io_window: float = Field(3600.0, gt=0)
    #: where the host's /proc, /sys and / are (an agent in a container: /host/proc...)
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    rootfs: Path = Path("/")
    #: network nodes: ask this cloud's neutron what the node hosts (``node.dataplane``)
    neutron: NodeNeutronConfig | None = None
    dataplane: DataplaneConfig = Field(default_factory=DataplaneConfig)

    @model_validator(mode="after")
    def _dataplane_needs_neutron(self) -> NodeConfig:
        if "dataplane" in self.parts and self.neutron is None:
            raise ValueError("parts: dataplane compares with what neutron says the node "
                             "hosts: give node.neutron: {cloud: NAME}")
        return self

    def wants_dataplane(self) -> bool:
        """``dataplane`` in ``parts``, or ``parts`` left at its default on a node whose
        configured roles include network and that has ``node.neutron``."""
        if "parts" in self.model_fields_set:
            return "dataplane" in self.parts
        return self.neutron is not None and Role.NETWORK in (self.roles or ())

    @field_validator("ignore")
    @classmethod
    def _known_ignored(cls, value: list[str]) -> list[str]:
        for name in value:
            _catalog_service(name)
        return value

    @field_validator("ports")
    @classmethod
    def _known_ports(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        for name, ports in value.items():
            spec = _catalog_service(name)
            if spec != name:
                raise ValueError(f"{name!r}: write the service's name, {spec!r}")
            bad = [p for p in ports if not 1 <= p <= 65535]
            if bad:
                raise ValueError(f"{name}: {bad[0]} is not a TCP port")
        return value

    @field_validator("interfaces_ignored")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


def _catalog_service(name: str) -> str:
    """The catalog's name for a service name or alias; ValueError naming the unknown."""
    spec = default_catalog().service(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a service of the catalog (catalog/services.yaml)")
    return spec.name
class ServerConfig(_Frozen):
    """What the server accepts from agents (``POST /api/v1/ingest``, docs/agent.md)."""

    accept_agents: bool = False
    #: a push's body at most (bytes): a larger one is refused with 413
    max_push_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=1024 ** 3)
    #: seconds a timestamp may lie ahead of the server's clock (the agents' clocks drift)
    clock_skew: float = Field(300.0, ge=0)


class AutoFix(_Frozen):
    """A fix the server applies by itself once its condition has lasted ``after`` seconds."""

    after: float = Field(300.0, gt=0)


def _check_database_urls(databases: dict[str, str]) -> None:
    """A service database's name and a SQLAlchemy URL, each (the URL never quoted)."""
    for database, url in databases.items():
        if database not in SQL_DATABASES:
            raise ValueError(f"databases: {database}: not a service database "
                             f"({', '.join(SQL_DATABASES)})")
        if "://" not in url:  # never quoted: it holds a password
            raise ValueError(f"databases: {database}: not a SQLAlchemy URL (dialect://...)")


class FixesConfig(_Frozen):
    """What ``stackwatch fix`` and ``POST /api/v1/fix/{name}`` may change (docs/runbooks.md).

    Every fix is off unless named in ``enabled``; a dry run is always allowed."""

    enabled: list[str] = Field(default_factory=list)
    #: fix name -> applied by ``stackwatch server`` itself (audited as ``server``)
    auto: dict[str, AutoFix] = Field(default_factory=dict)
    #: seconds between the server's looks for what ``auto`` fixes should change
    auto_every: float = Field(30.0, gt=0)
    #: seconds a dry run stays the reference an ``--apply`` is checked against
    plan_max_age: float = Field(900.0, gt=0)
    #: local users (besides root) whose ``stackwatch fix --apply`` counts as an operator's
    cli_operators: list[str] = Field(default_factory=list)
    #: service database -> a SQLAlchemy URL of an account that may write (the
    #: ``databases`` of a cloud are read-only accounts); default: the cloud's own
    databases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _auto_enabled(self) -> FixesConfig:
        for name in self.auto:
            if name not in self.enabled:
                raise ValueError(f"auto: {name!r} is not in enabled; a fix the server applies "
                                 "by itself must be enabled too")
        _check_database_urls(self.databases)
        return self


class BackupConfig(_Frozen):
    """Dumps of the service databases (``stackwatch backup``, docs/backups.md).

    With the section present, the ``backup`` source watches the age of the last good
    backup (``backup.age``); ``schedule`` makes the server take them itself."""

    #: the server makes a backup every ``every`` seconds (off: cron runs ``backup run``)
    schedule: bool = False
    every: float = Field(86400.0, gt=0)
    directory: Path = Path("backups")
    #: the databases to dump (default: every MariaDB/MySQL one of the clouds' ``databases``)
    only: list[str] = Field(default_factory=list)
    #: service database -> a SQLAlchemy URL of an account that may dump it (SELECT, SHOW
    #: VIEW, TRIGGER), for every cloud; default: the cloud's own (read-only) URL
    databases: dict[str, str] = Field(default_factory=dict)
    #: server URL (no database) of an account that may create and drop databases named
    #: ``scratch_prefix``...: where ``verify`` restores; default: the dumped database's URL
    scratch_url: str | None = None
    scratch_prefix: str = Field("stackwatch_verify_", pattern=r"^[A-Za-z0-9_]{1,32}$")
    #: keep the newest ``keep_count`` of each database and any younger than ``keep_days``
    keep_count: int = Field(3, ge=1)
    keep_days: float = Field(3.0, ge=0)
    #: a scheduled backup is verified (restored into a scratch database) once made
    verify: bool = True
    #: age of the last good backup past which ``backup.age`` is WARNING, CRITICAL
    warning_age: float = Field(36 * 3600.0, gt=0)
    critical_age: float = Field(72 * 3600.0, gt=0)
    dump_command: str = "mariadb-dump"
    client_command: str = "mariadb"
    timeout: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _valid(self) -> BackupConfig:
        if self.critical_age < self.warning_age:
            raise ValueError("critical_age is below warning_age")
        _check_database_urls(self.databases)
        for database in self.only:
            if database not in SQL_DATABASES:
                raise ValueError(f"only: {database}: not a service database "
                                 f"({', '.join(SQL_DATABASES)})")
        if self.scratch_url is not None and "://" not in self.scratch_url:
            raise ValueError("scratch_url: not a SQLAlchemy URL (dialect://...)")
        return self


class ReportsConfig(_Frozen):
    """The reports the server writes on a schedule (``stackwatch report``, docs/reports.md):
    each of ``kinds`` once its period (UTC day, ISO week, month) is over."""

    schedule: bool = False
    directory: Path = Path("reports")
    kinds: tuple[Literal["daily", "weekly", "monthly"], ...] = ("daily", "weekly", "monthly")
    formats: tuple[Literal["text", "json", "html"], ...] = ("html", "json")
    #: seconds between the server's looks for a report to write
    check_every: float = Field(600.0, gt=0)


class AlarmsConfig(_Frozen):
    """The alarm engine of ``stackwatch server`` (docs/alarms.md)."""

    enabled: bool = True
    #: the operator's alarms, merged over the defaults (catalog/alarms.yaml) by name
    file: Path | None = None
    #: actions of alarms that name none of their own (log://, webhook and
    #: alertmanager+http(s):// URLs)
    actions: list[str] = Field(default_factory=lambda: ["log://"])
    #: tries of one delivery, the first retry's delay (doubling), each try's timeout
    attempts: int = Field(5, ge=1, le=100)
    backoff: float = Field(2.0, gt=0)
    timeout: float = Field(10.0, gt=0)
    #: seconds between posts of the firing alerts to Alertmanager (they expire otherwise)
    refresh: float = Field(60.0, gt=0)

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: list[str]) -> list[str]:
        from stackwatch.alarms.actions import target_of

        for url in value:
            target_of(url)
        return value


#: The transactions of a synthetic run (``stackwatch.synthetic``), in order; ``token``
#: always runs first, the others are chosen by ``synthetic.transactions``.
SyntheticTransaction = Literal["image", "server", "volume", "floating_ip"]
SYNTHETIC_TRANSACTIONS: tuple[SyntheticTransaction, ...] = (
    "image", "server", "volume", "floating_ip")


class SyntheticConfig(_Frozen):
    """Synthetic transactions: the cloud used as a user would (docs/synthetic.md).

    They run in a project of their own, as a member of it (``cloud``: an entry of
    ``clouds.yaml``), on the server's schedule when ``enabled`` and on demand with
    ``stackwatch synthetic run``. Everything they make is named ``<prefix>-<run id>-...``.
    """

    enabled: bool = False
    #: the clouds.yaml entry of a member of the synthetic project (not the monitor's)
    cloud: str = "stackwatch-synthetic"
    clouds_yaml: Path | None = None
    region: str | None = None
    verify_tls: bool = True
    #: seconds between runs on the server's schedule (the source reports the last run's
    #: result at its own interval, ``intervals.synthetic``, 60 s by default, so that its
    #: checks and samples stay as fresh as every other source's)
    interval: float = Field(900.0, gt=0)
    #: what every resource made is named after; leftovers with it are deleted
    prefix: str = Field("stackwatch-synthetic", pattern=r"^[a-z][a-z0-9-]{2,39}$")
    transactions: list[SyntheticTransaction] = Field(
        default_factory=lambda: list(SYNTHETIC_TRANSACTIONS))
    flavor: str = "m1.tiny"
    #: the image booted (name or id); empty: the image the run uploaded
    boot_image: str = ""
    #: the network the server is booted on (name or id), or ``none`` / ``auto``
    network: str = "none"
    #: the external network of the floating IP (name or id); empty: the first external one
    floating_network: str = ""
    volume_size: int = Field(1, ge=1)
    volume_type: str = ""
    #: bytes of the uploaded image (random, so no store deduplicates it)
    image_bytes: int = Field(65536, ge=1, le=1024 ** 3)
    #: step -> seconds at or above which it is WARNING / CRITICAL (over the defaults)
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    #: seconds a wait for a state (active, ACTIVE, available, gone) may take
    wait_timeout: float = Field(300.0, gt=0)
    #: seconds between looks while waiting
    poll: float = Field(1.0, gt=0)
    #: seconds one API request may take
    api_timeout: float = Field(60.0, gt=0)

    @field_validator("thresholds")
    @classmethod
    def _known_steps(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        from stackwatch.synthetic.steps import STEPS

        for name in value:
            if name not in STEPS:
                raise ValueError(f"{name!r} is not a step ({', '.join(STEPS)})")
        return value


class Config(_Frozen):
    """The whole of ``stackwatch.yaml``."""

    clouds: list[CloudConfig] = Field(min_length=1)
    intervals: dict[str, float] = Field(default_factory=dict)
    timeouts: dict[str, float] = Field(default_factory=dict)
    store: StoreConfig = Field(default_factory=StoreConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    #: the node checks of the machine stackwatch runs on (none: not checked)
    node: NodeConfig | None = None
    server: ServerConfig = Field(default_factory=ServerConfig)
    #: on a node: push the sources' runs to a server (``stackwatch agent``)
    agent: AgentConfig | None = None
    #: the fixes of the runbooks that may change the cloud (``stackwatch fix``)
    fixes: FixesConfig = Field(default_factory=FixesConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    #: synthetic transactions (``stackwatch synthetic run``; on the schedule when enabled)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    #: database backups (``stackwatch backup``); None: not watched
    backups: BackupConfig | None = None
    reports: ReportsConfig = Field(default_factory=ReportsConfig)

    @property
    def network_backends(self) -> frozenset[str]:
        """The ML2 backends of the watched clouds (``Catalog.deployed`` takes them)."""
        return frozenset(cloud.network_backend for cloud in self.clouds)

    def interval(self, source_name: str) -> float:
        """Interval for a source: its own name (``api.compute``), then its kind (``api``).

        A cloud prefix (``east/api.compute``, several clouds) is ignored.
        """
        source_name = source_name.rpartition("/")[2]
        if source_name in self.intervals:
            return self.intervals[source_name]
        kind = source_name.split(".", 1)[0]
        return self.intervals.get(kind, DEFAULT_INTERVALS.get(kind, 60.0))

    def timeout(self, source_name: str) -> float:
        """How long one run may take: ``timeouts`` by name, then kind, then
        :data:`DEFAULT_TIMEOUTS` for the kind, else the interval."""
        source_name = source_name.rpartition("/")[2]
        if source_name in self.timeouts:
            return self.timeouts[source_name]
        kind = source_name.split(".", 1)[0]
        if kind in self.timeouts:
            return self.timeouts[kind]
        if kind == "synthetic":  # each wait is bounded; a run waits for at most 8 states
            return self.synthetic.wait_timeout * 8 + 60.0
        return DEFAULT_TIMEOUTS.get(kind, self.interval(source_name))

    @model_validator(mode="after")
    def _node_neutron_cloud(self) -> Config:
        neutron = self.node.neutron if self.node is not None else None
        names = [cloud.name for cloud in self.clouds]
        if neutron is not None and neutron.cloud not in names:
            raise ValueError(f"node.neutron.cloud: {neutron.cloud!r} is not one of clouds: "
                             f"{', '.join(names)}")
        return self

    @field_validator("intervals", "timeouts")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, seconds in value.items():
            if seconds <= 0:
                raise ValueError(f"{name}: {seconds} is not a positive number of seconds")
        return value


def _resolve(base: Path, path: Path | None) -> Path | None:
    if path is None or path.is_absolute():
        return path
    return (base / path).resolve()


def parse_config(
    data: Any, source: str = "stackwatch.yaml", base_dir: Path | None = None
) -> Config:
    """Validate already-loaded YAML data; relative paths are taken from ``base_dir``."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None
    if base_dir is None:
        _files_exist(config.web, source)
        if config.agent is not None:
            config.agent.check_files(source)
        return config
    clouds = [
        cloud.model_copy(update={
            "clouds_yaml": _resolve(base_dir, cloud.clouds_yaml),
            "logs": cloud.logs.model_copy(update={
                "root": _resolve(base_dir, cloud.logs.root),
                "checkpoint_dir": _resolve(base_dir, cloud.logs.checkpoint_dir),
            }),
            "infra": cloud.infra.resolved(base_dir),
        })
        for cloud in config.clouds
    ]
    store = config.store.model_copy(update={"path": _resolve(base_dir, config.store.path)})
    web = config.web.model_copy(update={"tls_cert": _resolve(base_dir, config.web.tls_cert),
                                        "tls_key": _resolve(base_dir, config.web.tls_key)})
    _files_exist(web, source)
    agent = None if config.agent is None else config.agent.resolved(base_dir)
    if agent is not None:
        agent.check_files(source)
    alarms = config.alarms.model_copy(update={"file": _resolve(base_dir, config.alarms.file)})
    synthetic = config.synthetic.model_copy(update={
        "clouds_yaml": _resolve(base_dir, config.synthetic.clouds_yaml)})
    backups = None if config.backups is None else config.backups.model_copy(
        update={"directory": _resolve(base_dir, config.backups.directory)})
    reports = config.reports.model_copy(
        update={"directory": _resolve(base_dir, config.reports.directory)})
    return config.model_copy(update={"clouds": clouds, "store": store, "web": web,
                                     "agent": agent, "alarms": alarms,
                                     "synthetic": synthetic, "backups": backups,
                                     "reports": reports})


def _files_exist(web: WebConfig, source: str) -> None:
    """The certificate and key are there to read (checked at load, not at first use)."""
    for field in ("tls_cert", "tls_key"):
        path: Path | None = getattr(web, field)
        if path is not None and not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"{source}: web.{field}: {path} {what}")


def load_config(path: Path) -> Config:
    """Read and validate a ``stackwatch.yaml``; raise :class:`ConfigError` naming file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path), path.parent.resolve())
