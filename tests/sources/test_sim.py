"""Against the simulated cloud (small): every API and SQL metric equals the ground truth,
every fault scenario about API or SQL data moves the right metric and check."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from servers import MariaDB
from sources.test_api_replay import resource_status, value
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import load_config
from stackwatch.errors import SourceAuthError
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.crosscheck import CrossCheckSource
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient
from stackwatch.sources.openstack_api import client as client_module
from stackwatch.sources.registry import OPTIONAL_API_SOURCE_NAMES
from stackwatch.sources.resources import ResourceSource
from stackwatch.sources.sql import sql_sources

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


class Watch:
    """All API and SQL sources of the simulated cloud, sharing one client."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        config = load_config(cloud.config_path)
        self.client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5)
        self.api: dict[str, ResourceSource] = {c.codename: c(self.client) for c in SOURCE_CLASSES}
        self.sql: dict[str, ResourceSource] = {
            s.name: s for s in sql_sources(config.clouds[0], config.intervals)}
        self.cross = CrossCheckSource([*self.api.values(), *self.sql.values()])

    def collect(self) -> dict[str, Collection]:
        out = {name: s.collect() for name, s in self.api.items()}
        out.update({name: s.collect() for name, s in self.sql.items()})
        out["crosscheck"] = self.cross.collect()
        return out


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False) as sim:
        yield sim


def everything(out: dict[str, Collection]) -> Collection:
    total = Collection()
    for part in out.values():
        total = total + part
    return total


def checks(out: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name
            and all(dict(c.labels).get(k) == v for k, v in labels.items())]


def truth(cloud: SimulatedCloud, fn: Any) -> Any:
    return cloud.call(fn, cloud.state)


#: (reserved, allocation_ratio) per resource class: none 0 or 1, as an operator sets them
#: (reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_mb; *_allocation_ratio)
CAPACITY_SETTINGS = {"VCPU": (2, 3.0), "MEMORY_MB": (1024, 1.5), "DISK_GB": (20, 1.25)}
#: resource class -> (api.compute metric stem, unit suffix, scale to base units)
NOVA_CAPACITY = {"VCPU": ("vcpus", "", 1), "MEMORY_MB": ("memory", "_bytes", MIB),
                 "DISK_GB": ("local_storage", "_bytes", 1024 * MIB)}


@pytest.mark.parametrize("compute_ceiling", [None, (2, 87)], ids=["latest", "2.87"])
def test_capacity_equals_placement_with_reserved_and_ratios(
        cloud: SimulatedCloud, compute_ceiling: tuple[int, int] | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """available/used/capacity/free per hypervisor are placement's figures and add up.

    2.87 still has os-hypervisors resources, whose memory_mb_used counts the reserved
    memory as used: the same figures must come out whatever the microversion.
    """
    if compute_ceiling is not None:
        monkeypatch.setitem(client_module.MICROVERSION_CEILING, "compute", compute_ceiling)

    def configure(state: Any) -> None:
        for h in state.hypervisors:
            state.update("hypervisor", h.id, reserved_host_memory_mb=CAPACITY_SETTINGS[
                "MEMORY_MB"][0], cpu_allocation_ratio=CAPACITY_SETTINGS["VCPU"][1],
                ram_allocation_ratio=CAPACITY_SETTINGS["MEMORY_MB"][1],
                disk_allocation_ratio=CAPACITY_SETTINGS["DISK_GB"][1])
            rp = next(p for p in state.resource_providers if p.name == h.hypervisor_hostname)
            inventories = {rc: dataclasses.replace(inv, reserved=CAPACITY_SETTINGS[rc][0],
                                                   allocation_ratio=CAPACITY_SETTINGS[rc][1])
                           if rc in CAPACITY_SETTINGS else inv
                           for rc, inv in rp.inventories.items()}
            state.update("resource_provider", rp.id, inventories=inventories)

    cloud.call(configure, cloud.state)
    watch = Watch(cloud)
    nova, place = watch.api["nova"].collect(), watch.api["placement"].collect()
    state = cloud.state
    checked = 0
    for h in state.hypervisors:
        node = h.hypervisor_hostname
        rp = next(p for p in state.resource_providers if p.name == node)
        usage = state.rp_usages(rp.id)
        for rc, (stem, unit, scale) in NOVA_CAPACITY.items():
            inv = rp.inventories[rc]
            reserved, ratio = CAPACITY_SETTINGS[rc]
            assert (inv.reserved, inv.allocation_ratio) == (reserved, ratio)

            def nova_value(kind: str, stem: str = stem, unit: str = unit,
                           node: str = node) -> float:
                return value(nova, f"openstack_nova_{stem}_{kind}{unit}", hostname=node)

            def placement(kind: str, rc: str = rc, node: str = node) -> float:
                return value(place, f"openstack_placement_resource_{kind}", hostname=node,
                             resourcetype=rc)

            # ground truth: the simulator's placement state
            capacity = (inv.total - reserved) * ratio
            assert nova_value("available") == inv.total * scale
            assert nova_value("used") == usage[rc] * scale
            assert nova_value("capacity") == capacity * scale
            assert nova_value("free") == (capacity - usage[rc]) * scale
            # the metrics agree with each other and with api.placement's
            assert nova_value("free") == nova_value("capacity") - nova_value("used")
            assert nova_value("capacity") == (
                (nova_value("available") - placement("reserved") * scale)
                * placement("allocation_ratio"))
            assert nova_value("available") == placement("total") * scale
            assert nova_value("used") == placement("usage") * scale
            assert nova_value("available") != nova_value("capacity")
            checked += 1
    assert checked == 3 * len(state.hypervisors) > 0
    # sql.nova reads compute_nodes, where nova's resource tracker counts reserved RAM as used
    db = watch.sql["sql.nova"].collect()
    providers = {p.name: p for p in state.resource_providers}
    usages = {h.hypervisor_hostname: state.rp_usages(providers[h.hypervisor_hostname].id)
              for h in state.hypervisors}
    assert value(db, "openstack_nova_db_vcpus") == sum(
        providers[n].inventories["VCPU"].total for n in usages)
    assert value(db, "openstack_nova_db_vcpus_used") == sum(u["VCPU"] for u in usages.values())
    assert value(db, "openstack_nova_db_memory_bytes") == sum(
        providers[n].inventories["MEMORY_MB"].total for n in usages) * MIB
    assert value(db, "openstack_nova_db_memory_used_bytes") == sum(
        u["MEMORY_MB"] + providers[n].inventories["MEMORY_MB"].reserved
        for n, u in usages.items()) * MIB


def test_capacity_without_placement_is_unknown_not_half_true(cloud: SimulatedCloud,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """Even where os-hypervisors still has totals (2.87), capacity needs placement's
    reserved and ratios: placement failing makes capacity UNKNOWN, the rest goes on."""
    monkeypatch.setitem(client_module.MICROVERSION_CEILING, "compute", (2, 87))
    cloud.inject("api-500", service="placement")
    nova = Watch(cloud).api["nova"].collect()
    states = resource_status(nova)
    assert states.pop("capacity") is Status.UNKNOWN
    assert set(states.values()) == {Status.OK}
    assert not [s for s in nova.samples if s.name.startswith(("openstack_nova_vcpus_",
                                                              "openstack_nova_memory_"))]


def test_every_metric_equals_the_ground_truth(cloud: SimulatedCloud) -> None:
    # what happened lately, for the metrics of the instances' life: a failed boot, a
    # migration under way
    cloud.inject("boots-fail", count=1)
    cloud.inject("migration-stuck")
    cloud.flush()
    watch = Watch(cloud)
    out = watch.collect()
    for name, part in out.items():
        bad = {r: s for r, s in resource_status(part).items() if s is not Status.OK}
        assert not bad, (name, [c.message for c in part.checks if c.status is not Status.OK])
    state = cloud.state
    now = truth(cloud, lambda s: s.now())
    # identity
    ident = out["identity"]
    assert value(ident, "openstack_identity_users") == len(state.users)
    assert value(ident, "openstack_identity_projects") == sum(
        1 for p in state.projects if not p.is_domain)
    assert value(ident, "openstack_identity_domains") == len(state.domains)
    assert value(ident, "openstack_identity_regions") == len(state.regions)
    # compute
    nova = out["nova"]
    servers = list(state.servers)
    assert value(nova, "openstack_nova_total_vms") == len(servers)
    for status, n in Counter(s.status() for s in servers).items():
        assert value(nova, "openstack_nova_servers", status=status) == n
    for service in state.compute_services:
        up = 1 if service.is_up(now) else 0
        assert value(nova, "openstack_nova_agent_state", hostname=service.host,
                     service=service.binary) == up
    assert value(nova, "openstack_nova_flavors") == len(state.flavors)
    assert value(nova, "openstack_nova_aggregates") == len(state.aggregates)
    for h in state.hypervisors:
        node = h.hypervisor_hostname
        rp = next(p for p in state.resource_providers if p.name == node)
        usage = state.rp_usages(rp.id)
        assert value(nova, "openstack_nova_running_vms", hostname=node) == sum(
            1 for s in servers if s.node == node)
        assert value(nova, "openstack_nova_vcpus_available", hostname=node) == (
            rp.inventories["VCPU"].total)
        assert value(nova, "openstack_nova_vcpus_used", hostname=node) == usage.get("VCPU", 0)
        vcpu = rp.inventories["VCPU"]
        assert value(nova, "openstack_nova_vcpus_free", hostname=node) == (
            (vcpu.total - vcpu.reserved) * vcpu.allocation_ratio - usage.get("VCPU", 0))
        ram = rp.inventories["MEMORY_MB"]
        assert value(nova, "openstack_nova_memory_free_bytes", hostname=node) == (
            (ram.total - ram.reserved) * ram.allocation_ratio - usage.get("MEMORY_MB", 0)) * MIB
    for project in state.projects:
        if project.is_domain:
            continue
        used = state.quota_usage("compute", project.id)
        assert value(nova, "openstack_nova_limits_vcpus_used", tenant_id=project.id) == (
            used["cores"])
        assert value(nova, "openstack_nova_limits_vcpus_max", tenant_id=project.id) == (
            state.quota_limit("compute", project.id, "cores"))
        assert value(nova, "openstack_nova_limits_instances_used", tenant_id=project.id) == (
            used["instances"])
    # placement
    place = out["placement"]
    for rp in state.resource_providers:
        for rc, inv in rp.inventories.items():
            assert value(place, "openstack_placement_resource_total", hostname=rp.name,
                         resourcetype=rc) == inv.total
            assert value(place, "openstack_placement_resource_allocation_ratio",
                         hostname=rp.name, resourcetype=rc) == inv.allocation_ratio
            assert value(place, "openstack_placement_resource_usage", hostname=rp.name,
                         resourcetype=rc) == state.rp_usages(rp.id).get(rc, 0)
    # network
    net = out["neutron"]
    assert value(net, "openstack_neutron_networks") == len(state.networks)
    assert value(net, "openstack_neutron_subnets") == len(state.subnets)
    assert value(net, "openstack_neutron_routers") == len(state.routers)
    assert value(net, "openstack_neutron_ports") == len(state.ports)
    assert value(net, "openstack_neutron_floating_ips") == len(state.floating_ips)
    assert value(net, "openstack_neutron_security_groups") == len(state.security_groups)
    assert value(net, "openstack_neutron_ports_binding_failed") == sum(
        1 for p in state.ports if p.binding_vif_type == "binding_failed")
    for status, n in Counter(p.status for p in state.ports).items():
        assert value(net, "openstack_neutron_ports_by_status", status=status) == n
    for agent in state.agents:
        assert value(net, "openstack_neutron_agent_state", id=agent.id) == (
            1 if agent.is_alive(now) else 0)
    for agent in state.agents:
        if agent.agent_type == "L3 agent":
            assert value(net, "openstack_neutron_l3_agent_routers", l3_agent_id=agent.id) == (
                state.router_bindings.count_by("l3_agent_id", agent.id))
    # image
    image = out["glance"]
    assert value(image, "openstack_glance_images") == len(state.images)
    for status, n in Counter(i.status for i in state.images).items():
        assert value(image, "openstack_glance_images_by_status", status=status) == n
        assert value(image, "openstack_glance_images_size_bytes", status=status) == sum(
            i.size or 0 for i in state.images if i.status == status)
    # block storage
    cinder = out["cinder"]
    assert value(cinder, "openstack_cinder_volumes") == len(state.volumes)
    assert value(cinder, "openstack_cinder_snapshots") == len(state.snapshots)
    for status, n in Counter(v.status for v in state.volumes).items():
        assert value(cinder, "openstack_cinder_volume_status_counter", status=status) == n
        assert value(cinder, "openstack_cinder_volumes_size_bytes", status=status) == sum(
            v.size for v in state.volumes if v.status == status) * 1024 ** 3
    for service in state.volume_services:
        assert value(cinder, "openstack_cinder_agent_state", hostname=service.host,
                     service=service.binary) == (1 if service.is_up(now) else 0)
    for project in state.projects:
        if not project.is_domain:
            assert value(cinder, "openstack_cinder_limits_volume_used_gb",
                         tenant_id=project.id) == (
                state.quota_usage("block-storage", project.id)["gigabytes"])
    # SQL: the service databases the simulator keeps in sync
    nova_db = out["sql.nova"] + out.get("sql.nova_cell0", Collection())
    errors = sum(1 for s in servers if s.vm_state == "error")
    assert sum(s.value for s in nova_db.samples
               if s.name == "openstack_nova_db_instances_error") == errors
    assert value(out["sql.nova"], "openstack_nova_db_vcpus") == sum(
        h.vcpus for h in state.hypervisors)
    assert value(out["sql.nova"], "openstack_nova_db_compute_nodes") == len(state.hypervisors)
    assert value(out["sql.cinder"], "openstack_cinder_db_volume_count") == len(state.volumes)
    assert value(out["sql.cinder"], "openstack_cinder_db_volume_size_bytes") == sum(
        v.size for v in state.volumes) * 1024 ** 3
    assert value(out["sql.keystone"], "openstack_keystone_db_tokens") >= 0
    for agent in state.agents:
        assert value(out["sql.neutron"], "openstack_neutron_db_agent_alive", host=agent.host,
                     binary=agent.binary) == (1 if agent.is_alive(now) else 0)
    # the two sides agree
    assert {dict(c.labels)["what"]: c.status for c in out["crosscheck"].checks} == {
        "error_vms": Status.OK, "nova_services_down": Status.OK,
        "cinder_services_down": Status.OK, "vcpus": Status.OK}, out["crosscheck"].checks
    # and the catalog: every sample declared, every declared metric produced
    total = everything(out)
    assert_declared(total)
    # the simulator does not serve heat, octavia...: their sources are test_optional_services'
    assert_covered(total, "api", exclude=[
        m.name for m in default_catalog().metrics.values()
        if m.source in OPTIONAL_API_SOURCE_NAMES])
    # no token rows on a fernet cloud, so no per-user series (see the token-bloat test)
    assert_covered(total, "sql", exclude=["openstack_keystone_db_tokens_per_user"])
    assert watch.client.tokens_issued == 1


def test_compute_down_moves_agent_state_check_and_sql(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    host = next(s.host for s in cloud.state.compute_services if s.binary == "nova-compute")
    cloud.inject("compute-down", host=host)
    cloud.flush()
    out = watch.collect()
    assert value(out["nova"], "openstack_nova_agent_state", hostname=host,
                 service="nova-compute") == 0
    [check] = checks(out["nova"], "nova.service", host=host, binary="nova-compute")
    assert check.status is Status.CRITICAL and "down" in check.message
    assert value(out["sql.nova"], "openstack_nova_db_service_up", host=host,
                 binary="nova-compute") == 0
    assert value(out["sql.nova"], "openstack_nova_db_compute_nodes_stale") >= 1
    # the database's view of the same member, judged as the API's
    [seen] = checks(out["sql.nova"], "nova.db_service", host=host, binary="nova-compute")
    assert seen.status is Status.CRITICAL and seen.message.endswith("is down (database)")
    others = [c for c in out["sql.nova"].checks if c.name == "nova.db_service" and c != seen]
    assert others and all(c.status is Status.OK for c in others)
    [agree] = checks(out["crosscheck"], "crosscheck", what="nova_services_down")
    assert agree.status is Status.OK
    cloud.clear("compute-down")
    again = watch.collect()
    assert value(again["nova"], "openstack_nova_agent_state", hostname=host,
                 service="nova-compute") == 1


def test_service_disabled_warns_with_the_reason(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    cloud.inject("service-disabled")
    cloud.flush()
    out = watch.collect()["nova"]
    disabled = [s for s in out.samples if s.name == "openstack_nova_agent_state"
                and s.label("adminState") == "disabled"]
    assert len(disabled) == 1 and disabled[0].label("disabledReason")
    [check] = checks(out, "nova.service", host=disabled[0].label("hostname"),
                     binary=disabled[0].label("service"))
    assert check.status is Status.WARNING and disabled[0].label("disabledReason") in check.message


def test_servers_error_moves_api_and_sql_alike(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    before = watch.collect()
    base = value(before["sql.nova"], "openstack_nova_db_instances_error")
    cloud.inject("servers-error", count="3")
    cloud.flush()
    out = watch.collect()
    errors = sum(1 for s in cloud.state.servers if s.vm_state == "error")
    assert value(out["nova"], "openstack_nova_servers", status="ERROR") == errors
    assert value(out["sql.nova"], "openstack_nova_db_instances_error") == base + 3
    [agree] = checks(out["crosscheck"], "crosscheck", what="error_vms")
    assert agree.status is Status.OK, agree.message


def test_volume_and_snapshot_stuck(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    [before] = checks(watch.collect()["cinder"], "cinder.volumes_stuck")
    assert before.status is Status.OK, before.message
    cloud.inject("volume-stuck-deleting", count="2")
    cloud.inject("snapshot-stuck", count="1")
    cloud.flush()
    out = watch.collect()
    assert value(out["cinder"], "openstack_cinder_volume_status_counter",
                 status="deleting") == 2
    assert value(out["sql.cinder"], "openstack_cinder_db_volumes_deleting") == 2
    assert value(out["sql.cinder"], "openstack_cinder_db_snapshots_in_progress") >= 1
    stuck = truth(cloud, lambda state: sorted(v.id for v in state.volumes
                                              if v.status == "deleting"))
    [check] = checks(out["cinder"], "cinder.volumes_stuck")
    assert check.status is Status.WARNING
    assert check.message.startswith("2 volume(s) stuck in a transitional status")
    assert all(f"{vid} (deleting 2.0 h)" in check.message for vid in stuck), check.message
    cloud.clear("volume-stuck-deleting")
    cloud.clear("snapshot-stuck")
    [after] = checks(watch.collect()["cinder"], "cinder.volumes_stuck")
    assert after.status is Status.OK, after.message


def test_cinder_volume_down(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    cloud.inject("cinder-volume-down")
    cloud.flush()
    out = watch.collect()
    down = [s for s in out["cinder"].samples
            if s.name == "openstack_cinder_agent_state" and s.value == 0]
    assert [s.label("service") for s in down] == ["cinder-volume"]
    [check] = checks(out["cinder"], "cinder.service", host=down[0].label("hostname"))
    assert check.status is Status.CRITICAL
    assert value(out["sql.cinder"], "openstack_cinder_db_services_down",
                 binary="cinder-volume") == 1
    [seen] = checks(out["sql.cinder"], "cinder.db_service", binary="cinder-volume")
    assert seen.status is Status.CRITICAL


def test_l3_agent_dead(cloud: SimulatedCloud) -> None:
    watch = Watch(cloud)
    cloud.inject("l3-agent-dead")
    cloud.flush()
    out = watch.collect()
    dead = [s for s in out["neutron"].samples
            if s.name == "openstack_neutron_agent_state" and s.value == 0]
    assert [s.label("service") for s in dead] == ["neutron-l3-agent"]
    [check] = checks(out["neutron"], "neutron.agent", host=dead[0].label("hostname"),
                     binary="neutron-l3-agent")
    assert check.status is Status.CRITICAL
    routers = value(out["neutron"], "openstack_neutron_l3_agent_routers",
                    l3_agent_id=dead[0].label("id"))
    assert routers > 0 and value(out["sql.neutron"], "openstack_neutron_db_l3_agent_routers",
                                 agent_id=dead[0].label("id")) == routers
    assert value(out["sql.neutron"], "openstack_neutron_db_agent_alive",
                 host=dead[0].label("hostname"), binary="neutron-l3-agent") == 0
    [seen] = checks(out["sql.neutron"], "neutron.db_agent", host=dead[0].label("hostname"),
                    binary="neutron-l3-agent")
    assert seen.status is Status.CRITICAL and seen.message.endswith("is dead (database)")


def test_items_name_what_the_faults_broke(cloud: SimulatedCloud) -> None:
    """Samples count what is wrong; items say which one and why: each server in ERROR
    with its fault, the stuck volume and snapshot with the time they got stuck, the
    routers a dead L3 agent strands, each hypervisor's state."""
    watch = Watch(cloud)
    message = "internal error: process exited while connecting to monitor"
    cloud.inject("servers-error", count="2", message=message)
    cloud.inject("volume-stuck-deleting", count="1", minutes="120")
    cloud.inject("snapshot-stuck", count="1", minutes="90")
    cloud.inject("compute-down")
    cloud.inject("l3-agent-dead")
    cloud.flush()
    out = watch.collect()
    state = cloud.state
    now = state.now().timestamp()

    servers = {i.id: i for i in out["nova"].items if i.kind == "server"}
    in_error = {s.id: s for s in state.servers if s.vm_state == "error"}
    assert set(servers) == set(in_error)
    injected = [i for i in servers.values() if i.message == message]
    assert len(injected) == 2
    for item in servers.values():
        truth_server = in_error[item.id]
        assert truth_server.fault is not None
        assert (item.status, item.name, item.project, item.message) == (
            "ERROR", truth_server.name, truth_server.project_id, truth_server.fault.message)
        assert item.since == pytest.approx(truth_server.fault.created.timestamp(), abs=1)
        assert item.attribute("fault_code") == str(truth_server.fault.code)
        assert item.host == (truth_server.host or truth_server.node or "")
    assert len(servers) == value(out["nova"], "openstack_nova_servers", status="ERROR")

    [volume] = [i for i in out["cinder"].items if i.status == "deleting"]
    stuck = state.volumes.get(volume.id)
    assert (volume.kind, volume.name, volume.project) == ("volume", stuck.name, stuck.project_id)
    assert now - (volume.since or 0) == pytest.approx(7200, abs=120)
    [snapshot] = [i for i in out["cinder"].items if i.kind == "snapshot" and
                  i.status == "creating"]
    assert now - (snapshot.since or 0) == pytest.approx(5400, abs=120)
    resting = {"available", "in-use"}
    assert {i.id for i in out["cinder"].items if i.kind == "volume"} == {
        v.id for v in state.volumes if v.status not in resting}

    [dead] = [a for a in state.agents if a.agent_type == "L3 agent" and
              a.id in cloud.state.silent_services]
    bound = {b.router_id for b in state.router_bindings.by("l3_agent_id", dead.id)}
    routers = [i for i in out["neutron"].items if i.kind == "router"]
    stranded = [i for i in routers if i.attribute("agents_alive") == "0"]
    assert bound and {i.id for i in stranded} <= bound
    assert routers[:len(stranded)] == stranded  # stranded first
    for item in routers:
        agents = item.attribute("l3_agent_ids").split(",")
        assert len(agents) == len(item.host.split(","))
        if dead.id in agents:
            assert dead.host in item.message
    for item in stranded:
        assert item.message == f"no L3 agent alive: {dead.host} dead"

    hypervisors = {i.host: i for i in out["nova"].items if i.kind == "hypervisor"}
    assert set(hypervisors) == {h.host for h in state.hypervisors}
    down = {s.host for s in state.compute_services if s.id in state.silent_services}
    assert down and {h for h, i in hypervisors.items() if i.status == "down"} == down


def test_zone_free_is_the_sum_of_its_hypervisors(cloud: SimulatedCloud) -> None:
    out = Watch(cloud).collect()["nova"]
    for stem in ("vcpus_free", "memory_free_bytes", "local_storage_free_bytes"):
        zones = {s.label("availability_zone"): s.value for s in out.samples
                 if s.name == f"openstack_nova_zone_{stem}"}
        hosts: Counter[str] = Counter()
        for s in out.samples:
            if s.name == f"openstack_nova_{stem}":
                hosts[s.label("availability_zone")] += s.value
        assert zones and zones == pytest.approx(dict(hosts))


@pytest.mark.parametrize(("scenario", "reason"), [
    ("api-500", "SourceUnavailable: GET"), ("api-truncated", "InvalidResponse: GET"),
    ("api-slow", "SourceTimeout: GET")])
def test_api_faults_make_the_endpoint_critical_its_resources_unknown_and_others_go_on(
        cloud: SimulatedCloud, scenario: str, reason: str) -> None:
    watch = Watch(cloud)
    watch.client.timeout = 1.0
    watch.client._http.timeout = 1.0
    params = {"service": "compute"}
    if scenario == "api-slow":
        params["delay"] = "3"
    cloud.inject(scenario, **params)
    nova = watch.api["nova"].collect()
    [endpoint] = checks(nova, "api.endpoint")
    assert endpoint.status is Status.CRITICAL and "nova API unusable" in endpoint.message
    assert value(nova, "openstack_nova_up") == 0
    states = resource_status(nova)
    assert states and set(states.values()) == {Status.UNKNOWN}
    assert all(reason in c.message for c in checks(nova, "stackwatch.resource")), nova.checks
    for name in ("neutron", "glance", "cinder", "identity", "placement"):
        assert set(resource_status(watch.api[name].collect()).values()) == {Status.OK}, name


@pytest.mark.parametrize(("scenario", "status"), [("api-401", 401), ("api-403", 403)])
def test_an_api_refusing_us_raises_an_auth_error_and_the_others_go_on(
        cloud: SimulatedCloud, scenario: str, status: int) -> None:
    watch = Watch(cloud)
    cloud.inject(scenario, service="compute")
    with pytest.raises(SourceAuthError, match=f"HTTP {status}"):
        watch.api["nova"].collect()
    for name in ("neutron", "glance", "cinder", "identity", "placement"):
        assert set(resource_status(watch.api[name].collect()).values()) == {Status.OK}, name


def test_sql_metrics_on_the_simulator_backed_by_a_real_mariadb(tmp_path: Path,
                                                               mariadb: MariaDB) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False,
                        db_url=mariadb.url("swsrc_")) as sim:
        assert sim.db_urls["nova"].startswith("mysql+pymysql://")
        sim.inject("servers-error", count="2")
        sim.inject("volume-stuck-deleting", count="1")
        sim.inject("boots-fail", count="2")
        sim.inject("migration-stuck")
        sim.flush()
        watch = Watch(sim)
        out = {name: s.collect() for name, s in watch.sql.items()}
        for name, part in out.items():
            assert set(resource_status(part).values()) == {Status.OK}, (name, part.checks)
        state = sim.state
        errors = sum(1 for s in state.servers if s.vm_state == "error")
        assert sum(value(part, "openstack_nova_db_instances_error")
                   for name, part in out.items() if name in ("sql.nova", "sql.nova_cell0")
                   ) == errors
        assert value(out["sql.nova"], "openstack_nova_db_vcpus") == sum(
            h.vcpus for h in state.hypervisors)
        assert value(out["sql.cinder"], "openstack_cinder_db_volumes_deleting") == sum(
            1 for v in state.volumes if v.status == "deleting")
        assert value(out["sql.cinder"], "openstack_cinder_db_volume_count") == len(state.volumes)
        assert_nova_api_and_glance_equal_the_state(out, state)
        assert_declared(everything(out))
        # the instances' life, read from MariaDB: the failed boots (in cell0) with their
        # faults, the failed reboots of servers-error, the migration under way
        cell0, nova = out["sql.nova_cell0"], out["sql.nova"]
        assert value(cell0, "openstack_nova_db_instance_actions_failed_total") >= 2
        assert sum(1 for e in cell0.events if e.kind == "fault") >= 2
        assert value(nova, "openstack_nova_db_instance_actions_total", action="reboot",
                     result="error") == 2
        assert value(nova, "openstack_nova_db_migrations_stuck") == 1


def assert_nova_api_and_glance_equal_the_state(out: dict[str, Collection], state: Any) -> None:
    """sql.nova_api and sql.glance against the simulator's records."""
    api, glance = out["sql.nova_api"], out["sql.glance"]
    for part in (api, glance):
        assert set(resource_status(part).values()) == {Status.OK}, part.checks
    assert value(api, "openstack_nova_api_db_flavors") == len(state.flavors)
    limits = {(q.project_id, q.resource): q.hard_limit for q in state.quotas
              if q.service == "compute"}
    got = {(s.label("project_id"), s.label("resource")): s.value for s in api.samples
           if s.name == "openstack_nova_api_db_quota_limit"}
    assert limits and got == limits
    assert value(api, "openstack_nova_api_db_cells") == 2  # cell0 and cell1
    assert value(api, "openstack_nova_api_db_cells_disabled") == 0
    assert value(api, "openstack_nova_api_db_host_mappings", cell="cell1") == len(
        {h.host for h in state.hypervisors})
    cells = Counter("" if s.vm_state == "building" and s.host is None and s.cell != "cell0"
                    else "cell0" if s.cell == "cell0" else "cell1" for s in state.servers)
    got_cells = {s.label("cell"): s.value for s in api.samples
                 if s.name == "openstack_nova_api_db_instance_mappings"}
    assert got_cells == dict(cells)
    assert value(api, "openstack_nova_api_db_build_requests") == cells.get("", 0)
    images = Counter((i.status, i.visibility) for i in state.images)
    got_images = {(s.label("status"), s.label("visibility")): s.value for s in glance.samples
                  if s.name == "openstack_glance_db_images"}
    assert images and got_images == dict(images)
    assert value(glance, "openstack_glance_db_images_size_bytes") == sum(
        i.size or 0 for i in state.images)
    assert value(glance, "openstack_glance_db_image_members") == 0


def test_nova_api_and_glance_databases_equal_the_ground_truth(cloud: SimulatedCloud) -> None:
    """Both databases are read, and stay true as servers are built, fail and are deleted."""
    watch = Watch(cloud)
    assert {"sql.nova_api", "sql.glance"} <= set(watch.sql)
    assert_nova_api_and_glance_equal_the_state(watch.collect(), cloud.state)
    cloud.inject("servers-error", count="2")
    victim = next(s for s in cloud.state.servers if s.vm_state == "active")
    cloud.call(lambda st: st.delete("server", victim.id), cloud.state)
    doomed = next(i for i in cloud.state.images)
    cloud.call(lambda st: st.delete("image", doomed.id), cloud.state)
    cloud.flush()
    out = watch.collect()
    assert_nova_api_and_glance_equal_the_state(out, cloud.state)
    assert assert_declared(everything(out)) is None


def test_nova_api_and_glance_tolerate_a_missing_table(cloud: SimulatedCloud) -> None:
    """A table another release lacks makes only its resource UNKNOWN, naming the table."""
    from stackwatch.sources.sql import GlanceSql, NovaApiSql

    for database, table in (("glance", "image_members"), ("nova_api", "build_requests")):
        engine = sa.create_engine(cloud.db_urls[database])
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {table}")
        engine.dispose()
    glance = GlanceSql(cloud.db_urls["glance"]).collect()
    assert resource_status(glance) == {"images": Status.OK, "members": Status.UNKNOWN}
    assert any("image_members" in c.message and "missing" in c.message for c in glance.checks)
    api = NovaApiSql(cloud.db_urls["nova_api"]).collect()
    states = resource_status(api)
    assert states.pop("instance_mappings") is Status.UNKNOWN
    assert set(states.values()) == {Status.OK}
    assert value(api, "openstack_nova_api_db_flavors") == len(cloud.state.flavors)


def test_build_sources_and_the_runner_collect_the_simulated_cloud(cloud: SimulatedCloud) -> None:
    from stackwatch.runner import Runner
    from stackwatch.sources.registry import build_sources

    config = load_config(cloud.config_path)
    sources = [s for s in build_sources(config)
               if s.name.startswith(("api.", "sql.")) or s.name == "crosscheck"]
    names = {s.name for s in sources}
    assert {"api.identity", "api.compute", "api.placement", "api.network", "api.image",
            "api.block_storage", "sql.nova", "sql.nova_cell0", "sql.cinder", "sql.keystone",
            "sql.neutron", "crosscheck"} <= names
    cloud.inject("servers-error", count="1")
    cloud.flush()
    runs = {run.source: run for run in Runner(sources, timeout=60).run_once()}
    assert all(run.ok for run in runs.values()), {n: r.reason for n, r in runs.items()}
    cross = [c for c in runs["crosscheck"].collection.checks if c.name == "crosscheck"]
    assert {dict(c.labels)["what"] for c in cross if c.status is Status.OK} == {
        "error_vms", "nova_services_down", "cinder_services_down", "vcpus"}, cross


def test_two_clouds_each_cross_check_runs_after_its_own_sources(
        cloud: SimulatedCloud, tmp_path: Path) -> None:
    """With several clouds, names get the cloud's prefix and so must ``after``."""
    import yaml

    from stackwatch.config import parse_config
    from stackwatch.runner import Runner
    from stackwatch.sources.registry import build_sources

    with SimulatedCloud(workdir=tmp_path / "west", size="small", life=False, seed=2) as west:
        clouds_yaml = tmp_path / "two-clouds.yaml"
        entries = {}
        config_clouds = []
        for name, sim in (("east", cloud), ("west", west)):
            entries[name] = yaml.safe_load(sim.clouds_yaml.read_text())["clouds"]["stackwatch-sim"]
            one = load_config(sim.config_path).clouds[0]
            config_clouds.append(one.model_copy(update={
                "name": name, "clouds_yaml": clouds_yaml,
                "databases": {k: v for k, v in one.databases.items()
                              if k in ("nova", "nova_cell0", "cinder")}}).model_dump())
        clouds_yaml.write_text(yaml.safe_dump({"clouds": entries}))
        config = parse_config({"clouds": config_clouds})

        def errors(sim: SimulatedCloud) -> int:
            return int(truth(sim, lambda state: sum(1 for s in state.servers
                                                    if s.vm_state == "error")))

        west.inject("servers-error", count="2")
        if errors(west) == errors(cloud):  # so that each cloud's figure is its own
            west.inject("servers-error", count="1")
        west.flush()
        sources = [s for s in build_sources(config) if s.name.split("/")[1].startswith(
            ("api.", "sql.", "crosscheck"))]
        crosschecks = {s.name: s for s in sources if s.name.endswith("/crosscheck")}
        assert set(crosschecks) == {"east/crosscheck", "west/crosscheck"}
        runs = {run.source: run for run in Runner(sources, timeout=60).run_once()}
        assert all(run.ok for run in runs.values()), {n: r.reason for n, r in runs.items()}
        for name, sim in (("east", cloud), ("west", west)):
            cross = {dict(c.labels)["what"]: c for c in runs[f"{name}/crosscheck"].collection.checks
                     if c.name == "crosscheck"}
            assert {w for w, c in cross.items() if c.status is Status.OK} == {
                "error_vms", "nova_services_down", "cinder_services_down", "vcpus"}, cross
            assert cross["error_vms"].message == (
                f"VMs in error: API and database agree ({errors(sim)})"), name
            # each cloud's servers in ERROR are its own, and say whose
            items = runs[f"{name}/api.compute"].collection.items
            mine = [i for i in items if i.kind == "server"]
            assert len(mine) == errors(sim) and {i.attribute("cloud") for i in items} == {name}
        after = set(crosschecks["west/crosscheck"].after)  # type: ignore[attr-defined]
        assert {"west/api.compute", "west/sql.nova", "west/sql.cinder"} <= after
        assert not [name for name in after if not name.startswith("west/")]


def test_tenant_usage_split_across_pages_is_added_up(cloud: SimulatedCloud) -> None:
    """From 2.40 nova pages os-simple-tenant-usage by instance: a project whose servers
    span pages comes once per page with part of its totals. Read seven servers a page,
    each project is one series, equal to what one page of everything says."""
    def usage(page_size: int) -> dict[tuple[str, str], float]:
        client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5,
                           page_size=page_size)
        found = next(c for c in SOURCE_CLASSES if c.codename == "nova")(client).usage()
        totals = [s for s in found.samples if s.name.startswith("openstack_nova_tenant_usage")]
        keys = [(s.name, s.label("tenant_id")) for s in totals]
        assert len(keys) == len(set(keys)), "a project's usage given twice"
        return {k: s.value for k, s in zip(keys, totals, strict=True)}

    paged, whole = usage(7), usage(1000)
    servers = truth(cloud, lambda state: len(state.servers))
    assert 7 < servers <= 1000  # several pages, against one
    assert paged.keys() == whole.keys()
    assert sum(1 for name, _ in whole if name.endswith("_vcpu_hours")) > 1
    for key, amount in whole.items():  # the window ends "now": a moment later, a bit more
        assert paged[key] == pytest.approx(amount, rel=1e-3, abs=1e-3), key
