"""The sources of the services a cloud may run (heat, octavia, ironic, designate, manila,
magnum, trove, gnocchi, swift) on their API references' example answers, replayed over
HTTP: each metric's values and labels as openstack-exporter would give them, a service
absent from the catalog left alone, a bad answer UNKNOWN with its reason while the
rest still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sources.replay import ReplayCloud, recorded_body
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.model import Collection, Status
from stackwatch.runner import collect_once
from stackwatch.sources.openstack_api import OPTIONAL_SOURCE_CLASSES, ApiClient
from stackwatch.sources.openstack_api.client import _next_link, _version_document_url
from stackwatch.sources.openstack_api.load_balancer import amphora_labels
from stackwatch.sources.openstack_api.optional import OptionalApiSource
from stackwatch.sources.openstack_api.orchestration import STACK_STATUSES
from stackwatch.sources.openstack_api.shared_file_system import SHARE_STATUSES

pytestmark = pytest.mark.integration

APIREF = Path(__file__).resolve().parents[1] / "data" / "recorded" / "apiref"
#: the catalog URL's path of each service, as its install guide registers it
CATALOG_PATHS = {
    "orchestration": "/v1/{project_id}", "load-balancer": "", "baremetal": "", "dns": "",
    "shared-file-system": "/v2", "container-infrastructure-management": "/v1",
    "database": "/v1.0/{project_id}", "metric": "", "object-store": "/v1/AUTH_{project_id}",
}
Labels = frozenset[tuple[str, str]]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayCloud]:
    more = {service: (APIREF, path) for service, path in CATALOG_PATHS.items()}
    with ReplayCloud(tmp_path_factory.mktemp("apiref"), more=more) as replay:
        yield replay


def collect(cloud: ReplayCloud, cls: type[OptionalApiSource]) -> Collection:
    client = ApiClient("replay", clouds_yaml=cloud.clouds_yaml, timeout=5)
    try:
        return cls(client).collect()
    finally:
        client.close()


def source_of(service_type: str) -> type[OptionalApiSource]:
    return next(c for c in OPTIONAL_SOURCE_CLASSES if c.service_type == service_type)


def series(collection: Collection, name: str) -> dict[Labels, float]:
    """Each sample of ``name`` by its labels (but region, which every API sample has)."""
    found = [s for s in collection.samples if s.name == name]
    assert all(s.label("region") == "RegionOne" for s in found)
    return {frozenset((k, v) for k, v in s.labels if k != "region"): s.value for s in found}


def one(collection: Collection, name: str) -> float:
    [value] = series(collection, name).values()
    return value


def body(service: str, pattern: str) -> Any:
    return recorded_body(service, pattern, folder=APIREF)


def test_each_source_reads_its_answers_declared_and_covered(cloud: ReplayCloud) -> None:
    for cls in OPTIONAL_SOURCE_CLASSES:
        collection = collect(cloud, cls)
        assert [c.status for c in collection.checks if c.name == "api.endpoint"] == [Status.OK]
        assert not [c.message for c in collection.checks if c.status is not Status.OK], cls
        assert one(collection, f"openstack_{cls.codename}_up") == 1
        assert_declared(collection)
        assert_covered(collection, f"api.{cls.service_type.replace('-', '_')}")
    assert not [r for r in cloud.requests if "not recorded" in str(r)]
    assert {s for s, _, _ in cloud.requests} >= set(CATALOG_PATHS)


def test_heat_stacks_by_status(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("orchestration"))
    [stack] = body("orchestration", "*stacks~global*")["stacks"]
    assert series(got, "openstack_heat_stack_status") == {frozenset({
        ("id", stack["id"]), ("name", "simple_stack"), ("project_id", ""),
        ("status", "CREATE_COMPLETE")}): 5.0}  # CREATE_COMPLETE is the exporter's 5
    counter = series(got, "openstack_heat_stack_status_counter")
    assert len(counter) == len(STACK_STATUSES) == 30
    assert {dict(k)["status"]: v for k, v in counter.items() if v} == {"CREATE_COMPLETE": 1}


def test_heat_forbidding_every_projects_stacks_gives_the_plain_listing(
        cloud: ReplayCloud, caplog: pytest.LogCaptureFixture) -> None:
    """A stock heat's policy lets nobody list with ``global_tenant`` (403): the plain
    listing is read, said once in the log, and the stacks still counted."""
    cloud.inject("orchestration", "status", status=403, path="global_tenant")
    before = len(cloud.requests)
    client = ApiClient("replay", clouds_yaml=cloud.clouds_yaml, timeout=5)
    try:
        source = source_of("orchestration")(client)
        runs = [source.collect() for _ in range(2)]
    finally:
        client.close()
        cloud.clear("orchestration")
    assert source.every_project is False  # type: ignore[attr-defined]
    for got in runs:
        assert not [c.message for c in got.checks if c.status is not Status.OK]
        counter = series(got, "openstack_heat_stack_status_counter")
        assert {dict(k)["status"]: v for k, v in counter.items() if v} == {"CREATE_COMPLETE": 1}
    said = [r.getMessage() for r in caplog.records if "stacks:global_index" in r.getMessage()]
    assert len(said) == 1 and "HTTP 403" in said[0], said
    asked = [q for service, _, q in cloud.requests[before:] if service == "orchestration"
             and "/stacks" in q]
    assert [("global_tenant" in q) for q in asked] == [True, False, True, False], asked


def test_octavia_load_balancers_amphorae_pools_and_listeners(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("load-balancer"))
    assert one(got, "openstack_loadbalancer_total_loadbalancers") == 1
    assert series(got, "openstack_loadbalancer_loadbalancer_status") == {frozenset({
        ("id", "607226db-27ef-4d41-ae89-f2a800e9c2db"), ("name", "best_load_balancer"),
        ("project_id", "e3cd678b11784734bc366148aa37580e"), ("operating_status", "ONLINE"),
        ("provisioning_status", "ACTIVE"), ("provider", "octavia"),
        ("vip_address", "203.0.113.50")}): 0.0}
    assert one(got, "openstack_loadbalancer_total_amphorae") == 2
    amphorae = series(got, "openstack_loadbalancer_amphora_status")
    assert {(dict(k)["role"], dict(k)["lb_network_ip"], dict(k)["cert_expiration"], v)
            for k, v in amphorae.items()} == {
        ("MASTER", "192.168.1.2", "2019-09-19T00:34:51Z", 1.0),   # ALLOCATED is 1
        ("BACKUP", "192.168.1.3", "2019-09-19T00:34:51Z", 1.0)}
    assert {dict(k)["loadbalancer_id"] for k in amphorae} == {
        a["load_balancer_id"] for a in body("load-balancer", "*amphorae*")["amphorae"]}
    assert series(got, "openstack_loadbalancer_pool_status") == {frozenset({
        ("id", "ddb2b28f-89e9-45d3-a329-a359c3e39e4a"), ("provisioning_status", "ACTIVE"),
        ("name", "round_robin_pool"), ("loadbalancers", "607226db-27ef-4d41-ae89-f2a800e9c2db"),
        ("protocol", "HTTP"), ("lb_algorithm", "ROUND_ROBIN"), ("operating_status", "ONLINE"),
        ("project_id", "e3cd678b11784734bc366148aa37580e")}): 0.0}
    assert one(got, "openstack_loadbalancer_total_pools") == 1
    assert one(got, "openstack_loadbalancer_total_listeners") == 1
    assert series(got, "openstack_loadbalancer_listener_status") == {frozenset({
        ("id", "023f2e34-7806-443b-bfae-16c324569a3d"), ("name", "great_tls_listener"),
        ("project_id", "e3cd678b11784734bc366148aa37580e"), ("protocol", "TERMINATED_HTTPS"),
        ("protocol_port", "443"), ("loadbalancers", "607226db-27ef-4d41-ae89-f2a800e9c2db"),
        ("provisioning_status", "ACTIVE"), ("operating_status", "ONLINE")}): 0.0}
    by_status = series(got, "openstack_loadbalancer_listener_status_counter")
    assert {dict(k)["status"]: v for k, v in by_status.items()} == {
        "ONLINE": 1, "DRAINING": 0, "OFFLINE": 0, "ERROR": 0, "NO_MONITOR": 0}


@pytest.mark.unit
@pytest.mark.parametrize("field", ["loadbalancer_id", "load_balancer_id"])
def test_an_amphoras_load_balancer_either_spelling(field: str) -> None:
    """Real octavia (test_real_octavia) answers ``loadbalancer_id``, its API reference's
    example ``load_balancer_id``."""
    labels = amphora_labels({"id": "a1", field: "lb1", "status": "ALLOCATED",
                             "cert_expiration": "2027-01-04T13:24:41", "ha_ip": None})
    assert labels == {"id": "a1", "loadbalancer_id": "lb1", "status": "ALLOCATED",
                      "cert_expiration": "2027-01-04T13:24:41Z", "ha_ip": "",
                      "compute_id": "", "role": "", "lb_network_ip": ""}


def test_ironic_nodes_with_their_states(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("baremetal"))
    [(labels, value)] = series(got, "openstack_ironic_node").items()
    node = dict(labels)
    assert value == 1
    assert {k: node[k] for k in ("id", "name", "provision_state", "power_state", "maintenance",
                                 "console_enabled", "retired", "instance_uuid", "traits")} == {
        "id": "6d85703a-565d-469a-96ce-30b6de53079d", "name": "test_node",
        "provision_state": "available", "power_state": "power off", "maintenance": "false",
        "console_enabled": "false", "retired": "false", "instance_uuid": "", "traits": ""}
    assert len(node) == 19
    key = frozenset({("id", node["id"]), ("name", "test_node"), ("provision_state", "available")})
    # 2016-08-18T22:28:49.653974+00:00 and 22:28:49.382814: whole seconds, as the exporter
    assert series(got, "openstack_ironic_node_updated_at") == {key: 1471559329.0}
    assert series(got, "openstack_ironic_node_provision_updated_at") == {key: 1471559329.0}
    asked = [q for s, _, q in cloud.requests if s == "baremetal" and "nodes" in q]
    assert asked


def test_designate_zones_and_recordsets(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("dns"))
    assert one(got, "openstack_designate_zones") == 1  # page 2 (links.next) was empty
    assert series(got, "openstack_designate_zone_status") == {frozenset({
        ("id", "a86dba58-0043-4cc6-a1bb-69d5e86f3ca3"), ("name", "example.org."),
        ("status", "ACTIVE"), ("tenant_id", "4335d1f0-f793-11e2-b778-0800200c9a66"),
        ("type", "PRIMARY")}): 1.0}  # active is 1 (case ignored)
    assert series(got, "openstack_designate_recordsets") == {frozenset({
        ("zone_id", "a86dba58-0043-4cc6-a1bb-69d5e86f3ca3"), ("zone_name", "example.org."),
        ("tenant_id", "4335d1f0-f793-11e2-b778-0800200c9a66")}): 1.0}
    [record] = body("dns", "*recordsets*")["recordsets"]
    assert series(got, "openstack_designate_recordsets_status") == {frozenset({
        ("id", record["id"]), ("name", "example.org."), ("status", "PENDING"),
        ("zone_id", record["zone_id"]), ("zone_name", "example.com."), ("type", "A")}): 0.0}
    assert any("marker=45fd892d" in q for s, _, q in cloud.requests if s == "dns")


def test_manila_shares_by_status_and_size(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("shared-file-system"))
    assert one(got, "openstack_sharev2_shares_counter") == 2
    gb = {dict(k)["id"]: (dict(k)["status"], dict(k)["share_type_name"], v)
          for k, v in series(got, "openstack_sharev2_share_gb").items()}
    assert gb == {"f45cc5b2-d1bb-4a3e-ba5b-5c4125613adc": ("error", "default", 1.0),
                  "c4a2ced4-2c9f-4ae1-adaa-6171833e64df": ("available", "default", 1.0)}
    status = {dict(k)["status"]: (dict(k)["size"], v)
              for k, v in series(got, "openstack_sharev2_share_status").items()}
    assert status == {"error": ("1", 9.0), "available": ("1", 1.0)}  # cinder's numbers
    counter = {dict(k)["status"]: v
               for k, v in series(got, "openstack_sharev2_share_status_counter").items()}
    assert set(counter) == set(SHARE_STATUSES)
    assert {k: v for k, v in counter.items() if v} == {"error": 1, "available": 1}
    assert any("all_tenants=1" in q for s, _, q in cloud.requests if s == "shared-file-system")


def test_magnum_clusters(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("container-infrastructure-management"))
    assert one(got, "openstack_container_infra_total_clusters") == 1
    common = {("uuid", "731387cf-a92b-4c36-981e-3271d63e5597"), ("name", "k8s"),
              ("stack_id", "31c1ee6c-081e-4f39-9f0f-f1d87a7defa1"),
              ("status", "CREATE_IN_PROGRESS"), ("project_id", "")}
    assert series(got, "openstack_container_infra_cluster_status") == {
        frozenset(common | {("node_count", "1"), ("master_count", "1")}): 2.0}
    assert series(got, "openstack_container_infra_cluster_masters") == {
        frozenset(common | {("node_count", "1")}): 1.0}
    assert series(got, "openstack_container_infra_cluster_nodes") == {
        frozenset(common | {("master_count", "1")}): 1.0}


def test_trove_instances(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("database"))
    assert one(got, "openstack_trove_total_instances") == 2
    status = {dict(k)["id"]: (dict(k)["status"], dict(k)["datastore_type"],
                              dict(k)["datastore_version"], v)
              for k, v in series(got, "openstack_trove_instance_status").items()}
    assert status == {
        "7de1bed8-6983-4d46-9a52-0abfbb0d27a2": ("HEALTHY", "mysql", "5.7", -1.0),  # unknown
        "b76a6a76-748b-4064-adec-4c9e6c9abd68": ("ERROR", "mysql", "5.7", 12.0)}
    assert set(series(got, "openstack_trove_instance_volume_size_gb").values()) == {1.0}
    assert set(series(got, "openstack_trove_instance_volume_used_gb").values()) == {0.0}


def test_gnocchi_backlog_and_size(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("metric"))
    status = body("metric", "*status*")
    assert one(got, "openstack_gnocchi_status_metricd_processors") == 3
    assert one(got, "openstack_gnocchi_status_metric_having_measures_to_process") == \
        status["storage"]["summary"]["metrics"] == 2
    assert one(got, "openstack_gnocchi_status_measures_to_process") == 17
    assert one(got, "openstack_gnocchi_total_metrics") == 2
    assert one(got, "openstack_gnocchi_total_resources") == 1


def test_swift_account_and_container_usage(cloud: ReplayCloud) -> None:
    got = collect(cloud, source_of("object-store"))
    assert series(got, "openstack_object_store_objects") == {
        frozenset({("container_name", "janeausten")}): 0.0,
        frozenset({("container_name", "marktwain")}): 1.0}
    assert series(got, "openstack_object_store_bytes") == {
        frozenset({("container_name", "janeausten")}): 0.0,
        frozenset({("container_name", "marktwain")}): 14.0}
    # the listing's sums are what the account's headers said in the same answer
    assert one(got, "openstack_swift_account_containers") == 2
    assert one(got, "openstack_swift_account_objects") == 1
    assert one(got, "openstack_swift_account_bytes") == 14


def test_a_service_absent_from_the_catalog_is_not_watched(cloud: ReplayCloud) -> None:
    cloud.missing.update({"orchestration", "object-store"})
    try:
        for service in ("orchestration", "object-store"):
            got = collect(cloud, source_of(service))
            assert got.samples == () and got.checks == (), service
        assert collect(cloud, source_of("database")).samples  # the others still watched
    finally:
        cloud.missing.difference_update({"orchestration", "object-store"})


def resource_checks(collection: Collection) -> dict[str, tuple[Status, str]]:
    return {dict(c.labels)["resource"]: (c.status, c.message) for c in collection.checks
            if c.name == "stackwatch.resource"}


def test_bad_answers_are_unknown_with_the_reason_and_the_rest_still_works(
        cloud: ReplayCloud) -> None:
    """A 500, a truncated answer, an object where swift lists, broken JSON, a 503 on the
    endpoint: each UNKNOWN (a resource, or the source when it has no other) with what was
    wrong, in one run of every source where the others read all they read before."""
    cloud.inject("load-balancer", "status", status=500, path="amphorae")
    cloud.inject("metric", "truncate", path="/v1/status")
    cloud.inject("object-store", "body", path="/AUTH_", body=b'{"containers": []}')
    cloud.inject("container-infrastructure-management", "body", path="clusters",
                 body=b'{"clusters": [1, 2')
    cloud.inject("orchestration", "status", status=503, path="")
    client = ApiClient("replay", clouds_yaml=cloud.clouds_yaml, timeout=5)
    try:
        runs = {r.source: r for r in collect_once(
            [cls(client) for cls in OPTIONAL_SOURCE_CLASSES], timeout=20)}
    finally:
        client.close()
        for service in ("load-balancer", "metric", "object-store", "orchestration",
                        "container-infrastructure-management"):
            cloud.clear(service)

    lb = runs["api.load_balancer"].collection
    status, message = resource_checks(lb)["amphorae"]
    assert status is Status.UNKNOWN and "HTTP 500" in message and "amphorae" in message
    assert "openstack_loadbalancer_total_amphorae" not in {s.name for s in lb.samples}
    assert one(lb, "openstack_loadbalancer_total_pools") == 1  # its other resources read
    assert one(lb, "openstack_loadbalancer_total_loadbalancers") == 1

    gnocchi = runs["api.metric"].collection
    status, message = resource_checks(gnocchi)["status"]
    assert status is Status.UNKNOWN and "answer cut short" in message
    assert one(gnocchi, "openstack_gnocchi_total_metrics") == 2

    swift, magnum = runs["api.object_store"], runs["api.container_infrastructure_management"]
    assert not swift.ok and "expected a JSON array, got dict" in swift.reason
    assert not magnum.ok and "not valid JSON" in magnum.reason
    for run in (swift, magnum):
        [check] = [c for c in run.collection.checks if c.name == "stackwatch_source"]
        assert check.status is Status.UNKNOWN and check.message

    heat = runs["api.orchestration"].collection
    [endpoint] = [c for c in heat.checks if c.name == "api.endpoint"]
    assert endpoint.status is Status.CRITICAL and "HTTP 503" in endpoint.message
    assert one(heat, "openstack_heat_up") == 0
    assert resource_checks(heat)["stacks"][0] is Status.UNKNOWN

    for name in ("api.dns", "api.baremetal", "api.shared_file_system", "api.database"):
        run = runs[name]
        assert run.ok and not [c for c in run.collection.checks
                               if c.status is not Status.OK], name
    assert one(runs["api.dns"].collection, "openstack_designate_zones") == 1


@pytest.mark.unit
@pytest.mark.parametrize(("service_type", "catalog_url", "document"), [
    ("orchestration", "http://h:8004/v1/p1", "http://h:8004/"),
    ("orchestration", "https://h/heat-api/v1/p1", "https://h/heat-api/"),  # behind a proxy
    ("database", "http://h:8779/v1.0/p1", "http://h:8779/"),
    ("shared-file-system", "http://h:8786/v2", "http://h:8786/"),
    ("container-infrastructure-management", "http://h:9511/v1", "http://h:9511/"),
    ("object-store", "http://h:8080/v1/AUTH_p1", "http://h:8080/info"),
    ("object-store", "https://h/swift/v1/AUTH_p1", "https://h/swift/info"),
    ("load-balancer", "http://h/load-balancer", "http://h/load-balancer/"),
    ("baremetal", "http://h:6385", "http://h:6385/"),
])
def test_where_each_version_document_is(service_type: str, catalog_url: str,
                                        document: str) -> None:
    assert _version_document_url(service_type, catalog_url) == document


@pytest.mark.unit
@pytest.mark.parametrize(("page", "link"), [
    ({"zones": [], "links": {"self": "s", "next": "n"}}, "n"),        # designate
    ({"zones": [], "links": {"self": "s"}}, None),
    ({"stacks": [], "links": [{"rel": "next", "href": "n"}]}, "n"),  # heat, trove
    ({"nodes": [], "next": "n"}, "n"),                                # ironic, magnum
    ({"pools": [], "pools_links": [{"rel": "next", "href": "n"}]}, "n"),  # octavia
])
def test_next_links_of_each_shape(page: dict[str, Any], link: str | None) -> None:
    key = next(k for k in page if isinstance(page[k], list) and not k.endswith("links"))
    assert _next_link(page, key) == link
