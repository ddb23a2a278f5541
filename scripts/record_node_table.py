#!/usr/bin/env python3
"""Record the realcloud control plane's processes and sockets as psutil sees them.

``record_infra.py`` keeps ``ps`` and ``ss`` text; the node checks read psutil, whose
``name()`` is neither (the kernel's ``comm``, extended from the command line when that
starts with it: ``gunicorn: worker [nova-api]``, ``nova-scheduler:``, ``nova-compute``)
and whose ``cmdline()`` of a retitled process is its title. This writes
``<out>/infra/psutil-table.json`` with, for the same processes (``record_infra``'s
selection: the pid files' process groups and RabbitMQ's helpers), what
``stackwatch.sources.node.table`` reads: pid, ppid, name, cmdline (trailing empty
arguments dropped), status, create_time, CPU seconds, RSS; and every listening TCP
socket of each (one row per socket and process, as ``ss -ltnp`` shows them).

Paths of the recording host are rewritten as ``record_logs.py`` does (``/usr/bin``,
``/etc``, ``/var/log/openstack``...). It only reads; the realcloud keeps running::

    python scripts/record_node_table.py --root <root> [--out tests/data/recorded]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psutil
from record_infra import processes
from record_logs import RELEASE, scrub, scrubber


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True,
                        help="the control plane's root ($RC_ROOT): pid files in <root>/run")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    args = parser.parse_args(argv)
    root = args.root.resolve()
    pairs = scrubber(root)
    rows = []
    listening = []
    for pid, _ in processes(root):
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                cmdline = proc.cmdline()
                while cmdline and not cmdline[-1]:
                    cmdline.pop()
                times = proc.cpu_times()
                rows.append({
                    "pid": pid, "ppid": proc.ppid(), "name": proc.name(),
                    "cmdline": [scrub(arg, pairs) for arg in cmdline],
                    "status": proc.status(), "create_time": proc.create_time(),
                    "cpu_seconds": round(times.user + times.system, 2),
                    "rss_bytes": proc.memory_info().rss})
                listening.extend({"port": c.laddr.port, "address": c.laddr.ip,
                                  "protocol": "tcp", "pid": pid}
                                 for c in proc.net_connections(kind="tcp")
                                 if c.status == psutil.CONN_LISTEN)
        except psutil.NoSuchProcess:
            continue  # gone since ps ran
    out = args.out / "infra"
    out.mkdir(parents=True, exist_ok=True)
    (out / "psutil-table.json").write_text(json.dumps({
        "release": RELEASE,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "processes": rows,
        "listening": sorted(listening, key=lambda r: (r["port"], r["address"], r["pid"])),
    }, indent=1) + "\n")
    print(f"{len(rows)} processes, {len(listening)} listening sockets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
