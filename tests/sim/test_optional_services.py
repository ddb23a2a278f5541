"""The nine optional services the simulator serves with ``optional_services=True``
(heat, octavia, ironic, designate, manila, magnum, trove, gnocchi, swift): what
stackwatch's sources count, by status, is the simulator's ground truth
(``cloud.state.optional``), and every listing pages as its service does."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.config import load_config
from stackwatch.model import Collection, Sample, Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.optional import OptionalWorld, world_of
from stackwatch.sources.logs import build_log_sources
from stackwatch.sources.logs.globs import expand
from stackwatch.sources.openstack_api import OPTIONAL_SOURCE_CLASSES, ApiClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(optional_cloud: SimulatedCloud) -> Iterator[ApiClient]:
    c = ApiClient("stackwatch-sim", clouds_yaml=optional_cloud.clouds_yaml, timeout=5)
    yield c
    c.close()


@pytest.fixture(scope="module")
def got(client: ApiClient) -> dict[str, Collection]:
    """Each optional source's collection, by its codename."""
    out = {cls.codename: cls(client).collect() for cls in OPTIONAL_SOURCE_CLASSES}
    for name, collection in out.items():
        assert collection.checks and all(c.status is Status.OK for c in collection.checks), \
            (name, collection.checks)
    return out


@pytest.fixture(scope="module")
def world(optional_cloud: SimulatedCloud) -> OptionalWorld:
    return world_of(optional_cloud.state)


def samples(collection: Collection, name: str) -> list[Sample]:
    found = [s for s in collection.samples if s.name == name]
    assert found, name
    return found


def by(collection: Collection, name: str, *labels: str) -> Counter[tuple[str, ...]]:
    """How many series of ``name`` have each value of ``labels``."""
    return Counter(tuple(s.label(k) for k in labels) for s in samples(collection, name))


def value(collection: Collection, name: str, **labels: str) -> float:
    [sample] = [s for s in samples(collection, name)
                if all(s.label(k) == v for k, v in labels.items())]
    return sample.value


def test_heat_stacks_by_status(got: dict[str, Collection], world: OptionalWorld) -> None:
    heat = got["heat"]
    truth = Counter(s.status for s in world.stacks)
    assert len(world.stacks) > 100 and len(truth) >= 5  # two pages of heat's 100, mixed
    counted = {s.label("status"): s.value
               for s in samples(heat, "openstack_heat_stack_status_counter") if s.value}
    assert counted == truth
    assert by(heat, "openstack_heat_stack_status", "id", "project_id") == Counter(
        (s.id, s.project_id) for s in world.stacks)


def test_octavia_by_status(got: dict[str, Collection], world: OptionalWorld) -> None:
    lb = got["loadbalancer"]
    assert value(lb, "openstack_loadbalancer_total_loadbalancers") == len(world.loadbalancers)
    assert by(lb, "openstack_loadbalancer_loadbalancer_status", "operating_status",
              "provisioning_status") == Counter(
        (b.operating_status, b.provisioning_status) for b in world.loadbalancers)
    assert value(lb, "openstack_loadbalancer_total_amphorae") == len(world.amphorae)
    assert by(lb, "openstack_loadbalancer_amphora_status", "status") == Counter(
        (a.status,) for a in world.amphorae)
    assert by(lb, "openstack_loadbalancer_pool_status", "provisioning_status",
              "operating_status") == Counter(
        (p.provisioning_status, p.operating_status) for p in world.pools)
    assert value(lb, "openstack_loadbalancer_total_listeners") == len(world.listeners)
    assert by(lb, "openstack_loadbalancer_listener_status", "operating_status",
              "loadbalancers") == Counter(
        (x.operating_status, x.load_balancer_id) for x in world.listeners)
    assert len({b.operating_status for b in world.loadbalancers}) >= 3


def test_ironic_nodes_by_state(got: dict[str, Collection], world: OptionalWorld) -> None:
    ironic = got["ironic"]
    assert by(ironic, "openstack_ironic_node", "provision_state", "power_state",
              "maintenance") == Counter(
        (n.provision_state, n.power_state or "", "true" if n.maintenance else "false")
        for n in world.nodes)
    [down] = [s for s in samples(ironic, "openstack_ironic_node")
              if s.label("maintenance") == "true"]
    assert down.label("maintenance_reason") == "disk replacement"
    assert len({n.provision_state for n in world.nodes}) >= 5


def test_designate_zones_and_recordsets(got: dict[str, Collection],
                                        world: OptionalWorld) -> None:
    dns = got["designate"]
    assert value(dns, "openstack_designate_zones") == len(world.zones)
    assert by(dns, "openstack_designate_zone_status", "status") == Counter(
        (z.status,) for z in world.zones)
    for zone in world.zones:
        assert value(dns, "openstack_designate_recordsets", zone_id=zone.id) == len(
            world.zone_recordsets[zone.id])
    assert by(dns, "openstack_designate_recordsets_status", "status", "type") == Counter(
        (r.status, r.type) for r in world.recordsets)


def test_manila_shares_by_status_and_size(got: dict[str, Collection],
                                          world: OptionalWorld) -> None:
    manila = got["sharev2"]
    assert value(manila, "openstack_sharev2_shares_counter") == len(world.shares)
    counted = {s.label("status"): s.value
               for s in samples(manila, "openstack_sharev2_share_status_counter") if s.value}
    assert counted == Counter(s.status for s in world.shares)
    assert sum(s.value for s in samples(manila, "openstack_sharev2_share_gb")) == sum(
        s.size for s in world.shares)


def test_magnum_trove_gnocchi_swift(got: dict[str, Collection], world: OptionalWorld) -> None:
    magnum, trove = got["container_infra"], got["trove"]
    assert by(magnum, "openstack_container_infra_cluster_status", "status") == Counter(
        (c.status,) for c in world.clusters)
    assert sum(s.value for s in samples(magnum, "openstack_container_infra_cluster_nodes")) \
        == sum(c.node_count for c in world.clusters)
    assert by(trove, "openstack_trove_instance_status", "status") == Counter(
        (i.status,) for i in world.instances)
    assert sum(s.value for s in samples(trove, "openstack_trove_instance_volume_size_gb")) \
        == sum(i.volume_size for i in world.instances)
    gnocchi = got["gnocchi"]
    assert value(gnocchi, "openstack_gnocchi_total_metrics") == len(world.metrics)
    assert value(gnocchi, "openstack_gnocchi_total_resources") == len(world.resources)
    assert value(gnocchi, "openstack_gnocchi_status_metric_having_measures_to_process") \
        == len(world.backlog) > 0
    assert value(gnocchi, "openstack_gnocchi_status_measures_to_process") == sum(
        world.backlog.values())
    assert value(gnocchi, "openstack_gnocchi_status_metricd_processors") == 6
    swift = got["object_store"]
    for c in world.containers:
        assert value(swift, "openstack_object_store_objects", container_name=c.name) == c.count
        assert value(swift, "openstack_object_store_bytes", container_name=c.name) == c.bytes
    assert value(swift, "openstack_swift_account_bytes") == sum(c.bytes for c in world.containers)


LISTINGS = [  # service type, path, key (None: a JSON array), id field, ground truth
    ("orchestration", "stacks", "stacks", "id", lambda w: [s.id for s in w.stacks]),
    ("load-balancer", "v2/lbaas/loadbalancers", "loadbalancers", "id",
     lambda w: [b.id for b in w.loadbalancers]),
    ("load-balancer", "v2/octavia/amphorae", "amphorae", "id",
     lambda w: [a.id for a in w.amphorae]),
    ("load-balancer", "v2/lbaas/pools", "pools", "id", lambda w: [p.id for p in w.pools]),
    ("load-balancer", "v2/lbaas/listeners", "listeners", "id",
     lambda w: [li.id for li in w.listeners]),
    ("baremetal", "v1/nodes/detail", "nodes", "uuid", lambda w: [n.uuid for n in w.nodes]),
    ("dns", "v2/zones", "zones", "id", lambda w: [z.id for z in w.zones]),
    ("shared-file-system", "shares/detail", "shares", "id",
     lambda w: [s.id for s in w.shares]),
    ("container-infrastructure-management", "clusters", "clusters", "uuid",
     lambda w: [c.uuid for c in w.clusters]),
    ("database", "mgmt/instances", "instances", "id", lambda w: [i.id for i in w.instances]),
    ("metric", "v1/metric", None, "id", lambda w: w.metrics),
    ("metric", "v1/resource/generic", None, "id", lambda w: w.resources),
]


@pytest.mark.parametrize("service, path, key, ident, truth", LISTINGS,
                         ids=[f"{s}:{p}" for s, p, *_ in LISTINGS])
def test_listings_page_to_the_whole_set(client: ApiClient, world: OptionalWorld, service: str,
                                        path: str, key: str | None, ident: str,
                                        truth: object) -> None:
    """Pages of 3, by each service's next links (or, for gnocchi's arrays, markers),
    give every item once: the same as the ground truth."""
    params = {"global_tenant": "True"} if service == "orchestration" else \
        {"all_tenants": 1} if service == "shared-file-system" else None
    if key is None:
        items = list(client.list_array(service, path, ident, page_size=3))
    else:
        headers = {"X-Auth-All-Projects": "True"} if service == "dns" else None
        items = list(client.list_all(service, path, key, page_size=3, params=params,
                                     headers=headers))
    assert [i[ident] for i in items] == truth(world)  # type: ignore[operator]


def test_swift_account_pages_and_info(client: ApiClient, world: OptionalWorld) -> None:
    account = client.endpoint("object-store").url
    names = [c["name"] for c in client.list_array("object-store", account, "name",
                                                   params={"format": "json"}, page_size=4)]
    assert names == [c.name for c in world.containers]
    assert client.get_json("object-store", client.endpoint("object-store").url.rsplit(
        "/v1/", 1)[0] + "/info")["swift"]["version"]


APIREF = Path(__file__).resolve().parents[1] / "data" / "recorded" / "apiref"
SAMPLES = [  # service type, path, key (None: a JSON array), the API reference's answer
    ("orchestration", "stacks", "stacks", "*stacks~global*"),
    ("load-balancer", "v2/lbaas/loadbalancers", "loadbalancers", "*loadbalancers*"),
    ("load-balancer", "v2/octavia/amphorae", "amphorae", "*amphorae*"),
    ("load-balancer", "v2/lbaas/pools", "pools", "*pools*"),
    ("baremetal", "v1/nodes/detail", "nodes", "*nodes*"),
    ("dns", "v2/zones", "zones", "*zones~*"),
    ("shared-file-system", "shares/detail", "shares", "*shares*"),
    ("container-infrastructure-management", "clusters", "clusters", "*clusters*"),
    ("database", "mgmt/instances", "instances", "*instances*"),
    ("metric", "v1/metric", None, "*metric~*"),
    ("metric", "v1/resource/generic", None, "*generic*"),
]


@pytest.mark.parametrize("service, path, key, pattern", SAMPLES,
                         ids=[f"{s}:{p}" for s, p, *_ in SAMPLES])
def test_items_have_every_field_of_the_api_reference(
        client: ApiClient, service: str, path: str, key: str | None, pattern: str) -> None:
    """A page of one item has every field the API reference's example answer has
    (``tests/data/recorded/apiref/``), in the page and in the item."""
    [recorded] = (APIREF / service).glob(f"GET_{pattern}.json")
    reference = json.loads(recorded.read_text())["body"]
    params: dict[str, object] = {"limit": 1, "global_tenant": "True", "all_tenants": 1}
    url = f"{client.endpoint(service).url}/{path}"
    body = client.get_json(service, url, params=params,
                           headers={"X-Auth-All-Projects": "True"})
    if key is None:
        assert set(reference[0]) <= set(body[0]), set(reference[0]) - set(body[0])
    else:
        assert set(reference) <= set(body), set(reference) - set(body)
        missing = set(reference[key][0]) - set(body[key][0])
        assert not missing, missing


def test_written_config_watches_swift_nodes_and_proxy_log(optional_cloud: SimulatedCloud,
                                                          tmp_path: Path) -> None:
    """``stackwatch sim --optional-services`` writes ``infra.swift`` naming each simulated
    storage node's three servers, and its log root holds swift's proxy-server log
    (``tests/sim/test_swift_sim.py`` reads both)."""
    [cloud] = load_config(optional_cloud.config_path).clouds
    assert cloud.infra.swift is not None
    nodes = optional_cloud.world["swift"].nodes.nodes
    assert Counter(server.member() for _, server in cloud.infra.swift.servers()) == {
        node.name: 3 for node in nodes}
    logs = {s.service: s for s in build_log_sources(cloud, tmp_path)}
    assert [p.relative_to(cloud.logs.root or tmp_path).as_posix()
            for p in expand(logs["swift"].root, logs["swift"].patterns)] == [
        "swift/proxy-server.log"]
