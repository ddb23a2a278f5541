"""Recorded process tables and host trees of tests/data, loaded as the node checks read them."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from stackwatch.sources.node.table import Listener, ProcessInfo

DATA = Path(__file__).resolve().parents[1] / "data"
REALCLOUD_TABLE = DATA / "recorded" / "infra" / "psutil-table.json"
TABLES = DATA / "node" / "tables"
TREES = DATA / "proc"


class Table:
    """A recorded process table: its processes, its sockets, and when it was recorded."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.processes = [ProcessInfo(p["pid"], p["ppid"], p["name"], tuple(p["cmdline"]),
                                      p["status"], p["create_time"], p["cpu_seconds"],
                                      p["rss_bytes"]) for p in data["processes"]]
        self.listening = [Listener(s["port"], s["address"], s["protocol"], s["pid"])
                          for s in data["listening"]]
        # a clock an hour after the youngest process started
        self.now = max(p.create_time for p in self.processes) + 3600

    def rows(self) -> list[ProcessInfo]:
        return list(self.processes)

    def sockets(self) -> list[Listener]:
        return list(self.listening)

    def clock(self) -> Callable[[], float]:
        return lambda: self.now


def realcloud() -> Table:
    return Table(REALCLOUD_TABLE)


def table(name: str) -> Table:
    return Table(TABLES / f"{name}.json")


class Tree:
    """A copy of a recorded host tree that a test may change, and its statvfs replay."""

    def __init__(self, name: str, where: Path) -> None:
        self.root = where / name
        shutil.copytree(TREES / name, self.root)
        self.statvfs_rows: dict[str, list[int]] = json.loads(
            (self.root / "statvfs.json").read_text())

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def kmsg(self) -> Path:
        return self.root / "kmsg"

    def statvfs(self, path: str) -> os.statvfs_result:
        """``os.statvfs`` as recorded (paths given as ``/`` + mount point)."""
        key = "/" + path.lstrip("/")
        if key not in self.statvfs_rows:
            raise FileNotFoundError(2, "No such file or directory", path)
        return os.statvfs_result(tuple(self.statvfs_rows[key]))

    def fill(self, mount: str, percent: float) -> None:
        """Make ``mount`` ``percent`` % used, df's way, keeping its size and reserve."""
        row = self.statvfs_rows[mount]
        blocks, free, avail = row[2], row[3], row[4]
        reserve = free - avail
        usable = blocks - reserve
        used = math.ceil(usable * percent / 100)
        row[3] = blocks - used
        row[4] = usable - used
