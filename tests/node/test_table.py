"""The psutil readers against real processes and sockets, as root and as another user."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import NodeConfig
from stackwatch.model import Status
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.table import ProcessInfo, read_listeners, read_processes, snapshot

pytestmark = pytest.mark.integration

NOBODY = 65534
HOLD = ("import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True); time.sleep(60)\n")


def test_a_process_gone_mid_read_is_left_out_and_a_zombie_is_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    proc = psutil.Process(child.pid)
    assert snapshot(proc) is not None
    child.kill()
    deadline = time.monotonic() + 10
    while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)
    zombie = snapshot(proc)  # exited, not reaped yet: still in the table, as a zombie
    assert zombie is not None and zombie.zombie and zombie.cmdline == ()
    child.wait()
    assert snapshot(proc) is None  # reaped: gone, not an error


def test_the_table_and_the_sockets_of_this_machine() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        rows = {p.pid: p for p in read_processes()}
        me = rows[os.getpid()]
        assert me.cmdline == tuple(psutil.Process().cmdline())
        assert me.rss_bytes > 0 and me.create_time == psutil.Process().create_time()
        ours = [s for s in read_listeners() if s.port == port]
        assert [(s.address, s.protocol, s.pid) for s in ours] == [("127.0.0.1", "tcp",
                                                                   os.getpid())]


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
    from pathlib import Path

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
    from stackwatch.sources.node.table import SharedTable

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
    from stackwatch.sources.node.table import ProcessReader

    me = os.getpid()
    read: list[int] = []
    original = psutil.Process.cmdline

    def counting(self: psutil.Process) -> list[str]:
        if self.pid == me:
            read.append(me)
        return original(self)

    monkeypatch.setattr(psutil.Process, "cmdline", counting)
    reader = ProcessReader(settled_after=0.0)
    first = [p for p in reader() if p.pid == me]
    second = [p for p in reader() if p.pid == me]
    assert first and first[0].cmdline == second[0].cmdline == tuple(original(
        psutil.Process(me)))
    assert read == [me]  # read once, then kept
    young = ProcessReader(settled_after=3600.0)  # this process is "new" for it
    young()
    young()
    assert read == [me, me, me]  # a new process's is read every time
