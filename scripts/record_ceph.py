#!/usr/bin/env python3
"""Record what a real Ceph cluster says in each state stackwatch judges.

Brings up a small Ceph cluster on 127.0.0.1 from Debian's ``ceph`` packages (no cephadm,
no systemd): three monitors st1, st2, st3, one manager, six OSDs on the ``memstore``
object store, two in each of the CRUSH hosts st1, st2 and st3; OpenStack's pools
(volumes, images, vms, backups; replicated, size 3, min_size 2, 8 PGs each, application
rbd) and some objects written into them. Then drives it through the states below and
writes, per state, into ``<out>/ceph/<state>/`` the unedited output of::

    ceph status -f json          -> status.json
    ceph df -f json              -> df.json
    ceph osd tree -f json        -> osd-tree.json
    ceph health detail -f json   -> health-detail.json
    ceph mon dump -f json        -> mon-dump.json

States (in this order, on one cluster)::

    healthy       HEALTH_OK, every PG active+clean
    near-full     ceph osd set-nearfull-ratio 0.15 (the OSDs are about 25 % full),
                  restored to 0.85 afterwards
    recovery-paused  ceph osd set nobackfill and norecover, then ceph osd out 1: objects
                  degraded and misplaced, PGs waiting to recover; undone afterwards
                  (osd in, flags unset, clean again)
    osd-down      osd.3 (on st2) killed -9 and marked down by its peers
    osd-out       then ceph osd out 3, read as soon as the PGs are active again
    host-down     then osd.2 and mon.st2 killed -9: st2 down
    pgs-inactive  then osd.4 and osd.5 killed -9 (st3's OSDs down too): one copy of 3
                  left, below min_size: the PGs are not active

Each state is read once the PG states have settled (no PG peering or stale).

``<out>/ceph/VERSION`` holds ``ceph --version``. Everything is stopped and its directory
removed at the end. Usage (as root: the daemons write under ``/tmp/stackwatch-ceph``)::

    python3 scripts/record_ceph.py [--out tests/data/infra]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE = Path("/tmp/stackwatch-ceph")
MONS = {name: f"[v2:127.0.0.1:{13300 + i},v1:127.0.0.1:{16789 + i}]"
        for i, name in enumerate(("st1", "st2", "st3"))}
HOSTS = {0: "st1", 1: "st1", 2: "st2", 3: "st2", 4: "st3", 5: "st3"}
POOLS = ("volumes", "images", "vms", "backups")
#: objects of 4 MiB written into each pool
WRITTEN = (("volumes", 14), ("images", 8), ("vms", 8), ("backups", 2))
COMMANDS = {"status": ["status"], "df": ["df"], "osd-tree": ["osd", "tree"],
            "health-detail": ["health", "detail"], "mon-dump": ["mon", "dump"]}

CONFIG = """[global]
fsid = {fsid}
mon host = {mon}
mon initial members = st1, st2, st3
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
run dir = {base}/run
admin socket = {base}/run/$cluster-$name.asok
log file = {base}/log/$cluster-$name.log
pid file = {base}/run/$cluster-$name.pid
mon data = {base}/mon-$id
mgr data = {base}/mgr-$id
osd data = {base}/osd-$id
# the disk holding /tmp may be fuller than the 30 % free a monitor wants
mon data avail warn = 1
mon allow pool delete = true
osd objectstore = memstore
memstore device bytes = 268435456
osd pool default size = 3
osd pool default min size = 2
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 1
# an OSD killed is reported down by its peers within seconds (a lab has few hosts)
osd heartbeat interval = 1
osd heartbeat grace = 5
mon osd min down reporters = 1
mon osd reporter subtree level = osd
{osds}
"""


def ceph(*args: str, timeout: float = 30) -> str:
    return subprocess.run(["ceph", "-c", str(BASE / "ceph.conf"), *args], check=True,
                          capture_output=True, text=True, timeout=timeout).stdout


def status() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ceph("status", "-f", "json"))
    return data


def wait(what: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready(status()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}: {ceph('status')}")
        time.sleep(1)


def pgs(data: dict[str, Any]) -> dict[str, int]:
    return {s["state_name"]: s["count"] for s in data["pgmap"].get("pgs_by_state", [])}


def all_clean(data: dict[str, Any]) -> bool:
    states = pgs(data)
    return bool(states) and set(states) == {"active+clean"} \
        and data["pgmap"]["num_pgs"] == sum(states.values())


def health_has(code: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: code in data["health"].get("checks", {})


def record(out: Path, state: str) -> None:
    folder = out / state
    folder.mkdir(parents=True, exist_ok=True)
    for name, words in COMMANDS.items():
        (folder / f"{name}.json").write_text(ceph(*words, "-f", "json"))
    print(f"recorded {state}: {status()['health']['status']}", flush=True)


def kill(daemon: str) -> None:
    """Kill -9 ``osd.3``, ``mon.st2``..."""
    pid = int((BASE / "run" / f"ceph-{daemon}.pid").read_text())
    os.kill(pid, signal.SIGKILL)


def settled(data: dict[str, Any]) -> bool:
    """The PG states no longer moving through peering (nor stale from a dead OSD)."""
    return not any(w in s.split("+") for s in pgs(data)
                   for w in ("peering", "stale", "activating", "unknown"))


def undersized(data: dict[str, Any]) -> bool:
    return any("undersized" in s.split("+") for s in pgs(data))


def start() -> None:
    """Monitor, manager, OSDs and pools, up and clean."""
    for sub in ("run", "log", "mgr-x", *(f"mon-{m}" for m in MONS)):
        (BASE / sub).mkdir(parents=True)
    fsid = str(uuid.uuid4())
    osds = "".join(f"[osd.{i}]\ncrush location = root=default host={h}\n"
                   for i, h in HOSTS.items())
    (BASE / "ceph.conf").write_text(CONFIG.format(fsid=fsid, mon=",".join(MONS.values()),
                                                  base=BASE, osds=osds))
    conf = ["-c", str(BASE / "ceph.conf")]
    subprocess.run(["monmaptool", "--create", *(a for name, address in MONS.items()
                                                for a in ("--addv", name, address)),
                    "--fsid", fsid, str(BASE / "monmap")], check=True, capture_output=True)
    for name in MONS:
        subprocess.run(["ceph-mon", *conf, "--mkfs", "-i", name, "--monmap",
                        str(BASE / "monmap")], check=True)
        subprocess.run(["ceph-mon", *conf, "-i", name], check=True)
    wait("the monitors' quorum", lambda d: len(d["quorum_names"]) == len(MONS))
    subprocess.run(["ceph-mgr", *conf, "-i", "x"], check=True)
    for osd in HOSTS:
        osd_uuid = str(uuid.uuid4())
        assert ceph("osd", "new", osd_uuid).strip() == str(osd)
        (BASE / f"osd-{osd}").mkdir()
        subprocess.run(["ceph-osd", *conf, "-i", str(osd), "--mkfs", "--osd-uuid", osd_uuid],
                       check=True, capture_output=True)
        subprocess.run(["ceph-osd", *conf, "-i", str(osd)], check=True, capture_output=True)
    wait("the OSDs", lambda d: d["osdmap"]["num_up_osds"] == len(HOSTS))
    for pool in POOLS:
        ceph("osd", "pool", "create", pool, "8", "8", "replicated")
        ceph("osd", "pool", "application", "enable", pool, "rbd")
    wait("the manager", lambda d: d["mgrmap"]["available"])
    payload = BASE / "payload"
    payload.write_bytes(os.urandom(4 * 1024 * 1024))
    for pool, objects in WRITTEN:
        for n in range(objects):
            subprocess.run(["rados", *conf, "-p", pool, "put", f"object-{n}", str(payload)],
                           check=True, timeout=60)
    wait("HEALTH_OK", lambda d: all_clean(d) and d["health"]["status"] == "HEALTH_OK")
    written = sum(n for _, n in WRITTEN)
    deadline = time.monotonic() + 120   # the manager's statistics lag the writes
    while sum(p["stats"]["objects"] for p in json.loads(ceph("df", "-f", "json"))["pools"]) \
            < written:
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for ceph df to count the objects written")
        time.sleep(1)


def stop() -> None:
    for pidfile in (BASE / "run").glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    time.sleep(1)
    shutil.rmtree(BASE, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "infra")
    out = parser.parse_args().out / "ceph"
    if BASE.exists():
        stop()
    try:
        start()
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        (out / "VERSION").write_text(subprocess.run(["ceph", "--version"], check=True,
                                                    capture_output=True, text=True).stdout)
        record(out, "healthy")

        ceph("osd", "set-nearfull-ratio", "0.15")
        wait("OSD_NEARFULL", health_has("OSD_NEARFULL"))
        record(out, "near-full")
        ceph("osd", "set-nearfull-ratio", "0.85")
        wait("HEALTH_OK", lambda d: d["health"]["status"] == "HEALTH_OK")

        ceph("osd", "set", "nobackfill")
        ceph("osd", "set", "norecover")   # few objects: moved by log-based recovery
        ceph("osd", "out", "1")
        wait("the PGs remapped", lambda d: settled(d) and d["osdmap"]["num_in_osds"] == 5
             and d["pgmap"].get("misplaced_objects"))
        record(out, "recovery-paused")
        ceph("osd", "in", "1")
        ceph("osd", "unset", "nobackfill")
        ceph("osd", "unset", "norecover")
        wait("HEALTH_OK", lambda d: all_clean(d) and d["health"]["status"] == "HEALTH_OK")

        kill("osd.3")
        wait("osd.3 down", lambda d: d["osdmap"]["num_up_osds"] == 5 and undersized(d)
             and settled(d))
        record(out, "osd-down")

        ceph("osd", "out", "3")
        # the PGs it held map to the other OSD of st2: no longer undersized
        wait("the PGs remapped", lambda d: d["osdmap"]["num_in_osds"] == 5 and settled(d)
             and not undersized(d))
        record(out, "osd-out")

        kill("osd.2")
        kill("mon.st2")
        wait("st2 down", lambda d: health_has("OSD_HOST_DOWN")(d) and health_has("MON_DOWN")(d)
             and undersized(d) and settled(d))
        record(out, "host-down")

        kill("osd.4")
        kill("osd.5")
        wait("st3's OSDs down", lambda d: d["osdmap"]["num_up_osds"] == 2 and settled(d)
             and health_has("PG_AVAILABILITY")(d))
        record(out, "pgs-inactive")
    finally:
        stop()


if __name__ == "__main__":
    main()
