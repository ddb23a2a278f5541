"""The /proc readers against real processes and sockets (psutil as the reference), as root
and as another user, and against made-up ``/proc`` trees."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import NodeConfig
from stackwatch.model import Status
from stackwatch.sources.node import table
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.table import (
    ProcessInfo,
    ProcessReader,
    SharedTable,
    read_listeners,
    read_processes,
)

pytestmark = pytest.mark.integration

NOBODY = 65534
HOLD = ("import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True); time.sleep(60)\n")


def test_a_process_gone_mid_read_is_left_out_and_a_zombie_is_a_zombie() -> None:
    code = "import time; print(flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()  # exec'd and running: before this its command line can read empty
    reader = ProcessReader()
    alive = reader.process(child.pid)
    assert alive is not None and alive.cmdline == (sys.executable, "-c", code)
    child.kill()
    deadline = time.monotonic() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    zombie = reader.process(child.pid)  # exited, not reaped yet: in the table, as a zombie
    assert zombie is not None and zombie.zombie and zombie.cmdline == ()
    assert zombie.create_time == alive.create_time
    child.wait()
    child.stdout.close()
    assert reader.process(child.pid) is None  # reaped: gone, not an error
    assert child.pid not in {p.pid for p in reader()}


def test_the_table_and_the_sockets_of_this_machine() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        rows = {p.pid: p for p in read_processes()}
        me = rows[os.getpid()]
        mine = psutil.Process()
        assert me.cmdline == tuple(mine.cmdline())
        assert me.rss_bytes > 0 and me.create_time == mine.create_time()
        assert (me.name, me.ppid, me.status) == (mine.name(), mine.ppid(), mine.status())
        ours = [s for s in read_listeners() if s.port == port]
        assert [(s.address, s.protocol, s.pid) for s in ours] == [("127.0.0.1", "tcp",
                                                                   os.getpid())]


def test_every_process_reads_as_psutil_reads_it() -> None:
    """The reader against psutil on every process of this machine: names (the kernel's
    15-character cut made whole from the command line), parents, states, start times,
    command lines, CPU and memory."""
    before = {p.pid: p for p in read_processes()}
    seen = {}
    for proc in psutil.process_iter():
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                seen[proc.pid] = (proc.name(), proc.ppid(), proc.status(), proc.create_time(),
                                  tuple(proc.cmdline()), times.user + times.system,
                                  proc.memory_info().rss)
        except psutil.Error:
            continue
    after = {p.pid: p for p in read_processes()}
    compared = 0
    for pid, (name, ppid, status, created, cmdline, cpu, rss) in seen.items():
        first, last = before.get(pid), after.get(pid)
        if first is None or last is None or first.create_time != last.create_time:
            continue  # born or gone meanwhile (a shared machine)
        compared += 1
        assert (last.ppid, last.create_time) == (ppid, created), pid
        if first.name == last.name:  # not renamed meanwhile (a kworker's name changes)
            assert last.name == name, pid
        if first.cmdline == last.cmdline:  # not retitled meanwhile
            while cmdline and not cmdline[-1]:
                cmdline = cmdline[:-1]
            assert last.cmdline == cmdline, pid
        if first.status == last.status:
            assert status in (first.status, "running", "sleeping"), pid
        assert first.cpu_seconds <= cpu <= last.cpu_seconds, pid
        assert rss >= 0 and last.rss_bytes >= 0
    assert compared >= 10


def _tree(root: Path, stats: dict[str, bytes], cmdlines: dict[str, bytes]) -> Path:
    (root / "stat").write_text("cpu  1 2 3 4\nbtime 1764892800\n")
    for pid, line in stats.items():
        (root / pid).mkdir()
        (root / pid / "stat").write_bytes(line)
    for pid, args in cmdlines.items():
        (root / pid).mkdir(exist_ok=True)
        (root / pid / "cmdline").write_bytes(args)
    return root


def _stat(comm: str, state: str = "S", ppid: int = 1, start: int = 500,
          flags: int = 0x400100) -> bytes:
    # state ppid pgrp session tty tpgid flags minflt.. utime stime cutime.. start vsize rss
    fields = ([state, str(ppid)] + ["0"] * 4 + [str(flags)] + ["0"] * 4 + ["250", "50"]
              + ["0"] * 6 + [str(start), "0", "30"] + ["0"] * 20)
    return f"({comm}) ".encode() + " ".join(fields).encode() + b"\n"


def test_a_recorded_proc_root_read_and_what_it_cannot_read_left_out_counted(
        tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "100": b"100 " + _stat("nova-compute"),
        "101": b"101 " + _stat("python3", ppid=100),
        "102": b"102 " + _stat("gunicorn: worke", ppid=101),     # cut at 15: read whole
        "103": b"103 " + _stat("bash) (S 1", state="S", ppid=1),  # ")" in a name
        "104": b"104 " + _stat("nova-compute", state="Z", ppid=100),
        "105": b"105 garbage",                                    # unreadable: left out
        "106": b"106 " + _stat("kworker/0:1", ppid=2),
        "108": b"108 " + _stat("kworker/u4:2-events_unbound", ppid=2, flags=0x04208060),
    }, {
        "100": b"/usr/bin/python3\0/usr/bin/nova-compute\0--config-file\0x.conf\0",
        "101": b"python3 -m something\0\0\0\0",  # a retitled one padded with NULs
        "102": b"gunicorn: worker [nova-api]",     # setproctitle: spaces, no NUL
        "106": b"",
        "108": b"never read: a kernel thread has none",
    })
    (root / "107").mkdir()  # listed, then gone before its stat was read
    reader = ProcessReader(root, settled_after=0.0, wants_cmdline=lambda name: False)
    rows = {p.pid: p for p in reader()}
    assert sorted(rows) == [100, 101, 102, 103, 104, 106, 108]
    assert reader.unreadable == 1
    boot = 1764892800.0
    assert rows[100] == ProcessInfo(100, 1, "nova-compute", (), "sleeping",
                                    500 / table.CLOCK_TICKS + boot,
                                    250 / table.CLOCK_TICKS + 50 / table.CLOCK_TICKS,
                                    30 * table.PAGE_SIZE)
    # no command line read for a name no service has ...
    assert rows[101].cmdline == () and rows[106].cmdline == ()
    # ... but a name the kernel cut is made whole from it
    assert rows[102].name == "gunicorn: worke"  # "gunicorn:" does not start with the cut
    assert rows[102].cmdline == ("gunicorn:", "worker", "[nova-api]")
    assert rows[103].name == "bash) (S 1" and rows[103].ppid == 1
    assert rows[104].zombie and rows[104].cmdline == ()
    # a kernel thread's long name is its own: no command line to read
    assert (rows[108].name, rows[108].cmdline) == ("kworker/u4:2-events_unbound", ())
    # what a check must name is read when asked
    assert reader.complete(rows[101]).cmdline == ("python3 -m something",)
    assert SharedTable(reader).complete(rows[100]).cmdline == (
        "/usr/bin/python3", "/usr/bin/nova-compute", "--config-file", "x.conf")
    everyone = {p.pid: p for p in ProcessReader(root)()}
    assert everyone[100].cmdline[1] == "/usr/bin/nova-compute"
    # a settled command line is kept; one the process exec'd (another name) is read again
    every = ProcessReader(root, settled_after=0.0)
    assert {p.pid: p for p in every()}[100].cmdline  # read, kept
    (root / "100" / "cmdline").write_bytes(b"/usr/bin/python3\0/usr/bin/nova-api\0")
    assert {p.pid: p for p in every()}[100].cmdline[1] == "/usr/bin/nova-compute"
    (root / "100" / "stat").write_bytes(b"100 " + _stat("nova-api"))
    assert {p.pid: p for p in every()}[100].cmdline[1] == "/usr/bin/nova-api"


def test_a_proc_root_without_a_boot_time_is_unavailable(tmp_path: Path) -> None:
    from stackwatch.errors import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="btime"):
        ProcessReader(tmp_path)()


def _as_nobody(work: Callable[[], object]) -> object:
    """``work()`` in a forked child running as nobody; its JSON answer."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: everything it needs is imported already (/root is private)
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, json.dumps(work()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return json.loads(text)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_a_port_held_by_another_users_process_is_unknown_naming_why() -> None:
    holder = subprocess.Popen(  # a root process the forked child does not share sockets with
        [sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        plan = NodePlan(load_catalog(), NodeConfig(host="n1", roles=[],
                                                   ports={"nova-api": [port]}))

        def look() -> object:
            [check] = PortsSource(plan).check(port, "nova-api").checks
            return [check.status.name, check.message]

        status, message = _as_nobody(look)  # type: ignore[misc]
        [as_root] = PortsSource(plan).check(port, "nova-api").checks
    finally:
        holder.kill()
        holder.communicate()
    assert as_root.status == Status.CRITICAL and f"(pid {holder.pid}, " in as_root.message
    assert status == Status.UNKNOWN.name
    assert message == (f"nova-api: port {port}/tcp is listening, but stackwatch (uid "
                       f"{NOBODY}) may not see which process holds it: only root sees "
                       "other users' sockets")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_the_kernel_log_restricted_to_root_is_unknown_naming_why() -> None:
    with open("/proc/sys/kernel/dmesg_restrict") as restrict:
        if restrict.read().strip() != "1":
            pytest.skip("kernel.dmesg_restrict is 0 here: everyone may read the kernel log")
    source = HostSource(NodeConfig(), "n1")

    def look() -> object:
        [check] = source.disk_io().checks
        return [check.status.name, check.message]

    status, message = _as_nobody(look)  # type: ignore[misc]
    assert status == Status.UNKNOWN.name
    assert message == ("cannot read /dev/kmsg: Operation not permitted "
                       "(kernel.dmesg_restrict: run as root or with CAP_SYSLOG)")
    # as root the same check reads it
    assert source.disk_io().checks[0].status in (Status.OK, Status.CRITICAL)


def test_listening_sockets_from_netlink_equal_proc_net_and_psutil() -> None:
    from stackwatch.sources.node.table import _from_netlink, _from_proc, listening_sockets

    with socket.socket() as tcp, socket.socket(socket.AF_INET6) as tcp6, \
            socket.socket(type=socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        tcp6.bind(("::1", 0))
        tcp6.listen()
        udp.bind(("127.0.0.1", 0))
        ours = {(tcp.getsockname()[1], "127.0.0.1", "tcp"), (tcp6.getsockname()[1], "::1", "tcp"),
                (udp.getsockname()[1], "127.0.0.1", "udp")}
        netlink, proc = _from_netlink(), _from_proc(Path("/proc"))
        by_psutil = {(c.laddr.port, c.laddr.ip, "tcp" if c.type == socket.SOCK_STREAM else "udp")
                     for c in psutil.net_connections("inet") if c.laddr and (
                         c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM
                                                            and not c.raddr))}
        mine = {(s.port, s.address, s.protocol): s.pid for s in read_listeners()}
        default = set(listening_sockets().values())
    # sockets come and go on a shared machine between two reads: ours are in every one
    assert ours <= set(netlink.values()) and ours <= default
    assert ours <= set(proc.values()) and ours <= by_psutil
    assert all(mine[key] == os.getpid() for key in ours)


def test_the_node_sources_of_a_run_share_one_read_and_a_later_run_reads_again() -> None:
    reads: list[float] = []
    now = [100.0]

    def read() -> list[ProcessInfo]:
        reads.append(now[0])
        return [ProcessInfo(len(reads), 1, "nova-compute")]

    table = SharedTable(read, fresh_for=1.0, clock=lambda: now[0])
    first = table()
    now[0] += 0.2
    assert table() is first and len(reads) == 1      # the other source of the same run
    now[0] += 10.0
    assert table()[0].pid == 2 and len(reads) == 2   # the next run reads again


def test_a_settled_process_command_line_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    me = os.getpid()
    read: list[int] = []
    original = table.read_cmdline

    def counting(path: str) -> tuple[str, ...]:
        if path == f"/proc/{me}/cmdline":
            read.append(me)
        return original(path)

    monkeypatch.setattr(table, "read_cmdline", counting)
    reader = ProcessReader(settled_after=0.0)
    first = [p for p in reader() if p.pid == me]
    second = [p for p in reader() if p.pid == me]
    assert first and first[0].cmdline == second[0].cmdline == tuple(psutil.Process(me).cmdline())
    assert read == [me]  # read once, then kept
    young = ProcessReader(settled_after=3600.0)  # this process is "new" for it
    young()
    young()
    assert read == [me, me, me]  # a new process's is read every time
    nobody = ProcessReader(wants_cmdline=lambda name: False)
    assert [p.cmdline for p in nobody() if p.pid == me] == [()] and read == [me, me, me]


def test_the_kernel_log_is_read_as_it_grows_and_keeps_what_the_ring_holds() -> None:
    """On this machine's /dev/kmsg: the tail finds the disk records a whole read of the
    ring finds; a second look reads only what came since; a record the ring no longer
    holds is forgotten."""
    from stackwatch.logparse.system import disk_device
    from stackwatch.sources.node import kmsg
    from stackwatch.sources.node.procfs import KernelRecord, parse_kmsg

    path = Path("/dev/kmsg")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        pytest.skip(f"/dev/kmsg: {exc.strerror}")
    try:
        whole = parse_kmsg(kmsg._read_records(fd).decode("utf-8", errors="replace"))
    finally:
        os.close(fd)
    assert whole  # a booted kernel has logged something
    tail = kmsg.KernelLogTail(path)
    try:
        found = tail.records()
        expected = [r for r in whole if disk_device(r.message)]
        assert [r.sequence for r in found][:len(expected)] == [r.sequence for r in expected]
        assert tail._fd is not None
        since = parse_kmsg(kmsg._read_records(tail._fd).decode("utf-8", errors="replace"))
        assert len(since) < len(whole)  # a second look: only what was logged since
        assert all(r.sequence > whole[-1].sequence for r in since)
        oldest = whole[0].sequence
        tail._disk[oldest - 1] = KernelRecord(oldest - 1, 1.0, "sdz: gone from the ring")
        tail._disk[whole[-1].sequence] = KernelRecord(whole[-1].sequence, 2.0, "kept")
        assert [r.message for r in tail.records()][-1:] == ["kept"]
        assert oldest - 1 not in tail._disk
    finally:
        tail.close()
