"""Light real processes named like a controller's and a compute node's OpenStack services.

:class:`SimProcesses` starts one small process per service (``nova-api``,
``nova-compute``, ``neutron-l3-agent``, ``keystone``, ``libvirtd``, ..., and the
infrastructure: ``haproxy``, ``memcached``, ``mariadbd``, RabbitMQ's ``beam.smp`` and
``epmd``, ``ovsdb-server``, ``ovs-vswitchd``, ``dnsmasq``), each holding
its service's TCP ports on 127.0.0.1 (the real port plus ``port_offset``: by default
20000, or the next multiple of 1000 under which all are free; 0 keeps the real ones),
so that process and port checks (psutil) see what they would on a real node: the same
process name (``Process.name()``, the kernel's 15-character ``comm`` included: a real
``neutron-dhcp-agent`` shows as ``neutron-dhcp-ag``) and a command line
``<python3> -S <workdir>/procs/usr/bin/nova-api --config-file /etc/nova/nova.conf ...``.
The name comes from the executed script's file name, as for the real console
scripts; no extra dependency. Each process costs ~10 MB, sleeps until killed, and dies
with the simulator (``PR_SET_PDEATHSIG``; of the thread that started it).

Scenario ``process-killed`` (``name``): SIGKILL that service's process (the pid is in
the message); clearing it starts the service again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stackwatch.catalog.loader import Role, default_catalog
from stackwatch.errors import SimulatorError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One service process: its name (``process-killed``'s parameter), arguments, real TCP
    ports, and the executable it runs as when that is not its name."""

    name: str
    args: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    bindir: str = "usr/bin"
    exe: str = ""
    service: str = ""  # the catalog's service (catalog/services.yaml), when not ``name``

    @property
    def executable(self) -> str:
        return self.exe or self.name

    @property
    def catalog_service(self) -> str:
        return self.service or self.name


def _oslo(project: str, name: str, *extra: str) -> tuple[str, ...]:
    return (
        "--config-file",
        f"/etc/{project}/{project}.conf",
        *extra,
        "--log-file",
        f"/var/log/{project}/{name}.log",
    )


# Ports: the OpenStack install guides (as in catalog/services.yaml).
SPECS: tuple[ProcessSpec, ...] = (
    # keystone's WSGI script run directly (pbr's wsgi_scripts serve with --port), as
    # placement-api below: a real keystone has no plain "keystone" process
    ProcessSpec("keystone", ("--port", "5000"), (5000,), exe="keystone-wsgi-public"),
    ProcessSpec("nova-api", _oslo("nova", "nova-api"), (8774, 8775)),
    ProcessSpec("nova-scheduler", _oslo("nova", "nova-scheduler")),
    ProcessSpec("nova-conductor", _oslo("nova", "nova-conductor")),
    ProcessSpec("nova-novncproxy", _oslo("nova", "nova-novncproxy"), (6080,)),
    ProcessSpec("nova-compute", _oslo("nova", "nova-compute")),
    ProcessSpec("placement-api", ("--port", "8778"), (8778,), service="placement"),
    ProcessSpec(
        "neutron-server",
        _oslo("neutron", "server", "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini"),
        (9696,),
    ),
    ProcessSpec(
        "neutron-l3-agent",
        _oslo("neutron", "l3-agent", "--config-file", "/etc/neutron/l3_agent.ini"),
    ),
    ProcessSpec(
        "neutron-dhcp-agent",
        _oslo("neutron", "dhcp-agent", "--config-file", "/etc/neutron/dhcp_agent.ini"),
    ),
    ProcessSpec(
        "neutron-metadata-agent",
        _oslo("neutron", "metadata-agent", "--config-file", "/etc/neutron/metadata_agent.ini"),
    ),
    ProcessSpec(
        "neutron-openvswitch-agent",
        _oslo(
            "neutron",
            "openvswitch-agent",
            "--config-file",
            "/etc/neutron/plugins/ml2/openvswitch_agent.ini",
        ),
    ),
    ProcessSpec("glance-api", _oslo("glance", "api"), (9292,)),
    ProcessSpec("cinder-api", _oslo("cinder", "api"), (8776,)),
    ProcessSpec("cinder-scheduler", _oslo("cinder", "scheduler")),
    ProcessSpec("cinder-volume", _oslo("cinder", "volume")),
    ProcessSpec("libvirtd", ("--listen",), (16509,), bindir="usr/sbin"),
    # infrastructure, as Debian packages run it (names and ports as catalog/services.yaml)
    ProcessSpec(
        "haproxy",
        ("-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid"),
        (1936,),
        bindir="usr/sbin",
    ),
    ProcessSpec(
        "memcached", ("-m", "64", "-p", "11211", "-u", "memcache", "-l", "127.0.0.1"), (11211,)
    ),
    ProcessSpec(
        "mariadbd",
        ("--basedir=/usr", "--datadir=/var/lib/mysql", "--socket=/run/mysqld/mysqld.sock"),
        (3306,),
        bindir="usr/sbin",
        service="mysql",
    ),
    ProcessSpec(
        "beam.smp",
        (
            "-W",
            "w",
            "--",
            "-root",
            "/usr/lib/erlang",
            "-progname",
            "erl",
            "--",
            "-noshell",
            "-noinput",
            "-s",
            "rabbit",
            "boot",
        ),
        (5672, 25672, 15672),
        bindir="usr/lib/erlang/erts-13.1.5/bin",
        service="rabbitmq",
    ),
    ProcessSpec("epmd", ("-daemon",), (4369,), service="rabbitmq"),
    ProcessSpec(
        "ovsdb-server",
        (
            "/etc/openvswitch/conf.db",
            "-vconsole:emer",
            "--remote=punix:/var/run/openvswitch/db.sock",
            "--remote=ptcp:6640:127.0.0.1",
        ),
        (6640,),
        bindir="usr/sbin",
    ),
    ProcessSpec(
        "ovs-vswitchd",
        ("unix:/var/run/openvswitch/db.sock", "-vconsole:emer", "--mlockall"),
        bindir="usr/sbin",
    ),
    ProcessSpec(
        "dnsmasq",
        (
            "--no-hosts",
            "--pid-file=/var/lib/neutron/dhcp/net/pid",
            "--dhcp-range=set:subnet,10.0.0.0,static,255.255.255.0,86400s",
        ),
        bindir="usr/sbin",
    ),
)

# The body of every simulated service: hold the ports given in the environment, die
# with the parent, sleep until signalled. Runs with ``python3 -S`` (no site: ~10 MB).
_BODY = """
import ctypes, os, signal, socket, sys
try:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except OSError:
    pass
if os.getppid() == 1:
    sys.exit(0)
held = []
for port in filter(None, os.environ.get("STACKWATCH_SIM_PORTS", "").split(",")):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(64)
    held.append(s)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
"""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class SimProcesses:
    """The simulated node's service processes (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        *,
        port_offset: int | None = None,
        services: tuple[str, ...] | None = None,
    ) -> None:
        known = {s.name: s for s in SPECS}
        unknown = [n for n in services or () if n not in known]
        if unknown:
            raise SimulatorError(f"unknown simulated process(es): {', '.join(unknown)}")
        self.specs = tuple(known[n] for n in services) if services else SPECS
        self.root = workdir / "procs"
        self.port_offset = self._free_offset() if port_offset is None else port_offset
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: dict[str, int] = {}

    def _free_offset(self) -> int:
        """20000, or the next multiple of 1000 under which every port is free (so that
        several simulators, or a real service on its real port, do not collide)."""
        highest = max((p for spec in self.specs for p in spec.ports), default=0)
        for offset in range(20000, 65536 - highest, 1000):
            if all(_port_free(p + offset) for spec in self.specs for p in spec.ports):
                return offset
        return 20000  # start() then names the ports in use

    def port(self, real: int) -> int:
        """Where a real port is held here."""
        return real + self.port_offset

    @property
    def ports(self) -> dict[str, tuple[int, ...]]:
        """``{service: (port, ...)}`` as held (offset applied)."""
        return {s.name: tuple(self.port(p) for p in s.ports) for s in self.specs}

    @property
    def pids(self) -> dict[str, int]:
        """``{service: pid}`` of the running ones."""
        return {name: p.pid for name, p in self._procs.items() if p.poll() is None}

    def start(self) -> SimProcesses:
        """Write the executables and start every process; raises if a port is taken."""
        too_high = [
            f"{s.name}:{self.port(p)}"
            for s in self.specs
            for p in s.ports
            if not 0 < self.port(p) < 65536
        ]
        if too_high:
            raise SimulatorError(
                f"port offset {self.port_offset} gives invalid ports: {', '.join(too_high)}"
            )
        taken = [
            f"{s.name}:{self.port(p)}"
            for s in self.specs
            for p in s.ports
            if not _port_free(self.port(p))
        ]
        if taken:
            raise SimulatorError(
                f"ports in use, cannot start the simulated processes: "
                f"{', '.join(taken)} (choose another port offset)"
            )
        for spec in self.specs:
            self._write(spec)
        try:
            for spec in self.specs:
                self._spawn(spec)
            self._wait_ready(self.specs)
        except BaseException:
            self.close()
            raise
        return self

    def _exe(self, spec: ProcessSpec) -> Path:
        return self.root / spec.bindir / spec.executable

    def _write(self, spec: ProcessSpec) -> None:
        exe = self._exe(spec)
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(f"#!{sys.executable} -S\n{_BODY}")
        exe.chmod(0o755)

    def _spawn(self, spec: ProcessSpec) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "STACKWATCH_SIM_PORTS": ",".join(str(self.port(p)) for p in spec.ports),
        }
        self._procs[spec.name] = subprocess.Popen(
            [str(self._exe(spec)), *spec.args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )

    def _wait_ready(self, specs: tuple[ProcessSpec, ...], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [(s.name, self.port(p)) for s in specs for p in s.ports]
        while pending:
            for name, _ in pending:
                proc = self._procs[name]
                if proc.poll() is not None:
                    raise SimulatorError(f"simulated process {name} exited with {proc.returncode}")
            pending = [(n, p) for n, p in pending if not _listening(p)]
            if pending and time.monotonic() > deadline:
                raise SimulatorError(f"simulated processes not listening: {pending}")
            if pending:
                time.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill one service's process; returns its pid."""
        proc = self._procs.get(name)
        if proc is None or proc.poll() is not None:
            raise SimulatorError(
                f"no running simulated process {name!r} "
                f"(running: {', '.join(sorted(self.pids)) or 'none'})"
            )
        proc.send_signal(sig)
        proc.wait(timeout=10)
        self.killed[name] = proc.pid
        return proc.pid

    def restart(self, name: str) -> int:
        """Start one service's process again; returns the new pid."""
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None:
            raise SimulatorError(f"unknown simulated process {name!r}")
        old = self._procs.get(name)
        if old is not None and old.poll() is None:
            return old.pid
        self._spawn(spec)
        self._wait_ready((spec,))
        self.killed.pop(name, None)
        return self._procs[name].pid

    def close(self) -> None:
        """Stop every process this object started."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self._procs.clear()

    stop = close

    def node_section(self, host: str) -> dict[str, object]:
        """The ``node:`` section of a ``stackwatch.yaml`` checking these processes as the
        node ``host``: its roles, the ports as held here (offset), and the catalog
        services of those roles that are not simulated left out (``ignore``)."""
        catalog = default_catalog().deployed(["ovs"])  # the simulated neutron's agents
        roles = {Role.CONTROLLER, Role.COMPUTE, Role.NETWORK}
        ports: dict[str, list[int]] = {}
        for spec in self.specs:
            if spec.ports:
                ports.setdefault(spec.catalog_service, []).extend(
                    self.port(p) for p in spec.ports)
        simulated = {spec.catalog_service for spec in self.specs}
        ignore = [s.name for s in catalog.services if roles.intersection(s.roles)
                  and catalog.expects(s) and s.name not in simulated]
        # the simulated cinder API reports cinder-volume on storage-1@lvm, another node:
        # this one's process would be a second active member of an active/passive service
        ignore.append("cinder-volume")
        return {"host": host, "roles": sorted(role.value for role in roles),
                "ignore": ignore, "ports": {k: sorted(v) for k, v in sorted(ports.items())}}

    # ------------------------------------------------------------------ scenario

    def inject(self, name: str, params: Mapping[str, str]) -> str:
        if name != "process-killed":
            raise SimulatorError(f"the simulated processes know no scenario {name!r}")
        target = params.get("name", "nova-compute")
        pid = self.kill(target)
        return f"process-killed: {target} (pid {pid}) killed with SIGKILL"

    def clear(self, name: str) -> str:
        if name != "process-killed":
            raise SimulatorError(f"the simulated processes know no scenario {name!r}")
        started = {n: self.restart(n) for n in list(self.killed)}
        return "process-killed: restarted " + (
            ", ".join(f"{n} (pid {p})" for n, p in started.items()) or "nothing"
        )
