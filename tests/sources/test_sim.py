"""Against the simulated cloud (small): every API and SQL metric equals the ground truth,
every fault scenario about API or SQL data moves the right metric and check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers import MariaDB
from sources.test_api_replay import resource_status, value
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import load_config
from stackwatch.errors import SourceAuthError
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.crosscheck import CrossCheckSource
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient
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


def test_every_metric_equals_the_ground_truth(cloud: SimulatedCloud) -> None:
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
    assert_covered(total, "api")
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
    cloud.inject("volume-stuck-deleting", count="2")
    cloud.inject("snapshot-stuck", count="1")
    cloud.flush()
    out = watch.collect()
    assert value(out["cinder"], "openstack_cinder_volume_status_counter",
                 status="deleting") == 2
    assert value(out["sql.cinder"], "openstack_cinder_db_volumes_deleting") == 2
    assert value(out["sql.cinder"], "openstack_cinder_db_snapshots_in_progress") >= 1


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
        sim.flush()
        watch = Watch(sim)
        out = {name: s.collect() for name, s in watch.sql.items()}
        for name, part in out.items():
            assert set(resource_status(part).values()) == {Status.OK}, (name, part.checks)
        state = sim.state
        errors = sum(1 for s in state.servers if s.vm_state == "error")
        assert sum(value(part, "openstack_nova_db_instances_error")
                   for name, part in out.items() if name.startswith("sql.nova")) == errors
        assert value(out["sql.nova"], "openstack_nova_db_vcpus") == sum(
            h.vcpus for h in state.hypervisors)
        assert value(out["sql.cinder"], "openstack_cinder_db_volumes_deleting") == sum(
            1 for v in state.volumes if v.status == "deleting")
        assert value(out["sql.cinder"], "openstack_cinder_db_volume_count") == len(state.volumes)
        assert_declared(everything(out))


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
        after = set(crosschecks["west/crosscheck"].after)  # type: ignore[attr-defined]
        assert {"west/api.compute", "west/sql.nova", "west/sql.cinder"} <= after
        assert not [name for name in after if not name.startswith("west/")]
