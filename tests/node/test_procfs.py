"""The /proc, /sys and /dev/kmsg parsers: sample -> expected, garbage -> ValueError naming it."""

from __future__ import annotations

import pytest
from node_data import TREES

from stackwatch.sources.node import procfs

pytestmark = pytest.mark.unit

RECORDED = TREES / "vm-2cpu"


def test_recorded_files_parse_to_their_own_numbers() -> None:
    loadavg = (RECORDED / "proc/loadavg").read_text().split()
    assert procfs.parse_loadavg((RECORDED / "proc/loadavg").read_text()) == tuple(
        float(x) for x in loadavg[:3])
    fields = {line.split(":")[0]: int(line.split()[1])
              for line in (RECORDED / "proc/meminfo").read_text().splitlines()}
    memory = procfs.parse_meminfo((RECORDED / "proc/meminfo").read_text())
    assert memory == procfs.Memory(fields["MemTotal"] * 1024, fields["MemAvailable"] * 1024,
                                   fields["SwapTotal"] * 1024, fields["SwapFree"] * 1024)
    interfaces = procfs.parse_net_dev((RECORDED / "proc/net/dev").read_text())
    assert {i.name for i in interfaces} == {p.name for p in (RECORDED / "sys/class/net").iterdir()}
    eth0 = next(i for i in interfaces if i.name == "eth0")
    line = next(x for x in (RECORDED / "proc/net/dev").read_text().splitlines()
                if x.strip().startswith("eth0:"))
    numbers = [int(x) for x in line.split(":", 1)[1].split()]
    assert (eth0.rx_bytes, eth0.rx_errors, eth0.rx_drops) == (numbers[0], numbers[2], numbers[3])
    assert (eth0.tx_bytes, eth0.tx_errors, eth0.tx_drops) == (numbers[8], numbers[10],
                                                              numbers[11])
    mounts = procfs.parse_mounts((RECORDED / "proc/self/mounts").read_text())
    assert procfs.Mount("/dev/vda", "/", "ext4") in mounts
    assert procfs.parse_cpu_list((RECORDED / "sys/devices/system/cpu/online").read_text()) == 2
    records = procfs.parse_kmsg((RECORDED / "kmsg").read_text())
    lines = (RECORDED / "kmsg").read_text().splitlines()
    assert len(records) == sum(1 for x in lines if x and not x.startswith(" "))
    assert all(not r.message.startswith(("SUBSYSTEM=", "DEVICE=")) for r in records)


@pytest.mark.parametrize(("text", "expected"), [
    ("0-3", 4), ("0", 1), ("0-3,6", 5), ("0,2,4-5\n", 4),
])
def test_cpu_lists(text: str, expected: int) -> None:
    assert procfs.parse_cpu_list(text) == expected


def test_mount_points_with_spaces_are_unescaped() -> None:
    mounts = procfs.parse_mounts("/dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\n")
    assert mounts == [procfs.Mount("/dev/sdb1", "/mnt/my disk", "ext4")]


def test_meminfo_without_memavailable_falls_back_to_free_buffers_cached() -> None:
    text = ("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n"
            "SwapTotal: 0 kB\nSwapFree: 0 kB\n")
    assert procfs.parse_meminfo(text).available == 420 * 1024


def test_kmsg_records_and_malformed_lines() -> None:
    text = ("3,1234,5678901,-;blk_update_request: I/O error, dev sdb, sector 2048\n"
            " SUBSYSTEM=block\n"
            "garbage without a prefix\n"
            "6,x,12,-;sequence is not a number\n"
            "4,1235,5679000,c;Buffer I/O error on dev sdb1, logical block 0\n")
    assert procfs.parse_kmsg(text) == [
        procfs.KernelRecord(1234, 5.678901, "blk_update_request: I/O error, dev sdb, sector 2048"),
        procfs.KernelRecord(1235, 5.679, "Buffer I/O error on dev sdb1, logical block 0"),
    ]


@pytest.mark.parametrize(("parse", "text", "says"), [
    (procfs.parse_loadavg, "", "expected three load averages"),
    (procfs.parse_loadavg, "a b c 1/2 3", "not numbers"),
    (procfs.parse_meminfo, "MemTotal: lots kB\n", "MemTotal: 'lots' is not a number"),
    (procfs.parse_meminfo, "MemTotal: 10 kB\n", "no SwapTotal, SwapFree"),
    (procfs.parse_meminfo, "MemTotal: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n", "MemTotal is 0"),
    (procfs.parse_net_dev, "garbage\n", "no /proc/net/dev header"),
    (procfs.parse_net_dev, "h|1\nh2\neth0 1 2 3\n", "not an interface line"),
    (procfs.parse_net_dev, "h|1\nh2\neth0: 1 2 3\n", "eth0: 3 counters"),
    (procfs.parse_net_dev, "h|1\nh2\neth0: " + "x " * 16 + "\n", "eth0: counters are not"),
    (procfs.parse_mounts, "only-two fields\n", "not a mount line"),
    (procfs.parse_cpu_list, "zero-one", "not a CPU list"),
    (procfs.parse_cpu_list, "garbage", "not a CPU list"),
    (procfs.parse_cpu_list, "3-1", "no CPU in"),
    (procfs.parse_uptime, "\x00\x01", "not an uptime"),
])
def test_garbage_is_a_value_error_naming_it(parse: object, text: str, says: str) -> None:
    assert callable(parse)
    with pytest.raises(ValueError, match=says):
        parse(text)


def test_recorded_socket_tables_give_the_listening_sockets_only() -> None:
    from stackwatch.sources.node.table import _from_proc

    found = _from_proc(RECORDED / "proc")
    listening = sum(1 for name in ("tcp", "tcp6") for line in
                    (RECORDED / "proc/net" / name).read_text().splitlines()[1:]
                    if line.split()[3] == "0A")
    unconnected = sum(1 for name in ("udp", "udp6") for line in
                      (RECORDED / "proc/net" / name).read_text().splitlines()[1:]
                      if line.split()[3] == "07" and line.split()[2].endswith(":0000"))
    assert len(found) == listening + unconnected > 0
    assert all(port > 0 and protocol in ("tcp", "udp") for port, _, protocol in found.values())
    assert any(address == "127.0.0.1" for _, address, _ in found.values())
