"""The process table and listening sockets of this node, as typed snapshots.

The node checks read them through two callables, so tests replay recorded tables::

    ProcessTable  = () -> Iterable[ProcessInfo]     default: read_processes (psutil)
    ListenerTable = () -> Iterable[Listener]        default: read_listeners (/proc)

psutil's objects never leave this module. A process that exits while it is read
is left out (it is gone); one whose command line cannot be read (a zombie, another
user's under ``hidepid``) keeps an empty one. The listening sockets come from the
kernel's socket diagnostics (netlink), their holders from the processes' descriptors
(:func:`read_listeners`); one whose process stackwatch may not see (another user's,
stackwatch not root) has ``pid=None``: the port check then says so rather than guess.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from stackwatch.errors import SourceUnavailable

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


Cmdlines = dict[tuple[int, float], tuple[str, ...]]


def snapshot(proc: psutil.Process, cmdlines: Cmdlines | None = None) -> ProcessInfo | None:
    """One process read at once (``oneshot``), or ``None`` if it exited meanwhile.

    ``cmdlines``: command lines already read, by pid and start time (a process's is
    read once, not at every run)."""
    try:
        with proc.oneshot():
            name = proc.name()
            status = proc.status()
            known = None if cmdlines is None else cmdlines.get((proc.pid, proc.create_time()))
            if known is not None:
                cmdline = known
            else:
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


#: seconds after its start a process's command line is taken as final
SETTLED_S = 30.0


class ProcessReader:
    """Reads every process of this node (psutil), each one's command line only once.

    Most of a read's cost is the command lines (``/proc/<pid>/cmdline``, one open and
    read each); they are kept by pid and start time while the process lives, once it is
    :data:`SETTLED_S` old (a new process may still retitle itself: gunicorn's workers,
    setproctitle)."""

    def __init__(self, settled_after: float = SETTLED_S) -> None:
        self._settled_after = settled_after
        self._lock = threading.Lock()
        self._cmdlines: Cmdlines = {}

    def __call__(self) -> list[ProcessInfo]:
        with self._lock:
            found = []
            for proc in psutil.process_iter():
                info = snapshot(proc, self._cmdlines)
                if info is not None:
                    found.append(info)
            settled = time.time() - self._settled_after
            self._cmdlines = {(i.pid, i.create_time): i.cmdline for i in found
                              if i.cmdline and i.create_time < settled}
            return found


#: the default process table: one reader, its command lines kept across runs
read_processes: ProcessTable = ProcessReader()


class SharedTable:
    """One read of the process table for the node sources of one run.

    ``node.processes`` and ``node.ports`` run at the same interval in threads started
    together: the second to ask within ``fresh_for`` seconds of a read gets that read
    (the agent's cost halves), a later one reads again."""

    def __init__(self, read: ProcessTable = read_processes, fresh_for: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._fresh_for = fresh_for
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: tuple[ProcessInfo, ...] | None = None
        self._at = 0.0

    def __call__(self) -> tuple[ProcessInfo, ...]:
        with self._lock:
            now = self._clock()
            if self._taken is None or now - self._at > self._fresh_for:
                self._taken = tuple(self._read())
                self._at = now
            return self._taken


#: The socket state a listening TCP socket and a bound, unconnected UDP socket show in
#: /proc/net/{tcp,udp}[6] (include/net/tcp_states.h: TCP_LISTEN 10, TCP_CLOSE 7).
_LISTENING = {"tcp": 10, "udp": 7}
_TABLES = (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp"))
# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLMSG = struct.Struct("=IHHII")              # nlmsghdr: len, type, flags, seq, pid
_DIAG_REQUEST = struct.Struct("=BBBBI48x")    # inet_diag_req_v2: family, protocol, ext,
                                              # pad, states; inet_diag_sockid zeroed
_DIAG_PORT = struct.Struct(">H")              # inet_diag_msg: id.sport, network order
_DIAG_UID_INODE = struct.Struct("=II")        # inet_diag_msg: uid, inode (offset 64)

Sockets = dict[int, tuple[int, str, str]]     # inode -> (port, address, protocol)


def _address(text: str) -> str:
    """``0100007F`` -> ``127.0.0.1``: the kernel prints each 32-bit word in host order."""
    raw = bytes.fromhex(text)
    if sys.byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _from_proc(proc_root: Path) -> Sockets:
    """The listening sockets as ``/proc/net/{tcp,udp}[6]`` lists them (every socket of
    the namespace is a line there: costly on a node with thousands of connections)."""
    found: Sockets = {}
    for table, protocol in _TABLES:
        try:
            lines = (proc_root / "net" / table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue  # no IPv6
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {proc_root}/net/{table}: "
                                    f"{exc.strerror}") from None
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or int(fields[3], 16) != _LISTENING[protocol]:
                continue
            if protocol == "udp" and fields[2].rpartition(":")[2] != "0000":
                continue  # a connected UDP socket
            address, _, port = fields[1].rpartition(":")
            found[int(fields[9])] = (int(port, 16), _address(address), protocol)
    return found


def _from_netlink() -> Sockets:
    """The listening sockets from the kernel's socket diagnostics (what ``ss -l`` asks):
    the kernel filters by state, so the cost is that of the listeners only."""
    found: Sockets = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as diag:
        for protocol, number in (("tcp", socket.IPPROTO_TCP), ("udp", socket.IPPROTO_UDP)):
            for family in (socket.AF_INET, socket.AF_INET6):
                request = _DIAG_REQUEST.pack(family, number, 0, 0, 1 << _LISTENING[protocol])
                diag.sendto(_NLMSG.pack(_NLMSG.size + len(request), _SOCK_DIAG_BY_FAMILY,
                                        _NLM_F_REQUEST_DUMP, 1, 0) + request, (0, 0))
                _read_dump(diag, protocol, found)
    return found


def _read_dump(diag: socket.socket, protocol: str, found: Sockets) -> None:
    while True:
        data = diag.recv(65536)
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _, _, _ = _NLMSG.unpack_from(data, offset)
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                error = -struct.unpack_from("=i", data, offset + _NLMSG.size)[0]
                raise OSError(error, os.strerror(error))
            body = offset + _NLMSG.size
            family = data[body]
            (port,) = _DIAG_PORT.unpack_from(data, body + 4)
            source = data[body + 8:body + (12 if family == socket.AF_INET else 24)]
            _, inode = _DIAG_UID_INODE.unpack_from(data, body + 64)
            found[inode] = (port, socket.inet_ntop(family, source), protocol)
            offset += (length + 3) & ~3
        if not data:
            return


def listening_sockets(proc_root: Path = Path("/proc")) -> Sockets:
    """Inode -> (port, address, protocol) of every listening socket: from the kernel's
    socket diagnostics (netlink), else ``/proc/net``; from ``proc_root/net`` when that
    is not this machine's ``/proc`` (a recorded tree)."""
    if proc_root == Path("/proc"):
        try:
            return _from_netlink()
        except OSError:
            pass  # no NETLINK_SOCK_DIAG here (a sandbox): read the tables
    return _from_proc(proc_root)


def _holders(proc_root: Path, pids: Iterable[int], wanted: set[int]) -> dict[int, int]:
    """Inode -> the first of ``pids`` holding it, for the ``wanted`` inodes."""
    found: dict[int, int] = {}
    for pid in pids:
        if len(found) == len(wanted):
            break
        try:
            entries = os.scandir(proc_root / str(pid) / "fd")
        except OSError:
            continue  # gone, or another user's: not ours to see
        with entries:
            for entry in entries:
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in wanted:
                        found.setdefault(inode, pid)
    return found


def read_listeners(ports: Collection[int] | None = None, first: Iterable[int] = (),
                   proc_root: Path = Path("/proc")) -> list[Listener]:
    """The listening sockets (on ``ports``, or all) and a process holding each.

    The sockets come from :func:`listening_sockets`; their holders from the processes'
    open descriptors, looked for in ``first`` (the services' processes, which usually
    hold their ports) before any other. ``psutil.net_connections()`` reads every
    socket of the namespace and every descriptor of every process: 50 ms per run on
    the development machine (2,500 descriptors, 3,800 connections), 1 ms this way.
    A socket whose holder stackwatch may not see has ``pid=None``.
    """
    sockets = {inode: found for inode, found in listening_sockets(proc_root).items()
               if ports is None or found[0] in ports}
    wanted = set(sockets)
    early = list(dict.fromkeys(first))
    holders = _holders(proc_root, early, wanted) if wanted else {}
    if wanted - holders.keys():
        skip = set(early)
        rest = (int(name) for name in os.listdir(proc_root)
                if name.isdigit() and int(name) not in skip)
        holders.update(_holders(proc_root, rest, wanted - holders.keys()))
    return [Listener(port, address, protocol, holders.get(inode))
            for inode, (port, address, protocol) in sorted(sockets.items(),
                                                           key=lambda s: (s[1], s[0]))]
