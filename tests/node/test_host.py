"""node.host on a recorded host tree: figures, thresholds, and every unreadable item UNKNOWN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from node_data import Tree

from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import NodeConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.node.host import HostSource

pytestmark = pytest.mark.unit

NOW = 2_000_000_000.0


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree("vm-2cpu", tmp_path)


def _source(tree: Tree, **node: object) -> HostSource:
    config = NodeConfig.model_validate({"proc_root": str(tree.proc), "sys_root": str(tree.sys),
                                        "kernel_log": str(tree.kmsg), **node})
    return HostSource(config, "ctl1", tree.statvfs, lambda: NOW)


def _checks(collection: Collection) -> dict[tuple[str, str], CheckResult]:
    return {(c.name, dict(c.labels).get("mount", "")): c for c in collection.checks}


def _df_percent(row: list[int]) -> float:
    """df's Use%: used / (used + available to users)."""
    blocks, free, avail = row[2], row[3], row[4]
    return 100.0 * (blocks - free) / (blocks - free + avail)


def _load_status(tree: Tree) -> Status:
    """The recorded 5-minute load per CPU against the default levels (2, 4): the
    recording machine is shared and its load is what it was."""
    per_cpu = float((tree.proc / "loadavg").read_text().split()[1]) / 2
    return Status.CRITICAL if per_cpu >= 4 else Status.WARNING if per_cpu >= 2 else Status.OK


def test_the_recorded_tree_is_read_and_its_figures_are_its_own(tree: Tree) -> None:
    collection = _source(tree).collect()
    checks = _checks(collection)
    assert {k: c.status for k, c in checks.items()} == {
        ("node.disk", "/"): Status.OK, ("node.inodes", "/"): Status.OK,
        ("node.load", ""): _load_status(tree), ("node.memory", ""): Status.OK,
        ("node.swap", ""): Status.OK, ("node.network", ""): Status.OK,
        ("node.disk_io", ""): Status.OK}
    percent = _df_percent(tree.statvfs_rows["/"])
    assert checks[("node.disk", "/")].message.startswith(f"/: {percent:.0f}% used (")
    assert checks[("node.disk", "/")].perfdata[0].render() == \
        f"/={round(percent, 1):g}%;80;90;0;100"
    load = [float(x) for x in (tree.proc / "loadavg").read_text().split()[:3]]
    assert checks[("node.load", "")].message.endswith(f"{load[1] / 2:.2f} per CPU over 5 min")
    assert checks[("node.swap", "")].message == "no swap"
    assert checks[("node.disk_io", "")].message == \
        "no disk I/O error in the kernel log in the last 1 h"
    assert_declared(collection, source="node.host")
    assert_covered(collection, source="node.host")
    samples = {(s.name, s.label("device")): s.value for s in collection.samples}
    assert samples[("stackwatch_node_cpus", "")] == 2
    assert samples[("stackwatch_node_network_up", "eth0")] == 1
    assert ("stackwatch_node_network_receive_bytes_total", "lo") not in samples  # ignored


@pytest.mark.parametrize(("percent", "status"), [
    (79.0, Status.OK), (80.0, Status.WARNING), (89.9, Status.WARNING), (90.0, Status.CRITICAL),
])
def test_disk_thresholds_of_the_operations_guide(tree: Tree, percent: float,
                                                 status: Status) -> None:
    tree.fill("/", percent)
    check = _checks(_source(tree).filesystems())[("node.disk", "/")]
    assert check.status == status
    assert check.message.startswith(f"/: {round(percent):.0f}% used")


def test_thresholds_from_the_config(tree: Tree) -> None:
    tree.fill("/", 55)
    source = _source(tree, thresholds={"disk": {"warning": 50, "critical": 60},
                                       "load": {"warning": 0.5, "critical": 3}})
    checks = _checks(source.collect())
    assert checks[("node.disk", "/")].status == Status.WARNING
    (tree.proc / "loadavg").write_text("9.00 6.10 3.00 2/300 1234\n")
    load = _checks(source.load())[("node.load", "")]
    assert load.status == Status.CRITICAL  # 3.05 per CPU over 5 min
    assert [p.render() for p in load.perfdata] == [
        "load1=9;1;6;0", "load5=6.1;1;6;0", "load15=3;1;6;0"]


def test_inodes(tree: Tree) -> None:
    row = tree.statvfs_rows["/"]
    row[6] = row[5] // 20  # 95 % of the inodes used
    check = _checks(_source(tree).filesystems())[("node.inodes", "/")]
    assert check.status == Status.CRITICAL
    assert check.message.startswith("/: 95% of inodes used")


def test_memory_and_swap(tree: Tree) -> None:
    (tree.proc / "meminfo").write_text(
        "MemTotal: 1000000 kB\nMemFree: 10000 kB\nMemAvailable: 40000 kB\n"
        "SwapTotal: 2000000 kB\nSwapFree: 800000 kB\n")
    checks = _checks(_source(tree).memory())
    assert checks[("node.memory", "")].status == Status.CRITICAL  # 96 % in use
    assert checks[("node.memory", "")].message.startswith("memory 96% used")
    assert checks[("node.swap", "")].status == Status.WARNING  # 60 %
    assert checks[("node.swap", "")].message.startswith("swap 60% used")


def test_network_errors_since_the_last_run_warn(tree: Tree) -> None:
    source = _source(tree)
    first = _checks(source.network())[("node.network", "")]
    assert first.status == Status.OK and "errors since they came up: none" in first.message
    text = (tree.proc / "net" / "dev").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("eth0:"):
            name, counters = line.split(":", 1)
            fields = counters.split()
            fields[2] = str(int(fields[2]) + 5)  # receive errors
            lines[i] = f"{name}: {' '.join(fields)}"
    (tree.proc / "net" / "dev").write_text("\n".join(lines) + "\n")
    second = _checks(source.network())[("node.network", "")]
    assert second.status == Status.WARNING
    assert second.message == "errors since the last look: eth0 5 receive, 0 transmit"
    third = _checks(source.network())[("node.network", "")]
    assert third.status == Status.OK


def _kmsg_errors(tree: Tree, *ages: tuple[str, float]) -> None:
    """Append disk I/O error records ``ages`` seconds before the tree's uptime."""
    uptime = float((tree.proc / "uptime").read_text().split()[0])
    last = json.loads((tree.root / "INFO.json").read_text())["kmsg_records"]
    messages = {
        "sdb": "blk_update_request: I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800",
        "sdb1": "Buffer I/O error on dev sdb1, logical block 0, async page read",
        "sdd1": 'XFS (sdd1): metadata I/O error in "xfs_trans_read_buf_map" at daddr 0x2',
    }
    with tree.kmsg.open("a") as out:
        for n, (device, age) in enumerate(ages):
            usec = int((uptime - age) * 1e6)
            out.write(f"3,{100000 + last + n},{usec},-;{messages[device]}\n SUBSYSTEM=block\n")


def test_recent_disk_io_errors_are_critical_naming_the_devices(tree: Tree) -> None:
    _kmsg_errors(tree, ("sdb", 300), ("sdb", 120), ("sdd1", 60), ("sdb1", 9000))
    check = _checks(_source(tree).disk_io())[("node.disk_io", "")]
    assert check.status == Status.CRITICAL
    assert check.message == ("3 disk I/O errors in the kernel log in the last 1 h: "
                             "sdb x2 (last 2 min ago), sdd1 x1 (last 1 min ago)")


def test_old_disk_io_errors_are_mentioned_not_alarming(tree: Tree) -> None:
    _kmsg_errors(tree, ("sdb1", 9000))
    check = _checks(_source(tree, disk_io_window=7200).disk_io())[("node.disk_io", "")]
    assert check.status == Status.OK
    assert check.message == "no disk I/O error in the kernel log in the last 2 h (1 older: sdb1)"
    wide = _checks(_source(tree, disk_io_window=10000).disk_io())[("node.disk_io", "")]
    assert wide.status == Status.CRITICAL


def test_a_mount_gone_before_statvfs_is_unknown_and_the_others_go_on(tree: Tree) -> None:
    mounts = tree.proc / "self" / "mounts"
    mounts.write_text(mounts.read_text() + "/dev/vdb /var/lib/nova ext4 rw,relatime 0 0\n")
    checks = _checks(_source(tree).collect())
    gone = checks[("node.disk", "/var/lib/nova")]
    assert gone.status == Status.UNKNOWN
    assert gone.message == "cannot read /var/lib/nova: No such file or directory"
    assert checks[("node.disk", "/")].status == Status.OK
    assert checks[("node.load", "")].status == _load_status(tree)


@pytest.mark.parametrize(("item", "check", "breaks", "says"), [
    ("loadavg", "node.load", "remove", "cannot read {path}: No such file or directory"),
    ("loadavg", "node.load", "garbage", "{path}: unreadable: load averages are not numbers"),
    ("meminfo", "node.memory", "garbage", "{path}: unreadable: no MemTotal"),
    ("meminfo", "node.swap", "directory", "cannot read {path}: Is a directory"),
    ("net/dev", "node.network", "garbage", "{path}: unreadable: no /proc/net/dev header"),
    ("self/mounts", "node.disk", "remove", "cannot read {path}: No such file or directory"),
    ("uptime", "node.disk_io", "garbage", "{path}: unreadable: not an uptime"),
    ("loadavg", "node.load", "binary", "{path}: unreadable: 'utf-8' codec can't decode"),
])
def test_a_broken_proc_file_makes_its_item_unknown(tree: Tree, item: str, check: str,
                                                   breaks: str, says: str) -> None:
    path = tree.proc / item
    path.unlink()
    if breaks == "garbage":
        path.write_text("\x00 garbage\nmore garbage\n")
    elif breaks == "binary":
        path.write_bytes(b"\x00\xff\xfe")
    elif breaks == "directory":
        path.mkdir()
    collection = _source(tree).collect()  # never raises
    checks = _checks(collection)
    broken = next(c for (name, _), c in checks.items() if name == check)
    assert broken.status == Status.UNKNOWN
    assert broken.message.startswith(says.format(path=path)), broken.message
    others = [c for c in collection.checks if c.name != check and not (
        check in ("node.memory", "node.swap") and c.name in ("node.memory", "node.swap"))]
    assert others and all(c.status != Status.UNKNOWN for c in others)  # still read


def test_garbage_and_missing_kernel_logs(tree: Tree) -> None:
    tree.kmsg.write_text("this is not a kernel log\nnor this\n")
    garbage = _checks(_source(tree).disk_io())[("node.disk_io", "")]
    assert garbage.status == Status.UNKNOWN
    assert garbage.message == f"{tree.kmsg}: unreadable: no kernel log record in it"
    tree.kmsg.unlink()
    missing = _checks(_source(tree).disk_io())[("node.disk_io", "")]
    assert missing.status == Status.UNKNOWN and "No such file or directory" in missing.message


def test_cpus_fall_back_to_proc_stat_and_a_vanished_interface_is_skipped(tree: Tree) -> None:
    (tree.sys / "devices/system/cpu/online").write_text("garbage\n")
    (tree.sys / "class/net/eth0/operstate").unlink()
    collection = _source(tree).collect()
    samples = {(s.name, s.label("device")): s.value for s in collection.samples}
    assert samples[("stackwatch_node_cpus", "")] == 2  # the cpuN lines of /proc/stat
    assert ("stackwatch_node_network_up", "eth0") not in samples
    assert ("stackwatch_node_network_receive_bytes_total", "eth0") in samples
    assert all(c.status != Status.UNKNOWN for c in collection.checks)


def test_nothing_readable_at_all_is_unknown_everywhere_never_a_crash(tmp_path: Path) -> None:
    config = NodeConfig.model_validate({"proc_root": str(tmp_path / "none"),
                                        "sys_root": str(tmp_path / "none"),
                                        "kernel_log": str(tmp_path / "none" / "kmsg")})
    collection = HostSource(config, "h", lambda path: (_ for _ in ()).throw(
        FileNotFoundError(2, "No such file or directory", path))).collect()
    assert {c.name for c in collection.checks} == {
        "node.disk", "node.load", "node.memory", "node.swap", "node.network", "node.disk_io"}
    assert all(c.status == Status.UNKNOWN for c in collection.checks)


def test_configured_mounts_only_and_a_missing_one_is_critical(tree: Tree) -> None:
    checks = _checks(_source(tree, mounts=["/", "/var/lib/nova"]).filesystems())
    assert checks[("node.disk", "/")].status == Status.OK
    missing = checks[("node.disk", "/var/lib/nova")]
    assert missing.status == Status.CRITICAL and missing.message == "/var/lib/nova: not mounted"
