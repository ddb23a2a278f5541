#!/usr/bin/env python3
"""Record the processes and listening sockets of a real OpenStack control plane.

Writes into ``<out>/infra/``:

* ``ps-openstack.txt``: ``ps -eo pid,ppid,user,args`` of the control plane's
  processes: every process in the process group of a pid file of ``<root>/run/``
  (the services, MariaDB, RabbitMQ; not the tests' ``rc-*`` helpers) and RabbitMQ's
  ``epmd``, ``inet_gethost``, ``erl_child_setup``;
* ``ss-ltnp.txt``: ``ss -ltnp`` (header kept) of the TCP ports those processes listen on;
* ``INFO.json``: the release, when and how it was recorded;
* with ``--rabbitmq-url``: ``rabbitmq-api-{overview,nodes,queues}.json``, the whole
  answers of the management API (the user's password in ``$RC_PASSWORD``).

Paths of the recording host are rewritten and secrets scrubbed as in
``record_logs.py``. Usage (``<root>`` is the realcloud's ``$RC_ROOT``)::

    python scripts/record_infra.py --root <root> [--out tests/data/recorded]
        [--rabbitmq-url http://127.0.0.1:15672 --rabbitmq-user monitor]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from record_logs import RELEASE, scrub, scrubber

RABBIT_HELPERS = ("epmd", "inet_gethost", "erl_child_setup")


def leaders(root: Path) -> set[int]:
    """Process-group leaders named by the pid files of ``<root>/run`` (not the tests' own
    helpers, ``rc-*.pid``, such as the fake L3 agent)."""
    found = set()
    for path in (root / "run").glob("*.pid"):
        if path.name.startswith("rc-"):
            continue
        text = path.read_text().strip()
        if text.isdigit():
            found.add(int(text))
    return found


def processes(root: Path) -> list[tuple[int, str]]:
    """(pid, ``ps -eo pid,ppid,user,args`` line) of the control plane's processes: the
    pid files' processes, their process groups and descendants, RabbitMQ's helpers."""
    groups = leaders(root)
    out = subprocess.run(["ps", "-eo", "pid,ppid,pgid,user,args", "--sort", "pid"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    rows = [line.split(None, 4) for line in out[1:]]
    parent = {int(row[0]): int(row[1]) for row in rows}

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid in groups:
                return True
            pid = parent.get(pid, 0)
        return False

    found = []
    for pid, ppid, pgid, user, args in rows:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # gone since ps ran
        ours = int(pgid) in groups or descends(int(pid)) or (
            user == "rabbitmq" and comm in RABBIT_HELPERS)
        if ours and int(pid) != os.getpid():
            found.append((int(pid), f"{pid:>5} {ppid:>5} {user:<8} {args}"))
    return found


def listening(pids: set[int]) -> list[str]:
    """``ss -ltnp`` lines (header first) of the sockets those processes listen on."""
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return out[:1] + [line for line in out[1:]
                      if any(f"pid={pid}," in line for pid in pids)]


def record_rabbitmq(url: str, user: str, out: Path) -> None:
    """The management API's overview, nodes and queues, whole, as the broker answers."""
    token = base64.b64encode(f"{user}:{os.environ.get('RC_PASSWORD', '')}".encode()).decode()
    for name in ("overview", "nodes", "queues"):
        request = urllib.request.Request(f"{url.rstrip('/')}/api/{name}",
                                         headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = json.load(answer)
        (out / f"rabbitmq-api-{name}.json").write_text(json.dumps(data, indent=4) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True,
                        help="the control plane's root ($RC_ROOT): pid files in <root>/run")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    parser.add_argument("--rabbitmq-url", help="the management API, e.g. http://127.0.0.1:15672")
    parser.add_argument("--rabbitmq-user", default="monitor")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    pairs = scrubber(root)
    found = processes(root)
    out = args.out / "infra"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ps-openstack.txt").write_text("".join(scrub(line, pairs) + "\n"
                                                  for _, line in found))
    sockets = listening({pid for pid, _ in found})
    (out / "ss-ltnp.txt").write_text("".join(scrub(line, pairs) + "\n" for line in sockets))
    (out / "INFO.json").write_text(json.dumps({
        "release": RELEASE,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "processes": len(found), "listening": len(sockets) - 1}, indent=1) + "\n")
    if args.rabbitmq_url:
        record_rabbitmq(args.rabbitmq_url, args.rabbitmq_user, out)
    print(f"{len(found)} processes, {len(sockets) - 1} listening sockets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
