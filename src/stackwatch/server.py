"""The long-running monitor: the runner loop writing to the store, and the web app.

:class:`Monitor` owns three things and starts them in background threads:
the :class:`~stackwatch.runner.Loop` (each source at its interval, every
:class:`~stackwatch.runner.Run` written to the store from the loop's thread,
old rows pruned once an hour), and the aiohttp app on its own event loop, behind
the access rules of :mod:`stackwatch.web.auth` (tokens in the store), over
HTTPS when ``web.tls_cert`` is set. With ``server.accept_agents``, the app also takes
agents' pushes (``POST /api/v1/ingest``, :mod:`stackwatch.agent.ingest`), written to the
same store under ``host/source``; their checks go stale (UNKNOWN) after the same
``max_age`` as the server's own. The alarm engine (:mod:`stackwatch.alarms.service`)
evaluates after runs on its own thread; its actions run on theirs. Reports and backups
on a schedule (off by default) run on another (:mod:`stackwatch.review.schedule`).
``stackwatch server`` and ``stackwatch demo`` both use it::

    with Monitor(config, sources) as monitor:
        print(monitor.url)
        ...
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from ipaddress import ip_address
from types import TracebackType

from aiohttp import web

from stackwatch.agent.ingest import Ingest
from stackwatch.alarms.service import AlarmService
from stackwatch.catalog.loader import Catalog, default_catalog
from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.query.context import Context
from stackwatch.runbooks import api as runbook_api
from stackwatch.runbooks.service import RunbookService
from stackwatch.runner import Loop, Run, Runner
from stackwatch.sources.base import Source
from stackwatch.store.opening import open_store, open_token_store
from stackwatch.web.api import actions
from stackwatch.web.app import EXPOSITION_KEY, make_app
from stackwatch.web.auth import Access
from stackwatch.web.tls import web_context

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


def stale_after(config: Config, sources: Sequence[Source]) -> float:
    """Age past which a stored check is stale: three times the longest interval configured
    (sources' own and per-resource ones such as ``api.compute.quotas``)."""
    intervals = [config.interval(s.name) for s in sources] + list(config.intervals.values())
    return 3 * max(intervals, default=60.0)


class Monitor:
    """Runner loop + store (SQLite or PostgreSQL) + web app, started together and stopped
    together."""

    def __init__(
        self,
        config: Config,
        sources: Sequence[Source],
        catalog: Catalog | None = None,
        listen: tuple[str, int] | None = None,
        extras: dict[str, Callable[[], object]] | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog or default_catalog().deployed(config.network_backends)
        self.store = open_store(config.store)  # created, or migrated, here
        try:
            self.tokens = open_token_store(config.store)  # the web's access tokens
        except StackwatchError:
            self.store.close()
            raise
        self.runner = Runner(sources, config.timeout, catalog=self.catalog)
        self.loop = Loop(self.runner, config.interval, self._write)
        self.max_age = stale_after(config, sources)
        self.ingest = Ingest(self.store, config.server) if config.server.accept_agents else None
        self.runbooks = RunbookService(config, self.store, self.catalog)
        self._stop_auto = threading.Event()
        #: the alarm engine (docs/alarms.md), evaluating after runs on its own thread
        self.alarms: AlarmService | None = None
        if config.alarms.enabled:
            try:
                self.alarms = AlarmService(config.alarms, config.store, self.store,
                                           self.catalog, max_age=self.max_age)
            except StackwatchError:
                self.runbooks.close()
                self.store.close()
                self.tokens.close()
                raise
        self._listen = listen or (config.web.host, config.web.port)
        self._retention_s = config.store.retention_days * 86400
        self._pruned_at = 0.0
        self._runs = 0
        self._runs_lock = threading.Condition()
        self._writing = False  # a run being written (the loop's thread)
        self._web_loop: asyncio.AbstractEventLoop | None = None
        self._web_runner: web.AppRunner | None = None
        self._threads: list[threading.Thread] = []
        self.app: web.Application | None = None
        self.url = ""
        #: more state the dashboard shows (the demo's story, the backfilled log hours)
        self.extras = dict(extras or {})
        self.extras.setdefault("log_backfill", self._log_backfill)
        from stackwatch.bus.cli import bus_configs
        from stackwatch.bus.consumer import NotificationConsumer

        #: the notification consumers (clouds with ``bus.url``), each on its own thread
        self.consumers = [NotificationConsumer(bus, self.store, source)
                          for source, bus in bus_configs(config)]
        from stackwatch.review.schedule import Schedule

        #: the reports and backups on a schedule (reports.schedule, backups.schedule)
        self.schedule = Schedule(config, self._context)

    def _log_backfill(self) -> object:
        """The hours ``stackwatch logs backfill`` stored beside the store (the trends'
        requests per hour before the live counters), the last 90 days."""
        from stackwatch.review.cli import backfilled

        return backfilled(self.config.store.path, time.time() - 90 * 86400)

    def _context(self, now: float) -> Context:
        """The store as the scheduled reports read it, at ``now``."""
        return Context(self.store, self.catalog, now=now, max_age=self.max_age,
                       alarm_states=self.alarms.states if self.alarms else None)

    @property
    def runs(self) -> int:
        """Runs written to the store so far."""
        return self._runs

    def wait_for_runs(self, count: int, timeout: float) -> bool:
        """Block until ``count`` runs were written (or ``timeout``); True when reached."""
        with self._runs_lock:
            return self._runs_lock.wait_for(lambda: self._runs >= count, timeout)

    def _write(self, run: Run) -> None:
        # the run replaces what its source's previous run saw (series, checks)
        self._writing = True
        try:
            self.store.write(run.collection, run.source)
        finally:
            self._writing = False
        if self.app is not None:  # the scrape after a collection finds /metrics rendered
            self.app[EXPOSITION_KEY].warm_soon()
        now = time.time()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            removed = self.store.prune(now - self._retention_s)
            if self.alarms is not None:  # transitions and ended silences go with the rest
                removed += self.alarms.states.prune_alarms(now - self._retention_s)
            log.info("pruned %d rows older than %.1f days", removed,
                     self.config.store.retention_days)
        if self.alarms is not None:
            self.alarms.collected()
        with self._runs_lock:
            self._runs += 1
            self._runs_lock.notify_all()

    def start(self) -> str:
        """Start the web app and the runner loop; return the base URL."""
        try:
            ssl_context = web_context(self.config.web)  # a bad certificate: say so first
        except StackwatchError:
            self._close_stores()
            raise
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            # closed like asyncio.run: handlers still pending at the stop are cancelled
            with asyncio.Runner() as runner:
                self._web_loop = runner.get_loop()
                try:
                    runner.run(self._start_web(ssl_context))
                except BaseException as exc:  # reported to start(), which raises it
                    failure.append(exc)
                    started.set()
                    return
                started.set()
                self._web_loop.run_forever()
                runner.run(self._stop_web())

        web_thread = threading.Thread(target=serve, name="stackwatch-web", daemon=True)
        web_thread.start()
        started.wait()
        if failure:
            self._close_stores()
            host, port = self._listen
            raise StackwatchError(f"cannot listen on {host}:{port}: {failure[0]}")
        # a source no longer configured must not stay "current" (its members down for good);
        # agents' sources stay while the store keeps their batch ids (they go stale first)
        self.store.retain([*(s.name for s in self.runner.sources), *self.store.agent_sources(),
                           *(c.source for c in self.consumers)])
        if self.alarms is not None:
            self.alarms.start()
        loop_thread = threading.Thread(target=self.loop.run, name="stackwatch-runner",
                                       daemon=True)
        loop_thread.start()
        self._threads = [web_thread, loop_thread]
        for consumer in self.consumers:  # never in the collection's way: threads of their own
            consumer.start()
        self.schedule.start()
        if self.config.fixes.auto:
            auto_thread = threading.Thread(target=self._auto_fixes, name="stackwatch-fixes",
                                           daemon=True)
            auto_thread.start()
            self._threads.append(auto_thread)
        log.info("serving on %s", self.url)
        return self.url

    def _auto_fixes(self) -> None:
        """Apply the fixes of ``fixes.auto`` whose condition lasted long enough, as the
        server (each one audited; a failure logged, the others go on)."""
        from stackwatch.runbooks import fixer, registry
        from stackwatch.runbooks.context import SERVER

        while not self._stop_auto.wait(self.config.fixes.auto_every):
            for name, rule in self.config.fixes.auto.items():
                for cloud in self.config.clouds:
                    ctx = self.runbooks.context(SERVER, cloud.name)
                    try:
                        outcome = fixer.auto(registry.fix(name), ctx, rule.after)
                        if outcome is not None:
                            log.warning("fix %s applied by the server on %s: %d change(s), "
                                        "%s", name, cloud.name, len(outcome.applied),
                                        "all done" if outcome.ok else "some failed")
                    except StackwatchError as exc:
                        log.warning("fix %s on %s: not applied: %s", name, cloud.name, exc)
                    finally:
                        ctx.close()

    async def _start_web(self, ssl_context: ssl.SSLContext | None) -> None:
        access = Access(self.tokens, self.config.web)
        self.app = make_app(self.store, self.catalog, max_age=self.max_age, extras=self.extras,
                            access=access,
                            actions=(*actions.endpoints(self.loop.request_run),
                                     *runbook_api.endpoints(self.runbooks)),
                            ingest=self.ingest,
                            alarm_states=self.alarms.states if self.alarms else None)
        # rendered once the runs in flight are written, not between them
        self.app[EXPOSITION_KEY].busy = lambda: self._writing or self.loop.in_flight > 0
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        host, port = self._listen
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        self._web_runner = runner
        bound = runner.addresses[0]
        host_part = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"{'https' if ssl_context else 'http'}://{host_part}:{bound[1]}"
        if ssl_context is None and not ip_address(bound[0]).is_loopback:
            log.warning("serving plain HTTP on %s: tokens and session cookies cross the "
                        "network readable; set web.tls_cert and web.tls_key", self.url)

    async def _stop_web(self) -> None:
        if self._web_runner is not None:
            await self._web_runner.cleanup()

    def stop(self) -> None:
        """Stop the loop and the web app, then close the store."""
        self.loop.stop()
        for consumer in self.consumers:
            consumer.stop()
        self._stop_auto.set()
        self.schedule.stop()
        if self._web_loop is not None and self._web_loop.is_running():
            self._web_loop.call_soon_threadsafe(self._web_loop.stop)
        for thread in self._threads:
            thread.join(10)
        if self.alarms is not None:
            self.alarms.stop()
        if self.app is not None:
            self.app[EXPOSITION_KEY].close()  # its warm rendering reads the store
        self._close_stores()

    def _close_stores(self) -> None:
        self.runbooks.close()
        if self.alarms is not None:
            self.alarms.close()
        self.store.close()
        self.tokens.close()

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
