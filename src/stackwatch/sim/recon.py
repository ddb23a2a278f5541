"""Swift's storage nodes, served with the optional services: the recon middleware of each
node's object, container and account server, each on a 127.0.0.1 port of its own.

:func:`generate` makes the ground truth (:class:`SwiftNodes`, the same for the same
seed): per node its devices (sizes, space used, mounted), the last replication pass of
each replicator (attempted, successes, failures, duration), async pendings, quarantined
items, the md5 of each ring and of ``swift.conf``. :func:`answer` is what
``GET /recon/<check>`` answers from it, shaped as swift 2.37's recon middleware answers
(``tests/data/recorded/swift/``): the object replicator's time in minutes, the account
and container replicators' in seconds; an unmounted device in ``diskusage`` with ``""``
sizes; a check it does not know a 404 ``Invalid path``. Each replicator ends a pass every
:data:`INTERVAL` seconds (swift's default ``interval``), so the last pass is always recent.

:class:`ReconServers` serves them (one thread, one asyncio loop, three sockets per node)
and takes the faults of :mod:`stackwatch.sim.faults`: ``swift-drive-unmounted``
(``node``, ``device``), ``swift-disk-full`` (``node``, ``device``, ``percent`` of it
used), ``swift-ring-mismatch`` (``node``, ``ring``: that node's ring file
differs from the others') and ``swift-replication-failures`` (``node``, ``kind``,
``count``: failures in the last pass). ``node`` empty: the first node (the last one for
the ring).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from stackwatch.errors import SimulatorError

log = logging.getLogger(__name__)

#: the version every simulated server reports (and the proxy's ``/info``)
SWIFT_VERSION = "2.37.4"
KINDS = ("object", "container", "account")
RINGS = ("account.ring.gz", "container.ring.gz", "object.ring.gz")
SWIFT_DIR = "/etc/swift"
#: seconds between two replication passes (the replicators' default ``interval``)
INTERVAL = 30.0
TB = 1000**4


@dataclass
class Device:
    name: str
    size: int
    used: int
    mounted: bool = True


@dataclass
class Pass:
    """A replicator's last pass."""

    attempted: int
    success: int
    failure: int
    #: in the replicator's unit: minutes for objects, seconds for containers and accounts
    duration: float
    #: where in :data:`INTERVAL` the pass ends (seconds)
    phase: float


@dataclass
class SwiftNode:
    name: str
    devices: list[Device]
    replication: dict[str, Pass]
    async_pending: int
    quarantined: dict[str, int]  # objects, containers, accounts
    rings: dict[str, str]  # ring file -> md5
    swift_conf: str  # md5

    def device(self, name: str) -> Device:
        for device in self.devices:
            if device.name == name or not name:
                return device
        raise SimulatorError(f"{self.name} has no device {name!r} "
                             f"(it has {', '.join(d.name for d in self.devices)})")


@dataclass
class SwiftNodes:
    """The simulated swift storage nodes (the ground truth of their recon answers)."""

    nodes: list[SwiftNode]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def node(self, name: str, default: int = 0) -> SwiftNode:
        if not name:
            return self.nodes[default]
        for node in self.nodes:
            if node.name == name:
                return node
        raise SimulatorError(f"no swift node {name!r} "
                             f"(there are {', '.join(n.name for n in self.nodes)})")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def generate(seed: int = 1, count: int = 3) -> SwiftNodes:
    """``count`` healthy storage nodes (``storage-0001``...), each with four devices."""
    rng = random.Random(f"swift-{seed}")
    rings = {ring: _md5(f"{seed}/{ring}") for ring in RINGS}
    conf = _md5(f"{seed}/swift.conf")
    nodes = []
    for i in range(count):
        size = rng.choice((4, 8, 12)) * TB
        devices = [Device(f"sd{letter}1", size, int(size * rng.uniform(0.2, 0.65)))
                   for letter in "bcde"]
        replication = {}
        for kind in KINDS:
            partitions = rng.randint(800, 1600) if kind == "object" else rng.randint(50, 400)
            duration = rng.uniform(0.5, 4.0) if kind == "object" else rng.uniform(2, 40)
            replication[kind] = Pass(partitions, 2 * partitions, 0, round(duration, 6),
                                     rng.uniform(0, INTERVAL))
        nodes.append(SwiftNode(
            f"storage-{i + 1:04d}", devices, replication, rng.randint(0, 6),
            {"objects": rng.randint(0, 3), "containers": 0, "accounts": 0}, dict(rings), conf))
    return SwiftNodes(nodes)


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SimulatorError(f"parameter {name} must be a number, not {text!r}") from None


def _replication(kind: str, done: Pass, now: float) -> dict[str, Any]:
    last = now - ((now + done.phase) % INTERVAL)
    if kind == "object":  # swift/obj/replicator.py
        stats: dict[str, Any] = {
            "attempted": done.attempted, "failure": done.failure, "hashmatch": done.attempted,
            "remove": 0, "rsync": 0, "success": done.success,
            "suffix_count": 3 * done.attempted, "suffix_hash": 0, "suffix_sync": 0}
        return {"object_replication_last": last, "object_replication_time": done.duration,
                "replication_last": last, "replication_stats": stats,
                "replication_time": done.duration}
    stats = {"attempted": done.attempted, "deferred": 0, "diff": 0, "diff_capped": 0,
             "empty": 0, "failure": done.failure, "hashmatch": 0,
             "no_change": done.success, "remote_merge": 0, "remove": 0, "rsync": 0,
             "start": last - done.duration, "success": done.success, "ts_repl": 0}
    return {"replication_last": last, "replication_stats": stats,
            "replication_time": done.duration}


def _disk(device: Device) -> dict[str, Any]:
    if not device.mounted:  # swift/common/middleware/recon.py: sizes unknown
        return {"avail": "", "device": device.name, "mounted": False, "size": "", "used": ""}
    return {"avail": device.size - device.used, "device": device.name, "mounted": True,
            "size": device.size, "used": device.used}


def answer(node: SwiftNode, check: str, now: float) -> Any | None:
    """The body of ``GET /recon/<check>`` on ``node`` at ``now``; None: not a check."""
    kind = check.removeprefix("replication/")
    if check.startswith("replication/") and kind in KINDS:
        return _replication(kind, node.replication[kind], now)
    if check == "version":
        return {"version": SWIFT_VERSION}
    if check == "async":
        return {"async_pending": node.async_pending,
                "async_pending_last": now - ((now + 7.0) % 300)}
    if check == "quarantined":
        objects = node.quarantined["objects"]
        return {**node.quarantined, "policies": {"0": {"objects": objects}} if objects else {}}
    if check == "diskusage":
        return [_disk(d) for d in node.devices]
    if check == "unmounted":
        return [{"device": d.name, "mounted": False} for d in node.devices if not d.mounted]
    if check == "ringmd5":
        return {f"{SWIFT_DIR}/{ring}": md5 for ring, md5 in sorted(node.rings.items())}
    if check == "swiftconfmd5":
        return {f"{SWIFT_DIR}/swift.conf": node.swift_conf}
    return None


class ReconServers:
    """Every node's three servers on 127.0.0.1 ports (see the module docstring)."""

    def __init__(self, nodes: SwiftNodes, host: str = "127.0.0.1") -> None:
        self.nodes = nodes
        self.host = host
        self.addresses: dict[str, dict[str, str]] = {}  # node -> kind -> host:port
        self.served = 0
        self._sockets: list[tuple[str, socket.socket]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._undo: dict[str, dict[tuple[str, str], Any]] = {}  # fault -> what it changed

    def start(self) -> ReconServers:
        try:
            for node in self.nodes.nodes:
                for kind in KINDS:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.bind((self.host, 0))
                    sock.listen(64)
                    sock.setblocking(False)
                    self._sockets.append((node.name, sock))
                    self.addresses.setdefault(node.name, {})[kind] = \
                        f"{self.host}:{sock.getsockname()[1]}"
        except OSError as exc:
            self.close()
            raise SimulatorError(f"cannot listen for swift's recon on {self.host}: "
                                 f"{exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._serve, name="sim-swift-recon",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(30)
        return self

    def config(self) -> dict[str, Any]:
        """The ``infra.swift`` section watching these servers."""
        return {kind: [{"address": self.addresses[n.name][kind], "host": n.name}
                       for n in self.nodes.nodes] for kind in KINDS}

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread is not None:
            loop.call_soon_threadsafe(stop.set)
            self._thread.join(timeout=10)
        self._thread = None
        for _, sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def _serve(self) -> None:
        with asyncio.Runner() as runner:
            self._loop = runner.get_loop()
            try:
                runner.run(self._main())
            except Exception:  # logged: the API keeps running without recon
                log.exception("swift recon servers stopped on an error")
                self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        runners = []
        for node in self.nodes.nodes:
            app = web.Application()
            app.router.add_get("/recon/{check:.+}", self._handler(node))
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            for name, sock in self._sockets:
                if name == node.name:
                    await web.SockSite(runner, sock).start()
            runners.append(runner)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for runner in runners:
                await runner.cleanup()

    def _handler(self, node: SwiftNode
                 ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def recon(request: web.Request) -> web.Response:
            with self.nodes.lock:
                body = answer(node, request.match_info["check"], time.time())
            self.served += 1
            if body is None:  # as recon's own 404
                return web.Response(status=404, text=f"Invalid path: {request.path}")
            return web.Response(body=json.dumps(body).encode(),
                                content_type="application/json")
        return recon

    # ------------------------------------------------------------------ faults

    def inject(self, name: str, params: Mapping[str, str]) -> str:
        with self.nodes.lock:
            if name == "swift-drive-unmounted":
                node = self.nodes.node(params.get("node", ""))
                device = node.device(params.get("device", ""))
                device.mounted = False
                self._undo.setdefault(name, {})[(node.name, device.name)] = True
                return f"{device.name} on {node.name} is not mounted"
            if name == "swift-disk-full":
                node = self.nodes.node(params.get("node", ""))
                device = node.device(params.get("device", ""))
                percent = _number(params.get("percent") or "95", "percent")
                if not 0 <= percent <= 100:
                    raise SimulatorError("parameter percent must be within 0-100")
                self._undo.setdefault(name, {}).setdefault((node.name, device.name),
                                                           device.used)
                device.used = int(device.size * percent / 100)
                return f"{device.name} on {node.name} is {percent:g}% full"
            if name == "swift-ring-mismatch":
                node = self.nodes.node(params.get("node", ""), default=-1)
                ring = params.get("ring") or "object.ring.gz"
                if ring not in node.rings:
                    raise SimulatorError(f"no ring {ring!r} (one of {', '.join(RINGS)})")
                self._undo.setdefault(name, {}).setdefault((node.name, ring), node.rings[ring])
                node.rings[ring] = _md5(f"stale/{node.name}/{ring}")
                return f"{node.name}'s {ring} differs from the other nodes'"
            if name == "swift-replication-failures":
                node = self.nodes.node(params.get("node", ""))
                kind = params.get("kind") or "object"
                if kind not in KINDS:
                    raise SimulatorError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
                count = _number(params.get("count") or "12", "count")
                if count < 0 or count != int(count):
                    raise SimulatorError("parameter count must be an integer >= 0")
                count = int(count)
                done = node.replication[kind]
                self._undo.setdefault(name, {}).setdefault(
                    (node.name, kind), (done.success, done.failure))
                done.failure = count
                done.success = max(0, 2 * done.attempted - count)
                return f"{node.name}'s {kind} replicator: {count} failures in its last pass"
        raise SimulatorError(f"the swift servers know no scenario {name!r}")

    def clear(self, name: str) -> str:
        with self.nodes.lock:
            undo = self._undo.pop(name, {})
            for key, was in undo.items():
                node = self.nodes.node(key[0])
                if name == "swift-drive-unmounted":
                    node.device(key[1]).mounted = True
                elif name == "swift-disk-full":
                    node.device(key[1]).used = was
                elif name == "swift-ring-mismatch":
                    node.rings[key[1]] = was
                elif name == "swift-replication-failures":
                    done = node.replication[key[1]]
                    done.success, done.failure = was
        return f"{name}: {len(undo)} undone"
