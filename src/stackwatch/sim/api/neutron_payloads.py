"""What neutron answers for each kind of resource: one payload builder per kind.

Keys, order and types follow the recordings in ``shared/reference/api/network/``
(neutron 28.0.2); agents follow neutron-lib's API reference samples
(``api-ref/source/v2/samples/agents/*.json``), associated floating IPs its
``floatingip-show-response.json``. Timestamps as neutron writes them (``…Z``; agents
``YYYY-MM-DD HH:MM:SS``).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from typing import Any

from stackwatch.sim import records as r
from stackwatch.sim.api.wire import spaced, zulu
from stackwatch.sim.state import CloudState

Payload = dict[str, Any]


def network_payload(net: r.Network, *, admin: bool, created: bool = False) -> Payload:
    """As ``GET /v2.0/networks`` (recorded): ``is_default`` only on external networks
    in listings, on every network in a create answer; provider attributes for admins."""
    body: Payload = {
        "id": net.id,
        "name": net.name,
        "tenant_id": net.project_id,
        "project_id": net.project_id,
        "admin_state_up": net.admin_state_up,
        "mtu": net.mtu,
        "status": net.status,
        "subnets": list(net.subnets),
        "shared": net.shared,
        "availability_zone_hints": [],
        "availability_zones": list(net.availability_zones),
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "router:external": net.router_external,
        "qinq": False,
        "vlan_transparent": False,
        "description": net.description,
        "port_security_enabled": net.port_security_enabled,
    }
    if net.router_external or created:
        body["is_default"] = net.is_default
    body.update(
        tags=list(net.tags),
        created_at=zulu(net.created_at),
        updated_at=zulu(net.updated_at),
        revision_number=net.revision_number,
    )
    if admin:
        body["provider:network_type"] = net.network_type
        body["provider:physical_network"] = net.physical_network
        body["provider:segmentation_id"] = net.segmentation_id
    return body


def subnet_payload(subnet: r.Subnet, external: bool) -> Payload:
    """As ``GET /v2.0/subnets`` (recorded)."""
    return {
        "id": subnet.id,
        "name": subnet.name,
        "project_id": subnet.project_id,
        "network_id": subnet.network_id,
        "ip_version": subnet.ip_version,
        "subnetpool_id": subnet.subnetpool_id,
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "gateway_ip": subnet.gateway_ip,
        "cidr": subnet.cidr,
        "allocation_pools": [{"start": p.start, "end": p.end} for p in subnet.allocation_pools],
        "host_routes": [],
        "dns_nameservers": list(subnet.dns_nameservers),
        "description": subnet.description,
        "router:external": external,
        "service_types": [],
        "tags": list(subnet.tags),
        "created_at": zulu(subnet.created_at),
        "updated_at": zulu(subnet.updated_at),
        "revision_number": subnet.revision_number,
        "tenant_id": subnet.project_id,
    }


# ML2/OVS binding details of a bound port (neutron ``portbindings`` for the ovs driver).
_OVS_VIF_DETAILS = {
    "port_filter": True,
    "connectivity": "l2",
    "ovs_hybrid_plug": False,
    "datapath_type": "system",
    "bridge_name": "br-int",
}


def port_payload(port: r.Port) -> Payload:
    """As ``GET /v2.0/ports`` (recorded; the recorded ports are unbound)."""
    return {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "project_id": port.project_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [
            {"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in port.fixed_ips
        ],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": list(port.security_groups),
        "description": port.description,
        "binding:vnic_type": port.binding_vnic_type,
        "binding:profile": {},
        "binding:host_id": port.binding_host_id,
        "binding:vif_type": port.binding_vif_type,
        "binding:vif_details": dict(_OVS_VIF_DETAILS) if port.binding_vif_type == "ovs" else {},
        "port_security_enabled": port.port_security_enabled,
        "tags": list(port.tags),
        "created_at": zulu(port.created_at),
        "updated_at": zulu(port.updated_at),
        "revision_number": port.revision_number,
        "tenant_id": port.project_id,
    }


def router_payload(router: r.Router) -> Payload:
    """As ``GET /v2.0/routers`` (recorded)."""
    gateway: Payload | None = None
    if router.external_gateway is not None:
        gw = router.external_gateway
        gateway = {
            "network_id": gw.network_id,
            "external_fixed_ips": [
                {"subnet_id": f.subnet_id, "ip_address": f.ip_address}
                for f in gw.external_fixed_ips
            ],
            "enable_snat": gw.enable_snat,
        }
    return {
        "id": router.id,
        "name": router.name,
        "project_id": router.project_id,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": gateway,
        "description": router.description,
        "availability_zones": list(router.availability_zones),
        "distributed": router.distributed,
        "ha": router.ha,
        "availability_zone_hints": [],
        "routes": [],
        "flavor_id": None,
        "tags": list(router.tags),
        "created_at": zulu(router.created_at),
        "updated_at": zulu(router.updated_at),
        "revision_number": router.revision_number,
        "tenant_id": router.project_id,
    }


def agent_router_payload(router: r.Router, state: CloudState) -> Payload:
    """As ``GET /v2.0/agents/{id}/l3-routers`` (recorded): the router with the database
    fields neutron's L3 scheduler leaves in (``enable_snat``, ``gw_port_id``,
    ``ha_vr_id``, ``enable_default_route_bfd/ecmp``), in the recorded key order.

    ``ha_vr_id`` is 0 for a non-HA router; an HA router gets its 1-based place among
    its project's HA routers (neutron allocates one per router on the project's HA
    network).
    """
    plain = router_payload(router)
    gw_port = next((p.id for p in state.ports.by("device_id", router.id)
                    if p.device_owner == "network:router_gateway"), None)
    vr_id = 0
    if router.ha:
        ha = sorted((x.created_at, x.id) for x in state.routers
                    if x.ha and x.project_id == router.project_id)
        vr_id = 1 + ha.index((router.created_at, router.id))
    extra: Payload = {
        "enable_snat": router.external_gateway.enable_snat
        if router.external_gateway is not None else True,
        "gw_port_id": gw_port,
        "ha_vr_id": vr_id,
        "enable_default_route_ecmp": False,
        "enable_default_route_bfd": False,
    }
    order = ("id", "name", "project_id", "admin_state_up", "status", "enable_snat",
             "external_gateway_info", "gw_port_id", "description", "availability_zones",
             "distributed", "ha", "ha_vr_id", "availability_zone_hints",
             "enable_default_route_ecmp", "enable_default_route_bfd")
    merged = {**plain, **extra}
    return {**{k: merged[k] for k in order}, **{k: v for k, v in plain.items() if k not in order}}


def floating_ip_payload(fip: r.FloatingIP, port: r.Port | None) -> Payload:
    """As ``GET /v2.0/floatingips`` (recorded); ``port_details`` per the API reference
    (``fip-port-details`` extension) when the address is associated."""
    details: Payload | None = None
    if port is not None:
        details = {
            "name": port.name,
            "network_id": port.network_id,
            "mac_address": port.mac_address,
            "admin_state_up": port.admin_state_up,
            "status": port.status,
            "device_id": port.device_id,
            "device_owner": port.device_owner,
        }
    return {
        "id": fip.id,
        "tenant_id": fip.project_id,
        "project_id": fip.project_id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "description": fip.description,
        "port_details": details,
        "tags": list(fip.tags),
        "created_at": zulu(fip.created_at),
        "updated_at": zulu(fip.updated_at),
        "revision_number": fip.revision_number,
    }


def security_group_payload(group: r.SecurityGroup) -> Payload:
    """As ``GET /v2.0/security-groups`` (recorded, with its default rules)."""
    stamp = zulu(group.created_at)
    rules: list[Payload] = []
    for index, rule in enumerate(group.rules):
        prefix = rule.remote_ip_prefix
        rules.append({
            "id": rule.id,
            "project_id": group.project_id,
            "security_group_id": group.id,
            "ethertype": rule.ethertype,
            "direction": rule.direction,
            "protocol": rule.protocol,
            "port_range_min": rule.port_range_min,
            "port_range_max": rule.port_range_max,
            "remote_ip_prefix": prefix,
            "remote_address_group_id": None,
            "normalized_cidr": str(ipaddress.ip_network(prefix, strict=False)) if prefix else None,
            "remote_group_id": rule.remote_group_id,
            "standard_attr_id": _standard_attr_id(rule.id, index),
            "belongs_to_default_sg": None,
            "description": rule.description or None,  # null on default rules (recorded)
            "tags": [],
            "created_at": stamp,
            "updated_at": stamp,
            "revision_number": 0,
            "tenant_id": group.project_id,
        })
    return {
        "id": group.id,
        "name": group.name,
        "stateful": group.stateful,
        "tenant_id": group.project_id,
        "project_id": group.project_id,
        "description": group.description,
        "shared": False,
        "security_group_rules": rules,
        "tags": list(group.tags),
        "created_at": stamp,
        "updated_at": zulu(group.updated_at),
        "revision_number": group.revision_number,
    }


def _standard_attr_id(ident: str, index: int) -> int:
    """neutron's ``standardattributes`` row id: an integer per resource, derived from
    the rule's id so that it stays the same from one answer to the next."""
    return (uuid.UUID(ident).int % 1_000_000) * 10 + index if _is_uuid(ident) else index + 1


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def agent_payload(agent: r.Agent, now: Any, configurations: Mapping[str, object]) -> Payload:
    """As the neutron-lib API reference ``agents-list-response.json`` (no recorded agents).

    ``configurations``: :meth:`CloudState.agent_configurations` (L3 and DHCP agents'
    counts follow their routers and networks).
    """
    config = dict(configurations)
    return {
        "binary": agent.binary,
        "description": agent.description,
        "availability_zone": agent.availability_zone,
        "heartbeat_timestamp": spaced(agent.heartbeat_timestamp),
        "admin_state_up": agent.admin_state_up,
        "alive": agent.is_alive(now),
        "id": agent.id,
        "topic": agent.topic,
        "host": agent.host,
        "agent_type": agent.agent_type,
        "started_at": spaced(agent.started_at),
        "created_at": spaced(agent.created_at),
        "resources_synced": agent.resources_synced,
        "configurations": config,
    }


def _pool_ranges(subnet: r.Subnet) -> list[tuple[int, int]]:
    return [
        (int(ipaddress.ip_address(p.start)), int(ipaddress.ip_address(p.end)))
        for p in subnet.allocation_pools
    ]


def ip_availability_payload(state: CloudState, net: r.Network) -> Payload:
    """As ``GET /v2.0/network-ip-availabilities`` (recorded): used IPs are the ports'
    fixed IPs, ``*_in_allocation_pool`` counts those inside the pools."""
    used: dict[str, list[str]] = {}
    for port in state.ports.by("network_id", net.id):
        for fixed in port.fixed_ips:
            used.setdefault(fixed.subnet_id, []).append(fixed.ip_address)
    subnets = []
    totals = {"in_subnet": 0, "in_pool": 0, "used": 0, "used_pool": 0}
    for subnet_id in net.subnets:
        subnet = state.subnets.get(subnet_id)
        if subnet is None:
            continue
        network = ipaddress.ip_network(subnet.cidr, strict=False)
        in_subnet = network.num_addresses - (2 if subnet.ip_version == 4 else 1)
        ranges = _pool_ranges(subnet)
        in_pool = sum(end - start + 1 for start, end in ranges)
        addresses = used.get(subnet.id, [])
        numbers = (int(ipaddress.ip_address(a)) for a in addresses)
        used_pool = sum(1 for n in numbers if any(lo <= n <= hi for lo, hi in ranges))
        details = {
            "total_ips_in_subnet": in_subnet,
            "total_ips_in_allocation_pool": in_pool,
            "used_ips_in_subnet": len(addresses),
            "used_ips_in_allocation_pool": used_pool,
        }
        subnets.append({
            "subnet_id": subnet.id,
            "ip_version": subnet.ip_version,
            "cidr": subnet.cidr,
            "subnet_name": subnet.name,
            "used_ips": len(addresses),
            "total_ips": in_pool,
            "ip_availability_details": details,
        })
        for key, value in (("in_subnet", in_subnet), ("in_pool", in_pool),
                           ("used", len(addresses)), ("used_pool", used_pool)):
            totals[key] += value
    return {
        "network_id": net.id,
        "network_name": net.name,
        "project_id": net.project_id,
        "subnet_ip_availability": subnets,
        "used_ips": totals["used"],
        "total_ips": totals["in_pool"],
        "ip_availability_details": {
            "total_ips_in_subnet": totals["in_subnet"],
            "total_ips_in_allocation_pool": totals["in_pool"],
            "used_ips_in_subnet": totals["used"],
            "used_ips_in_allocation_pool": totals["used_pool"],
        },
        "tenant_id": net.project_id,
    }
