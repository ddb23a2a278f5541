"""The simulated cloud's life: heartbeats, agent reports, and a background churn.

Every ``tick`` (1 s) :class:`Life` moves, like the real services do:

* nova services' ``updated_at`` and ``report_count`` (``report_interval`` = 10 s),
  cinder services' likewise (10 s), neutron agents' ``heartbeat_timestamp``
  (``report_interval`` = 30 s), hypervisors' ``updated_at`` (the resource tracker's
  60 s period) — each at its own phase of the period (from its id), so a big cloud
  reports a tenth of its services a second rather than all in one tick, however long
  the start-up took; services and agents in ``state.silent_services`` (fault
  scenarios) stay silent;
* at ``churn_rate`` events per second (Poisson), a boot (that may fail scheduling or
  spawning), a delete, a stop/start, an existing server going to ERROR, or a live
  migration (in progress for ``migrate_seconds``, then completed or, 1 in 10, failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

from stackwatch.sim import ops
from stackwatch.sim.state import Actor, CloudState, acting

log = logging.getLogger(__name__)

SERVICE_REPORT = 10.0  # seconds
AGENT_REPORT = 30.0
NODE_UPDATE = 60.0


class Life:
    """Runs on the simulator's event loop; :meth:`start` / :meth:`stop`."""

    def __init__(self, state: CloudState, *, churn_rate: float = 0.0, seed: int = 3,
                 tick: float = 1.0, build_seconds: float = 2.0,
                 migrate_seconds: float = 8.0) -> None:
        self.state = state
        self.churn_rate = churn_rate
        self.tick = tick
        self.build_seconds = build_seconds
        self.migrate_seconds = migrate_seconds
        self.rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self.churned = 0
        self._last_beat: datetime | None = None
        self._phases: dict[str, float] = {}  # record id -> its report phase (0..1)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-life")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                with acting(Actor(cause="life")):
                    self.heartbeat()
                if self.churn_rate > 0:
                    events = _poisson(self.rng, self.churn_rate * self.tick)
                    with acting(Actor(cause="churn")):
                        for _ in range(events):
                            self.churn_once()
            except Exception:  # life goes on: one bad tick must not stop the heartbeats
                log.exception("simulated life tick failed")

    def heartbeat(self) -> None:
        """Report for every service and agent whose phase of its period came since the
        last call (the first call: within the last tick)."""
        state = self.state
        now = state.now()
        since = self._last_beat or now - timedelta(seconds=self.tick)
        self._last_beat = now
        due = self._due_between(since.timestamp(), now.timestamp())
        silent = state.silent_services
        for svc in list(state.compute_services):
            if svc.id not in silent and due(svc.id, SERVICE_REPORT):
                state.update("compute_service", svc.id, updated_at=now,
                             report_count=svc.report_count + 1)
        for vsvc in list(state.volume_services):
            if vsvc.id not in silent and due(vsvc.id, SERVICE_REPORT):
                state.update("volume_service", vsvc.id, updated_at=now,
                             report_count=vsvc.report_count + 1)
        for agent in list(state.agents):
            if agent.id not in silent and due(agent.id, AGENT_REPORT):
                state.update("agent", agent.id, heartbeat_timestamp=now)
        for hyp in list(state.hypervisors):
            if hyp.service_id not in silent and due(hyp.id, NODE_UPDATE):
                state.update("hypervisor", hyp.id, updated_at=now)

    def _due_between(self, since: float, now: float) -> Callable[[str, float], bool]:
        """Whether a record's report time — a fixed phase of its period, from its id —
        fell in ``(since, now]``."""
        phases = self._phases

        def due(record_id: str, period: float) -> bool:
            phase = phases.get(record_id)
            if phase is None:
                phase = phases[record_id] = zlib.crc32(record_id.encode()) % 1000 / 1000
            offset = phase * period
            return (now - offset) // period > (since - offset) // period

        return due

    def churn_once(self) -> None:
        """One random lifecycle event (boot, delete, power, failure)."""
        state, rng = self.state, self.rng
        roll = rng.random()
        if roll < 0.45 or len(state.servers) == 0:
            self.boot(fail=rng.random() < 0.1)
        elif roll < 0.8:
            victims = state.servers.page(limit=50, descending=True).items
            choice = rng.choice(victims) if victims else None
            if choice is not None and choice.vm_state != "building":
                ops.delete_server(state, choice.id, ops.new_request_id())
        elif roll < 0.95:
            active = [s for s in state.servers.page(limit=200).items
                      if s.vm_state in ("active", "stopped")]
            if active:
                s = rng.choice(active)
                ops.power(state, s.id, s.vm_state == "stopped", ops.new_request_id())
        elif roll < 0.975:
            active = [s for s in state.servers.page(limit=200).items if s.vm_state == "active"]
            if active:
                ops.set_error(state, rng.choice(active).id,
                              "internal error: qemu unexpectedly closed the monitor")
        else:
            self.live_migrate()
        self.churned += 1

    def live_migrate(self) -> None:
        """A live migration that completes ``migrate_seconds`` later (or fails, 1 in 10)."""
        active = [s for s in self.state.servers.page(limit=200).items
                  if s.vm_state == "active" and s.task_state is None]
        if not active:
            return
        migration = ops.begin_migration(self.state, self.rng.choice(active).id,
                                        ops.new_request_id(), self.rng)
        if migration is not None:
            ok = self.rng.random() >= 0.1
            asyncio.get_running_loop().call_later(self.migrate_seconds, self._moved,
                                                  migration.id, ok)

    def _moved(self, migration_id: str, ok: bool) -> None:
        with acting(Actor(cause="churn")):
            ops.end_migration(self.state, migration_id, ok)

    def boot(self, fail: bool = False) -> None:
        state, rng = self.state, self.rng
        projects = [p for p in state.projects if p.name not in ("admin", "service")]
        flavors = list(state.flavors)
        images = [i.id for i in state.images if i.status == "active"]
        if not projects or not flavors:
            return
        project = rng.choice(projects)
        users = [a.user_id for a in state.role_assignments.by("project_id", project.id)]
        server = ops.create_server(
            state, name=f"churn-{rng.getrandbits(24):06x}", project_id=project.id,
            user_id=users[0] if users else "", flavor=rng.choice(flavors[:3]),
            image_id=rng.choice(images) if images else "", request_id=ops.new_request_id(),
            rng=rng)
        loop = asyncio.get_running_loop()
        loop.call_later(self.build_seconds, self._finish, server.id, fail)

    def _finish(self, server_id: str, fail: bool) -> None:
        with acting(Actor(cause="churn")):
            if fail:
                ops.fail_build(self.state, server_id, no_valid_host=self.rng.random() < 0.5)
            else:
                ops.finish_build(self.state, server_id, self.rng)


def _poisson(rng: random.Random, mean: float) -> int:
    """Events in one tick for a Poisson process of the given mean (Knuth, small means)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean ** 0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
