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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stackwatch.model import Status

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
