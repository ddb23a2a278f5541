"""``SimulatedCloud``: the whole simulator in one handle, serving in a background thread.

::

    with SimulatedCloud(workdir=tmp_path, size="small") as cloud:
        cloud.auth_url        # http://127.0.0.1:PORT/identity/v3
        cloud.clouds_yaml     # <workdir>/clouds.yaml, cloud "stackwatch-sim"
        cloud.config_path     # <workdir>/stackwatch.yaml
        cloud.db_urls         # {"nova": "sqlite:///...", ...}
        cloud.log_dir         # <workdir>/log
        cloud.state           # the ground truth (read it; change it through cloud.call)
        cloud.inject("compute-down", host="compute-0001"); cloud.clear("compute-down")

``optional_services=True`` also serves heat, octavia, ironic, designate, manila, magnum,
trove, gnocchi and swift (in the catalog, their items in ``cloud.state.optional``;
:mod:`stackwatch.sim.optional`), swift's storage nodes' recon middleware
(``cloud.world["swift"]``, :mod:`stackwatch.sim.recon`, watched by the written
config's ``infra.swift``) and swift's proxy-server log; without it the cloud has the six
core services only.

Start-up: validate the arguments, bind the port (a clear error if taken), generate the
state, create and load the service databases, start the world around the APIs
(logs, bus, processes — sim-world's components, each optional), serve on its own
asyncio loop in a thread, apply the start scenarios, then write the work-dir files.
All mutations of the state happen on that loop: :meth:`SimulatedCloud.call` runs a
function there and returns its result.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from stackwatch.errors import SimulatorError
from stackwatch.sim import faults as sim_faults
from stackwatch.sim import generate, workdir
from stackwatch.sim import optional as sim_optional
from stackwatch.sim.events import RequestHook
from stackwatch.sim.life import Life
from stackwatch.sim.routing import OPTIONAL_SERVICES, SERVICES
from stackwatch.sim.server import ControlApi, SimServer
from stackwatch.sim.state import CloudState

log = logging.getLogger(__name__)

T = TypeVar("T")
ADMIN_PASSWORD_DEFAULT = "stackwatch-sim-admin"
#: swift storage nodes served with the optional services, per size (6 otherwise)
SWIFT_NODES = {"small": 3}


class SimulatedCloud:
    """A running simulated OpenStack cloud (see the module docstring)."""

    def __init__(
        self,
        workdir: Path | str,
        size: str = "small",
        scenarios: tuple[str, ...] | list[str] = (),
        latency: float = 0.0,
        db_url: str | None = None,
        amqp_url: str | None = None,
        processes: bool = False,
        seed: int = 1,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        sizing: Mapping[str, int | None] | None = None,
        scenario_params: Mapping[str, Mapping[str, str]] | None = None,
        life: bool = True,
        churn_rate: float = 0.0,
        traffic_rate: float = 0.0,
        databases: bool = True,
        admin_password: str = ADMIN_PASSWORD_DEFAULT,
        optional_services: bool = False,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.sizing = generate.Sizing.for_size(size, **dict(sizing or {}))
        self.scenarios = tuple(scenarios)
        for name in self.scenarios:
            sim_faults.get(name)  # unknown -> SimulatorError before anything starts
        if latency < 0:
            raise SimulatorError(f"latency must be >= 0, not {latency}")
        if churn_rate < 0 or traffic_rate < 0:
            raise SimulatorError("rates must be >= 0")
        if not 0 <= port <= 65535:
            raise SimulatorError(f"port {port} is not a TCP port")
        if db_url is not None:
            _check_db_url(db_url)
        self.size = size
        self.latency = latency
        self.db_url = db_url
        self.amqp_url = amqp_url
        self.processes = processes
        self.seed = seed
        self.port = port
        self.host = host
        self.scenario_params = {k: dict(v) for k, v in (scenario_params or {}).items()}
        for name, params in self.scenario_params.items():
            scenario = sim_faults.get(name)
            unknown = set(params) - set(scenario.params)
            if unknown:
                raise SimulatorError(f"scenario {name}: unknown parameter(s) "
                                     f"{', '.join(sorted(unknown))}")
        self.with_life = life
        self.churn_rate = churn_rate
        self.traffic_rate = traffic_rate
        self.with_databases = databases
        self.admin_password = admin_password
        self.optional_services = optional_services
        self.services = SERVICES + (OPTIONAL_SERVICES if optional_services else ())
        self.state = CloudState()
        self.server = SimServer(self.state, latency=latency, services=self.services)
        self.world: dict[str, Any] = {}
        self.life: Life | None = None
        self.databases: Any = None
        self.base_url = ""
        self.clouds_yaml = self.workdir / "clouds.yaml"
        self.config_path = self.workdir / "stackwatch.yaml"
        self.log_dir = self.workdir / "log"
        self.startup_seconds: dict[str, float] = {}
        self._fault_ctx = sim_faults.FaultContext(self.state, self.server, self.world)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None
        self._control_key = secrets.token_urlsafe(16)
        self._started = False

    # ------------------------------------------------------------------ properties

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    @property
    def db_urls(self) -> dict[str, str]:
        if self.databases is None:
            return {}
        urls: dict[str, str] = self.databases.urls
        return urls

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> SimulatedCloud:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> SimulatedCloud:
        """Start everything; returns when the cloud answers (raises SimulatorError if not)."""
        import time

        if self._started:
            return self
        t0 = time.perf_counter()
        sock = self._bind()
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        try:
            t = time.perf_counter()
            generate.generate(self.state, self.sizing, seed=self.seed, base_url=self.base_url,
                              admin_password=self.admin_password, services=self.services)
            if self.optional_services:
                self.state.optional = self._optional_world()
            self.startup_seconds["generate"] = time.perf_counter() - t
            # The generated cloud lives as long as the process: keep the cyclic GC from
            # walking its hundreds of thousands of records on every full collection
            # (those pauses were the p99 of big listing pages).
            gc.freeze()
            try:
                self.workdir.mkdir(parents=True, exist_ok=True)
                self.log_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SimulatorError(f"cannot use {self.workdir} as the work directory: "
                                     f"{exc.strerror or exc}") from None
            t = time.perf_counter()
            self._start_databases()
            self.startup_seconds["databases"] = time.perf_counter() - t
            self._start_logs()
            self._start_bus_and_processes()
            self._start_swift()
            # again: the service databases' bulk load leaves as many long-lived objects
            # (row mapper, SQLAlchemy, caches); a full collection walking them stopped
            # every thread for ~250 ms at big, the p99 of listing pages
            gc.freeze()
            self._thread = threading.Thread(target=self._serve, args=(sock,),
                                            name="stackwatch-sim", daemon=True)
            self._thread.start()
            self._ready.wait()
            if self._start_error is not None:
                raise self._start_error
            self._started = True
            for name in self.scenarios:
                self.inject(name, **self.scenario_params.get(name, {}))
            try:
                self._write_files()
            except OSError as exc:
                raise SimulatorError(f"cannot write into {self.workdir}: "
                                     f"{exc.strerror or exc}") from None
        except BaseException:
            self.stop()
            sock.close()
            raise
        self.startup_seconds["total"] = time.perf_counter() - t0
        log.info("simulated cloud (%s) at %s in %.1fs", self.size, self.base_url,
                 self.startup_seconds["total"])
        return self

    def stop(self) -> None:
        """Stop serving and release everything (safe to call twice)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            stop_event = self._stop_event
            if stop_event is not None:
                loop.call_soon_threadsafe(stop_event.set)
            thread.join(timeout=30)
        self._thread = None
        self._loop = None
        for name, component in reversed(list(self.world.items())):
            if name == "db":
                continue  # closed last, below
            closer = getattr(component, "close", None) or getattr(component, "stop", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # one component's failure to stop must not keep the rest
                    log.exception("stopping simulator component %s failed", name)
        self.world.clear()
        if self.databases is not None:
            self.databases.close()
            self.databases = None
        workdir.remove_endpoint(self.workdir)
        if self._started:
            gc.unfreeze()  # the records may be collected again (paired with start's freeze)
        self._started = False

    def wait(self) -> None:
        """Block until the server thread ends (the CLI's foreground mode)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise SimulatorError(f"cannot listen on {self.host}:{self.port}: "
                                 f"{exc.strerror or exc} (port in use?)") from None
        sock.listen(1024)
        sock.setblocking(False)
        return sock

    def _optional_world(self) -> sim_optional.OptionalWorld:
        """The optional services' items, over the generated projects and hypervisors."""
        projects = [p for p in self.state.projects if p.name != "service"]
        projects.sort(key=lambda p: (p.name != "demo", p.name))
        admin = next(p.id for p in projects if p.name == generate.ADMIN_PROJECT)
        return sim_optional.generate([p.id for p in projects if p.id != admin] or [admin], admin,
                                 len(self.state.hypervisors), self.state.now(), self.seed)

    def _start_databases(self) -> None:
        if not self.with_databases:
            return
        sync = _optional("stackwatch.sim.db.sync")
        if sync is None:
            return
        databases = sync.ServiceDatabases(self.workdir, self.db_url)
        databases.create()
        databases.attach(self.state)
        self.databases = databases
        self.world["db"] = databases

    def _start_logs(self) -> None:
        """sim-world's log writer (API requests and state changes as log lines) and traffic."""
        logwriter = _optional("stackwatch.sim.logwriter")
        if logwriter is None:
            return
        writer = logwriter.LogWriter(self.log_dir, self.state, seed=self.seed,
                                     optional=self.optional_services).start()
        self.state.subscribe(writer.on_change)
        self.server.on_request(writer.on_request)
        self.world["logs"] = writer
        if self.traffic_rate > 0:
            traffic = _optional("stackwatch.sim.traffic")
            if traffic is not None:
                self.world["traffic"] = traffic.TrafficGenerator(
                    writer, self.state, rate=self.traffic_rate, seed=self.seed,
                    optional=self.optional_services).start()

    def _start_bus_and_processes(self) -> None:
        """sim-world's notification bus (kombu ``memory://``, or the RabbitMQ at
        ``amqp_url``) and, with ``processes``, the service processes."""
        bus = _optional("stackwatch.sim.bus")
        if bus is not None:
            self.world["bus"] = bus.NotificationBus(self.state, self.amqp_url).start()
            self.server.on_request(self.world["bus"].on_request)
        if self.processes:
            procs = _optional("stackwatch.sim.procs")
            if procs is not None:
                self.world["procs"] = procs.SimProcesses(self.workdir).start()

    def _start_swift(self) -> None:
        """With the optional services, swift's storage nodes (their recon middleware)."""
        if not self.optional_services:
            return
        recon = _optional("stackwatch.sim.recon")
        if recon is not None:
            nodes = recon.generate(self.seed, SWIFT_NODES.get(self.size, 6))
            self.world["swift"] = recon.ReconServers(nodes, self.host).start()

    def _serve(self, sock: socket.socket) -> None:
        # asyncio.Runner closes like asyncio.run: request handlers still waiting (a slow
        # scenario's sleep) are cancelled and awaited before the loop closes
        with asyncio.Runner() as runner:
            self._loop = runner.get_loop()
            try:
                runner.run(self._main(sock))
            except BaseException as exc:  # reported to start() or logged
                if not self._ready.is_set():
                    self._start_error = exc
                    self._ready.set()
                else:
                    log.exception("simulated cloud stopped on an error")

    async def _main(self, sock: socket.socket) -> None:
        self._stop_event = asyncio.Event()
        self.server.control = ControlApi(inject=self._control_inject, clear=self._control_clear,
                                         status=self._status, key=self._control_key)
        app = self.server.build_app(self.base_url)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        if self.with_life:
            self.life = Life(self.state, churn_rate=self.churn_rate, seed=self.seed)
            self.life.start()
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            if self.life is not None:
                await self.life.stop()
            await runner.cleanup()

    def _write_files(self) -> None:
        workdir.write_clouds_yaml(self.workdir, self.auth_url, generate.ADMIN_USER,
                                  self.admin_password, generate.ADMIN_PROJECT, self.state.region)
        procs = self.world.get("procs")
        node = procs.node_section(workdir.LOG_HOST) if procs is not None else None
        swift = self.world.get("swift")
        workdir.write_stackwatch_yaml(
            self.workdir, self.state.region, self.db_urls, self.log_dir, self.amqp_url, node,
            workdir.BIG_DISABLED_METRICS if self.size == "big" else (),
            swift=swift.config() if swift is not None else None)
        workdir.write_endpoint(self.workdir, workdir.Endpoint(
            self.base_url, self._control_key, os.getpid()))

    # ------------------------------------------------------------------ running

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the simulator's loop; return (or raise) its result."""
        loop = self._loop
        if loop is None or not self._ready.is_set():
            raise SimulatorError("the simulated cloud is not running")

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)

    def inject(self, name: str, /, **params: Any) -> str:
        """Apply a fault scenario now; returns what it did (one line)."""
        text = {k: str(v) for k, v in params.items()}
        return self.call(sim_faults.inject, self._fault_ctx, name, text)

    def clear(self, name: str) -> str:
        """Undo a fault scenario."""
        return self.call(sim_faults.clear, self._fault_ctx, name)

    def on_request(self, hook: RequestHook) -> Callable[[], None]:
        """Call ``hook`` with each :class:`~stackwatch.sim.events.ServedRequest`."""
        return self.server.on_request(hook)

    def flush(self) -> None:
        """Wait until the service databases (and the bus) have every change made so far."""
        if self.databases is not None:
            self.databases.flush()
        bus = self.world.get("bus")
        if bus is not None:
            bus.flush()

    async def _control_inject(self, name: str, params: dict[str, str]) -> str:
        return sim_faults.inject(self._fault_ctx, name, params)

    async def _control_clear(self, name: str) -> str:
        return sim_faults.clear(self._fault_ctx, name)

    def _status(self) -> dict[str, object]:
        return {"base_url": self.base_url, "size": self.size,
                "active_faults": sorted(self._fault_ctx.active),
                "served": self.server.served,
                # a subscriber or hook that raised (logged each time; the API went on)
                "subscriber_errors": self.state.subscriber_errors,
                "hook_errors": self.server.hook_errors,
                "churned": self.life.churned if self.life is not None else 0,
                "counts": {k: len(t) for k, t in self.state.tables().items()}}


def _optional(module: str) -> Any:
    """A sim-world module, or ``None`` (logged) if this build does not have it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            log.warning("simulator component %s not available in this build", module)
            return None
        raise


def _check_db_url(url: str) -> None:
    """A clear error for a database URL SQLAlchemy cannot even parse or has no driver for."""
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
        parsed.get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise SimulatorError(f"bad --db-url {url!r}: {exc}") from None
