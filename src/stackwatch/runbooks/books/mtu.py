"""MTU: each network's MTU against what its segment type can carry.

Neutron computes the largest MTU a network may have from the physical MTU and the
encapsulation its type adds (``neutron/plugins/ml2/drivers``, ``get_mtu`` of each type
driver, with neutron-lib's ``constants``):

* flat, vlan: ``min(global_physnet_mtu, physical_network_mtus[physnet])``;
* tunnels (gre, vxlan, geneve): ``min(global_physnet_mtu, path_mtu)`` minus the outer
  IP header (``IP_HEADER_LENGTH``: 20 for IPv4, 40 for IPv6, after
  ``overlay_ip_version``), minus the type's own header: ``GRE_ENCAP_OVERHEAD`` 22,
  ``VXLAN_ENCAP_OVERHEAD`` 30, and for geneve ``[ml2_type_geneve] max_header_size``,
  which OVN needs to be 38 (neutron's OVN guide) — so 42, 50 and 58 bytes with IPv4;
* local: no limit (it never leaves the host).

A network whose MTU is above that drops every packet larger than the path carries:
``ping`` passes, a TLS handshake does not. :func:`check` says which, and what to set.
The settings are the cloud's ``neutron_mtu`` in stackwatch.yaml (neutron does not
publish them).

The fix ``network-mtu`` sets each such network's MTU to the largest its path carries
(``PUT /v2.0/networks/{id}``, neutron's ``net-mtu-writable`` extension). Arguments:
``network`` (one network, by id or name; default every network too big) and ``mtu``
(the value to set; default the largest that fits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stackwatch.config import NeutronMtuConfig
from stackwatch.errors import FixRefused, SourceError
from stackwatch.model import Status
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Change, Diagnosis, Evidence, Plan, fingerprint
from stackwatch.sources.openstack_api import fields as f

#: outer IP header per overlay IP version (neutron-lib constants.IP_HEADER_LENGTH)
IP_HEADER_LENGTH: Mapping[int, int] = {4: 20, 6: 40}
#: a tunnel type's own header (neutron-lib GRE_ENCAP_OVERHEAD, VXLAN_ENCAP_OVERHEAD)
ENCAP_OVERHEAD: Mapping[str, int] = {"gre": 22, "vxlan": 30}
#: the segment types bound by the physical network's MTU alone
PHYSICAL_TYPES = frozenset({"flat", "vlan"})


@dataclass(frozen=True, slots=True)
class MtuSettings:
    """Neutron's ML2 MTU settings (``[DEFAULT] global_physnet_mtu``, ``[ml2] path_mtu``,
    ``physical_network_mtus``, ``overlay_ip_version``, ``[ml2_type_geneve]
    max_header_size``), with neutron's defaults except geneve's (OVN's 38)."""

    global_physnet_mtu: int = 1500
    path_mtu: int = 0
    physical_network_mtus: Mapping[str, int] = field(default_factory=dict)
    overlay_ip_version: int = 4
    geneve_max_header_size: int = 38

    @classmethod
    def of(cls, config: NeutronMtuConfig) -> MtuSettings:
        return cls(config.global_physnet_mtu, config.path_mtu,
                   dict(config.physical_network_mtus), config.overlay_ip_version,
                   config.geneve_max_header_size)

    def overhead(self, network_type: str) -> int:
        """Bytes a tunnel type adds to each packet (outer IP included); 0 otherwise."""
        if network_type == "geneve":
            header = self.geneve_max_header_size
        elif network_type in ENCAP_OVERHEAD:
            header = ENCAP_OVERHEAD[network_type]
        else:
            return 0
        return IP_HEADER_LENGTH[self.overlay_ip_version] + header

    def largest(self, network_type: str, physical_network: str | None) -> int | None:
        """The largest MTU a network of this type may have; None when unbounded or the
        type is unknown."""
        bounds = [self.global_physnet_mtu] if self.global_physnet_mtu > 0 else []
        if network_type in PHYSICAL_TYPES:
            if physical_network and physical_network in self.physical_network_mtus:
                bounds.append(self.physical_network_mtus[physical_network])
            return min(bounds) if bounds else None
        if network_type in ("gre", "vxlan", "geneve"):
            if self.path_mtu > 0:
                bounds.append(self.path_mtu)
            return min(bounds) - self.overhead(network_type) if bounds else None
        return None


@dataclass(frozen=True, slots=True)
class NetworkMtu:
    """What the MTU check needs of one network (``GET /v2.0/networks`` as admin)."""

    id: str
    name: str
    network_type: str
    physical_network: str | None
    mtu: int


@dataclass(frozen=True, slots=True)
class MtuFinding:
    """One network judged: CRITICAL when its MTU is above what the path carries."""

    network: NetworkMtu
    largest: int | None
    overhead: int
    status: Status
    message: str

    @property
    def to_set(self) -> int | None:
        """The MTU to set, when the network's is too big."""
        return self.largest if self.status is Status.CRITICAL else None


def judge(network: NetworkMtu, settings: MtuSettings) -> MtuFinding:
    """Judge one network's MTU."""
    kind = network.network_type
    largest = settings.largest(kind, network.physical_network)
    overhead = settings.overhead(kind)
    label = f"network {network.name or network.id} ({kind}"
    label += f" on {network.physical_network})" if network.physical_network else ")"
    if largest is None:
        known = kind == "local"
        return MtuFinding(network, None, overhead, Status.OK if known else Status.UNKNOWN,
                          f"{label}: MTU {network.mtu}, "
                          + ("no physical limit" if known else "unknown network type"))
    if network.mtu > largest:
        return MtuFinding(network, largest, overhead, Status.CRITICAL,
                          f"{label}: MTU {network.mtu} is above the {largest} the path carries"
                          f" ({_arithmetic(settings, kind, network.physical_network)}):"
                          f" packets over {largest} bytes are dropped; set mtu {largest}")
    return MtuFinding(network, largest, overhead, Status.OK,
                      f"{label}: MTU {network.mtu} fits ({largest} at most)")


def check(networks: Iterable[NetworkMtu], settings: MtuSettings) -> list[MtuFinding]:
    """Every network judged, the ones that drop packets first, then by name."""
    rank = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}
    found = [judge(n, settings) for n in networks]
    return sorted(found, key=lambda f: (rank[f.status], f.network.name, f.network.id))


def _arithmetic(settings: MtuSettings, kind: str, physnet: str | None) -> str:
    if kind in PHYSICAL_TYPES:
        if physnet and physnet in settings.physical_network_mtus:
            return (f"physical_network_mtus {physnet}:{settings.physical_network_mtus[physnet]},"
                    f" global_physnet_mtu {settings.global_physnet_mtu}")
        return f"global_physnet_mtu {settings.global_physnet_mtu}"
    base = f"global_physnet_mtu {settings.global_physnet_mtu}"
    if settings.path_mtu > 0:
        base = f"min({base}, path_mtu {settings.path_mtu})"
    return f"{base} - {settings.overhead(kind)} of {kind} over IPv{settings.overlay_ip_version}"


def from_api(body: Mapping[str, object]) -> NetworkMtu:
    """One network of neutron's ``GET /v2.0/networks`` (admin: provider attributes).

    Raises ValueError naming the field when the body lacks what the check needs.
    """
    try:
        mtu = body["mtu"]
        if not isinstance(mtu, int) or isinstance(mtu, bool):
            raise ValueError(f"network {body.get('id')}: mtu is {mtu!r}, not an integer")
        physnet = body.get("provider:physical_network")
        return NetworkMtu(id=str(body["id"]), name=str(body.get("name") or ""),
                          network_type=str(body.get("provider:network_type") or ""),
                          physical_network=str(physnet) if physnet else None, mtu=mtu)
    except KeyError as missing:
        raise ValueError(f"network {body.get('id')}: no {missing.args[0]} field") from None


WHERE = "neutron API"


@dataclass(frozen=True, slots=True)
class Networks:
    """The networks read now (admin listing), and those that could not be judged."""

    read: dict[str, NetworkMtu]
    revisions: dict[str, int]
    unreadable: list[str]


def read_networks(ctx: RunbookContext) -> Networks:
    read: dict[str, NetworkMtu] = {}
    revisions: dict[str, int] = {}
    unreadable: list[str] = []
    for raw in ctx.client.list_all("network", "v2.0/networks", "networks"):
        if not isinstance(raw, Mapping):
            unreadable.append(f"not an object: {str(raw)[:60]}")
            continue
        try:
            net = from_api(raw)
        except ValueError as bad:
            unreadable.append(str(bad))
            continue
        read[net.id] = net
        revision = raw.get("revision_number")
        revisions[net.id] = revision if isinstance(revision, int) else -1
    return Networks(read, revisions, unreadable)


class NetworkMtuRunbook:
    """Networks whose MTU is above what their path carries, and setting it right."""

    name = "mtu"
    fix = "network-mtu"
    summary = ("networks whose MTU is above what their type's overlay and the physical MTU "
               "carry (large packets dropped); the fix sets the MTU that fits")

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        settings = MtuSettings.of(ctx.cloud.neutron_mtu)
        nets = read_networks(ctx)
        found = check(nets.read.values(), settings)
        bad = [x for x in found if x.status is Status.CRITICAL]
        unknown = [x for x in found if x.status is Status.UNKNOWN]
        evidence = [Evidence(label=f"network {x.network.name or x.network.id}",
                             value=x.message, source=f"{WHERE} network {x.network.id}")
                    for x in bad + unknown]
        evidence.append(Evidence(label="networks", value=(
            f"{len(found)} judged: {len(bad)} too big, {len(unknown)} of an unknown type; "
            f"physical MTU {settings.global_physnet_mtu}, overheads gre "
            f"{settings.overhead('gre')}, vxlan {settings.overhead('vxlan')}, geneve "
            f"{settings.overhead('geneve')}"), source=WHERE))
        evidence += [Evidence(label="not judged", value=why, source=WHERE)
                     for why in nets.unreadable]
        if bad:
            return Diagnosis(
                runbook=self.name, verdict="CRITICAL",
                summary=f"{len(bad)} network(s) with an MTU their path cannot carry: "
                        + ", ".join(f"{x.network.name or x.network.id} {x.network.mtu} > "
                                    f"{x.largest}" for x in bad),
                evidence=evidence,
                advice=["`stackwatch fix network-mtu` shows the MTU each would get; --apply "
                        "sets it", "instances take the new MTU with their next DHCP lease "
                        "(or a reboot); until then, large packets still drop"])
        if unknown or nets.unreadable:
            return Diagnosis(runbook=self.name, verdict="UNKNOWN",
                             summary=f"{len(unknown) + len(nets.unreadable)} network(s) could "
                                     "not be judged", evidence=evidence)
        return Diagnosis(runbook=self.name, verdict="OK",
                         summary=f"every network's MTU fits its path ({len(found)} networks)",
                         evidence=evidence)

    def plan(self, ctx: RunbookContext, args: dict[str, str]) -> Plan:
        unknown = set(args) - {"network", "mtu"}
        if unknown:
            raise FixRefused(f"network-mtu: unknown argument(s) {', '.join(sorted(unknown))} "
                             "(it takes network=ID|NAME and mtu=N)", "args")
        wanted_mtu: int | None = None
        if "mtu" in args:
            try:
                wanted_mtu = int(args["mtu"])
            except ValueError:
                raise FixRefused(f"network-mtu: mtu={args['mtu']!r} is not a whole number",
                                 "args") from None
            if wanted_mtu < 68:
                raise FixRefused("network-mtu: mtu must be at least 68 (IPv4's minimum)",
                                 "args")
        settings = MtuSettings.of(ctx.cloud.neutron_mtu)
        nets = read_networks(ctx)
        chosen = list(nets.read.values())
        if args.get("network"):
            chosen = [n for n in chosen if args["network"] in (n.id, n.name)]
            if not chosen:
                raise FixRefused(f"network-mtu: no network {args['network']!r}", "args")
            if len(chosen) > 1:
                raise FixRefused(f"network-mtu: {len(chosen)} networks are named "
                                 f"{args['network']!r}; give the id", "args")
        changes: list[Change] = []
        notes: list[str] = []
        for finding in check(chosen, settings):
            net = finding.network
            target = wanted_mtu if wanted_mtu is not None else finding.to_set
            if target is None or target == net.mtu:
                continue
            if finding.largest is not None and target > finding.largest:
                raise FixRefused(f"network-mtu: mtu {target} is above the {finding.largest} "
                                 f"network {net.name or net.id} carries", "args")
            changes.append(Change(target=f"network {net.id}", action="set mtu",
                                  before=str(net.mtu), after=str(target)))
            notes.append(f"{net.id}: {finding.message}")
        if not changes:
            notes.append("no network to change: every MTU asked for fits")
        draft = Plan(runbook=self.fix, changes=changes, fingerprint="", args=dict(args),
                     notes=notes)
        return draft.model_copy(update={"fingerprint": self._digest(nets, draft)})

    def fingerprint(self, ctx: RunbookContext, plan: Plan) -> str:
        return self._digest(read_networks(ctx), plan)

    @staticmethod
    def _digest(nets: Networks, plan: Plan) -> str:
        """Each planned network's MTU and revision: any change to it since the dry run
        changes the digest."""
        ids = sorted(c.target.split(" ", 1)[1] for c in plan.changes)
        return fingerprint([(i, nets.read[i].mtu if i in nets.read else None,
                             nets.revisions.get(i)) for i in ids])

    def apply(self, ctx: RunbookContext, plan: Plan) -> list[Applied]:
        done: list[Applied] = []
        for change in plan.changes:
            network_id = change.target.split(" ", 1)[1]
            try:
                ctx.client.send("PUT", "network", f"v2.0/networks/{network_id}",
                                {"network": {"mtu": int(change.after)}})
                body = ctx.client.get("network", f"v2.0/networks/{network_id}")
                now = f.obj(body, "network", "neutron network").get("mtu")
            except SourceError as exc:
                done.append(Applied(change=change, ok=False, result=str(exc)))
                continue
            ok = str(now) == change.after
            done.append(Applied(change=change, ok=ok,
                                result="applied" if ok else f"neutron shows mtu {now}"))
        return done


RUNBOOK = NetworkMtuRunbook()
