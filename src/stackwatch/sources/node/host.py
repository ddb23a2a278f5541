"""``node.host``: disks, inodes, load, memory, swap, network and the kernel's disk I/O errors.

Read from ``/proc``, ``/sys`` (roots configurable: an agent in a container reads the
host's through ``node.proc_root``...), ``statvfs`` of each mount and the kernel log
(``/dev/kmsg``); every reader is injectable, so tests replay recorded trees.
Each item stands alone: a file that vanished mid-read, one stackwatch may not read,
or garbage in it makes that item UNKNOWN with the reason, and the others go on.

Checks (labels ``host``, and ``mount`` for the two per filesystem):

==============  ============================================================================
node.disk       space used per mount, ``df``'s way: used / (used + available to users);
                WARNING / CRITICAL at ``thresholds.disk`` (80 / 90 %)
node.inodes     inodes used per mount (filesystems that have a fixed number of them)
node.load       the 5-minute load average per CPU online (``thresholds.load``, 2 / 4)
node.memory     memory in use: what ``MemAvailable`` does not cover (90 / 95 %)
node.swap       swap in use (50 / 80 %); OK when the node has none
node.network    receive or transmit errors since the last run: WARNING naming the
                interfaces (a first run has nothing to compare and says the totals)
node.disk_io    disk I/O errors in the kernel log (block layer, SCSI, ext4, XFS, libata:
                :func:`stackwatch.logparse.system.disk_device`, the logs source's own
                parser) within ``disk_io_window`` (1 h): CRITICAL naming the devices
==============  ============================================================================

The errors are counted over time by the logs source reading ``kern.log``
(``openstack_log_disk_io_errors_total``); this check reads the kernel's own ring
buffer, so it works without syslog and in Nagios mode, and emits no second counter.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackwatch.config import NodeConfig, Threshold
from stackwatch.logparse.system import disk_device
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status
from stackwatch.sources.node import procfs
from stackwatch.sources.node.kmsg import KernelLogTail
from stackwatch.sources.node.wording import plural, size, span

#: Filesystems that hold no data of their own (kernel views, memory, overlays of images)
PSEUDO_FILESYSTEMS = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "fuse.lxcfs", "fuse.gvfsd-fuse", "hugetlbfs",
    "iso9660", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs",
    "securityfs", "selinuxfs", "squashfs", "erofs", "sysfs", "tmpfs", "tracefs", "nfsd",
})
#: Mount points under these are the kernel's or the container runtime's, never data.
PSEUDO_MOUNTS = ("/proc", "/sys", "/dev", "/run/credentials", "/var/lib/docker/",
                 "/var/lib/containers/storage/", "/snap/")

Statvfs = Callable[[str], os.statvfs_result]


def _pseudo_mount(path: str) -> bool:
    """Under one of :data:`PSEUDO_MOUNTS` (``/proc`` itself too; ``/var/lib/docker/``
    only below it)."""
    return any(path.startswith(p) if p.endswith("/") else path == p or path.startswith(p + "/")
               for p in PSEUDO_MOUNTS)


@dataclass(frozen=True, slots=True)
class Levels:
    """Where a value turns WARNING and CRITICAL (at or above)."""

    warning: float
    critical: float

    @classmethod
    def of(cls, threshold: Threshold) -> Levels:
        return cls(threshold.warning, threshold.critical)

    def judge(self, value: float) -> Status:
        if value >= self.critical:
            return Status.CRITICAL
        if value >= self.warning:
            return Status.WARNING
        return Status.OK


class HostSource:
    """The host's own health (see the module docstring)."""

    name = "node.host"

    def __init__(self, config: NodeConfig, host: str, statvfs: Statvfs = os.statvfs,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.host = host
        self.proc = config.proc_root
        self.sys = config.sys_root
        self._statvfs = statvfs
        self._clock = clock
        self._ignored = re.compile(config.interfaces_ignored)
        self._errors: dict[str, tuple[int, int]] | None = None  # last run's, per interface
        self._kmsg: KernelLogTail | None = None
        self.levels = {name: Levels.of(getattr(config.thresholds, name))
                       for name in ("disk", "inodes", "memory", "swap", "load")}

    def collect(self) -> Collection:
        return (self.filesystems() + self.load() + self.memory() + self.network()
                + self.disk_io())

    # ------------------------------------------------------------------ helpers
    def _read(self, path: Path) -> str:
        return path.read_text(encoding="utf-8")

    def _unknown(self, check: str, exc: OSError | ValueError, what: Path | str,
                 **labels: str) -> Collection:
        """The item's UNKNOWN check, with why it could not be read."""
        if isinstance(exc, OSError):
            reason = f"cannot read {exc.filename or what}: {exc.strerror or exc}"
        else:
            reason = f"{what}: unreadable: {exc}"
        return Collection(checks=(CheckResult(check, Status.UNKNOWN, reason,
                                              self._labels(**labels), timestamp=self._clock()),))

    def _labels(self, **labels: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({"host": self.host, **labels}.items()))

    def _sample(self, name: str, value: float, now: float, **labels: str) -> Sample:
        return Sample(name, float(value), self._labels(**labels), now)

    # -------------------------------------------------------------- filesystems
    def mounts(self) -> list[procfs.Mount]:
        """The data filesystems, one mount point per device (the first listed)."""
        try:  # init's view is the host's, even when stackwatch runs in a container
            text = self._read(self.proc / "1" / "mounts")
        except OSError:
            text = self._read(self.proc / "self" / "mounts")
        seen: set[str] = set()
        chosen = []
        for mount in procfs.parse_mounts(text):
            if self.config.mounts:
                if mount.path not in self.config.mounts:
                    continue
            elif mount.fstype in PSEUDO_FILESYSTEMS or _pseudo_mount(mount.path):
                continue
            if mount.device in seen:
                continue
            seen.add(mount.device)
            chosen.append(mount)
        return chosen

    def filesystems(self) -> Collection:
        """``node.disk`` and ``node.inodes`` per mount, and their samples."""
        try:
            mounts = self.mounts()
        except (OSError, ValueError) as exc:
            return self._unknown("node.disk", exc, self.proc / "self" / "mounts")
        found = Collection()
        for mount in mounts:
            try:
                found += self._filesystem(mount)
            except OSError as exc:  # unmounted meanwhile, a stale NFS handle, no permission
                found += self._unknown("node.disk", exc, mount.path, mount=mount.path)
        missing = sorted(set(self.config.mounts) - {m.path for m in mounts})
        for path in missing:
            found += Collection(checks=(CheckResult(
                "node.disk", Status.CRITICAL, f"{path}: not mounted", self._labels(mount=path),
                timestamp=self._clock()),))
        return found

    def _filesystem(self, mount: procfs.Mount) -> Collection:
        target = str(self.config.rootfs / mount.path.lstrip("/"))
        st = self._statvfs(target)
        now = self._clock()
        total = st.f_blocks * st.f_frsize
        free = st.f_bfree * st.f_frsize
        avail = st.f_bavail * st.f_frsize
        used = total - free
        percent = 100.0 * used / (used + avail) if used + avail > 0 else 0.0
        labels = {"mount": mount.path, "device": mount.device, "fstype": mount.fstype}
        samples = [
            self._sample("stackwatch_node_filesystem_size_bytes", total, now, **labels),
            self._sample("stackwatch_node_filesystem_avail_bytes", avail, now, **labels),
            self._sample("stackwatch_node_filesystem_free_bytes", free, now, **labels),
            self._sample("stackwatch_node_filesystem_files", st.f_files, now, **labels),
            self._sample("stackwatch_node_filesystem_files_free", st.f_ffree, now, **labels),
        ]
        levels = self.levels["disk"]
        checks = [CheckResult(
            "node.disk", levels.judge(percent),
            f"{mount.path}: {percent:.0f}% used ({size(used)} of {size(used + avail)}, "
            f"{size(avail)} free)", self._labels(mount=mount.path),
            (PerfDatum(mount.path, round(percent, 1), "%", levels.warning, levels.critical,
                       0, 100),), now)]
        if st.f_files > 0:  # btrfs, vfat and others have no fixed number of inodes
            inodes = 100.0 * (st.f_files - st.f_ffree) / st.f_files
            levels = self.levels["inodes"]
            checks.append(CheckResult(
                "node.inodes", levels.judge(inodes),
                f"{mount.path}: {inodes:.0f}% of inodes used ({st.f_ffree:,} of "
                f"{st.f_files:,} free)", self._labels(mount=mount.path),
                (PerfDatum(f"{mount.path} inodes", round(inodes, 1), "%", levels.warning,
                           levels.critical, 0, 100),), now))
        return Collection(tuple(samples), tuple(checks))

    # --------------------------------------------------------------------- load
    def cpus(self) -> int:
        """CPUs online (``/sys``), else the ``cpuN`` lines of ``/proc/stat``."""
        try:
            return procfs.parse_cpu_list(self._read(self.sys / "devices/system/cpu/online"))
        except (OSError, ValueError):
            lines = self._read(self.proc / "stat").splitlines()
            count = sum(1 for line in lines if re.match(r"cpu\d+ ", line))
            if count == 0:
                raise ValueError("no cpuN line in /proc/stat") from None
            return count

    def load(self) -> Collection:
        """``node.load``: the 5-minute load average per CPU."""
        path = self.proc / "loadavg"
        try:
            one, five, fifteen = procfs.parse_loadavg(self._read(path))
            cpus = self.cpus()
        except (OSError, ValueError) as exc:
            return self._unknown("node.load", exc, path)
        now = self._clock()
        levels = self.levels["load"]
        per_cpu = five / cpus
        samples = (self._sample("stackwatch_node_load1", one, now),
                   self._sample("stackwatch_node_load5", five, now),
                   self._sample("stackwatch_node_load15", fifteen, now),
                   self._sample("stackwatch_node_cpus", cpus, now))
        perfdata = tuple(PerfDatum(name, value, "", levels.warning * cpus,
                                   levels.critical * cpus, 0)
                         for name, value in (("load1", one), ("load5", five),
                                             ("load15", fifteen)))
        check = CheckResult("node.load", levels.judge(per_cpu),
                            f"load {one:g} {five:g} {fifteen:g} on "
                            f"{plural(cpus, 'CPU')}: {per_cpu:.2f} per CPU over 5 min",
                            self._labels(), perfdata, now)
        return Collection(samples, (check,))

    # ------------------------------------------------------------------- memory
    def memory(self) -> Collection:
        """``node.memory`` and ``node.swap``."""
        path = self.proc / "meminfo"
        try:
            mem = procfs.parse_meminfo(self._read(path))
        except (OSError, ValueError) as exc:
            return self._unknown("node.memory", exc, path) + self._unknown("node.swap", exc, path)
        now = self._clock()
        samples = (self._sample("stackwatch_node_memory_total_bytes", mem.total, now),
                   self._sample("stackwatch_node_memory_available_bytes", mem.available, now),
                   self._sample("stackwatch_node_swap_total_bytes", mem.swap_total, now),
                   self._sample("stackwatch_node_swap_free_bytes", mem.swap_free, now))
        used = mem.total - mem.available
        percent = 100.0 * used / mem.total
        levels = self.levels["memory"]
        checks = [CheckResult(
            "node.memory", levels.judge(percent),
            f"memory {percent:.0f}% used ({size(used)} of {size(mem.total)}, "
            f"{size(mem.available)} available)", self._labels(),
            (PerfDatum("memory", round(percent, 1), "%", levels.warning, levels.critical,
                       0, 100),), now)]
        levels = self.levels["swap"]
        if mem.swap_total <= 0:
            checks.append(CheckResult("node.swap", Status.OK, "no swap", self._labels(),
                                      (PerfDatum("swap", 0, "%", levels.warning,
                                                 levels.critical, 0, 100),), now))
        else:
            swap_used = mem.swap_total - mem.swap_free
            swap = 100.0 * swap_used / mem.swap_total
            checks.append(CheckResult(
                "node.swap", levels.judge(swap),
                f"swap {swap:.0f}% used ({size(swap_used)} of {size(mem.swap_total)})",
                self._labels(), (PerfDatum("swap", round(swap, 1), "%", levels.warning,
                                           levels.critical, 0, 100),), now))
        return Collection(samples, tuple(checks))

    # ------------------------------------------------------------------ network
    def _operstate(self, interface: str) -> float | None:
        try:
            return 1.0 if self._read(self.sys / "class/net" / interface / "operstate"
                                     ).strip() == "up" else 0.0
        except (OSError, ValueError):
            return None  # a virtual interface without it, or gone since

    def network(self) -> Collection:
        """Counters per interface and ``node.network`` (errors since the last run)."""
        path = self.proc / "net" / "dev"
        try:
            interfaces = [i for i in procfs.parse_net_dev(self._read(path))
                          if not self._ignored.match(i.name)]
        except (OSError, ValueError) as exc:
            return self._unknown("node.network", exc, path)
        now = self._clock()
        samples = []
        for i in interfaces:
            for name, value in (("receive_bytes", i.rx_bytes), ("transmit_bytes", i.tx_bytes),
                                ("receive_errors", i.rx_errors),
                                ("transmit_errors", i.tx_errors),
                                ("receive_drops", i.rx_drops), ("transmit_drops", i.tx_drops)):
                samples.append(self._sample(f"stackwatch_node_network_{name}_total", value,
                                            now, device=i.name))
            up = self._operstate(i.name)
            if up is not None:
                samples.append(self._sample("stackwatch_node_network_up", up, now,
                                            device=i.name))
        errors = {i.name: (i.rx_errors, i.tx_errors) for i in interfaces}
        previous, self._errors = self._errors, errors
        total = sum(rx + tx for rx, tx in errors.values())
        perfdata = (PerfDatum("errors", total, "c", minimum=0),)
        if previous is None:
            bad = [f"{name} {rx} receive, {tx} transmit" for name, (rx, tx) in errors.items()
                   if rx or tx]
            message = (f"{plural(len(errors), 'interface')}; errors since they came up: "
                       + ("; ".join(bad) if bad else "none"))
            check = CheckResult("node.network", Status.OK, message, self._labels(), perfdata,
                                now)
            return Collection(tuple(samples), (check,))
        rising = []
        for name, (rx, tx) in errors.items():
            was_rx, was_tx = previous.get(name, (rx, tx))
            # a counter that went down: the interface was re-created; nothing to compare
            new_rx, new_tx = max(0, rx - was_rx), max(0, tx - was_tx)
            if new_rx or new_tx:
                rising.append(f"{name} {new_rx} receive, {new_tx} transmit")
        if rising:
            check = CheckResult("node.network", Status.WARNING,
                                "errors since the last look: " + "; ".join(rising),
                                self._labels(), perfdata, now)
        else:
            check = CheckResult("node.network", Status.OK,
                                f"{plural(len(errors), 'interface')}, no new error",
                                self._labels(), perfdata, now)
        return Collection(tuple(samples), (check,))

    # ------------------------------------------------------------------ disk io
    def kernel_records(self) -> list[procfs.KernelRecord]:
        """The kernel log's records: from ``/dev/kmsg`` those naming a disk still in the
        ring, read as it grows (:class:`KernelLogTail`); from a recorded file, all of them
        (``ValueError`` when it holds none)."""
        path = self.config.kernel_log
        if stat.S_ISCHR(os.stat(path).st_mode):
            if self._kmsg is None or self._kmsg.path != path:
                self._kmsg = KernelLogTail(path)
            return self._kmsg.records()
        text = path.read_text(encoding="utf-8", errors="replace")
        records = procfs.parse_kmsg(text)
        if text.strip() and not records:
            raise ValueError("no kernel log record in it")
        return records

    def disk_io(self) -> Collection:
        """``node.disk_io``: disk I/O errors the kernel logged within the window."""
        path = self.config.kernel_log
        try:
            records = self.kernel_records()
        except PermissionError as exc:
            found = self._unknown("node.disk_io", exc, path)
            hint = " (kernel.dmesg_restrict: run as root or with CAP_SYSLOG)"
            return Collection(checks=tuple(
                CheckResult(c.name, c.status, c.message + hint, c.labels, c.perfdata,
                            c.timestamp) for c in found.checks))
        except (OSError, ValueError) as exc:
            return self._unknown("node.disk_io", exc, path)
        try:  # the records' times are since boot
            uptime = procfs.parse_uptime(self._read(self.proc / "uptime"))
        except (OSError, ValueError) as exc:
            return self._unknown("node.disk_io", exc, self.proc / "uptime")
        now = self._clock()
        window = self.config.disk_io_window
        recent: Counter[str] = Counter()
        older: Counter[str] = Counter()
        last: dict[str, float] = {}
        for record in records:
            device = disk_device(record.message)
            if not device:
                continue
            age = uptime - record.seconds
            (recent if age <= window else older)[device] += 1
            last[device] = min(last.get(device, age), age)
        total = sum(recent.values())
        perfdata = (PerfDatum("errors", total, "", minimum=0),)
        if recent:
            devices = ", ".join(f"{device} x{n} (last {span(last[device])} ago)"
                                for device, n in recent.most_common())
            check = CheckResult("node.disk_io", Status.CRITICAL,
                                f"{plural(total, 'disk I/O error')} in the kernel log in the "
                                f"last {span(window)}: {devices}", self._labels(), perfdata, now)
        else:
            message = f"no disk I/O error in the kernel log in the last {span(window)}"
            if older:
                message += (f" ({sum(older.values())} older: "
                            f"{', '.join(sorted(older))})")
            check = CheckResult("node.disk_io", Status.OK, message, self._labels(), perfdata,
                                now)
        return Collection(checks=(check,))
