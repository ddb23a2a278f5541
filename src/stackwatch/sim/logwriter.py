"""The simulated cloud's log directory, laid out and written like a real controller's.

:class:`LogWriter` owns ``<log_dir>``::

    nova/nova-api.log  nova/nova-compute.log  nova/nova-scheduler.log  nova/nova-conductor.log
    keystone/keystone.log  apache2/keystone_access.log  placement/placement-api.log
    neutron/server.log  glance/api.log  cinder/api.log  cinder/volume.log
    haproxy/haproxy.log  libvirt/libvirtd.log
    swift/proxy-server.log             (with the optional services: ``optional=True``)

Every request the simulated API serves (``on_request``) becomes the lines the real
services would write for it, with its request id: nova's ``requestlog``, keystone's
Apache access line, neutron's and cinder's eventlet wsgi lines, glance's eventlet
default line, placement's ``requestlog``, swift's ``proxy_logging`` line (through
rsyslog, with the subrequests its middlewares make: the object PUT's account and
container HEADs by ``versioned_writes``), and an HAProxy line in front of each; errors
add the WARNING/ERROR records (with tracebacks) the real services print. State
changes (``on_change``) add the service-side records: nova-compute builds and
deletes, the conductor's NoValidHost traceback, libvirt errors, cinder-volume errors.
The traffic generator (:mod:`stackwatch.sim.traffic`) feeds ``on_request`` too.

Scenarios (``inject``/``clear``, called by :mod:`stackwatch.sim.faults`):
``auth-401-storm`` (``source``, ``count``, ``seconds``: the failed logins are
spread over that many seconds before now, 0.2 s apart by default) and
``api-5xx-burst`` (``service``, ``count``, ``status``). Formatting is in
:mod:`stackwatch.sim.logformat` (pure).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from stackwatch.errors import SimulatorError
from stackwatch.sim import logformat as lf
from stackwatch.sim import records as r
from stackwatch.sim.events import Change, ChangeKind, ServedRequest
from stackwatch.sim.state import CloudState
from stackwatch.sim.workdir import LOG_HOST

log = logging.getLogger(__name__)

FILES = {
    "nova-api": "nova/nova-api.log",
    "nova-compute": "nova/nova-compute.log",
    "nova-scheduler": "nova/nova-scheduler.log",
    "nova-conductor": "nova/nova-conductor.log",
    "keystone": "keystone/keystone.log",
    "keystone-access": "apache2/keystone_access.log",
    "placement": "placement/placement-api.log",
    "neutron": "neutron/server.log",
    "glance": "glance/api.log",
    "cinder-api": "cinder/api.log",
    "cinder-volume": "cinder/volume.log",
    "haproxy": "haproxy/haproxy.log",
    "libvirt": "libvirt/libvirtd.log",
}

#: logs of the optional services (``LogWriter(optional=True)``)
OPTIONAL_FILES = {"swift-proxy": "swift/proxy-server.log"}

# kolla-ansible's HAProxy frontend/backend names per service type.
HAPROXY = {
    "identity": "keystone_internal",
    "compute": "nova_api",
    "placement": "placement_api",
    "network": "neutron_server",
    "image": "glance_api",
    "block-storage": "cinder_api",
}
SERVICES = tuple(HAPROXY)
OPTIONAL_HAPROXY = {"object-store": "swift_proxy_server"}
PY = "/usr/lib/python3/dist-packages"
UNAUTHORIZED = "The request you have made requires authentication."
FORBIDDEN = "You are not authorized to perform the requested action: identity:list_users."
UNEXPECTED = "An unexpected error prevented the server from fulfilling your request."
# Harmless ERROR a real neutron-server prints at every start (reference neutron-server.log).
NEUTRON_EXTENSIONS = (
    "Unable to process extensions (auto-allocated-topology) because the configured plugins "
    "do not satisfy their requirements. Some features will not work as expected."
)
NO_VALID_HOST_REMOTE = "nova.exception_Remote.NoValidHost_Remote"
NO_CANDIDATES = (
    "Got no allocation candidates from the Placement API. This could be due to insufficient "
    "resources or a temporary occurrence as compute nodes start up."
)
DEPRECATED_POLICIES = (
    "Deprecated policy rules found. Use oslopolicy-policy-generator and "
    "oslopolicy-policy-upgrade to detect and resolve deprecated policies in your configuration."
)
LIBVIRT_VERSION = "9.0.0, package: 9.0.0-4+deb12u2 (Debian)"
VOLUME_BACKEND_ERROR = (
    "cinder.exception.VolumeBackendAPIException: Bad or unexpected response from the storage "
    "volume backend API"
)
AGENTS_HEADER = "                Type       Last heartbeat host"
MONITOR_RESET = "Unable to read from monitor: Connection reset by peer"


@dataclass(frozen=True, slots=True)
class _Lines:
    """Lines for one file, written together."""

    file: str
    lines: tuple[str, ...]


def _ctx(request_id: str | None, user_id: str | None, project_id: str | None) -> lf.Context:
    if request_id is None:
        return lf.NO_CONTEXT
    return lf.Context(request_id=request_id, user_id=user_id, project_id=project_id)


def _path(served: ServedRequest) -> str:
    return f"{served.path}?{served.query}" if served.query else served.path


class _RequestLog:
    """Collects the lines of one served request, file by file (see :func:`request_lines`)."""

    def __init__(self, served: ServedRequest, pids: Mapping[str, int], host: str) -> None:
        self.served, self.pids, self.host = served, pids, host
        self.end = served.time + timedelta(seconds=served.duration)
        self.ctx = _ctx(served.request_id, served.user_id, served.project_id)
        self.path = _path(served)
        self.out: dict[str, list[str]] = {}

    def add(self, file: str, *lines: str) -> None:
        self.out.setdefault(file, []).extend(lines)

    def oslo(
        self, file: str, level: str, logger: str, message: str, *,
        at: datetime | None = None, ctx: lf.Context | None = None,
        detail: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """One oslo.log record in ``file`` (by the process of that name), with its
        traceback lines when ``detail`` is given."""
        t, c, pid = at or self.end, ctx or self.ctx, self.pids[file]
        if detail:
            self.add(file, *lf.oslo_block(t, pid, level, logger, message, c, detail))
        else:
            self.add(file, lf.oslo_line(t, pid, level, logger, message, c))

    def eventlet(self) -> str:
        s = self.served
        return lf.eventlet_message(s.remote_addr, s.method, self.path, s.status, s.length,
                                   s.duration)  # fmt: skip

    def requestlog(self, microversion: str | None, seconds: float | None) -> str:
        s = self.served
        return lf.requestlog_message(s.remote_addr, s.method, self.path, s.status, s.length,
                                     microversion, seconds)  # fmt: skip


def _compute(r: _RequestLog) -> None:
    status = r.served.status
    if status >= 500:
        r.oslo("nova-api", "ERROR", "nova.api.openstack.wsgi", "Unexpected exception in API method",
               detail=_api_traceback("nova", status))  # fmt: skip
    elif status in (400, 404, 409):
        r.oslo("nova-api", "INFO", "nova.api.openstack.wsgi",
               f"HTTP exception thrown: {_reason(status)}")  # fmt: skip
    r.oslo("nova-api", "INFO", "nova.api.openstack.requestlog",
           r.requestlog(r.served.microversion, r.served.duration))  # fmt: skip


def _placement(r: _RequestLog) -> None:
    r.oslo("placement", "INFO", "placement.requestlog",
           r.requestlog(r.served.microversion or "1.0", None))  # fmt: skip


def _identity(r: _RequestLog) -> None:
    s = r.served
    r.add("keystone-access", lf.access_line(
        s.remote_addr, s.time, s.method, r.path, s.status, s.length,
        s.user_agent or "python-requests/2.32.5", s.duration))  # fmt: skip
    app = "keystone.server.flask.application"
    if s.status == 401:
        r.oslo("keystone", "WARNING", app,
               f"Authorization failed. {UNAUTHORIZED} from {s.remote_addr}: "
               f"keystone.exception.Unauthorized: {UNAUTHORIZED}",
               ctx=_ctx(s.request_id, None, None))  # fmt: skip
    elif s.status == 403:
        error = f"keystone.exception.ForbiddenAction: {FORBIDDEN}"
        r.oslo("keystone", "ERROR", app, f"{FORBIDDEN}: {error}", detail=[error])
    elif s.status >= 500:
        r.oslo("keystone", "ERROR", app, UNEXPECTED,
               detail=_api_traceback("keystone", s.status))  # fmt: skip


def _network(r: _RequestLog) -> None:
    s = r.served
    if s.status >= 500:
        r.oslo("neutron", "ERROR", "neutron.pecan_wsgi.hooks.translation",
               f"{s.method} failed.", detail=_api_traceback("neutron", s.status))  # fmt: skip
    r.oslo("neutron", "INFO", "neutron.wsgi", r.eventlet())


def _image(r: _RequestLog) -> None:
    s = r.served
    if s.status >= 500:
        r.oslo("glance", "ERROR", "glance.common.wsgi", "Caught error: Internal Server Error",
               detail=_api_traceback("glance", s.status))  # fmt: skip
    r.oslo("glance", "INFO", "eventlet.wsgi.server", lf.eventlet_default_message(
        s.remote_addr, r.end, s.method, r.path, s.status, s.length, s.duration))  # fmt: skip


def _block_storage(r: _RequestLog) -> None:
    s = r.served
    url = f"http://{r.host}:8776{r.path}"
    wsgi = "cinder.api.openstack.wsgi"
    r.oslo("cinder-api", "INFO", wsgi, f"{s.method} {url}", at=s.time)
    if s.status >= 500:
        r.oslo("cinder-api", "ERROR", "cinder.api.middleware.fault",
               "Caught error: <class 'Exception'> Internal error",
               detail=_api_traceback("cinder", s.status))  # fmt: skip
    r.oslo("cinder-api", "INFO", wsgi, f"{url} returned with HTTP {s.status}")
    r.oslo("cinder-api", "INFO", "eventlet.wsgi.server", r.eventlet())


def _swift_ids(request_id: str, end: float) -> tuple[str, str]:
    """swift's transaction id (``tx`` + 21 hex + ``-`` + the hex epoch) and a token's
    shown prefix (``reveal_sensitive_prefix``: 16 characters), made up from the request
    id: no real token is ever written."""
    hexa = request_id.removeprefix("req-").replace("-", "")
    return f"tx{hexa[:21]}-{int(end):010x}", f"gAAAAABp{hexa[21:29]}..."


def _object_store(r: _RequestLog) -> None:
    s = r.served
    end = r.end.timestamp()
    start = s.time.timestamp()
    txn, token = _swift_ids(s.request_id, end)
    parts = s.path.split("/", 4)  # '', 'v1', 'AUTH_x', container, object
    policy = "0" if len(parts) > 3 and parts[3] else "-"
    if s.method == "PUT" and len(parts) == 5 and parts[4]:
        # versioned_writes asks for the account's and the container's info first
        for i, sub in enumerate(("/".join(parts[:3]), "/".join(parts[:4]))):
            at = start + 0.002 * (i + 1)
            r.add("swift-proxy", lf.swift_proxy_line(r.host, lf.SwiftRequest(
                "-", "HEAD", sub, 204, "Swift", "-", 0, 0, txn, at, at + 0.004, "VW",
                "0" if i else "-")))
    if s.status >= 500:
        r.add("swift-proxy", lf.swift_proxy_text(
            r.end, r.host, f"ERROR with Object server 10.0.0.21:6200/sdb1 re: Trying to "
            f"{s.method} {s.path}: ConnectionTimeout (0.5s) (txn: {txn})"))
    received = int(s.extra.get("bytes_recvd", "0"))
    r.add("swift-proxy", lf.swift_proxy_line(r.host, lf.SwiftRequest(
        s.remote_addr, s.method, r.path, s.status, s.user_agent or "-", token, received,
        s.length, txn, start, end, "-", policy, s.user_id or "-")))


_BY_SERVICE: dict[str, Callable[[_RequestLog], None]] = {
    "compute": _compute, "placement": _placement, "identity": _identity,
    "network": _network, "image": _image, "block-storage": _block_storage,
    "object-store": _object_store,
}  # fmt: skip


def request_lines(served: ServedRequest, pids: Mapping[str, int], host: str) -> list[_Lines]:
    """The lines real services write for one served request (pure: no clock, no I/O):
    the service's own log, then the HAProxy line in front of it."""
    r = _RequestLog(served, pids, host)
    builder = _BY_SERVICE.get(served.service)
    if builder is not None:
        builder(r)
    front = HAPROXY.get(served.service) or OPTIONAL_HAPROXY.get(served.service)
    if front is not None:
        ms = max(0, round(served.duration * 1000))
        port = 30000 + (hash(served.request_id) % 30000)
        r.add("haproxy", lf.haproxy_line(
            served.time, host, pids["haproxy"], served.remote_addr, port, f"{front}_front",
            f"{front}_back", host, (0, 0, 0, ms, ms + 1), served.status, served.length,
            served.method, r.path))  # fmt: skip
    return [_Lines(file, tuple(lines)) for file, lines in r.out.items()]


def _reason(status: int) -> str:
    return {
        400: "Invalid input for field/attribute.",
        404: "Instance could not be found.",
        409: "Cannot 'reboot' instance while it is in task_state reboot_started",
    }.get(status, "Error")


def _api_traceback(service: str, status: int) -> list[str]:
    """A short, real-shaped traceback for an API error (a backend that went away)."""
    frames = [
        (
            f"{PY}/{service}/api/openstack/wsgi.py"
            if service in ("nova", "cinder")
            else f"{PY}/{service}/api/v2/resource.py",
            658,
            "wrapped",
            "return f(*args, **kwargs)",
        ),
        (
            f"{PY}/oslo_db/sqlalchemy/engines.py",
            73,
            "_connect_ping_listener",
            "connection.scalar(select(1))",
        ),
    ]
    error = (
        "oslo_db.exception.DBConnectionError: (pymysql.err.OperationalError) (2013, "
        "'Lost connection to MySQL server during query')"
    )
    if status == 503:
        error = "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply"
    return lf.traceback_lines(frames, error)


class LogWriter:
    """Writes the node's logs (see the module docstring). Thread-safe."""

    def __init__(
        self,
        log_dir: Path,
        state: CloudState,
        *,
        host: str = LOG_HOST,
        seed: int = 1,
        periodic_every: float = 30.0,
        optional: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.state = state
        self.host = host
        self.periodic_every = periodic_every
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.rng = random.Random(seed)
        self.seed = seed
        self.pids = {name: 1000 + self.rng.randrange(30000) for name in FILES}
        # the core logs' lines stay the same with the optional ones (another generator)
        self.files = {**FILES, **(OPTIONAL_FILES if optional else {})}
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()
        self.storm_source: str | None = None
        self.lines_written = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, now: datetime | None = None) -> LogWriter:
        """Create the layout and write each service's start-up lines."""
        try:
            for name, rel in self.files.items():
                path = self.log_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                self._files[name] = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise SimulatorError(
                f"cannot write the simulated logs under {self.log_dir}: {exc}"
            ) from None
        self._startup(now or datetime.now(UTC))
        if self.periodic_every > 0:
            self._ticker = threading.Thread(target=self._tick, name="sim-logs", daemon=True)
            self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(self.periodic_every):
            try:
                self.periodic(datetime.now(UTC))
            except Exception:  # a bad tick must not end the periodic lines
                log.exception("periodic log lines failed")

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
            self._ticker = None
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()

    def path(self, name: str) -> Path:
        """The file of one log (``"nova-api"``, ``"keystone-access"``, ...)."""
        return self.log_dir / self.files[name]

    def write(self, name: str, lines: list[str] | tuple[str, ...]) -> None:
        """Append lines to one log, in one write."""
        if not lines:
            return
        with self._lock:
            f = self._files.get(name)
            if f is None:
                return
            f.write("\n".join(lines) + "\n")
            self.lines_written += len(lines)

    def _emit(self, batches: list[_Lines]) -> None:
        for b in batches:
            self.write(b.file, b.lines)

    def record(
        self, file: str, t: datetime, level: str, logger: str, message: str,
        ctx: lf.Context = lf.NO_CONTEXT, instance: str | None = None, detail: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """Append one oslo.log record to ``file`` (written by the process of that name)."""
        pid = self.pids[file]
        if detail:
            self.write(file, lf.oslo_block(t, pid, level, logger, message, ctx, detail, instance))
        else:
            self.write(file, [lf.oslo_line(t, pid, level, logger, message, ctx, instance)])

    def _startup(self, now: datetime) -> None:
        boot = [
            ("nova-api", "nova.api.openstack", "Loaded extensions: ['servers', ...]"),
            ("nova-compute", "nova.service", "Starting compute node (version 33.0.2)"),
            ("nova-scheduler", "nova.service", "Starting scheduler node (version 33.0.2)"),
            ("nova-conductor", "nova.service", "Starting conductor node (version 33.0.2)"),
            ("cinder-volume", "cinder.volume.manager",
             "Starting volume driver LVMVolumeDriver (3.0.0)"),
        ]  # fmt: skip
        for name, logger, msg in boot:
            self.record(name, now, "INFO", logger, msg)
        internal = lf.Context(request_id=f"req-{self._uuid()}")
        self.record("neutron", now, "ERROR", "neutron.api.extensions", NEUTRON_EXTENSIONS,
                    internal)  # fmt: skip
        self.record("keystone", now, "WARNING", "keystone.common.rbac_enforcer.enforcer",
                    DEPRECATED_POLICIES, internal)  # fmt: skip
        self.write("libvirt", [lf.libvirt_line(now, self.pids["libvirt"], "info",
                                               "libvirt version", LIBVIRT_VERSION)])  # fmt: skip
        if "swift-proxy" in self.files:
            parent = 900 + self.seed % 100
            self.write("swift-proxy", [lf.swift_proxy_text(
                now, self.host, f"Started child {parent + 1 + i} from parent {parent}")
                for i in range(2)])

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    # ------------------------------------------------------------------ feeds

    def on_request(self, served: ServedRequest) -> None:
        """``on_request`` hook: log one served request the way the real services do."""
        self._emit(request_lines(served, self.pids, self.host))

    def on_change(self, change: Change) -> None:
        """Change subscriber: the service-side records of lifecycle changes."""
        if change.resource == "server":
            self._server_change(change)
        elif change.resource == "volume" and change.after is not None:
            v: r.Volume = change.after
            before = change.before.status if change.before is not None else None
            if v.status in ("error", "error_deleting") and before != v.status:
                self._volume_error(change, v)

    def _server_change(self, c: Change) -> None:
        t = c.time
        ctx = _ctx(c.request_id, c.user_id, c.project_id)
        s: r.Server = c.record
        before: r.Server | None = c.before
        if c.kind is ChangeKind.DELETED:
            took = f"Took {self.rng.uniform(0.3, 1.5):.2f} seconds to destroy the instance on "
            self.record("nova-compute", t, "INFO", "nova.virt.libvirt.driver",
                        "Instance destroyed successfully.", ctx, s.id)  # fmt: skip
            self.record("nova-compute", t, "INFO", "nova.compute.manager",
                        took + "the hypervisor.", ctx, s.id)  # fmt: skip
            return
        if before is None:
            return
        if before.vm_state == "building" and s.vm_state == "active":
            took = f"Took {self.rng.uniform(4, 25):.2f} seconds to build instance."
            self.record("nova-compute", t, "INFO", "nova.compute.claims",
                        f"Claim successful on node {s.node}", ctx, s.id)  # fmt: skip
            self.record("nova-compute", t, "INFO", "nova.virt.libvirt.driver",
                        "Instance spawned successfully.", ctx, s.id)  # fmt: skip
            self.record("nova-compute", t, "INFO", "nova.compute.manager", took, ctx, s.id)
        elif s.vm_state == "error" and before.vm_state != "error" and s.fault is not None:
            detail = s.fault.details.rstrip("\n").split("\n")
            message = s.fault.message
            if s.cell == "cell0" or s.host is None:
                # as recorded: scheduler, then the conductor's traceback and warnings
                self.record("nova-scheduler", t, "INFO", "nova.scheduler.manager",
                            NO_CANDIDATES, ctx)  # fmt: skip
                self.record("nova-conductor", t, "ERROR", "nova.conductor.manager",
                            f"Failed to schedule instances: {NO_VALID_HOST_REMOTE}: {message}",
                            ctx, detail=detail)  # fmt: skip
                self.record("nova-conductor", t, "WARNING", "nova.scheduler.utils",
                            f"Failed to compute_task_build_instances: {message}", ctx)  # fmt: skip
                self.record("nova-conductor", t, "WARNING", "nova.scheduler.utils",
                            f"Setting instance to ERROR state.: {NO_VALID_HOST_REMOTE}: "
                            f"{message}", ctx, s.id)  # fmt: skip
                return
            self.record("nova-compute", t, "ERROR", "nova.compute.manager",
                        f"Setting instance vm_state to ERROR: {message}", ctx, s.id,
                        detail)  # fmt: skip
            if "monitor" in message or "libvirt" in s.fault.details:
                self.write("libvirt", [lf.libvirt_line(
                    t, self.pids["libvirt"], "error", "qemuMonitorIORead:614",
                    f"{MONITOR_RESET} ({s.instance_name})")])  # fmt: skip

    def _volume_error(self, c: Change, v: r.Volume) -> None:
        deleting = v.status == "error_deleting"
        frame = (f"{PY}/cinder/volume/manager.py", 1042, "delete_volume",
                 "self.driver.delete_volume(volume)")  # fmt: skip
        error = (f"cinder.exception.VolumeIsBusy: deleting volume volume-{v.id} that has snapshot"
                 if deleting else VOLUME_BACKEND_ERROR)  # fmt: skip
        message = "Unable to delete busy volume." if deleting else f"Volume {v.id}: create failed"
        self.record("cinder-volume", c.time, "ERROR", "cinder.volume.manager", message,
                    _ctx(c.request_id, c.user_id, c.project_id),
                    detail=lf.traceback_lines([frame], error))  # fmt: skip

    def periodic(self, now: datetime) -> None:
        """What services log on their own every minute or so (resource audit, dead agents)."""
        internal = lf.Context(request_id=f"req-{self._uuid()}")
        try:
            hypervisors = list(self.state.hypervisors)
            agents = list(self.state.agents)
        except RuntimeError:  # the loop thread changed a table while we copied it
            return
        if hypervisors:
            h = self.rng.choice(hypervisors)
            self.record("nova-compute", now, "INFO", "nova.compute.resource_tracker",
                        f"Final resource view: name={h.hypervisor_hostname} "
                        f"phys_ram={h.memory_mb}MB "
                        f"used_ram={h.memory_mb_used + h.reserved_host_memory_mb}MB "
                        f"phys_disk={h.local_gb}GB used_disk={h.local_gb_used}GB "
                        f"total_vcpus={h.vcpus} used_vcpus={h.vcpus_used} pci_stats=[]",
                        internal)  # fmt: skip
        dead = [a for a in agents if not a.is_alive(now)]
        if dead:
            rows = [f"{a.agent_type:>20} {a.heartbeat_timestamp:%Y-%m-%d %H:%M:%S} {a.host}"
                    for a in dead[:20]]  # fmt: skip
            self.record("neutron", now, "WARNING", "neutron.db.agents_db",
                        f"Agent healthcheck: found {len(dead)} dead agents out of {len(agents)}:",
                        detail=[AGENTS_HEADER, *rows])  # fmt: skip

    # ------------------------------------------------------------------ scenarios

    def inject(self, name: str, params: Mapping[str, str]) -> str:
        """``auth-401-storm`` or ``api-5xx-burst`` (see the module docstring)."""
        now = datetime.now(UTC)
        count = int(params.get("count", "500" if name == "auth-401-storm" else "50"))
        if name == "auth-401-storm":
            source = params.get("source", "203.0.113.50")
            spread = params.get("seconds") or ""
            try:
                step = float(spread) / count if spread and count else 0.2
            except ValueError:
                raise SimulatorError(f"auth-401-storm: seconds must be a number, not "
                                     f"{spread!r}") from None
            if step < 0:
                raise SimulatorError("auth-401-storm: seconds must be >= 0")
            self.storm_source = source
            for i in range(count):
                t = now - timedelta(seconds=(count - i) * step)
                self.on_request(self.auth_failure(source, t))
            return (f"auth-401-storm: {count} failed logins from {source} in keystone's logs "
                    f"over the last {count * step:g} s")
        if name == "api-5xx-burst":
            service = params.get("service", "compute")
            if service not in HAPROXY:
                raise SimulatorError(
                    f"api-5xx-burst: unknown service {service!r} (one of {', '.join(SERVICES)})"
                )
            status = int(params.get("status", "500"))
            from stackwatch.sim import traffic

            gen = traffic.TrafficGenerator(self, self.state, seed=self.rng.randrange(1 << 30))
            for i in range(count):
                served = gen.make_request(service=service)
                t = now - timedelta(seconds=(count - i) * 0.1)
                self.on_request(replace(served, status=status, time=t, length=224))
            return f"api-5xx-burst: {count} answers {status} from {service} in its logs"
        raise SimulatorError(f"the log writer knows no scenario {name!r}")

    def clear(self, name: str) -> str:
        if name == "auth-401-storm":
            self.storm_source = None
            return "auth-401-storm: storm stopped"
        if name == "api-5xx-burst":
            return "api-5xx-burst: a burst ends by itself"
        raise SimulatorError(f"the log writer knows no scenario {name!r}")

    def auth_failure(self, source: str, t: datetime) -> ServedRequest:
        """A ``POST /v3/auth/tokens`` answered 401 (wrong password) from ``source``."""
        return ServedRequest(
            service="identity",
            method="POST",
            path="/v3/auth/tokens",
            status=401,
            length=109,
            duration=self.rng.uniform(0.25, 0.45),
            request_id=f"req-{self._uuid()}",
            user_id=None,
            project_id=None,
            remote_addr=source,
            microversion=None,
            time=t,
            user_agent="python-requests/2.32.5",
        )
