"""Background API traffic for the simulated logs: a realistic mix at a configurable rate.

:class:`TrafficGenerator` makes :class:`~stackwatch.sim.events.ServedRequest` values as
a busy cloud's control plane sees them — mostly services talking to each other
(nova asking neutron for ports, placement allocation calls, token validation), some
operators and dashboards listing things — with real ids from the state, a status mix
(mostly 2xx, some 404/409, a few 401), lognormal latencies around per-endpoint
medians, and hands them to :meth:`LogWriter.on_request`. It runs in its own thread
at ``rate`` requests per second. While an ``auth-401-storm`` is active it adds failed
logins from the storm's source. With ``optional=True`` (the optional services) swift's
proxy takes its share (:data:`SWIFT_MIX`, about a sixth: users' object reads and
writes, container and account listings), on the admin project's account and
containers. :attr:`TrafficGenerator.sent` counts what it made, the ground truth of the
logs' request counts.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stackwatch.sim.events import ServedRequest
from stackwatch.sim.state import CloudState

if TYPE_CHECKING:
    from stackwatch.sim.logwriter import LogWriter

log = logging.getLogger(__name__)

SDK_AGENT = "openstacksdk/4.10.0 keystoneauth1/5.13.1 python-requests/2.32.5 CPython/3.11.7"
NOVA_AGENT = "nova-compute keystoneauth1/5.13.1 python-requests/2.32.5 CPython/3.11.7"
NEUTRON_AGENT = "python-neutronclient"
AGENTS = (
    SDK_AGENT,
    NOVA_AGENT,
    NEUTRON_AGENT,
    "python-novaclient",
    "Mozilla/5.0 (X11; Linux x86_64) horizon",
)
SWIFT_AGENTS = ("python-swiftclient-4.6.0", SDK_AGENT, "rclone/v1.66.0")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One kind of request: ``{server}``, ``{project}``, ... are filled from the state."""

    service: str
    method: str
    template: str
    weight: float
    median_s: float
    size: tuple[int, int]
    statuses: tuple[tuple[int, float], ...] = ((200, 1.0),)
    microversion: str | None = None
    agents: tuple[str, ...] = AGENTS
    received: tuple[int, int] = (0, 0)  # bytes uploaded (swift's PUT)


MIX: tuple[Endpoint, ...] = (
    Endpoint(
        "identity", "POST", "/v3/auth/tokens", 12, 0.09, (3000, 9000), ((201, 0.97), (401, 0.03))
    ),
    Endpoint(
        "identity", "GET", "/v3/auth/tokens", 14, 0.03, (3000, 9000), ((200, 0.97), (404, 0.03))
    ),
    Endpoint("identity", "GET", "/v3/users/{user}", 1, 0.02, (300, 400)),
    Endpoint("identity", "GET", "/v3/projects?domain_id=default", 1, 0.04, (2000, 60000)),
    Endpoint(
        "compute",
        "GET",
        "/v2.1/servers/detail?all_tenants=1&limit=1000",
        3,
        0.9,
        (20000, 900000),
        microversion="2.100",
    ),
    Endpoint(
        "compute",
        "GET",
        "/v2.1/servers/{server}",
        8,
        0.06,
        (1800, 5000),
        ((200, 0.95), (404, 0.05)),
        "2.100",
    ),
    Endpoint(
        "compute",
        "POST",
        "/v2.1/servers/{server}/action",
        2,
        0.12,
        (0, 0),
        ((202, 0.9), (409, 0.1)),
        "2.100",
    ),
    Endpoint(
        "compute",
        "GET",
        "/v2.1/servers/{server}/os-instance-actions",
        1,
        0.05,
        (300, 2000),
        microversion="2.100",
    ),
    Endpoint(
        "compute", "GET", "/v2.1/os-hypervisors/detail", 1, 0.3, (3000, 400000), microversion="2.88"
    ),
    Endpoint("compute", "GET", "/v2.1/os-services", 1, 0.04, (2000, 200000), microversion="2.1"),
    Endpoint("compute", "GET", "/v2.1/flavors/detail", 2, 0.02, (1500, 3000), microversion="2.100"),
    Endpoint(
        "placement",
        "GET",
        "/resource_providers/{provider}/allocations",
        4,
        0.02,
        (100, 3000),
        microversion="1.39",
    ),
    Endpoint(
        "placement",
        "GET",
        "/allocation_candidates?limit=1000&resources=DISK_GB%3A20%2CMEMORY_MB%3A2048%2CVCPU%3A1",
        1,
        0.25,
        (5000, 200000),
        microversion="1.39",
    ),
    Endpoint(
        "placement",
        "PUT",
        "/allocations/{server}",
        1,
        0.04,
        (0, 0),
        ((204, 0.97), (409, 0.03)),
        "1.39",
    ),
    Endpoint(
        "placement",
        "PUT",
        "/resource_providers/{provider}/inventories",
        3,
        0.03,
        (400, 700),
        ((200, 0.98), (409, 0.02)),
        "1.39",
    ),
    Endpoint("network", "GET", "/v2.0/ports?device_id={server}", 10, 0.05, (900, 2000)),
    Endpoint("network", "GET", "/v2.0/networks?id={network}", 3, 0.04, (700, 1500)),
    Endpoint("network", "GET", "/v2.0/floatingips?port_id={port}", 2, 0.03, (15, 900)),
    Endpoint("network", "GET", "/v2.0/security-groups?tenant_id={project}", 2, 0.05, (1500, 4000)),
    Endpoint("network", "PUT", "/v2.0/ports/{port}", 1, 0.2, (900, 2000)),
    Endpoint("image", "GET", "/v2/images?limit=20", 2, 0.06, (2000, 20000)),
    Endpoint(
        "image", "GET", "/v2/images/{image}", 4, 0.03, (900, 1500), ((200, 0.97), (404, 0.03))
    ),
    Endpoint(
        "block-storage", "GET", "/v3/{project}/volumes/detail?all_tenants=1", 1, 0.2, (2000, 500000)
    ),
    Endpoint(
        "block-storage",
        "GET",
        "/v3/{project}/volumes/{volume}",
        3,
        0.05,
        (1000, 1800),
        ((200, 0.97), (404, 0.03)),
    ),
    Endpoint("block-storage", "GET", "/v3/{project}/os-services", 1, 0.03, (300, 3000)),
)

_OBJECT = "/v1/AUTH_{account}/{container}/{object}"
_CONTAINER = "/v1/AUTH_{account}/{container}"
#: swift's proxy: what users and the exporters ask of the object store
SWIFT_MIX: tuple[Endpoint, ...] = tuple(
    Endpoint("object-store", method, template, weight, median, size, statuses,
             agents=SWIFT_AGENTS, received=received)
    for method, template, weight, median, size, statuses, received in (
        ("GET", _OBJECT, 6, 0.04, (1000, 4_000_000), ((200, 0.95), (404, 0.05)), (0, 0)),
        ("PUT", _OBJECT, 3, 0.09, (0, 0), ((201, 0.99), (503, 0.01)), (1000, 4_000_000)),
        ("HEAD", _OBJECT, 1.5, 0.02, (0, 0), ((200, 0.9), (404, 0.1)), (0, 0)),
        ("DELETE", _OBJECT, 1, 0.05, (0, 0), ((204, 0.95), (404, 0.05)), (0, 0)),
        ("GET", _CONTAINER + "?format=json", 1.5, 0.04, (200, 20000), ((200, 1.0),), (0, 0)),
        ("HEAD", _CONTAINER, 1, 0.02, (0, 0), ((204, 1.0),), (0, 0)),
        ("GET", "/v1/AUTH_{account}?format=json", 0.5, 0.05, (200, 20000), ((200, 1.0),),
         (0, 0)),
        ("HEAD", "/v1/AUTH_{account}", 1, 0.02, (0, 0), ((204, 1.0),), (0, 0)),
        ("GET", "/info", 0.5, 0.01, (600, 700), ((200, 1.0),), (0, 0)),
    ))
#: object names the swift traffic uses (in the world's containers)
SWIFT_OBJECTS = tuple([f"photos/img_{i:05d}.jpg" for i in range(150)]
                      + [f"backups/db-{i:03d}.tar.gz" for i in range(50)])

_KINDS = {
    "server": "server",
    "project": "project",
    "user": "user",
    "network": "network",
    "port": "port",
    "image": "image",
    "volume": "volume",
    "provider": "resource_provider",
}


class TrafficGenerator:
    """Synthetic API requests, logged through a :class:`LogWriter` (module docstring)."""

    def __init__(
        self,
        writer: LogWriter,
        state: CloudState,
        *,
        rate: float = 5.0,
        seed: int = 1,
        clock: Callable[[], datetime] | None = None,
        optional: bool = False,
    ) -> None:
        self.writer = writer
        self.state = state
        self.rate = rate
        self.mix = MIX + (SWIFT_MIX if optional else ())
        #: (service type, method, endpoint template, status) -> requests made
        self.sent: Counter[tuple[str, str, str, int]] = Counter()
        self.rng = random.Random(seed)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._ids: dict[str, list[str]] = {}
        self._ids_at = 0.0
        self._last: tuple[str, str, str, int] = ("", "", "", 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generated = 0

    # ------------------------------------------------------------------ one request

    def _refresh_ids(self) -> None:
        now = time.monotonic()
        if self._ids and now - self._ids_at < 10:
            return
        for key, kind in _KINDS.items():
            try:
                table = self.state.table(kind)
                ids = table.ids()
                if len(ids) > 5000:  # a sample is enough, and cheap to keep fresh
                    ids = self.rng.sample(ids, 5000)
                self._ids[key] = ids
            except (KeyError, RuntimeError):  # changed under us: keep the old list
                continue
        world = self.state.optional
        if world is not None and len(self.mix) > len(MIX):
            self._ids["account"] = [world.account_project]
            self._ids["container"] = [c.name for c in world.containers]
            self._ids["object"] = list(SWIFT_OBJECTS)
        self._ids_at = now

    def _fill(self, template: str) -> str | None:
        out = template
        for key in (*_KINDS, "account", "container", "object"):
            mark = "{" + key + "}"
            if mark in out:
                ids = self._ids.get(key) or []
                if not ids:
                    return None
                out = out.replace(mark, self.rng.choice(ids))
        return out

    def make_request(self, service: str | None = None) -> ServedRequest:
        """One plausible served request (of ``service`` if given) at the clock's now."""
        self._refresh_ids()
        choices = [e for e in self.mix if service is None or e.service == service]
        if not choices:
            raise ValueError(f"no traffic for service {service!r}")
        weights = [e.weight for e in choices]
        for _ in range(20):
            ep = self.rng.choices(choices, weights)[0]
            url = self._fill(ep.template)
            if url is not None:
                break
        else:
            ep, url = choices[0], choices[0].template.split("{")[0]
        path, _, query = url.partition("?")
        status = self.rng.choices([s for s, _ in ep.statuses], [w for _, w in ep.statuses])[0]
        duration = ep.median_s * math.exp(self.rng.gauss(0, 0.6))
        length = 0 if status == 204 else self.rng.randint(*ep.size) if status < 400 else 110
        users: list[str | None] = [*self._ids.get("user", [])] or [None]
        projects: list[str | None] = [*self._ids.get("project", [])] or [None]
        authed = status != 401 and not (ep.service == "identity" and ep.method == "POST")
        extra = {"bytes_recvd": str(self.rng.randint(*ep.received))} if ep.received[1] \
            else {}
        self._last = (ep.service, ep.method, ep.template, status)
        return ServedRequest(
            service=ep.service,
            method=ep.method,
            path=path,
            status=status,
            length=length,
            duration=round(duration, 6),
            request_id=f"req-{self._uuid()}",
            user_id=self.rng.choice(users) if authed else None,
            project_id=self.rng.choice(projects) if authed else None,
            remote_addr=f"10.0.0.{self.rng.randint(11, 13)}",
            microversion=ep.microversion,
            time=self.clock(),
            query=query,
            user_agent=self.rng.choice(ep.agents),
            extra=extra,
        )

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def emit(self, n: int = 1) -> None:
        """Generate and log ``n`` requests now (plus the storm's failed logins)."""
        for _ in range(n):
            self.writer.on_request(self.make_request())
            self.sent[self._last] += 1
            self.generated += 1
        source = self.writer.storm_source
        if source is not None:
            for _ in range(max(1, n)):
                self.writer.on_request(self.writer.auth_failure(source, self.clock()))

    # ------------------------------------------------------------------ thread

    def start(self) -> TrafficGenerator:
        self._thread = threading.Thread(target=self._run, name="sim-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        tick = 0.2
        carry = 0.0
        while not self._stop.wait(tick):
            try:
                carry += self.rate * tick
                n = int(carry)
                carry -= n
                if n:
                    self.emit(n)
            except Exception:  # keep generating; a bad tick is logged once per tick
                log.exception("traffic generator tick failed")

    @staticmethod
    def describe() -> list[dict[str, Any]]:
        """The mix, for docs and tests."""
        return [
            {"service": e.service, "method": e.method, "path": e.template, "weight": e.weight}
            for e in MIX
        ]
