"""What stackwatch's metrics must say, computed from ground truth (CLI and SQL) only.

Each ``expected_*`` function asks :class:`~realcloud.truth.Truth` and returns
``{(metric name, labels without region): value}``; :func:`sample_map` turns
stackwatch's samples into the same shape so that tests compare two dicts.
Only figures are derived here, with the formulas the OpenStack docs give
(e.g. placement capacity = (total - reserved) * allocation_ratio - used); nothing
is imported from stackwatch.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from realcloud.truth import Truth

Key = tuple[str, tuple[tuple[str, str], ...]]
MIB = 2**20
GIB = 2**30


def key(name: str, /, **labels: object) -> Key:
    """A metric key: name plus sorted string labels (``region`` left out)."""
    return name, tuple(sorted((k, "" if v is None else str(v)) for k, v in labels.items()))


def sample_map(samples: Iterable[Any], names: Iterable[str]) -> dict[Key, float]:
    """stackwatch samples of the given metric names as ``{key: value}``."""
    wanted = set(names)
    out: dict[Key, float] = {}
    for sample in samples:
        if sample.name in wanted:
            labels = tuple((k, v) for k, v in sample.labels if k != "region")
            out[(sample.name, labels)] = sample.value
    return out


def _counts(name: str, label: str, values: Iterable[str]) -> dict[Key, float]:
    return {key(name, **{label: v}): float(n) for v, n in Counter(values).items()}


# ---------------------------------------------------------------------- identity

def expected_identity(truth: Truth) -> dict[Key, float]:
    got = truth.cli_many({"users": ("user", "list"), "projects": ("project", "list", "--long"),
                          "domains": ("domain", "list"), "regions": ("region", "list")})
    return {
        key("openstack_identity_up"): 1,  # the CLI's answers came from it
        key("openstack_identity_users"): len(got["users"]),
        key("openstack_identity_projects"): len(got["projects"]),
        key("openstack_identity_projects_enabled"): sum(bool(p["Enabled"])
                                                         for p in got["projects"]),
        key("openstack_identity_domains"): len(got["domains"]),
        key("openstack_identity_regions"): len(got["regions"]),
    }


# ---------------------------------------------------------------------- compute

def host_labels(aggregates: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Host -> (availability zone of its AZ aggregate or "", its aggregates joined by ",").

    The openstack-exporter convention for the labels of per-hypervisor metrics.
    """
    zones: dict[str, str] = {}
    groups: defaultdict[str, set[str]] = defaultdict(set)
    for agg in aggregates:
        for host in agg["Hosts"] or ():
            groups[host].add(agg["Name"])
            if agg["Availability Zone"]:
                zones[host] = agg["Availability Zone"]
    return {h: (zones.get(h, ""), ",".join(sorted(groups.get(h, ()))))
            for h in set(zones) | set(groups)}


def expected_compute(truth: Truth, projects: list[dict[str, Any]]) -> dict[Key, float]:
    """Everything api.compute emits except tenant usage (time-dependent, bracketed)."""
    commands: dict[str, tuple[str, ...]] = {
        "services": ("compute", "service", "list", "--long"),
        "servers": ("server", "list", "--all-projects", "--long"),
        "hypervisors": ("hypervisor", "list"),
        "flavors": ("flavor", "list", "--all"),
        "aggregates": ("aggregate", "list", "--long"),
        "zones": ("availability", "zone", "list", "--compute"),
        "providers": ("resource", "provider", "list"),
    }
    commands.update({f"quota:{p['ID']}": ("quota", "show", "--usage", p["ID"])
                     for p in projects})
    got = truth.cli_many(commands)
    out: dict[Key, float] = {key("openstack_nova_up"): 1}
    for s in got["services"]:
        out[key("openstack_nova_agent_state", id=s["ID"], hostname=s["Host"],
                service=s["Binary"], adminState=s["Status"], zone=s["Zone"],
                disabledReason=s["Disabled Reason"])] = float(s["State"] == "up")
        out[key("openstack_nova_service_forced_down", hostname=s["Host"], service=s["Binary"],
                zone=s["Zone"])] = float(bool(s["Forced Down"]))
    servers = got["servers"]
    out[key("openstack_nova_total_vms")] = len(servers)
    out.update(_counts("openstack_nova_servers", "status", (s["Status"] for s in servers)))
    out.update(_counts("openstack_nova_flavor_servers", "flavor", (s["Flavor"] for s in servers)))
    labels = host_labels(got["aggregates"])
    per_host = Counter(s["Host"] for s in servers if s["Host"])
    for h in got["hypervisors"]:
        name = h["Hypervisor Hostname"]
        zone, aggs = labels.get(name, ("", ""))
        out[key("openstack_nova_running_vms", hostname=name, availability_zone=zone,
                aggregates=aggs)] = per_host[name]
    out[key("openstack_nova_hypervisors")] = len(got["hypervisors"])
    capacity = _capacity(truth, got["providers"], labels)
    out.update(capacity)
    # per zone: the sum of its hypervisors' free (openstack_nova_zone_*_free*)
    for (name, labelset), value in capacity.items():
        if name.endswith(("_free", "_free_bytes")):
            zone = dict(labelset)["availability_zone"]
            zoned = key(name.replace("openstack_nova_", "openstack_nova_zone_", 1),
                        availability_zone=zone)
            out[zoned] = out.get(zoned, 0.0) + value
    out[key("openstack_nova_flavors")] = len(got["flavors"])
    out[key("openstack_nova_aggregates")] = len(got["aggregates"])
    for agg in got["aggregates"]:
        out[key("openstack_nova_aggregate_hosts", aggregate=agg["Name"],
                availability_zone=agg["Availability Zone"])] = len(agg["Hosts"] or ())
    # GET /os-availability-zone (what an operator's "zones" means) leaves out "internal",
    # the zone of the control services, which only the admin /detail listing shows.
    zones = [z for z in got["zones"] if z["Zone Name"] != "internal"]
    out[key("openstack_nova_availability_zones")] = len(zones)
    for z in zones:
        out[key("openstack_nova_availability_zone_available", zone=z["Zone Name"])] = float(
            z["Zone Status"] == "available")
    for p in projects:
        rows = {r["Resource"]: r for r in got[f"quota:{p['ID']}"]}
        for metric, resource in (("vcpus", "cores"), ("memory", "ram"),
                                 ("instances", "instances")):
            labels_ = {"tenant": p["Name"], "tenant_id": p["ID"]}
            out[key(f"openstack_nova_limits_{metric}_max", **labels_)] = rows[resource]["Limit"]
            out[key(f"openstack_nova_limits_{metric}_used", **labels_)] = rows[resource]["In Use"]
    return out


# resource class -> (metric stem, scale to base units)
CAPACITY = {"VCPU": ("vcpus", 1), "MEMORY_MB": ("memory", MIB),
            "DISK_GB": ("local_storage", GIB)}


def _capacity(truth: Truth, providers: list[dict[str, Any]],
              labels: Mapping[str, tuple[str, str]]) -> dict[Key, float]:
    """Per-hypervisor capacity from placement: total, used, capacity = (total-reserved)*ratio,
    free = capacity - used."""
    out: dict[Key, float] = {}
    for rp, (inventory, usages) in zip(providers, _placement_rows(truth, providers),
                                       strict=True):
        zone, aggs = labels.get(rp["name"], ("", ""))
        lab = {"hostname": rp["name"], "availability_zone": zone, "aggregates": aggs}
        used = {u["resource_class"]: u["usage"] for u in usages}
        for inv in inventory:
            rc = inv["resource_class"]
            if rc not in CAPACITY:
                continue
            stem, scale = CAPACITY[rc]
            suffix = "" if rc == "VCPU" else "_bytes"
            capacity = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
            out[key(f"openstack_nova_{stem}_available{suffix}", **lab)] = inv["total"] * scale
            out[key(f"openstack_nova_{stem}_used{suffix}", **lab)] = used[rc] * scale
            out[key(f"openstack_nova_{stem}_capacity{suffix}", **lab)] = capacity * scale
            out[key(f"openstack_nova_{stem}_free{suffix}", **lab)] = (
                capacity - used[rc]) * scale
    return out


def _placement_rows(truth: Truth, providers: list[dict[str, Any]]
                    ) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    commands: dict[str, tuple[str, ...]] = {}
    for rp in providers:
        commands[f"inv:{rp['uuid']}"] = ("resource", "provider", "inventory", "list", rp["uuid"])
        commands[f"use:{rp['uuid']}"] = ("resource", "provider", "usage", "show", rp["uuid"])
    got = truth.cli_many(commands)
    return [(got[f"inv:{rp['uuid']}"], got[f"use:{rp['uuid']}"]) for rp in providers]


def tenant_usage(truth: Truth) -> dict[Key, float]:
    """os-simple-tenant-usage per project, as ``openstack usage list`` shows it.

    Hours grow with time, so callers bracket stackwatch's figure between two of these.
    Every test server has 1 vCPU, so server-hours equal CPU hours.
    """
    out: dict[Key, float] = {}
    for row in truth.cli("usage", "list"):
        out[key("openstack_nova_tenant_usage_vcpu_hours", tenant_id=row["Project"])] = row[
            "CPU Hours"]
        out[key("openstack_nova_tenant_usage_memory_mb_hours", tenant_id=row["Project"])] = row[
            "RAM MB-Hours"]
        out[key("openstack_nova_tenant_usage_hours", tenant_id=row["Project"])] = row[
            "CPU Hours"]
    return out


# ---------------------------------------------------------------------- placement

def expected_placement(truth: Truth) -> dict[Key, float]:
    providers = truth.cli("resource", "provider", "list")
    out: dict[Key, float] = {key("openstack_placement_up"): 1,
                             key("openstack_placement_resource_providers"): len(providers)}
    for rp, (inventory, usages) in zip(providers, _placement_rows(truth, providers),
                                       strict=True):
        used = {u["resource_class"]: u["usage"] for u in usages}
        for inv in inventory:
            lab = {"hostname": rp["name"], "resourcetype": inv["resource_class"]}
            out[key("openstack_placement_resource_total", **lab)] = inv["total"]
            out[key("openstack_placement_resource_reserved", **lab)] = inv["reserved"]
            out[key("openstack_placement_resource_allocation_ratio", **lab)] = inv[
                "allocation_ratio"]
            out[key("openstack_placement_resource_usage", **lab)] = used[inv["resource_class"]]
    return out


# ---------------------------------------------------------------------- network

# neutron quota resource as `quota show` names it -> the metric's stem
NETWORK_QUOTAS = {"networks": "networks", "subnets": "subnets", "ports": "ports",
                  "routers": "routers", "floating-ips": "floating_ips",
                  "secgroups": "security_groups"}


def expected_network(truth: Truth, projects: list[dict[str, Any]]) -> dict[Key, float]:
    commands: dict[str, tuple[str, ...]] = {
        "networks": ("network", "list"), "subnets": ("subnet", "list"),
        "groups": ("security", "group", "list", "--all-projects"),
        "routers": ("router", "list"), "ports": ("port", "list", "--long"),
        "fips": ("floating", "ip", "list", "--long"), "agents": ("network", "agent", "list"),
        "availability": ("ip", "availability", "list"),
    }
    # neutron's own accounting (GET /v2.0/quotas/{project}/details) for limit and use
    commands.update({f"quota:{p['ID']}": ("quota", "show", "--network", "--usage", p["ID"])
                     for p in projects})
    got = truth.cli_many(commands)
    details = truth.cli_many({n["Network ID"]: ("ip", "availability", "show", n["Network ID"])
                              for n in got["availability"]})
    out: dict[Key, float] = {
        key("openstack_neutron_up"): 1,
        key("openstack_neutron_networks"): len(got["networks"]),
        key("openstack_neutron_subnets"): len(got["subnets"]),
        key("openstack_neutron_security_groups"): len(got["groups"]),
        key("openstack_neutron_routers"): len(got["routers"]),
        key("openstack_neutron_routers_not_active"): sum(r["Status"] != "ACTIVE"
                                                          for r in got["routers"]),
        key("openstack_neutron_ports"): len(got["ports"]),
        key("openstack_neutron_ports_no_ips"): sum(not p["Fixed IP Addresses"]
                                                    for p in got["ports"]),
        key("openstack_neutron_floating_ips"): len(got["fips"]),
        key("openstack_neutron_floating_ips_associated_not_active"): sum(
            bool(f["Port"]) and f["Status"] != "ACTIVE" for f in got["fips"]),
    }
    # binding:vif_type is not shown by `port list`; ML2 keeps it in ml2_port_bindings.
    out[key("openstack_neutron_ports_binding_failed")] = truth.scalar(
        "neutron", "select count(distinct port_id) from ml2_port_bindings "
                   "where vif_type = 'binding_failed'")
    out.update(_counts("openstack_neutron_ports_by_status", "status",
                       (p["Status"] for p in got["ports"])))
    out.update(_counts("openstack_neutron_floating_ips_by_status", "status",
                       (f["Status"] for f in got["fips"])))
    for agent in got["agents"]:
        out[key("openstack_neutron_agent_state", id=agent["ID"], hostname=agent["Host"],
                service=agent["Binary"], adminState="up" if agent["State"] else "down",
                availability_zone=agent["Availability Zone"])] = float(bool(agent["Alive"]))
    for agent_id, (agent, routers) in l3_agent_routers(truth, got["agents"]).items():
        out[key("openstack_neutron_l3_agent_routers", l3_agent_id=agent_id,
                agent_host=agent["Host"], agent_alive=str(bool(agent["Alive"])).lower())] = len(
            routers)
    for net_id, net in details.items():
        for sub in net["subnet_ip_availability"]:
            lab = {"network_id": net_id, "network_name": net["network_name"],
                   "ip_version": sub["ip_version"], "cidr": sub["cidr"],
                   "subnet_name": sub["subnet_name"], "project_id": net["project_id"]}
            out[key("openstack_neutron_network_ip_availabilities_total", **lab)] = sub[
                "total_ips"]
            out[key("openstack_neutron_network_ip_availabilities_used", **lab)] = sub[
                "used_ips"]
    for p in projects:
        rows = {r["Resource"]: r for r in got[f"quota:{p['ID']}"]}
        lab = {"tenant": p["Name"], "tenant_id": p["ID"]}
        for resource, stem in NETWORK_QUOTAS.items():
            out[key(f"openstack_neutron_limits_{stem}_max", **lab)] = rows[resource]["Limit"]
            out[key(f"openstack_neutron_limits_{stem}_used", **lab)] = rows[resource]["In Use"]
    return out


def l3_agent_routers(truth: Truth, agents: list[dict[str, Any]]
                     ) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """L3 agent id -> (the agent, the routers it hosts) from ``router list --agent``."""
    l3 = {a["ID"]: a for a in agents if a["Agent Type"] == "L3 agent"}
    routers = truth.cli_many({i: ("router", "list", "--agent", i) for i in l3})
    return {i: (l3[i], routers[i]) for i in l3}


# ---------------------------------------------------------------------- image

def expected_image(truth: Truth) -> dict[Key, float]:
    images = truth.cli("image", "list", "--long")
    out: dict[Key, float] = {key("openstack_glance_up"): 1,
                             key("openstack_glance_images"): len(images)}
    out.update(_counts("openstack_glance_images_by_status", "status",
                       (i["Status"] for i in images)))
    sizes: defaultdict[str, float] = defaultdict(float)
    for image in images:
        sizes[image["Status"]] += image["Size"] or 0
    out.update({key("openstack_glance_images_size_bytes", status=s): v for s, v in sizes.items()})
    return out


# ---------------------------------------------------------------------- block storage

def _gb(value: object) -> float:
    """Cinder capacities: a number of GiB, or "infinite"/"unknown" (fake and thin drivers)."""
    if isinstance(value, str) and value.lower() in ("infinite", "unknown"):
        return math.inf
    return float(value)  # type: ignore[arg-type]


def expected_block_storage(truth: Truth, projects: list[dict[str, Any]]) -> dict[Key, float]:
    commands: dict[str, tuple[str, ...]] = {
        "volumes": ("volume", "list", "--all-projects", "--long"),
        "snapshots": ("volume", "snapshot", "list", "--all-projects", "--long"),
        "services": ("volume", "service", "list", "--long"),
        "pools": ("volume", "backend", "pool", "list", "--long"),
    }
    commands.update({f"quota:{p['ID']}": ("quota", "show", "--usage", "--volume", p["ID"])
                     for p in projects})
    got = truth.cli_many(commands)
    out: dict[Key, float] = {key("openstack_cinder_up"): 1}
    for kind, total, by_status, size in (
            ("volumes", "openstack_cinder_volumes", "openstack_cinder_volume_status_counter",
             "openstack_cinder_volumes_size_bytes"),
            ("snapshots", "openstack_cinder_snapshots", "openstack_cinder_snapshots_by_status",
             "openstack_cinder_snapshots_size_bytes")):
        rows = got[kind]
        out[key(total)] = len(rows)
        out.update(_counts(by_status, "status", (r["Status"] for r in rows)))
        sizes: defaultdict[str, float] = defaultdict(float)
        for r in rows:
            sizes[r["Status"]] += r["Size"] * GIB
        out.update({key(size, status=s): v for s, v in sizes.items()})
    for s in got["services"]:
        # uuid: stable, from host and binary (openstack-exporter's is random per scrape)
        uid = uuid.uuid5(uuid.NAMESPACE_URL, f"cinder-service:{s['Host']}/{s['Binary']}")
        out[key("openstack_cinder_agent_state", uuid=uid, hostname=s["Host"],
                service=s["Binary"],
                adminState=s["Status"], zone=s["Zone"],
                disabledReason=s["Disabled Reason"])] = float(s["State"] == "up")
    for pool in got["pools"]:
        caps = pool["Capabilities"]
        lab = {"name": pool["Name"], "volume_backend_name": caps.get("volume_backend_name"),
               "vendor_name": caps.get("vendor_name")}
        out[key("openstack_cinder_pool_capacity_free_gb", **lab)] = _gb(caps["free_capacity_gb"])
        out[key("openstack_cinder_pool_capacity_total_gb", **lab)] = _gb(
            caps["total_capacity_gb"])
    for p in projects:
        rows = {r["Resource"]: r for r in got[f"quota:{p['ID']}"]}
        lab = {"tenant": p["Name"], "tenant_id": p["ID"]}
        out[key("openstack_cinder_limits_volume_max_gb", **lab)] = rows["gigabytes"]["Limit"]
        out[key("openstack_cinder_limits_volume_used_gb", **lab)] = rows["gigabytes"]["In Use"]
    return out


# ---------------------------------------------------------------------- SQL sources

# Nova's vm_state behind each API status the test cloud shows (nova/api/openstack/common.py).
VM_STATE = {"ACTIVE": "active", "SHUTOFF": "stopped", "ERROR": "error", "BUILD": "building",
            "PAUSED": "paused", "SUSPENDED": "suspended", "SHELVED_OFFLOADED": "shelved_offloaded"}


def expected_sql_nova(truth: Truth) -> dict[str, dict[Key, float]]:
    """sql.nova and sql.nova_cell0, from the CLI (services, servers, hypervisors at 2.87)."""
    got = truth.cli_many({"services": ("compute", "service", "list", "--long"),
                          "servers": ("server", "list", "--all-projects", "--long")})
    # os-hypervisors still reports the compute_nodes resource columns up to 2.87
    hypervisors = truth.cli("hypervisor", "list", "--long", microversion={"compute": "2.87"})
    # Which cell DB holds which server: cell0 holds those that never got a host.
    cell0 = {r["uuid"] for r in truth.sql("nova_cell0", "select uuid from instances "
                                                        "where deleted = 0")}
    nova: dict[Key, float] = {}
    # each cell database counts its own instances, told apart by ``database``
    by_state: dict[str, Counter[str]] = {"nova": Counter(), "nova_cell0": Counter()}
    for server in got["servers"]:
        by_state["nova_cell0" if server["ID"] in cell0 else "nova"][
            VM_STATE[server["Status"]]] += 1
    instances: dict[str, dict[Key, float]] = {}
    for database, counts in by_state.items():
        instances[database] = {key("openstack_nova_db_instances", vm_state=s, database=database): n
                               for s, n in counts.items()}
        instances[database][key("openstack_nova_db_instances_error", database=database)] = \
            counts.get("error", 0)
    nova.update(instances["nova"])
    down: Counter[str] = Counter()
    disabled: Counter[str] = Counter()
    forced: Counter[str] = Counter()
    for s in got["services"]:
        up = s["State"] == "up" and not s["Forced Down"]
        nova[key("openstack_nova_db_service_up", host=s["Host"], binary=s["Binary"])] = float(up)
        down[s["Binary"]] += not up
        disabled[s["Binary"]] += s["Status"] == "disabled"
        forced[s["Binary"]] += bool(s["Forced Down"])
    for binary in down:
        nova[key("openstack_nova_db_services_down", binary=binary)] = down[binary]
        nova[key("openstack_nova_db_services_disabled", binary=binary)] = disabled[binary]
        nova[key("openstack_nova_db_services_forced_down", binary=binary)] = forced[binary]
    compute_up = {s["Host"] for s in got["services"]
                  if s["Binary"] == "nova-compute" and s["State"] == "up"}
    nova[key("openstack_nova_db_compute_nodes")] = len(hypervisors)
    nova[key("openstack_nova_db_compute_nodes_stale")] = sum(
        h["Hypervisor Hostname"] not in compute_up for h in hypervisors)
    nova[key("openstack_nova_db_vcpus")] = sum(h["vCPUs"] for h in hypervisors)
    nova[key("openstack_nova_db_vcpus_used")] = sum(h["vCPUs Used"] for h in hypervisors)
    nova[key("openstack_nova_db_memory_bytes")] = sum(h["Memory MB"] for h in hypervisors) * MIB
    nova[key("openstack_nova_db_memory_used_bytes")] = sum(
        h["Memory MB Used"] for h in hypervisors) * MIB
    return {"sql.nova": nova, "sql.nova_cell0": instances["nova_cell0"]}


def expected_sql_cinder(truth: Truth) -> dict[Key, float]:
    got = truth.cli_many({
        "volumes": ("volume", "list", "--all-projects", "--long"),
        "snapshots": ("volume", "snapshot", "list", "--all-projects", "--long"),
        "services": ("volume", "service", "list", "--long"),
    })
    out: dict[Key, float] = {}
    volumes, snapshots = got["volumes"], got["snapshots"]
    out.update(_counts("openstack_cinder_db_volumes", "status", (v["Status"] for v in volumes)))
    out[key("openstack_cinder_db_volume_count")] = len(volumes)
    out[key("openstack_cinder_db_volume_size_bytes")] = sum(v["Size"] for v in volumes) * GIB
    out[key("openstack_cinder_db_volumes_error")] = sum(v["Status"].startswith("error")
                                                         for v in volumes)
    out[key("openstack_cinder_db_volumes_deleting")] = sum(v["Status"] == "deleting"
                                                            for v in volumes)
    out.update(_counts("openstack_cinder_db_snapshots", "status",
                       (s["Status"] for s in snapshots)))
    out[key("openstack_cinder_db_snapshot_count")] = len(snapshots)
    out[key("openstack_cinder_db_snapshots_in_progress")] = sum(s["Status"] == "creating"
                                                                 for s in snapshots)
    out[key("openstack_cinder_db_snapshots_deleting")] = sum(s["Status"] == "deleting"
                                                              for s in snapshots)
    out[key("openstack_cinder_db_snapshots_error")] = sum(s["Status"].startswith("error")
                                                           for s in snapshots)
    down: Counter[str] = Counter()
    disabled: Counter[str] = Counter()
    for s in got["services"]:
        up = s["State"] == "up"
        out[key("openstack_cinder_db_service_up", host=s["Host"], binary=s["Binary"])] = float(up)
        down[s["Binary"]] += not up
        disabled[s["Binary"]] += s["Status"] == "disabled"
    for binary in down:
        out[key("openstack_cinder_db_services_down", binary=binary)] = down[binary]
        out[key("openstack_cinder_db_services_disabled", binary=binary)] = disabled[binary]
    return out


def expected_sql_neutron(truth: Truth) -> dict[Key, float]:
    """sql.neutron from the CLI: agents alive, routers per L3 agent."""
    agents = truth.cli("network", "agent", "list")
    out: dict[Key, float] = {}
    for agent in agents:
        out[key("openstack_neutron_db_agent_alive", host=agent["Host"], binary=agent["Binary"],
                adminState="up" if agent["State"] else "down")] = float(bool(agent["Alive"]))
    for agent_id, (agent, routers) in l3_agent_routers(truth, agents).items():
        out[key("openstack_neutron_db_l3_agent_routers", agent_id=agent_id,
                host=agent["Host"])] = len(routers)
    return out


#: Metrics the ground-truth comparisons leave to their own realcloud tests, and why:
#: heartbeat ages are times (test_real_alarms measures them against a stop); the
#: lifecycle's counters count what happened since the source started
#: (test_real_lifecycle boots, migrates and fails a boot, then checks them).
ELSEWHERE: Mapping[str, str] = {
    "_heartbeat_age_seconds": "seconds since a heartbeat: test_real_alarms",
    "openstack_nova_instance_action": "actions since the start: test_real_lifecycle",
    "openstack_nova_instance_faults": "faults since the start: test_real_lifecycle",
    "openstack_nova_migration": "migrations: test_real_lifecycle",
    "openstack_nova_host_migrations": "migrations per host: test_real_lifecycle",
    "openstack_nova_db_instance_action": "actions since the start: test_real_lifecycle",
    "openstack_nova_db_instance_faults": "faults since the start: test_real_lifecycle",
    "openstack_nova_db_migration": "migrations: test_real_lifecycle",
    "openstack_nova_db_host_migrations": "migrations per host: test_real_lifecycle",
}


def compared_elsewhere(name: str) -> bool:
    """Whether a metric is left to another realcloud test (:data:`ELSEWHERE`)."""
    return any(name.startswith(part) or name.endswith(part) for part in ELSEWHERE)
