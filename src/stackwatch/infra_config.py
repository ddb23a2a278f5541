"""The ``infra`` section of a cloud in ``stackwatch.yaml``: what infrastructure to check.

Each piece is optional; a piece configured gives one source (``infra.<piece>``,
:mod:`stackwatch.sources.infra`)::

    infra:
      command_timeout: 10                   # seconds for each command run (crm_mon, ceph...)
      rabbitmq:
        url: http://ctl1:15672              # the management plugin's HTTP API
        user: monitor                       # a user with the "monitoring" tag
        password_file: /etc/stackwatch/rabbitmq.password   # or password: ...
      mysql:
        servers:                            # each Galera node on its own
          - {url: "mysql://monitor:secret@ctl1:3306/", host: ctl1}
        expected_cluster_size: 3
      memcached:
        servers: [ctl1:11211, ctl2:11211]
      haproxy:
        instances: [{url: "http://ctl1:1936/;csv", host: ctl1}]    # or {socket: path}
      pacemaker: {}                         # crm_mon --one-shot --output-as=xml
      ceph: {command: [ceph, --id, monitor]}
      glusterfs: {}
      libvirt: {uri: "qemu:///system"}
      ovs: {bridges: [br-int, br-tun, br-ex]}
      swift:                                # storage servers with the recon middleware
        object: [stor1:6200, stor2:6200]    # host:port, or {address: ..., host: ...}
        container: [stor1:6201, stor2:6201]
        account: [stor1:6202, stor2:6202]

Secrets (passwords) are :class:`~pydantic.SecretStr`: they print as ``**********``
and no error message repeats them. A ``*_file`` alternative reads the secret from a
file at start-up (first line), so it need not sit in ``stackwatch.yaml``.
Thresholds are percentages, ``warning`` not above ``critical``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Percent(_Frozen):
    """A warning and a critical threshold, in percent of a limit."""

    warning: float = Field(80.0, gt=0, le=100)
    critical: float = Field(90.0, gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Percent:
        if self.critical < self.warning:
            raise ValueError(f"critical {self.critical:g} is below warning {self.warning:g}")
        return self


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``, or ``host`` alone) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port:
        host, port = value, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port")
    return host, int(port)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL")
    if parts.password is not None or parts.username is not None:
        # a password in a URL ends up in messages and process lists: give it apart
        raise ValueError("must not hold a user or password; use user and password(_file)")
    return value


class _WithPassword(_Frozen):
    """A user and a password given inline or in a file."""

    user: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_password(self) -> _WithPassword:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.user:
            raise ValueError("a password needs a user")
        return self

    def secret(self) -> str | None:
        """The password: inline, or the first line of ``password_file`` (read now)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"password_file {self.password_file}: cannot read: "
                             f"{exc.strerror}") from None
        return text.splitlines()[0] if text else ""


class RabbitMQConfig(_WithPassword):
    """The RabbitMQ management HTTP API (any node of the cluster sees all nodes)."""

    url: str
    verify_tls: bool = True
    timeout: float = Field(10.0, gt=0)
    #: file descriptors and sockets used, in percent of the node's limit
    descriptors: Percent = Field(default_factory=Percent)
    #: nova's compute RPC topic: a ``<topic>.<host>`` queue per nova-compute
    compute_topic: str = Field("compute", min_length=1)
    #: queue name prefix -> service, added to (or overriding) the defaults
    queue_services: dict[str, str] = Field(default_factory=dict)
    #: globs of queues never judged for "messages and no consumers"
    ignore_queues: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class MySQLServer(_Frozen):
    """One MySQL/MariaDB server (one Galera node)."""

    #: ``mysql://user:password@host:port/`` (``mysql+pymysql://`` is taken too); or
    #: ``mysql://host:port/`` with ``defaults_file`` holding the credentials
    url: SecretStr
    #: the node it runs on (the member of the ``mysql`` service); default: the URL's host
    host: str | None = None
    #: a my.cnf-style file with ``[client]`` user/password (Debian's debian.cnf)
    defaults_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _mysql_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme.split("+")[0] not in ("mysql", "mariadb"):
            raise ValueError("is not a mysql:// URL")  # the URL is not repeated: a password
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has a bad port") from None
        return value

    def member(self) -> str:
        """The member name: ``host``, else the URL's host."""
        return self.host or urlsplit(self.url.get_secret_value()).hostname or ""


class MySQLConfig(_Frozen):
    """MySQL/MariaDB with Galera: readiness, cluster, connections, long queries, locks."""

    servers: list[MySQLServer] = Field(min_length=1)
    #: Galera: fewer nodes than this in the cluster is WARNING (0: not judged)
    expected_cluster_size: int = Field(0, ge=0)
    timeout: float = Field(10.0, gt=0)
    connections: Percent = Field(default_factory=Percent)
    #: a statement running this long is WARNING
    long_query_seconds: float = Field(60.0, gt=0)
    #: a transaction waiting this long for a lock is WARNING
    lock_wait_seconds: float = Field(10.0, gt=0)
    #: Galera ``wsrep_flow_control_paused`` (fraction of time replication was paused)
    #: at or above this is WARNING
    flow_control_paused: float = Field(0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _distinct_members(self) -> MySQLConfig:
        _distinct([s.member() for s in self.servers])
        return self


class MemcachedServer(_Frozen):
    """One memcached server."""

    address: str
    host: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        _host_port(value, 11211)
        return value

    def endpoint(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return _host_port(self.address, 11211)

    def member(self) -> str:
        """The member name: ``host``, else the address's host."""
        return self.host or self.endpoint()[0]


class MemcachedConfig(_Frozen):
    """memcached ``stats``: connections, evictions, hit rate."""

    servers: list[MemcachedServer] = Field(min_length=1)
    timeout: float = Field(5.0, gt=0)
    connections: Percent = Field(default_factory=Percent)
    #: evictions since the last run are WARNING (the cache is too small for its keys)
    warn_on_evictions: bool = True

    @field_validator("servers", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        """``host:port`` strings stand for ``{address: host:port}``."""
        if isinstance(value, list):
            return [{"address": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _distinct_members(self) -> MemcachedConfig:
        _distinct([s.member() for s in self.servers])
        return self


class HAProxyInstance(_WithPassword):
    """One HAProxy: its stats page as CSV over HTTP, or its stats socket."""

    url: str | None = None          # e.g. http://ctl1:1936/;csv (``;csv`` added if missing)
    socket: Path | None = None      # e.g. /run/haproxy/admin.sock (``show stat``)
    host: str | None = None
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_way(self) -> HAProxyInstance:
        if (self.url is None) == (self.socket is None):
            raise ValueError("give url or socket (one of them)")
        if self.url is not None:
            _http_url(self.url)
        if self.socket is not None and self.user:
            raise ValueError("the stats socket takes no user")
        return self

    def member(self) -> str:
        """``host``, else the URL's host; empty for a socket without ``host`` (this node)."""
        if self.host:
            return self.host
        return (urlsplit(self.url).hostname or "") if self.url else ""


class HAProxyConfig(_Frozen):
    """HAProxy statistics: frontends, backends and servers up/down, 5xx, queues, sessions."""

    instances: list[HAProxyInstance] = Field(min_length=1)
    timeout: float = Field(10.0, gt=0)
    #: current sessions in percent of the proxy's session limit (slim)
    sessions: Percent = Field(default_factory=lambda: Percent(warning=80, critical=95))
    #: 5xx answers of a backend in percent of its answers since the last run
    http_5xx_percent: float = Field(5.0, gt=0, le=100)
    #: fewer answers than this since the last run: 5xx are not judged (too few to say)
    http_5xx_min_responses: int = Field(20, ge=1)
    #: backend name -> catalog service: its servers are that service's members,
    #: each server's name its host (nova_api: nova-api)
    backends: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct_members(self) -> HAProxyConfig:
        _distinct([i.member() for i in self.instances])
        return self


class CommandConfig(_Frozen):
    """A piece read by running a command on this node."""

    #: the program and its leading arguments (``[ceph, --id, monitor]``)
    command: list[str] = Field(default_factory=list)
    #: the node the command runs on (default: this host's name)
    host: str | None = None

    @field_validator("command")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if value and not value[0].strip():
            raise ValueError("the program is empty")
        return value


class PacemakerConfig(CommandConfig):
    """``crm_mon`` XML: nodes online, quorum, resources, failed actions."""

    command: list[str] = Field(default_factory=lambda: ["crm_mon", "--one-shot",
                                                        "--output-as=xml"])


class CephConfig(CommandConfig):
    """``ceph status``, ``df`` and ``osd tree`` as JSON."""

    command: list[str] = Field(default_factory=lambda: ["ceph"])
    usage: Percent = Field(default_factory=Percent)


class GlusterConfig(CommandConfig):
    """``gluster volume status`` and ``heal info summary`` as XML."""

    command: list[str] = Field(default_factory=lambda: ["gluster"])
    #: volumes to read heal info of (default: every volume the status lists)
    volumes: list[str] = Field(default_factory=list)


class LibvirtConfig(CommandConfig):
    """libvirt's daemon and its domains (libvirt-python when importable, else ``virsh``)."""

    command: list[str] = Field(default_factory=lambda: ["virsh"])
    uri: str = Field("qemu:///system", min_length=1)


class OVSConfig(CommandConfig):
    """Open vSwitch bridges and ports (``ovs-vsctl``)."""

    command: list[str] = Field(default_factory=lambda: ["ovs-vsctl"])
    #: bridges that must exist (default by the cloud's backend: ovs ``br-int``,
    #: ``br-tun``; ovn ``br-int``); add ``br-ex`` on network nodes
    bridges: list[str] | None = None


class SwiftServer(_Frozen):
    """One swift storage server (account, container or object) with the recon middleware."""

    #: ``host:port`` (the port is required: 6200 object, 6201 container, 6202 account
    #: by default in swift, 6010-6040 in a SAIO)
    address: str
    #: the node it runs on (the member of ``swift-<kind>-server``); default: the address's host
    host: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        _host_port(value, 0)  # no default: each kind has its port
        return value

    def endpoint(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return _host_port(self.address, 0)

    def member(self) -> str:
        """The member name: ``host``, else the address's host."""
        return self.host or self.endpoint()[0]


def _swift_servers(value: object) -> object:
    """``host:port`` strings stand for ``{address: host:port}``."""
    if isinstance(value, list):
        return [{"address": v} if isinstance(v, str) else v for v in value]
    return value


class SwiftConfig(_Frozen):
    """Swift's storage servers read through their recon middleware (``GET /recon/...``)."""

    object: list[SwiftServer] = Field(default_factory=list)
    container: list[SwiftServer] = Field(default_factory=list)
    account: list[SwiftServer] = Field(default_factory=list)
    #: seconds for each recon request
    timeout: float = Field(5.0, gt=0)
    #: a device's space used, in percent of its size
    disk_usage: Percent = Field(default_factory=Percent)
    #: the last replication pass longer ago than this (seconds) is WARNING; 0: not judged
    replication_max_age: float = Field(86400.0, ge=0)
    #: false as in the servers' ``mount_check = false`` (devices that are directories,
    #: not mount points: a one-box swift): a device not mounted is not judged
    mount_check: bool = True

    @field_validator("object", "container", "account", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:  # ``object`` is a field here
        return _swift_servers(value)

    @model_validator(mode="after")
    def _some_server(self) -> SwiftConfig:
        if not (self.object or self.container or self.account):
            raise ValueError("list at least one object, container or account server")
        for kind in SWIFT_KINDS:
            _distinct([s.member() for s in getattr(self, kind)])
        return self

    def servers(self) -> list[tuple[str, SwiftServer]]:
        """(kind, server) of every server: the object servers first, then container, account."""
        return [(kind, server) for kind in SWIFT_KINDS for server in getattr(self, kind)]


#: swift's storage server kinds, in the order they are read
SWIFT_KINDS = ("object", "container", "account")


class InfraConfig(_Frozen):
    """The infrastructure pieces to check; none by default."""

    command_timeout: float = Field(10.0, gt=0)
    rabbitmq: RabbitMQConfig | None = None
    mysql: MySQLConfig | None = None
    memcached: MemcachedConfig | None = None
    haproxy: HAProxyConfig | None = None
    pacemaker: PacemakerConfig | None = None
    ceph: CephConfig | None = None
    glusterfs: GlusterConfig | None = None
    libvirt: LibvirtConfig | None = None
    ovs: OVSConfig | None = None
    swift: SwiftConfig | None = None

    def resolved(self, base: Path) -> InfraConfig:
        """Relative file names (password files, sockets, defaults files) taken from ``base``."""
        def fix(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else (base / path).resolve()

        update: dict[str, object] = {}
        if self.rabbitmq is not None:
            update["rabbitmq"] = self.rabbitmq.model_copy(
                update={"password_file": fix(self.rabbitmq.password_file)})
        if self.mysql is not None:
            servers = [s.model_copy(update={"defaults_file": fix(s.defaults_file)})
                       for s in self.mysql.servers]
            update["mysql"] = self.mysql.model_copy(update={"servers": servers})
        if self.haproxy is not None:
            instances = [i.model_copy(update={"password_file": fix(i.password_file),
                                              "socket": fix(i.socket)})
                         for i in self.haproxy.instances]
            update["haproxy"] = self.haproxy.model_copy(update={"instances": instances})
        return self.model_copy(update=update)

    def pieces(self) -> tuple[str, ...]:
        """The configured pieces, in the order above (``rabbitmq``, ``mysql``...)."""
        return tuple(name for name in INFRA_PIECES if getattr(self, name) is not None)


#: every piece, in the order sources are built
INFRA_PIECES = ("rabbitmq", "mysql", "memcached", "haproxy", "pacemaker", "ceph", "glusterfs",
                "libvirt", "ovs", "swift")


def _distinct(members: list[str]) -> None:
    seen = {m for m in members if members.count(m) > 1}
    if seen:
        raise ValueError(f"two entries are the same member ({', '.join(sorted(seen))}): "
                         "give each its host")
