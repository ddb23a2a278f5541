#!/usr/bin/env python3
"""Record what the host check (``stackwatch.sources.node.host``) reads of this machine.

Writes ``<out>/<name>/``, a tree the tests replay through the check's injectable roots::

    proc/loadavg  proc/meminfo  proc/net/dev  proc/self/mounts  proc/uptime
    proc/net/{tcp,tcp6,udp,udp6}   (the sockets: the port check's fallback reader)
    proc/stat                      (its cpu lines only)
    sys/devices/system/cpu/online
    sys/class/net/<interface>/operstate
    kmsg                           the kernel log (/dev/kmsg records, the last --records)
    statvfs.json                   statvfs() of every mount point, by path
    INFO.json                      when, on what kernel

Run as root to read ``/dev/kmsg`` where ``kernel.dmesg_restrict`` is set::

    python scripts/record_host_tree.py --name vm-2cpu [--out tests/data/proc]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

PROC_FILES = ("loadavg", "meminfo", "net/dev", "net/tcp", "net/tcp6", "net/udp", "net/udp6",
              "self/mounts", "uptime")


def read_kmsg(limit: int) -> list[str]:
    """The last ``limit`` records of the kernel log, continuation lines kept."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    records: list[str] = []
    try:
        while True:
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue
            if not chunk:
                break
            records.append(chunk.decode("utf-8", errors="replace"))
    finally:
        os.close(fd)
    return records[-limit:]


def sockets_kept(text: str, others: int = 20) -> str:
    """A socket table with its header, every listening (TCP 0A) or unconnected (UDP 07)
    socket, and the first ``others`` of the rest (a busy machine has thousands)."""
    lines = text.splitlines()
    kept = [lines[0]]
    rest = 0
    for line in lines[1:]:
        fields = line.split()
        if fields[3] in ("0A", "07"):
            kept.append(line)
        elif rest < others:
            kept.append(line)
            rest += 1
    return "\n".join(kept) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--name", required=True, help="folder name of the recording")
    parser.add_argument("--out", type=Path, default=Path("tests/data/proc"))
    parser.add_argument("--records", type=int, default=200,
                        help="kernel log records to keep (the last ones)")
    args = parser.parse_args(argv)
    root = args.out / args.name
    for name in PROC_FILES:
        target = root / "proc" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = Path("/proc", name).read_text()
        if name.startswith(("net/tcp", "net/udp")):
            text = sockets_kept(text)
        target.write_text(text)
    stat = [line for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("cpu")]
    (root / "proc" / "stat").write_text("\n".join(stat) + "\n")
    online = root / "sys/devices/system/cpu/online"
    online.parent.mkdir(parents=True, exist_ok=True)
    online.write_text(Path("/sys/devices/system/cpu/online").read_text())
    for interface in sorted(os.listdir("/sys/class/net")):
        state = Path("/sys/class/net", interface, "operstate")
        if state.exists():
            target = root / "sys/class/net" / interface / "operstate"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(state.read_text())
    statvfs: dict[str, list[int]] = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        path = line.split()[1].replace("\\040", " ")
        try:
            statvfs[path] = list(os.statvfs(path))
        except OSError as exc:
            print(f"statvfs {path}: {exc.strerror}", file=sys.stderr)
    (root / "statvfs.json").write_text(json.dumps(statvfs, indent=1) + "\n")
    try:
        records = read_kmsg(args.records)
    except OSError as exc:
        sys.exit(f"cannot read /dev/kmsg: {exc.strerror} (run as root)")
    (root / "kmsg").write_text("".join(records))
    (root / "INFO.json").write_text(json.dumps({
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": platform.release(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "kmsg_records": len(records)}, indent=1) + "\n")
    print(f"{root}: {len(statvfs)} mounts, {len(records)} kernel log records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
