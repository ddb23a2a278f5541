"""What openstack-exporter's per-item, info and quota series must say, from the stock CLI.

The series stackwatch emits under openstack-exporter's names beside its own
(``src/stackwatch/catalog/openstack_exporter.yaml``), per source, as
``{(metric, labels without region): value}`` like :mod:`realcloud.expected`. Label
values are written as openstack-exporter writes them (Go booleans ``true``/``false``,
lists joined by ``,``); the status indexes are openstack-exporter's tables (nova.go
``server_status``, neutron.go ``knownNetworkStatuses``, cinder.go ``knownVolumeStatuses``).
Nothing is imported from stackwatch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from realcloud.expected import GIB, Key, key
from realcloud.truth import Truth

SERVER_STATUSES = ("ACTIVE", "BUILD", "BUILD(spawning)", "DELETED", "ERROR", "HARD_REBOOT",
                   "PASSWORD", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "SHUTOFF", "SUSPENDED",
                   "UNKNOWN", "VERIFY_RESIZE", "MIGRATING", "PAUSED", "REVERT_RESIZE",
                   "SHELVED", "SHELVED_OFFLOADED", "SOFT_DELETED")
NETWORK_STATUSES = ("ACTIVE", "BUILD", "DOWN", "ERROR")
VOLUME_STATUSES = ("creating", "available", "reserved", "attaching", "detaching", "in-use",
                   "maintenance", "deleting", "awaiting-transfer", "error", "error_deleting",
                   "backing-up", "restoring-backup", "error_backing-up", "error_restoring",
                   "error_extending", "downloading", "uploading", "retyping", "extending")
# nova quota -> its row in `quota show --usage`; those nova dropped (2.36, 2.57) are not
# in the answer of the microversion stackwatch (and openstack-exporter, 2.87) asks
NOVA_QUOTAS = {"cores": "cores", "instances": "instances", "key_pairs": "key-pairs",
               "metadata_items": "properties", "ram": "ram", "server_groups": "server-groups",
               "server_group_members": "server-group-members"}
NOVA_QUOTAS_REMOVED = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups",
                       "injected_file_content_bytes", "injected_file_path_bytes",
                       "injected_files")
NEUTRON_QUOTAS = {"network": "networks", "subnet": "subnets", "subnetpool": "subnet_pools",
                  "port": "ports", "router": "routers", "floatingip": "floating-ips",
                  "security_group": "secgroups", "security_group_rule": "secgroup-rules",
                  "rbac_policy": "rbac_policies"}


def go(value: object) -> str:
    """A label value as openstack-exporter's Go code writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _index(table: tuple[str, ...], status: str) -> float:
    return float(table.index(status)) if status in table else -1.0


def _epoch(text: str) -> float:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def quota_rows(truth: Truth, projects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """project id -> `quota show --usage` rows by resource (compute, network, volume)."""
    got = truth.cli_many({p["ID"]: ("quota", "show", "--usage", p["ID"]) for p in projects})
    return {pid: {r["Resource"]: r for r in rows} for pid, rows in got.items()}


def _quota(out: dict[Key, float], name: str, row: Mapping[str, Any] | None,
           used: str, **labels: str) -> None:
    row = row or {}
    for kind, column in ((used, "In Use"), ("reserved", "Reserved"), ("limit", "Limit")):
        out[key(name, type=kind, **labels)] = float(row.get(column) or 0)


def identity(truth: Truth, projects: list[dict[str, Any]]) -> dict[Key, float]:
    got = truth.cli_many({"groups": ("group", "list"), "domains": ("domain", "list"),
                          **{p["ID"]: ("project", "show", p["ID"]) for p in projects}})
    out: dict[Key, float] = {key("openstack_identity_groups"): len(got["groups"])}
    for d in got["domains"]:
        out[key("openstack_identity_domain_info", description=d["Description"] or "",
                enabled=go(bool(d["Enabled"])), id=d["ID"], name=d["Name"])] = 1
    for p in projects:
        s = got[p["ID"]]
        out[key("openstack_identity_project_info", is_domain=go(bool(s["is_domain"])),
                description=s["description"] or "", domain_id=s["domain_id"],
                enabled=go(bool(s["enabled"])), id=s["id"], name=s["name"],
                parent_id=s["parent_id"] or "", tags=go(s["tags"]))] = 1
    return out


def compute(truth: Truth, projects: list[dict[str, Any]],
            quotas: Mapping[str, Mapping[str, Any]]) -> dict[Key, float]:
    base = truth.cli_many({"servers": ("server", "list", "--all-projects"),
                           "flavors": ("flavor", "list", "--all", "--long"),
                           "hypervisors": ("hypervisor", "list"),
                           "aggregates": ("aggregate", "list", "--long")})
    shown = truth.cli_many({s["ID"]: ("server", "show", s["ID"]) for s in base["servers"]})
    out: dict[Key, float] = {}
    flavor_ids = {f["Name"]: f["ID"] for f in base["flavors"]}
    for f in base["flavors"]:
        out[key("openstack_nova_flavor", id=f["ID"], name=f["Name"], vcpus=f["VCPUs"],
                ram=f["RAM"], disk=f["Disk"], is_public=go(bool(f["Is Public"])))] = 1
    for s in shown.values():
        flavor = s["flavor"]
        project = s.get("project_id") or s.get("tenant_id")
        out[key("openstack_nova_server_status", id=s["id"], status=s["status"],
                name=s["name"], tenant_id=project, user_id=s["user_id"],
                address_ipv4=s["accessIPv4"], address_ipv6=s["accessIPv6"],
                host_id=s["hostId"],
                hypervisor_hostname=s["OS-EXT-SRV-ATTR:hypervisor_hostname"], uuid=s["id"],
                availability_zone=s["OS-EXT-AZ:availability_zone"],
                flavor_id=flavor_ids.get(flavor["original_name"], ""),
                instance_libvirt=s["OS-EXT-SRV-ATTR:instance_name"])] = _index(
            SERVER_STATUSES, s["status"])
        # nova's usage counts what was launched (root + ephemeral disk)
        if s["OS-SRV-USG:launched_at"] and not s["OS-SRV-USG:terminated_at"]:
            out[key("openstack_nova_server_local_gb", name=s["name"], id=s["id"],
                    tenant_id=project)] = flavor["disk"] + flavor["ephemeral"]
    # what 2.88 dropped, as openstack-exporter reads it (2.87)
    legacy = {h["Hypervisor Hostname"]: truth.cli("hypervisor", "show", h["ID"],
                                                  microversion={"compute": "2.87"})
              for h in base["hypervisors"]}
    zones: dict[str, str] = {}
    groups: dict[str, set[str]] = {}
    for agg in base["aggregates"]:
        for host in agg["Hosts"] or ():
            groups.setdefault(host, set()).add(agg["Name"])
            if agg["Availability Zone"]:
                zones[host] = agg["Availability Zone"]
    for name, h in legacy.items():
        lab = {"hostname": name, "availability_zone": zones.get(name, ""),
               "aggregates": ",".join(sorted(groups.get(name, ())))}
        out[key("openstack_nova_current_workload", **lab)] = h["current_workload"]
        out[key("openstack_nova_free_disk_bytes", **lab)] = h["free_disk_gb"] * GIB
    for p in projects:
        rows = quotas[p["ID"]]
        lab = {"tenant": p["Name"], "tenant_id": p["ID"]}
        for quota, row in NOVA_QUOTAS.items():
            _quota(out, f"openstack_nova_quota_{quota}", rows[row], "in_use", **lab)
        for quota in NOVA_QUOTAS_REMOVED:  # gone from nova (2.36, 2.57): 0, not comparable
            _quota(out, f"openstack_nova_quota_{quota}", None, "in_use", **lab)
    return out


def placement(truth: Truth) -> dict[Key, float]:
    providers = truth.cli("resource", "provider", "list")
    got = truth.cli_many({p["uuid"]: ("resource", "provider", "show", "--allocations",
                                      p["uuid"]) for p in providers})
    inventories = truth.cli_many({p["uuid"]: ("resource", "provider", "inventory", "list",
                                              p["uuid"]) for p in providers})
    out: dict[Key, float] = {}
    for p in providers:
        for inv in inventories[p["uuid"]]:
            out[key("openstack_placement_resource_generation", hostname=p["name"],
                    resourcetype=inv["resource_class"])] = got[p["uuid"]]["generation"]
        for consumer, held in got[p["uuid"]]["allocations"].items():
            for rc, amount in held["resources"].items():
                out[key("openstack_placement_resource_provider_allocations",
                        hostname=p["name"], uuid=consumer, resourcetype=rc)] = amount
    return out


def network(truth: Truth, projects: list[dict[str, Any]],
            quotas: Mapping[str, Mapping[str, Any]]) -> dict[Key, float]:
    base = truth.cli_many({"networks": ("network", "list"),
                           "subnets": ("subnet", "list", "--long"),
                           "ports": ("port", "list"), "routers": ("router", "list", "--long"),
                           "fips": ("floating", "ip", "list", "--long"),
                           "groups": ("security", "group", "list", "--all-projects"),
                           "pools": ("subnet", "pool", "list")})
    assert not base["pools"], "subnet pools appeared: compare subnets_total/used/free too"
    shown = truth.cli_many({**{f"net:{n['ID']}": ("network", "show", n["ID"])
                               for n in base["networks"]},
                            **{f"port:{p['ID']}": ("port", "show", p["ID"])
                               for p in base["ports"]},
                            **{f"l3:{r['ID']}": ("network", "agent", "list", "--router",
                                                 r["ID"], "--long") for r in base["routers"]}})
    out: dict[Key, float] = {
        key("openstack_nova_security_groups"): len(base["groups"]),
        key("openstack_neutron_ports_lb_not_active"): sum(
            1 for name, p in shown.items() if name.startswith("port:")
            and p["device_owner"] == "neutron:LOADBALANCERV2" and p["status"] != "ACTIVE")}
    for name, n in shown.items():
        if name.startswith("net:"):
            out[key("openstack_neutron_network", id=n["id"], tenant_id=n["project_id"],
                    status=n["status"], name=n["name"], is_shared=go(bool(n["shared"])),
                    is_external=go(bool(n["router:external"])),
                    provider_network_type=go(n["provider:network_type"]),
                    provider_physical_network=go(n["provider:physical_network"]),
                    provider_segmentation_id=go(n["provider:segmentation_id"]),
                    subnets=go(n["subnets"]), tags=go(n["tags"]), mtu=go(n["mtu"]))] = _index(
                NETWORK_STATUSES, n["status"])
        elif name.startswith("port:"):
            out[key("openstack_neutron_port", uuid=n["id"], network_id=n["network_id"],
                    mac_address=n["mac_address"], device_owner=n["device_owner"],
                    device_id=n["device_id"], status=n["status"],
                    binding_vif_type=n["binding_vif_type"],
                    admin_state_up=go(bool(n["admin_state_up"])),
                    fixed_ips=",".join(ip["ip_address"] for ip in n["fixed_ips"]))] = 1
    for s in base["subnets"]:
        out[key("openstack_neutron_subnet", id=s["ID"], tenant_id=s["Project"], name=s["Name"],
                network_id=s["Network"], cidr=s["Subnet"], gateway_ip=go(s["Gateway"]),
                enable_dhcp=go(bool(s["DHCP"])), dns_nameservers=go(s["Name Servers"]),
                tags=go(s["Tags"]))] = 1
    for r in base["routers"]:
        gateway = r["External gateway info"] or {}
        out[key("openstack_neutron_router", id=r["ID"], name=r["Name"], project_id=r["Project"],
                admin_state_up=go(bool(r["State"])), status=r["Status"],
                external_network_id=gateway.get("network_id", ""))] = 1
        for a in shown[f"l3:{r['ID']}"]:
            out[key("openstack_neutron_l3_agent_of_router", router_id=r["ID"],
                    l3_agent_id=a["ID"], ha_state=go(a["HA State"]),
                    agent_alive=go(bool(a["Alive"])), agent_admin_up=go(bool(a["State"])),
                    agent_host=a["Host"])] = float(bool(a["Alive"]))
    for f in base["fips"]:
        out[key("openstack_neutron_floating_ip", id=f["ID"],
                floating_network_id=f["Floating Network"], router_id=go(f["Router"]),
                status=f["Status"], project_id=f["Project"],
                floating_ip_address=f["Floating IP Address"])] = 1
    for p in projects:
        lab = {"tenant": p["Name"], "tenant_id": p["ID"]}
        for quota, row in NEUTRON_QUOTAS.items():
            _quota(out, f"openstack_neutron_quota_{quota}", quotas[p["ID"]][row], "used", **lab)
    return out


def image(truth: Truth) -> dict[Key, float]:
    images = truth.cli("image", "list")
    shown = truth.cli_many({i["ID"]: ("image", "show", i["ID"]) for i in images})
    out: dict[Key, float] = {}
    for i in shown.values():
        lab = {"id": i["id"], "name": i["name"], "tenant_id": i["owner"]}
        out[key("openstack_glance_image_bytes", **lab)] = i.get("size") or 0  # queued: none
        hidden = (i.get("properties") or {}).get("os_hidden", i.get("os_hidden", False))
        out[key("openstack_glance_image_created_at", **lab, visibility=i["visibility"],
                hidden=go(bool(hidden)), status=i["status"])] = _epoch(i["created_at"])
    return out


def block_storage(truth: Truth, projects: list[dict[str, Any]],
                  quotas: Mapping[str, Mapping[str, Any]]) -> dict[Key, float]:
    volumes = truth.cli("volume", "list", "--all-projects")
    shown = truth.cli_many({v["ID"]: ("volume", "show", v["ID"]) for v in volumes})
    present = {v["status"] for v in shown.values()}
    out: dict[Key, float] = {key("openstack_cinder_volume_status_counter", status=s): 0
                             for s in VOLUME_STATUSES if s not in present}
    for v in shown.values():
        attached = v["attachments"]
        common = {"id": v["id"], "name": v["name"] or "", "status": v["status"],
                  "bootable": go(v["bootable"] in (True, "true")),
                  "tenant_id": v["os-vol-tenant-attr:tenant_id"], "volume_type": v["type"],
                  "server_id": attached[0]["server_id"] if attached else ""}
        out[key("openstack_cinder_volume_gb", **common, user_id=v["user_id"],
                availability_zone=v["availability_zone"])] = v["size"]
        out[key("openstack_cinder_volume_status", **common, size=v["size"])] = _index(
            VOLUME_STATUSES, v["status"])
    for p in projects:
        rows = quotas[p["ID"]]
        lab = {"tenant": p["Name"], "tenant_id": p["ID"]}
        out[key("openstack_cinder_limits_backup_max_gb", **lab)] = rows["backup-gigabytes"][
            "Limit"]
        out[key("openstack_cinder_limits_backup_used_gb", **lab)] = rows["backup-gigabytes"][
            "In Use"]
        for resource, row in rows.items():
            if resource.startswith("gigabytes_"):
                out[key("openstack_cinder_volume_type_quota_gigabytes", **lab,
                        volume_type=resource.removeprefix("gigabytes_"))] = row["Limit"]
    return out
