"""The process table and listening sockets of this node, as typed snapshots.

The node checks read them through two callables, so tests replay recorded tables::

    ProcessTable  = () -> Iterable[ProcessInfo]     default: read_processes (/proc)
    ListenerTable = () -> Iterable[Listener]        default: read_listeners (/proc)

The processes are read from ``/proc/<pid>/stat`` (:class:`ProcessReader`: one read per
process, what psutil would read in five). A process that exits while it is read is
left out (it is gone); one whose command line cannot be read (a zombie, another user's
under ``hidepid``) keeps an empty one. The listening sockets come from the
kernel's socket diagnostics (netlink), their holders from the processes' descriptors
(:func:`read_listeners`); one whose process stackwatch may not see (another user's,
stackwatch not root) has ``pid=None``: the port check then says so rather than guess.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from stackwatch.errors import SourceUnavailable

ZOMBIE = "zombie"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as the node checks need it."""

    pid: int
    ppid: int
    name: str                       # the kernel's comm, whole again when it was cut
    cmdline: tuple[str, ...] = ()
    status: str = "sleeping"        # running, sleeping, zombie... (:data:`STATES`)
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


#: What the kernel's one-letter process states mean (proc(5), ``/proc/<pid>/stat`` field 3);
#: the words are psutil's, which the checks and their tests speak.
STATES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped",
          "t": "tracing-stop", "Z": ZOMBIE, "X": "dead", "x": "dead", "K": "wake-kill",
          "W": "waking", "I": "idle", "P": "parked"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PF_KTHREAD = 0x00200000  # include/linux/sched.h: the flags (field 9) of a kernel thread
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: The kernel keeps this many characters of a process name (``comm``).
COMM_LENGTH = 15
#: seconds after its start a process's command line is taken as final
SETTLED_S = 30.0

log = logging.getLogger(__name__)


def _read_small(path: str, dir_fd: int | None = None) -> bytes | None:
    """A /proc file's bytes in one read, or ``None`` when it is gone or not ours to read
    (``dir_fd``: ``path`` is relative to that directory, which the kernel then need not
    look up again)."""
    try:
        fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:    # ESRCH: the process exited between the open and the read
        return None
    finally:
        os.close(fd)


def read_cmdline(path: str) -> tuple[str, ...]:
    """``/proc/<pid>/cmdline`` as its arguments; ``()`` when empty or unreadable.

    Arguments end with NUL; a process that rewrote its title (setproctitle) may use
    spaces instead, or pad with NULs: read as ``ps`` and psutil read them."""
    data = _read_small(path)
    if not data:
        return ()
    text = os.fsdecode(data)
    sep = "\0" if text.endswith("\0") else " "
    args = text[:-1].split(sep) if text.endswith(sep) else text.split(sep)
    if sep == "\0" and len(args) == 1 and " " in text:
        args = text[:-1].split(" ")
    while args and not args[-1]:
        args.pop()  # a retitled process pads its title with NULs
    return tuple(args)


def boot_time(proc_root: Path) -> float:
    """The boot time (epoch seconds) from ``/proc/stat``'s ``btime``: what start times are
    counted from."""
    data = _read_small(str(proc_root / "stat"))
    for line in (data or b"").splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise SourceUnavailable(f"cannot read the boot time (btime) from {proc_root}/stat")


@dataclass(frozen=True, slots=True)
class _Stat:
    """What ``/proc/<pid>/stat`` says of a process (fields 2 to 24 of proc(5))."""

    comm: str
    state: str
    ppid: int
    kernel: bool        # a kernel thread (PF_KTHREAD): no command line, never a service
    utime: int          # clock ticks
    stime: int
    start: int          # clock ticks after boot
    rss_pages: int


def parse_stat(data: bytes) -> _Stat:
    """One ``/proc/<pid>/stat`` line; ``ValueError`` naming what is wrong.

    ``comm`` is between the first ``(`` and the *last* ``)``: a name may hold either."""
    left, right = data.find(b"("), data.rfind(b")")
    fields = data[right + 2:].split()
    if left < 0 or right < left or len(fields) < 22:
        raise ValueError(f"not a /proc/<pid>/stat line: {data[:60]!r}")
    return _Stat(os.fsdecode(data[left + 1:right]), fields[0].decode("ascii", "replace"),
                 int(fields[1]), bool(int(fields[6]) & _PF_KTHREAD), int(fields[11]),
                 int(fields[12]), int(fields[19]), int(fields[21]))


class ProcessReader:
    """Reads every process of this node from ``/proc/<pid>/stat`` alone (one read each:
    name, state, parent, CPU, RSS, start), and a command line only where it can tell what
    the process is, once per process.

    * ``wants_cmdline(name)``: whether a process of that (kernel) name may be one the
      checks look for; others keep ``cmdline=()`` (:meth:`complete` reads it when a
      check must name the process). ``None``: every process's is read. A name the kernel
      cut at :data:`COMM_LENGTH` characters always has its command line read: its whole
      name is there (as psutil's ``name()`` takes it).
    * A command line is kept by pid, start time and name once the process is
      :data:`SETTLED_S` old (a new process may still retitle itself: gunicorn's workers,
      setproctitle; one that ``exec``'d another program has another name).
    * ``proc_root``: the ``/proc`` to read (an agent in a container: the host's).

    A process that exits while read is left out; a zombie has no command line; a stat
    line that cannot be read is left out and counted (:attr:`unreadable`), logged once.
    """

    def __init__(self, proc_root: Path = Path("/proc"), settled_after: float = SETTLED_S,
                 wants_cmdline: Callable[[str], bool] | None = None) -> None:
        self._root = proc_root
        self._settled_after = settled_after
        self._wants = wants_cmdline
        self._lock = threading.Lock()
        self._cmdlines: dict[tuple[int, int, str], tuple[str, ...]] = {}
        self.unreadable = 0

    def __call__(self) -> list[ProcessInfo]:
        with self._lock:
            btime = boot_time(self._root)
            settled = (time.time() - btime - self._settled_after) * CLOCK_TICKS
            known, self._cmdlines = self._cmdlines, {}
            try:
                root = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise SourceUnavailable(f"cannot list {self._root}: {exc.strerror}") from None
            try:
                found = []
                for name in os.listdir(root):
                    if name.isdigit():
                        info = self._process(int(name), btime, known, settled, root)
                        if info is not None:
                            found.append(info)
                return found
            finally:
                os.close(root)

    def process(self, pid: int) -> ProcessInfo | None:
        """One process, or ``None`` when it is gone."""
        with self._lock:
            return self._process(pid, boot_time(self._root), {}, -1.0)

    def complete(self, info: ProcessInfo) -> ProcessInfo:
        """``info`` with its command line when the table left it out (``()`` if the
        process has none, or is gone)."""
        if info.cmdline or info.zombie:
            return info
        cmdline = read_cmdline(f"{self._root}/{info.pid}/cmdline")
        return replace(info, cmdline=cmdline) if cmdline else info

    def _process(self, pid: int, btime: float, known: dict[tuple[int, int, str], tuple[str, ...]],
                 settled: float, root: int | None = None) -> ProcessInfo | None:
        base = f"{self._root}/{pid}"
        data = _read_small(f"{pid}/stat", root) if root is not None else _read_small(
            base + "/stat")
        if data is None:
            return None  # exited meanwhile, or hidden from us (hidepid)
        try:
            stat = parse_stat(data)
        except ValueError as exc:
            if not self.unreadable:
                log.warning("process table: %s/stat: %s; such processes are left out",
                            base, exc)
            self.unreadable += 1
            return None
        state = STATES.get(stat.state, stat.state)
        name = stat.comm
        cmdline: tuple[str, ...] = ()
        wanted = len(name) >= COMM_LENGTH or self._wants is None or self._wants(name)
        if wanted and state != ZOMBIE and not stat.kernel:
            key = (pid, stat.start, stat.comm)  # a process that exec'd has another name
            cached = known.get(key)
            cmdline = cached if cached is not None else read_cmdline(base + "/cmdline")
            if cmdline and stat.start < settled:
                self._cmdlines[key] = cmdline
            if len(name) >= COMM_LENGTH and cmdline:
                whole = os.path.basename(cmdline[0])
                if whole.startswith(name):
                    name = whole  # the name the kernel cut, whole again
        return ProcessInfo(pid, stat.ppid, name, cmdline, state,
                           stat.start / CLOCK_TICKS + btime,
                           stat.utime / CLOCK_TICKS + stat.stime / CLOCK_TICKS,
                           stat.rss_pages * PAGE_SIZE)


#: the default process table: every command line read, each kept across runs
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

    def complete(self, info: ProcessInfo) -> ProcessInfo:
        """``info`` with the command line its reader left out (:meth:`ProcessReader.complete`)."""
        return complete(self._read, info)


def complete(table: ProcessTable, info: ProcessInfo) -> ProcessInfo:
    """``info`` with its command line, when ``table`` left it out and can read it (a
    recorded table has them all)."""
    more = getattr(table, "complete", None)
    return more(info) if callable(more) else info


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


#: inode -> (pid, its descriptor's path) that held a listening socket at the last look
Held = dict[int, tuple[int, str]]


def _holders(proc_root: Path, pids: Iterable[int], wanted: set[int]) -> Held:
    """Inode -> the first of ``pids`` holding it (and the descriptor), for ``wanted``."""
    found: Held = {}
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
                    if inode in wanted and inode not in found:
                        found[inode] = (pid, entry.path)
    return found


def _still_held(known: Held, wanted: set[int]) -> Held:
    """The holders of the last look that still hold the same socket: one ``readlink``
    each (a socket's inode is unique while it exists, and netlink just listed it)."""
    found: Held = {}
    for inode in wanted:
        last = known.get(inode)
        if last is None:
            continue
        try:
            if os.readlink(last[1]) == f"socket:[{inode}]":
                found[inode] = last
        except OSError:
            continue  # closed, or the process exited
    return found


def read_listeners(ports: Collection[int] | None = None, first: Iterable[int] = (),
                   proc_root: Path = Path("/proc"), known: Held | None = None
                   ) -> list[Listener]:
    """The listening sockets (on ``ports``, or all) and a process holding each.

    The sockets come from :func:`listening_sockets`; their holders from the processes'
    open descriptors, looked for in ``first`` (the services' processes, which usually
    hold their ports) before any other. ``psutil.net_connections()`` reads every
    socket of the namespace and every descriptor of every process: 50 ms per run on
    the development machine (2,500 descriptors, 3,800 connections), 1 ms this way.
    ``known``: the holders found by the last call, checked first and updated (a run
    then reads one link per port, not every descriptor of the services).
    A socket whose holder stackwatch may not see has ``pid=None``.
    """
    sockets = {inode: found for inode, found in listening_sockets(proc_root).items()
               if ports is None or found[0] in ports}
    wanted = set(sockets)
    holders = _still_held(known, wanted) if known else {}
    early = list(dict.fromkeys(first))
    if wanted - holders.keys():
        holders.update(_holders(proc_root, early, wanted - holders.keys()))
    if wanted - holders.keys():
        skip = set(early)
        rest = (int(name) for name in os.listdir(proc_root)
                if name.isdigit() and int(name) not in skip)
        holders.update(_holders(proc_root, rest, wanted - holders.keys()))
    if known is not None:
        known.clear()
        known.update(holders)
    return [Listener(port, address, protocol, holders[inode][0] if inode in holders else None)
            for inode, (port, address, protocol) in sorted(sockets.items(),
                                                           key=lambda s: (s[1], s[0]))]
