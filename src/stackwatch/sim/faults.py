"""Fault scenarios of the simulated cloud: name -> what breaks, and how it is undone.

Usable at start (``stackwatch sim --scenario NAME``, ``SimulatedCloud(scenarios=...)``)
and at run time (``stackwatch sim fault NAME --param k=v [--clear]``,
``cloud.inject(NAME, **params)`` / ``cloud.clear(NAME)``). :data:`SCENARIOS` lists
them; ``stackwatch sim --help`` and ``docs/simulator.md`` print the same table.

Scenarios act where a real fault would show:

* on the ground truth (API and service databases see it): ``compute-down``,
  ``service-disabled``, ``servers-error``, ``boots-fail``, ``migration-stuck``,
  ``volume-stuck-deleting``, ``snapshot-stuck``, ``l3-agent-dead``, ``cinder-volume-down``,
  ``mtu-misconfigured``;
* on the next writes of a kind: ``image-stuck``, ``boot-error``, ``volume-error``;
* cascades, as the real services show them (:mod:`stackwatch.sim.outages`):
  ``conductor-down`` (the computes stop reporting with it), ``keystone-down``,
  ``database-down``, ``neutron-server-down`` (nova's server list answers 500);
* on the HTTP server: ``api-slow``, ``api-500``, ``api-truncated``, ``api-401``,
  ``api-403`` (param ``service``: compute, identity, network, image, block-storage,
  placement);
* on the world around the APIs, delegated to sim-world's components: ``token-bloat``,
  ``revocation-growth`` (component ``db``), ``auth-401-storm``, ``api-5xx-burst``
  (``logs``), ``process-killed`` (``procs``), ``queue-no-consumers`` (``bus``),
  ``swift-drive-unmounted``, ``swift-disk-full``, ``swift-ring-mismatch``,
  ``swift-replication-failures``
  (``swift``: the storage nodes' recon servers, with the optional services).
  A component takes part by having ``inject(name, params) -> str`` and
  ``clear(name) -> str`` methods; without the component (e.g. no real bus) the
  scenario fails with a clear error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from stackwatch.errors import SimulatorError
from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.routing import OPTIONAL_SERVICES, SERVICES
from stackwatch.sim.server import ApiFault, SimServer
from stackwatch.sim.state import Actor, CloudState, acting


class WorldComponent(Protocol):
    """A sim-world part (service DBs, log writer, bus, processes) that takes faults."""

    def inject(self, name: str, params: Mapping[str, str]) -> str: ...

    def clear(self, name: str) -> str: ...


@dataclass
class FaultContext:
    """What a scenario may act on."""

    state: CloudState
    server: SimServer
    world: dict[str, Any] = field(default_factory=dict)  # "db", "logs", "bus", "procs", "swift"
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    active: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> undo data


Apply = Callable[[FaultContext, Mapping[str, str]], str]
Clear = Callable[[FaultContext], str]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One named fault: its parameters (with defaults) and what it does."""

    name: str
    summary: str
    apply: Apply
    clear: Clear
    params: Mapping[str, str] = field(default_factory=dict)
    where: str = "api"  # where an operator sees it: api, db, logs, bus, procs, swift


def inject(ctx: FaultContext, name: str, params: Mapping[str, str]) -> str:
    """Apply scenario ``name``; returns a one-line description of what was done."""
    scenario = get(name)
    unknown = set(params) - set(scenario.params)
    if unknown:
        raise SimulatorError(f"scenario {name}: unknown parameter(s) {', '.join(sorted(unknown))}"
                             f" (known: {', '.join(scenario.params) or 'none'})")
    merged = {**scenario.params, **params}
    with acting(Actor(cause=f"fault:{name}")):
        return scenario.apply(ctx, merged)


def clear(ctx: FaultContext, name: str) -> str:
    """Undo scenario ``name`` (a no-op message if it is not active)."""
    scenario = get(name)
    with acting(Actor(cause=f"fault:{name}")):
        return scenario.clear(ctx)


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise SimulatorError(
            f"unknown scenario {name!r} (known: {', '.join(sorted(SCENARIOS))})") from None


def _int(params: Mapping[str, str], key: str) -> int:
    try:
        value = int(params[key])
    except ValueError:
        raise SimulatorError(f"parameter {key} must be an integer, not {params[key]!r}") from None
    if value < 0:
        raise SimulatorError(f"parameter {key} must be >= 0")
    return value


def _float(params: Mapping[str, str], key: str) -> float:
    try:
        return float(params[key])
    except ValueError:
        raise SimulatorError(f"parameter {key} must be a number, not {params[key]!r}") from None


# ------------------------------------------------------------------ compute


def _compute_service(ctx: FaultContext, host: str, binary: str = "nova-compute"
                     ) -> r.ComputeService:
    if not host:
        services = [s for s in ctx.state.compute_services if s.binary == binary]
        if not services:
            raise SimulatorError(f"no {binary} service in this cloud")
        return services[0]
    svc = ctx.state.compute_service(host, binary)
    if svc is None:
        raise SimulatorError(f"no {binary} on host {host!r}")
    return svc


def _compute_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    svc = _compute_service(ctx, p["host"])
    ctx.state.silent_services.add(svc.id)
    stale = ctx.state.now() - timedelta(minutes=_int(p, "minutes"))
    ctx.state.update("compute_service", svc.id, updated_at=stale)
    ctx.active.setdefault("compute-down", {})[svc.id] = svc.host
    return f"nova-compute on {svc.host} stopped heartbeating (last report {stale:%H:%M:%S})"


def _compute_down_clear(ctx: FaultContext) -> str:
    hosts = ctx.active.pop("compute-down", {})
    for sid in hosts:
        ctx.state.silent_services.discard(sid)
        if sid in ctx.state.compute_services:
            ctx.state.update("compute_service", sid, updated_at=ctx.state.now())
    return f"heartbeats resumed on {', '.join(hosts.values()) or 'no host'}"


def _service_disabled(ctx: FaultContext, p: Mapping[str, str]) -> str:
    svc = _compute_service(ctx, p["host"], p["binary"])
    ctx.state.update("compute_service", svc.id, disabled=True, disabled_reason=p["reason"])
    ctx.active.setdefault("service-disabled", {})[svc.id] = svc.host
    return f"{svc.binary} on {svc.host} disabled ({p['reason']})"


def _service_disabled_clear(ctx: FaultContext) -> str:
    done = ctx.active.pop("service-disabled", {})
    for sid in done:
        if sid in ctx.state.compute_services:
            ctx.state.update("compute_service", sid, disabled=False, disabled_reason=None)
    return f"enabled again: {', '.join(done.values()) or 'nothing'}"


def _servers_error(ctx: FaultContext, p: Mapping[str, str]) -> str:
    count = _int(p, "count")
    candidates = [s for s in ctx.state.servers if s.vm_state == "active" and s.host]
    if p["host"]:
        candidates = [s for s in candidates if s.host == p["host"]]
    chosen = ctx.rng.sample(candidates, min(count, len(candidates)))
    undo = ctx.active.setdefault("servers-error", {})
    for s in chosen:
        undo[s.id] = s.vm_state
        ops.set_error(ctx.state, s.id, p["message"], action=p["action"])
    return f"{len(chosen)} server(s) in ERROR: {', '.join(s.name for s in chosen)}"


def _servers_error_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("servers-error", {})
    for sid, vm_state in undo.items():
        if sid in ctx.state.servers:
            ctx.state.update("server", sid, vm_state=vm_state, power_state=1, fault=None,
                             updated_at=ctx.state.now())
    return f"{len(undo)} server(s) reset to active"


def _boots_fail(ctx: FaultContext, p: Mapping[str, str]) -> str:
    """N boots that fail as nova's do: NoValidHost in the conductor (the instance lands in
    cell0) or a spawn that aborts on the compute, each a failed ``create`` with a fault."""
    count = _int(p, "count")
    if p["reason"] not in ("novalidhost", "spawn"):
        raise SimulatorError("parameter reason must be novalidhost or spawn, "
                             f"not {p['reason']!r}")
    projects = [x for x in ctx.state.projects if x.name not in ("admin", "service")]
    flavors = list(ctx.state.flavors)
    if not projects or not flavors:
        raise SimulatorError("no project or flavor to boot with")
    images = [i.id for i in ctx.state.images if i.status == "active"]
    made = ctx.active.setdefault("boots-fail", {})
    names = []
    for _ in range(count):
        project = ctx.rng.choice(projects)
        users = [a.user_id for a in ctx.state.role_assignments.by("project_id", project.id)]
        server = ops.create_server(
            ctx.state, name=f"failed-boot-{ctx.rng.getrandbits(24):06x}",
            project_id=project.id, user_id=users[0] if users else "", flavor=flavors[0],
            image_id=images[0] if images else "", request_id=ops.new_request_id(),
            rng=ctx.rng)
        if p["reason"] == "spawn":
            host = next((h.host for h in ctx.state.hypervisors), None)
            ctx.state.update("server", server.id, host=host)
        ops.fail_build(ctx.state, server.id, no_valid_host=p["reason"] == "novalidhost")
        made[server.id] = server.name
        names.append(server.name)
    return f"{len(names)} boot(s) failed ({p['reason']}): {', '.join(names)}"


def _boots_fail_clear(ctx: FaultContext) -> str:
    made = ctx.active.pop("boots-fail", {})
    for sid in made:
        if sid in ctx.state.servers:
            ops.delete_server(ctx.state, sid, ops.new_request_id())
    return f"{len(made)} failed server(s) deleted"


def _migration_stuck(ctx: FaultContext, p: Mapping[str, str]) -> str:
    """A migration in progress since ``minutes`` ago that nobody ends."""
    kind = p["type"]
    if kind not in ops.MIGRATION_STEPS:
        raise SimulatorError(f"parameter type must be one of {', '.join(ops.MIGRATION_STEPS)}")
    candidates = [x for x in ctx.state.servers if x.vm_state == "active" and x.host]
    for server in ctx.rng.sample(candidates, len(candidates)):
        migration = ops.begin_migration(ctx.state, server.id, ops.new_request_id(), ctx.rng,
                                        kind, started=_int(p, "minutes") * 60.0)
        if migration is not None:
            # the fault is made now, whenever it says the migration began: the server's row
            # changes now (a listing of servers changed since the last look shows it)
            ctx.state.update("server", server.id, updated_at=ctx.state.now())
            ctx.active.setdefault("migration-stuck", {})[migration.id] = server.name
            return (f"{kind} {migration.uuid} of {server.name} {migration.source_compute} -> "
                    f"{migration.dest_compute} {migration.status} since {p['minutes']} min")
    raise SimulatorError("no active server that can move to another host")


def _migration_stuck_clear(ctx: FaultContext) -> str:
    stuck = ctx.active.pop("migration-stuck", {})
    for mid in stuck:
        ops.end_migration(ctx.state, mid, ok=False)
    return f"{len(stuck)} stuck migration(s) ended in error"


# ------------------------------------------------------------------ block storage


def _volume_stuck(ctx: FaultContext, p: Mapping[str, str]) -> str:
    count = _int(p, "count")
    candidates = [v for v in ctx.state.volumes if v.status == "available"]
    chosen = candidates[:count]
    since = ctx.state.now() - timedelta(minutes=_int(p, "minutes"))
    undo = ctx.active.setdefault("volume-stuck-deleting", {})
    for v in chosen:
        undo[v.id] = v.status
        ctx.state.update("volume", v.id, status="deleting", updated_at=since)
    return f"{len(chosen)} volume(s) stuck in 'deleting' since {since:%H:%M}"


def _volume_stuck_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("volume-stuck-deleting", {})
    for vid in undo:
        if vid in ctx.state.volumes:
            ctx.state.delete("volume", vid)  # the delete finally went through
    return f"{len(undo)} stuck volume(s) deleted"


def _snapshot_stuck(ctx: FaultContext, p: Mapping[str, str]) -> str:
    count = _int(p, "count")
    candidates = [s for s in ctx.state.snapshots if s.status == "available"]
    chosen = candidates[:count]
    since = ctx.state.now() - timedelta(minutes=_int(p, "minutes"))
    undo = ctx.active.setdefault("snapshot-stuck", {})
    for s in chosen:
        undo[s.id] = (s.status, s.progress)
        ctx.state.update("snapshot", s.id, status="creating", progress="37%", updated_at=since)
    return f"{len(chosen)} snapshot(s) stuck in 'creating' at 37% since {since:%H:%M}"


def _snapshot_stuck_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("snapshot-stuck", {})
    for sid, (status, progress) in undo.items():
        if sid in ctx.state.snapshots:
            ctx.state.update("snapshot", sid, status=status, progress=progress,
                             updated_at=ctx.state.now())
    return f"{len(undo)} snapshot(s) available again"


def _cinder_volume_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    svcs = [s for s in ctx.state.volume_services if s.binary == "cinder-volume"]
    if p["host"]:
        svcs = [s for s in svcs if s.host == p["host"]]
    if not svcs:
        raise SimulatorError(f"no cinder-volume service {p['host']!r}")
    svc = svcs[0]
    ctx.state.silent_services.add(svc.id)
    ctx.state.update("volume_service", svc.id,
                     updated_at=ctx.state.now() - timedelta(minutes=5), backend_state="down")
    ctx.active.setdefault("cinder-volume-down", {})[svc.id] = svc.host
    return f"cinder-volume {svc.host} stopped reporting"


def _cinder_volume_down_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("cinder-volume-down", {})
    for sid in undo:
        ctx.state.silent_services.discard(sid)
        if sid in ctx.state.volume_services:
            ctx.state.update("volume_service", sid, updated_at=ctx.state.now(),
                             backend_state="up")
    return f"cinder-volume reporting again: {', '.join(undo.values()) or 'none'}"


# ------------------------------------------------------------------ network


def _l3_agent_dead(ctx: FaultContext, p: Mapping[str, str]) -> str:
    agents = [a for a in ctx.state.agents if a.agent_type == "L3 agent"]
    if p["host"]:
        agents = [a for a in agents if a.host == p["host"]]
    # the agent with the most routers, as an operator would dread
    agents.sort(key=lambda a: -ctx.state.router_bindings.count_by("l3_agent_id", a.id))
    if not agents:
        raise SimulatorError(f"no L3 agent {p['host']!r}")
    agent = agents[0]
    ctx.state.silent_services.add(agent.id)
    last = ctx.state.now() - timedelta(minutes=_int(p, "minutes"))
    ctx.state.update("agent", agent.id, heartbeat_timestamp=last)
    ctx.active.setdefault("l3-agent-dead", {})[agent.id] = agent.host
    routers = ctx.state.router_bindings.count_by("l3_agent_id", agent.id)
    return f"L3 agent on {agent.host} dead (last heartbeat {last:%H:%M:%S}) with {routers} routers"


def _l3_agent_dead_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("l3-agent-dead", {})
    for aid in undo:
        ctx.state.silent_services.discard(aid)
        if aid in ctx.state.agents:
            ctx.state.update("agent", aid, heartbeat_timestamp=ctx.state.now())
    return f"L3 agent(s) alive again: {', '.join(undo.values()) or 'none'}"


def _mtu_misconfigured(ctx: FaultContext, p: Mapping[str, str]) -> str:
    wanted = p["network"]
    tunnels = [n for n in ctx.state.networks if n.network_type in ("vxlan", "gre", "geneve")]
    if wanted:
        tunnels = [n for n in tunnels if wanted in (n.id, n.name)]
    if not tunnels:
        raise SimulatorError(f"no overlay (vxlan, gre, geneve) network {wanted!r}")
    net = sorted(tunnels, key=lambda n: (n.name, n.id))[0]
    mtu = _int(p, "mtu")
    ctx.active.setdefault("mtu-misconfigured", {}).setdefault(net.id, net.mtu)
    ctx.state.update("network", net.id, mtu=mtu, revision_number=net.revision_number + 1,
                     updated_at=ctx.state.now())
    return f"network {net.name} ({net.network_type}) has MTU {mtu}, too big for its overlay"


def _mtu_misconfigured_clear(ctx: FaultContext) -> str:
    undo = ctx.active.pop("mtu-misconfigured", {})
    for nid, mtu in undo.items():
        net = ctx.state.networks.get(nid)
        if net is not None:
            ctx.state.update("network", nid, mtu=mtu, revision_number=net.revision_number + 1,
                             updated_at=ctx.state.now())
    return f"{len(undo)} network(s) back to their MTU"


# ------------------------------------------------------------------ the next writes


def _broken(key: str, param: str, allowed: tuple[str, ...], says: str) -> tuple[Apply, Clear]:
    """A fault on what the next writes of a kind meet (``state.broken[key]``), until
    cleared; ``param`` chooses how (one of ``allowed``)."""

    def apply(ctx: FaultContext, p: Mapping[str, str]) -> str:
        how = p[param] if param else allowed[0]
        if how not in allowed:
            raise SimulatorError(f"parameter {param} must be one of {', '.join(allowed)}, "
                                 f"not {how!r}")
        ctx.state.broken[key] = how
        return says.format(how)

    def clear_(ctx: FaultContext) -> str:
        was = ctx.state.broken.pop(key, None)
        return f"{key}: {'works again' if was else 'was not broken'}"

    return apply, clear_


# ------------------------------------------------------------------ cascades


def _silence(ctx: FaultContext, key: str, ids: list[str], seconds: int) -> None:
    """Stop the heartbeats of ``ids`` (those not silent already), last seen ``seconds``
    ago when more than 0; remembered under ``key`` for the clear."""
    state = ctx.state
    undo = ctx.active.setdefault(key, {})
    fresh = [i for i in ids if i not in state.silent_services]
    undo["silenced"] = fresh
    state.silent_services.update(fresh)
    if seconds <= 0:
        return
    last = state.now() - timedelta(seconds=seconds)
    for record_id in fresh:
        if record_id in state.compute_services:
            state.update("compute_service", record_id, updated_at=last)
        elif record_id in state.volume_services:
            state.update("volume_service", record_id, updated_at=last)
        elif record_id in state.agents:
            state.update("agent", record_id, heartbeat_timestamp=last)


def _kill_process(ctx: FaultContext, key: str, name: str) -> str:
    """With the simulated processes running, kill the service's one too (as the fault
    would on a real node); its node checks then see it gone."""
    procs = ctx.world.get("procs")
    if procs is None or not hasattr(procs, "kill"):
        return ""
    try:
        pid = procs.kill(name)
    except SimulatorError as exc:  # not running (already killed by process-killed)
        return f"; process {name} not killed: {exc}"
    ctx.active[key]["process"] = name
    return f"; process {name} (pid {pid}) killed"


def _cascade_clear(ctx: FaultContext, key: str) -> str:
    undo = ctx.active.pop(key, None)
    if undo is None:
        return f"{key}: not active"
    state = ctx.state
    ctx.server.outages.discard(undo.get("outage", ""))
    now = state.now()
    for record_id in undo.get("silenced", []):
        state.silent_services.discard(record_id)
        if record_id in state.compute_services:
            state.update("compute_service", record_id, updated_at=now)
        elif record_id in state.volume_services:
            state.update("volume_service", record_id, updated_at=now)
        elif record_id in state.agents:
            state.update("agent", record_id, heartbeat_timestamp=now)
    restarted = ""
    db = ctx.world.get("db")
    if undo.get("files") and db is not None and hasattr(db, "bring_back"):
        restarted += "; " + str(db.bring_back())
    procs = ctx.world.get("procs")
    if undo.get("process") and procs is not None and hasattr(procs, "restart"):
        restarted += f"; process {undo['process']} (pid {procs.restart(undo['process'])}) " \
                     "started again"
    return f"{key} cleared: {len(undo.get('silenced', []))} services report again{restarted}"


def _conductor_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    """nova-conductor dies: it stops reporting, and so do the nova-computes, whose
    reports go through it (nova's servicegroup driver saves the service record over the
    conductor's RPC): both show down once ``service_down_time`` (60 s) has passed."""
    state = ctx.state
    conductors = [s for s in state.compute_services if s.binary == "nova-conductor"
                  and (not p["host"] or s.host == p["host"])]
    if not conductors:
        raise SimulatorError(f"no nova-conductor {p['host']!r}")
    computes = [s for s in state.compute_services if s.binary == "nova-compute"]
    every = not p["host"] or len(conductors) == len(
        [s for s in state.compute_services if s.binary == "nova-conductor"])
    # with a conductor left, the computes report through it
    _silence(ctx, "conductor-down", [s.id for s in conductors]
             + ([s.id for s in computes] if every else []), _int(p, "seconds"))
    done = _kill_process(ctx, "conductor-down", "nova-conductor")
    return (f"nova-conductor down on {', '.join(s.host for s in conductors)}"
            + (f"; {len(computes)} nova-computes stopped reporting" if every else "") + done)


def _keystone_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    ctx.server.outages.add("keystone")
    ctx.active.setdefault("keystone-down", {})["outage"] = "keystone"
    done = _kill_process(ctx, "keystone-down", "keystone")
    return "keystone down: HAProxy answers 503 for it, the other APIs 503 to every " \
           "token" + done


def _database_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    """The database goes: the APIs answer 500, and every nova and cinder service and
    neutron agent stops reporting (their heartbeats are rows in it)."""
    state = ctx.state
    ctx.server.outages.add("database")
    ids = ([s.id for s in state.compute_services] + [s.id for s in state.volume_services]
           + [a.id for a in state.agents])
    _silence(ctx, "database-down", ids, _int(p, "seconds"))
    ctx.active["database-down"]["outage"] = "database"
    done = _kill_process(ctx, "database-down", "mariadbd")
    db = ctx.world.get("db")
    if db is not None and hasattr(db, "take_away"):
        ctx.active["database-down"]["files"] = True
        done += "; " + str(db.take_away())
    return f"database down: APIs answer 500, {len(ids)} services stopped reporting" + done


def _neutron_server_down(ctx: FaultContext, p: Mapping[str, str]) -> str:
    """neutron-server stops: its API answers HAProxy's 503, nova's server list 500, and
    the agents, which report to it over RPC, stop reporting (down after
    ``agent_down_time``)."""
    state = ctx.state
    ctx.server.outages.add("neutron-server")
    _silence(ctx, "neutron-server-down", [a.id for a in state.agents], _int(p, "seconds"))
    ctx.active["neutron-server-down"]["outage"] = "neutron-server"
    done = _kill_process(ctx, "neutron-server-down", "neutron-server")
    return ("neutron-server down: network API 503, nova's server list 500, "
            f"{len(state.agents)} agents stopped reporting" + done)


def _cascade(name: str, apply: Apply, summary: str, **params: str) -> Scenario:
    def clear_(ctx: FaultContext) -> str:
        return _cascade_clear(ctx, name)

    return Scenario(name, summary, apply, clear_, {"seconds": "0", **params}, "api")


# ------------------------------------------------------------------ HTTP


def _service_type(name: str) -> str:
    for spec in SERVICES + OPTIONAL_SERVICES:
        if name in (spec.service_type, spec.name, spec.module, spec.prefix.strip("/")):
            return spec.service_type
    aliases = {"volume": "block-storage", "cinder": "block-storage", "volumev3": "block-storage",
               "neutron": "network", "nova": "compute", "glance": "image",
               "keystone": "identity"}
    if name in aliases:
        return aliases[name]
    raise SimulatorError(f"unknown service {name!r} (use a service type such as compute)")


def _api_fault(kind: str, default_status: int = 500) -> tuple[Apply, Clear]:
    key = f"api-{kind}"

    def apply(ctx: FaultContext, p: Mapping[str, str]) -> str:
        service = _service_type(p["service"])
        ratio = _float(p, "ratio")
        if not 0 < ratio <= 1:
            raise SimulatorError("parameter ratio must be in (0, 1]")
        fault = ApiFault(kind=kind, ratio=ratio, delay=_float(p, "delay"),
                         status=int(p.get("status") or default_status), path=p["path"],
                         method=p["method"].upper())
        ctx.server.api_faults[service] = fault
        ctx.active.setdefault(key, {})[service] = fault
        where = f" whose path has {p['path']!r}" if p["path"] else ""
        where += f" by {p['method'].upper()}" if p["method"] else ""
        return f"{service} API: {kind} on {ratio:.0%} of requests{where}"

    def clear_(ctx: FaultContext) -> str:
        services = ctx.active.pop(key, {})
        for service in services:
            ctx.server.api_faults.pop(service, None)
        return f"{key} cleared on {', '.join(services) or 'no service'}"

    return apply, clear_


def _api(kind: str, name: str, summary: str, **extra: str) -> Scenario:
    apply, clear_ = _api_fault({"500": "error"}.get(kind, kind))
    params = {"service": "compute", "ratio": "1.0", "delay": "2.0", "path": "", "method": "",
              **extra}
    return Scenario(name, summary, apply, clear_, params, "api")


# ------------------------------------------------------------------ world (sim-world)


def _world(component: str, name: str) -> tuple[Apply, Clear]:
    def apply(ctx: FaultContext, p: Mapping[str, str]) -> str:
        target = ctx.world.get(component)
        if target is None or not hasattr(target, "inject"):
            raise SimulatorError(f"scenario {name} needs the simulator's {component} "
                                 "component, which is not running")
        ctx.active.setdefault(name, {})["on"] = True
        return str(target.inject(name, dict(p)))

    def clear_(ctx: FaultContext) -> str:
        target = ctx.world.get(component)
        ctx.active.pop(name, None)
        if target is None or not hasattr(target, "clear"):
            return f"{name}: nothing to clear"
        return str(target.clear(name))

    return apply, clear_


def _w(name: str, component: str, summary: str, params: Mapping[str, str]) -> Scenario:
    apply, clear_ = _world(component, name)
    return Scenario(name, summary, apply, clear_, dict(params), component)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("compute-down", "a nova-compute stops heartbeating (service and hypervisor "
             "'down')", _compute_down, _compute_down_clear, {"host": "", "minutes": "5"}),
    Scenario("service-disabled", "a nova service is disabled with a reason",
             _service_disabled, _service_disabled_clear,
             {"host": "", "binary": "nova-compute", "reason": "maintenance: disk replacement"}),
    Scenario("servers-error", "N servers go to ERROR with a fault and a failed action",
             _servers_error, _servers_error_clear,
             {"count": "3", "host": "", "action": "reboot",
              "message": "internal error: process exited while connecting to monitor"}),
    Scenario("boots-fail", "N boots fail: failed 'create' actions with their fault "
             "(reason novalidhost: in the conductor, the instance in cell0; spawn: on a "
             "compute)", _boots_fail, _boots_fail_clear, {"count": "2", "reason": "novalidhost"}),
    Scenario("migration-stuck", "a migration stays in progress (param type: migration, "
             "resize, live-migration, evacuation; minutes since it began)",
             _migration_stuck, _migration_stuck_clear,
             {"type": "live-migration", "minutes": "120"}),
    Scenario("volume-stuck-deleting", "volumes stay in 'deleting'", _volume_stuck,
             _volume_stuck_clear, {"count": "1", "minutes": "120"}),
    Scenario("snapshot-stuck", "snapshots stay in 'creating' (in progress)", _snapshot_stuck,
             _snapshot_stuck_clear, {"count": "1", "minutes": "90"}),
    Scenario("cinder-volume-down", "a cinder-volume backend stops reporting",
             _cinder_volume_down, _cinder_volume_down_clear, {"host": ""}),
    Scenario("l3-agent-dead", "the L3 agent with most routers stops heartbeating",
             _l3_agent_dead, _l3_agent_dead_clear, {"host": "", "minutes": "10"}),
    Scenario("mtu-misconfigured", "an overlay network's MTU is above what its tunnel "
             "carries (physical 1500 less the VXLAN/GRE/Geneve overhead)",
             _mtu_misconfigured, _mtu_misconfigured_clear, {"network": "", "mtu": "1500"}),
    Scenario("image-stuck", "image uploads fail: status saving (glance-api dies while "
             "writing: HAProxy's 502, the image stays saving) or queued (the store is full: "
             "413, the image back to queued)",
             *_broken("image-upload", "status", ("saving", "queued"),
                      "image uploads leave the image {}"), {"status": "saving"}),
    Scenario("boot-error", "new boots go to ERROR (reason novalidhost: no host in the "
             "conductor; spawn: aborted on a compute), each with its fault",
             *_broken("boot", "reason", ("novalidhost", "spawn"),
                      "new boots go to ERROR ({})"), {"reason": "novalidhost"}),
    Scenario("volume-error", "new volumes go to error (the scheduler finds no valid "
             "backend)", *_broken("volume-create", "", ("error",),
                                  "new volumes go to {}"), {}),
    _cascade("conductor-down", _conductor_down, "nova-conductor dies; the nova-computes stop "
             "reporting with it, all down after service_down_time (params host, seconds: "
             "died that long ago)", host=""),
    _cascade("keystone-down", _keystone_down, "keystone down: every API's authenticated "
             "call answers 503"),
    _cascade("database-down", _database_down, "the database down: the APIs answer 500, "
             "services and agents stop reporting"),
    _cascade("neutron-server-down", _neutron_server_down, "neutron-server down: network API "
             "503, nova's server list 500, agents stop reporting"),
    _api("slow", "api-slow", "a service's API answers slowly (param delay, seconds)"),
    _api("500", "api-500", "a service's API answers 500 (param status)", status="500"),
    _api("truncated", "api-truncated", "a service's API answers truncated JSON"),
    _api("unauthorized", "api-401", "a service's API answers 401 to valid tokens"),
    _api("forbidden", "api-403", "a service's API answers 403"),
    _w("token-bloat", "db", "legacy keystone token table bloat (one service user makes most)",
       {"rows": "1000000", "user": "nova"}),
    _w("revocation-growth", "db", "keystone revocation_event table growth", {"rows": "50000"}),
    _w("auth-401-storm", "logs", "a 401 storm from one source address in keystone's logs",
       {"source": "203.0.113.50", "count": "500", "seconds": ""}),
    _w("api-5xx-burst", "logs", "a burst of 5xx answers on one API in its logs",
       {"service": "compute", "count": "50", "status": "500"}),
    _w("process-killed", "procs", "a simulated service process is killed",
       {"name": "nova-compute"}),
    _w("queue-no-consumers", "bus", "a queue without consumers on the real bus",
       {"queue": "notifications.info"}),
    _w("swift-drive-unmounted", "swift", "a swift storage node's device is not mounted "
       "(recon's unmounted and diskusage say so)", {"node": "", "device": ""}),
    _w("swift-disk-full", "swift", "a swift storage node's device fills up (percent "
       "used, in recon's diskusage)", {"node": "", "device": "", "percent": "95"}),
    _w("swift-ring-mismatch", "swift", "one swift node's ring differs from the others' "
       "(recon's ringmd5)", {"node": "", "ring": "object.ring.gz"}),
    _w("swift-replication-failures", "swift", "a swift replicator's last pass had "
       "failures (kind: object, container, account)",
       {"node": "", "kind": "object", "count": "12"}),
)}
