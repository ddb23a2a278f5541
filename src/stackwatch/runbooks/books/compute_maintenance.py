"""``compute-maintenance``: take a compute host out of scheduling, and back.

The operations guide's procedure for a compute node's maintenance: disable its
nova-compute with a reason (no new instance lands there), see the instances on it and
whether they can move (volume-backed ones move over shared storage; a local root disk
needs a block migration) and whether the other hosts have room (placement's free VCPU,
MEMORY_MB and DISK_GB on the hosts that are up and enabled); after the work, check that
the service is up, that its AMQP consumer is back (the ``compute.<host>`` queue, from the
store's ``rabbitmq_compute_queue_consumers``) and that its instances run, then enable it.

The fix is ``PUT /os-services/{id}`` (compute 2.53+: ``status`` and
``disabled_reason``). Arguments: ``host`` (required), ``reason`` (required to disable),
``enable=yes`` to enable again. The diagnosis (no arguments) lists the disabled hosts
with their reasons, and the after-work checks of every host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.errors import FixRefused, SourceError
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Change, Diagnosis, Evidence, Plan, fingerprint
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.compute import Hypervisor, NovaService
from stackwatch.sources.openstack_api.placement import Provider, load_providers

WHERE = "nova API"
BINARY = "nova-compute"
#: PUT /os-services/{service_id} with a status body needs compute 2.53 (ids are uuids)
SERVICE_UPDATE = (2, 53)
#: placement's classes a guest takes on a compute node
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
#: nova's "running", and the states an instance should not be left in after the work
RUNNING = "ACTIVE"
BROKEN = frozenset({"ERROR", "UNKNOWN"})


@dataclass(frozen=True, slots=True)
class Guest:
    """One instance on the host, with what its flavor takes (``servers/detail`` 2.47+)."""

    id: str
    name: str
    status: str
    host: str
    vcpus: float
    ram: float
    disk: float
    volume_backed: bool

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Guest:
        what = "nova servers/detail"
        flavor = f.obj(d, "flavor", what)
        image = d.get("image")
        return cls(f.text(d, "id", what), f.text(d, "name", what, ""),
                   f.text(d, "status", what, "UNKNOWN"),
                   f.text(d, "OS-EXT-SRV-ATTR:host", what, ""),
                   f.number(flavor, "vcpus", what, 0.0), f.number(flavor, "ram", what, 0.0),
                   f.number(flavor, "disk", what, 0.0),
                   # a server booted from a volume has "" (or no) image
                   not (isinstance(image, Mapping) and image.get("id")))

    def needs(self) -> dict[str, float]:
        """What placement must find for it elsewhere (a volume-backed root takes no disk)."""
        return {"VCPU": self.vcpus, "MEMORY_MB": self.ram,
                "DISK_GB": 0.0 if self.volume_backed else self.disk}


@dataclass(frozen=True, slots=True)
class Room:
    """Whether the other hosts can take the host's instances."""

    needed: Mapping[str, float]
    free: Mapping[str, float]
    hosts: tuple[str, ...]
    unplaceable: tuple[str, ...]   # guests no single other host has room for

    @property
    def fits(self) -> bool:
        return not self.unplaceable and all(
            self.free.get(rc, 0.0) >= need for rc, need in self.needed.items())


def room_elsewhere(host: str, guests: Sequence[Guest], services: Iterable[NovaService],
                   nodes: Mapping[str, str], providers: Iterable[Provider]) -> Room:
    """The free room of the other compute hosts that are up and enabled (``nodes``: a
    hypervisor's node name -> its service host), against what ``guests`` need."""
    usable = {s.host for s in services
              if s.binary == BINARY and s.host != host and s.state == "up"
              and s.status == "enabled" and not s.forced_down}
    free_by_host: dict[str, dict[str, float]] = {}
    for provider in providers:
        owner = nodes.get(provider.name, provider.name)
        if owner not in usable:
            continue
        room = free_by_host.setdefault(owner, dict.fromkeys(CLASSES, 0.0))
        for rc in CLASSES:
            inventory = provider.inventories.get(rc)
            if inventory is not None:
                room[rc] += max(inventory.free, 0.0)
    needed = {rc: sum(g.needs()[rc] for g in guests) for rc in CLASSES}
    free = {rc: sum(r[rc] for r in free_by_host.values()) for rc in CLASSES}
    unplaceable = tuple(g.name or g.id for g in guests if not any(
        all(room[rc] >= need for rc, need in g.needs().items())
        for room in free_by_host.values()))
    return Room(needed, free, tuple(sorted(free_by_host)), unplaceable)


def _services(ctx: RunbookContext, host: str | None = None) -> list[NovaService]:
    params = {"binary": BINARY, **({"host": host} if host else {})}
    body = ctx.client.get("compute", "os-services", params=params)
    return [NovaService.from_api(s) for s in f.items(body, "services", "os-services")
            if isinstance(s, Mapping)]


def _service(ctx: RunbookContext, host: str) -> NovaService:
    found = [s for s in _services(ctx, host) if s.host == host and s.binary == BINARY]
    if not found:
        raise FixRefused(f"compute-maintenance: no {BINARY} service on host {host!r}", "args")
    return found[0]


def _guests(ctx: RunbookContext, host: str | None = None) -> list[Guest]:
    params: dict[str, object] = {"all_tenants": 1, **({"host": host} if host else {})}
    return [Guest.from_api(s) for s in ctx.client.list_all(
        "compute", "servers/detail", "servers", params=params) if isinstance(s, Mapping)]


def _nodes(ctx: RunbookContext) -> dict[str, str]:
    """Hypervisor node name -> service host (placement names providers by node)."""
    found = {}
    for raw in ctx.client.list_all("compute", "os-hypervisors/detail", "hypervisors"):
        if isinstance(raw, Mapping):
            hyp = Hypervisor.from_api(raw)
            found[hyp.hostname] = hyp.host
    return found


def _consumers(ctx: RunbookContext) -> dict[str, float]:
    """Consumers of each ``compute.<host>`` queue at the last collection (empty when the
    store has none: RabbitMQ not watched)."""
    if ctx.store is None:
        return {}
    return {s.label("host"): s.value
            for s in ctx.store.latest_samples("rabbitmq_compute_queue_consumers")}


def after_work(service: NovaService, guests: Sequence[Guest],
               consumers: Mapping[str, float]) -> list[Evidence]:
    """The guide's checks after the work: service up, AMQP consumer back, instances
    running. Each one an Evidence whose value starts with ``ok`` or ``NOT``."""
    host = service.host
    checks = [Evidence(label=f"{host} service",
                       value=("ok: " if service.state == "up" else "NOT up: ")
                       + f"{BINARY} is {service.state}", source=WHERE)]
    if host in consumers:
        count = consumers[host]
        checks.append(Evidence(label=f"{host} AMQP consumer",
                               value=(f"ok: {count:.0f} consumer(s)" if count else
                                      "NOT back: no consumer on its queue")
                               + f" on compute.{host}", source="RabbitMQ (store)"))
    else:
        checks.append(Evidence(label=f"{host} AMQP consumer",
                               value=f"not known: no compute.{host} figure in the store",
                               source="RabbitMQ (store)"))
    broken = [g for g in guests if g.status in BROKEN]
    stopped = [g for g in guests if g.status != RUNNING and g.status not in BROKEN]

    def named(some: Sequence[Guest]) -> str:
        return ", ".join(f"{g.name or g.id} {g.status}" for g in some[:10])

    if broken:
        value = f"NOT all running: {len(broken)} of {len(guests)} broken ({named(broken)})"
    elif stopped:
        # a stopped instance may have been stopped by its owner: said, not judged
        value = (f"ok: {len(guests) - len(stopped)} of {len(guests)} running; stopped: "
                 f"{named(stopped)} (start those that ran before the work)")
    else:
        value = f"ok: all {len(guests)} running"
    checks.append(Evidence(label=f"{host} instances", value=value, source=WHERE))
    return checks


class ComputeMaintenance:
    """A compute host out of scheduling for maintenance, and back."""

    name = "compute-maintenance"
    fix = "compute-maintenance"
    summary = ("compute hosts disabled for maintenance and the checks after the work; the fix"
               " disables or enables a host's scheduling with a reason")

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        services = _services(ctx)
        guests = _guests(ctx)
        consumers = _consumers(ctx)
        by_host: dict[str, list[Guest]] = {}
        for g in guests:
            by_host.setdefault(g.host, []).append(g)
        evidence: list[Evidence] = []
        disabled = [s for s in services if s.status == "disabled"]
        failing: list[str] = []
        for s in sorted(services, key=lambda s: s.host):
            if s.status == "disabled":
                evidence.append(Evidence(
                    label=f"{s.host} disabled",
                    value=f"{s.disabled_reason or 'no reason given'}; "
                          f"{len(by_host.get(s.host, []))} instance(s) on it", source=WHERE))
                continue
            # the host's service and its AMQP consumer: instances in ERROR have their
            # own checks (api.compute), and a stopped one may be its owner's doing
            checks = after_work(s, by_host.get(s.host, []), consumers)[:2]
            bad = [c for c in checks if c.value.startswith("NOT")]
            if bad:
                failing.append(s.host)
                evidence.extend(bad)
        advice = []
        if disabled:
            advice.append("after the work: `stackwatch fix compute-maintenance host=HOST "
                          "enable=yes` (shows the checks first; --apply enables)")
        if failing:
            down = [s.host for s in services if s.host in failing and s.state != "up"]
            return Diagnosis(runbook=self.name, verdict="CRITICAL" if down else "WARNING",
                             summary=f"enabled compute host(s) failing the after-work checks: "
                                     f"{', '.join(failing)}", evidence=evidence, advice=advice)
        if disabled:
            return Diagnosis(runbook=self.name, verdict="WARNING",
                             summary=f"{len(disabled)} compute host(s) out of scheduling: "
                                     + ", ".join(s.host for s in disabled),
                             evidence=evidence, advice=advice)
        return Diagnosis(runbook=self.name, verdict="OK",
                         summary=f"all {len(services)} compute hosts enabled and up, with their "
                                 "AMQP consumers where known", evidence=evidence)

    # ------------------------------------------------------------------ the fix
    @staticmethod
    def _args(args: Mapping[str, str]) -> tuple[str, str, bool]:
        unknown = set(args) - {"host", "reason", "enable"}
        if unknown:
            raise FixRefused(f"compute-maintenance: unknown argument(s) "
                             f"{', '.join(sorted(unknown))} (it takes host=HOST, reason=TEXT, "
                             "enable=yes)", "args")
        host = args.get("host", "").strip()
        if not host:
            raise FixRefused("compute-maintenance: host=HOST is required", "args")
        enable = args.get("enable", "no").lower()
        if enable not in ("yes", "no", "true", "false"):
            raise FixRefused(f"compute-maintenance: enable={args['enable']!r}: yes or no",
                             "args")
        turn_on = enable in ("yes", "true")
        reason = args.get("reason", "").strip()
        if not turn_on and not reason:
            raise FixRefused("compute-maintenance: reason=TEXT is required to disable a host"
                             " (nova keeps it as the disabled reason)", "args")
        return host, reason, turn_on

    def plan(self, ctx: RunbookContext, args: dict[str, str]) -> Plan:
        host, reason, turn_on = self._args(args)
        service = _service(ctx, host)
        guests = _guests(ctx, host)
        notes: list[str] = []
        changes: list[Change] = []
        before = (f"disabled: {service.disabled_reason}" if service.status == "disabled"
                  else "enabled")
        if turn_on:
            if service.status == "enabled":
                notes.append(f"{host} is already enabled: nothing to do")
            else:
                changes.append(Change(target=f"{BINARY} {host}", action="enable",
                                      before=before, after="enabled"))
            notes += [f"after-work check: {e.label}: {e.value}"
                      for e in after_work(service, guests, _consumers(ctx))]
        else:
            if service.status == "disabled":
                why = service.disabled_reason or "no reason"
                notes.append(f"{host} is already disabled ({why}): nothing to do")
            else:
                changes.append(Change(target=f"{BINARY} {host}", action="disable",
                                      before=before, after=f"disabled: {reason}"))
            notes += self._can_go_down(ctx, host, guests)
        draft = Plan(runbook=self.fix, changes=changes, fingerprint="", args=dict(args),
                     notes=notes)
        return draft.model_copy(update={"fingerprint": self._digest(service)})

    def _can_go_down(self, ctx: RunbookContext, host: str, guests: Sequence[Guest]
                     ) -> list[str]:
        notes = [f"{len(guests)} instance(s) on {host}"
                 + (": " + ", ".join(f"{g.name or g.id} ({g.status}, "
                                     f"{'volume-backed' if g.volume_backed else 'local disk'})"
                                     for g in guests[:20]) if guests else "")]
        if not guests:
            notes.append(f"{host} can be taken down: nothing runs on it")
            return notes
        local = [g for g in guests if not g.volume_backed]
        if local:
            notes.append(f"{len(local)} with a local root disk: they move by block migration"
                         " (openstack server migrate --live-migration --block-migration), "
                         "unless the instances directory is on shared storage")
        room = room_elsewhere(host, guests, _services(ctx), _nodes(ctx),
                              load_providers(ctx.client).read)
        free = ", ".join(f"{rc} {room.needed[rc]:.0f} needed / {room.free[rc]:.0f} free"
                         for rc in CLASSES)
        if room.fits:
            notes.append(f"room elsewhere: yes, on {len(room.hosts)} host(s) up and enabled "
                         f"({free}); {host} can be emptied and taken down")
        else:
            why = (f"; no single host has room for {', '.join(room.unplaceable)}"
                   if room.unplaceable else "")
            notes.append(f"room elsewhere: NO ({free}{why}); taking {host} down stops "
                         "instances that cannot move")
        return notes

    def fingerprint(self, ctx: RunbookContext, plan: Plan) -> str:
        return self._digest(_service(ctx, plan.args.get("host", "")))

    @staticmethod
    def _digest(service: NovaService) -> str:
        return fingerprint(service.id, service.status, service.disabled_reason)

    def apply(self, ctx: RunbookContext, plan: Plan) -> list[Applied]:
        done: list[Applied] = []
        endpoint = ctx.client.endpoint("compute")
        for change in plan.changes:
            host = change.target.split(" ", 1)[1]
            if endpoint.microversion is None or endpoint.microversion < SERVICE_UPDATE:
                done.append(Applied(change=change, ok=False, result=(
                    "nova answers below compute 2.53: PUT /os-services/{id} with a status "
                    "needs it")))
                continue
            body: dict[str, object] = {"status": "enabled"}
            if change.action == "disable":
                body = {"status": "disabled", "disabled_reason": plan.args.get("reason", "")}
            try:
                service = _service(ctx, host)
                ctx.client.send("PUT", "compute", f"os-services/{service.id}", body)
                now = _service(ctx, host)
            except (SourceError, FixRefused) as exc:
                done.append(Applied(change=change, ok=False, result=str(exc)))
                continue
            after = f"disabled: {now.disabled_reason}" if now.status == "disabled" else "enabled"
            done.append(Applied(change=change, ok=after == change.after,
                                result="applied" if after == change.after
                                else f"nova shows {after!r}"))
        return done


RUNBOOK = ComputeMaintenance()
