"""The process table and listening sockets of this node, as typed snapshots.

The node checks read them through two callables, so tests replay recorded tables::

    ProcessTable  = () -> Iterable[ProcessInfo]     default: read_processes (psutil)
    ListenerTable = () -> Iterable[Listener]        default: read_listeners (psutil)

psutil's objects never leave this module. A process that exits while it is read
is left out (it is gone); one whose command line cannot be read (a zombie, another
user's under ``hidepid``) keeps an empty one. A listening socket whose process
stackwatch may not see (another user's, stackwatch not root) has ``pid=None``:
the port check then says so rather than guess.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from stackwatch.errors import SourceAuthError, SourceUnavailable

ZOMBIE = "zombie"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as the node checks need it."""

    pid: int
    ppid: int
    name: str                       # psutil's name(): the kernel's comm, or more
    cmdline: tuple[str, ...] = ()
    status: str = "sleeping"        # psutil's status(): running, sleeping, zombie...
    create_time: float = 0.0        # seconds since the epoch
    cpu_seconds: float = 0.0        # user + system
    rss_bytes: int = 0

    @property
    def zombie(self) -> bool:
        return self.status == ZOMBIE

    @property
    def command(self) -> str:
        """The command line as one string (``ps`` shows it so)."""
        return " ".join(self.cmdline)


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening TCP socket or a bound UDP socket, and the process holding it."""

    port: int
    address: str
    protocol: str = "tcp"
    pid: int | None = None          # None: held by a process stackwatch may not see


ProcessTable = Callable[[], Iterable[ProcessInfo]]
ListenerTable = Callable[[], Iterable[Listener]]


def snapshot(proc: psutil.Process) -> ProcessInfo | None:
    """One process read at once (``oneshot``), or ``None`` if it exited meanwhile."""
    try:
        with proc.oneshot():
            name = proc.name()
            status = proc.status()
            try:
                args = proc.cmdline()
            except (psutil.AccessDenied, psutil.ZombieProcess):
                args = []
            while args and not args[-1]:
                args.pop()  # a retitled process (setproctitle) pads its title with NULs
            cmdline = tuple(args)
            try:
                times = proc.cpu_times()
                cpu = times.user + times.system
                rss = proc.memory_info().rss
            except (psutil.AccessDenied, psutil.ZombieProcess):
                cpu, rss = 0.0, 0
            return ProcessInfo(proc.pid, proc.ppid(), name, cmdline, status,
                               proc.create_time(), cpu, rss)
    except psutil.NoSuchProcess:   # exited while read (ZombieProcess is handled above)
        return None
    except psutil.AccessDenied:
        return None                # cannot even read its name: nothing to match it on


def read_processes() -> list[ProcessInfo]:
    """Every process of this node (psutil)."""
    found = []
    for proc in psutil.process_iter():
        info = snapshot(proc)
        if info is not None:
            found.append(info)
    return found


def read_listeners() -> list[Listener]:
    """Every listening TCP and bound, unconnected UDP socket of this node (psutil)."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied as exc:  # macOS and BSD without root; Linux does not raise
        raise SourceAuthError(f"may not list sockets: {exc}") from None
    except OSError as exc:
        raise SourceUnavailable(f"cannot list sockets: {exc}") from None
    found = []
    for conn in connections:
        if not conn.laddr:
            continue
        if conn.type == socket.SOCK_STREAM and conn.status == psutil.CONN_LISTEN:
            protocol = "tcp"
        elif conn.type == socket.SOCK_DGRAM and not conn.raddr:
            protocol = "udp"
        else:
            continue
        found.append(Listener(conn.laddr.port, conn.laddr.ip, protocol, conn.pid))
    return found
