"""Every SQL metric stackwatch produces (read-only ``monitor`` account) equals ground truth.

The truth for nova and cinder comes from the stock CLI (what the APIs say about the
same rows); keystone's token tables have no CLI view, so the truth there is an action
made through the CLI (a token revoked) and its effect on the row count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

import pytest

from realcloud.cloud import RealCloud
from realcloud.expected import (
    Key,
    compared_elsewhere,
    expected_sql_cinder,
    expected_sql_neutron,
    expected_sql_nova,
    key,
    sample_map,
)
from realcloud.resources import Resources
from realcloud.truth import Truth
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_declared
from stackwatch.config import parse_config
from stackwatch.model import Collection, Status
from stackwatch.sources.base import Source
from stackwatch.sources.registry import build_sources

SQL_SOURCES = ("sql.nova", "sql.nova_cell0", "sql.nova_api", "sql.cinder", "sql.keystone",
               "sql.neutron", "sql.glance")
MIB = 1024 * 1024
#: a per-project compute quota the tests set through the CLI (nova_api.quotas row)
DEMO_CORES = 23

# nova-api (WSGI) has a row in nova.services (binary nova-osapi_compute) that never
# heartbeats; os-services and the CLI leave it out, stackwatch's SQL source counts it
# as a service that is down.
OSAPI = "nova-osapi_compute"


@pytest.fixture(scope="module")
def sql_sources(realcloud: RealCloud, resources: Resources) -> dict[str, Source]:
    config = parse_config(realcloud.stackwatch_config())
    return {s.name: s for s in build_sources(config) if s.name in SQL_SOURCES}


@pytest.fixture(scope="module")
def demo_quota(truth: Truth, resources: Resources) -> Iterator[str]:
    """project ``demo`` gets its own cores limit (a nova_api.quotas row) for the module."""
    [demo] = [p for p in truth.cli("project", "list") if p["Name"] == "demo"]
    before = truth.sql("nova_api", "select resource, hard_limit from quotas "
                                   "where project_id = :p", p=demo["ID"])
    truth.run("quota", "set", "--cores", str(DEMO_CORES), demo["ID"])
    yield str(demo["ID"])
    # back to how it was: on the defaults (no row), or the limits it had
    truth.run("quota", "delete", "--compute", demo["ID"])
    for row in before:
        truth.run("quota", "set", f"--{row['resource'].replace('_', '-')}",
                  str(row["hard_limit"]), demo["ID"])


@pytest.fixture(scope="module")
def collected(sql_sources: dict[str, Source], demo_quota: str) -> dict[str, Collection]:
    return {name: source.collect() for name, source in sql_sources.items()}


def _names(source: str) -> set[str]:
    return {m.name for m in default_catalog().metrics.values()
            if m.source == source and not compared_elsewhere(m.name)}


def _diff(expected: Mapping[Key, float], got: Mapping[Key, float]) -> str:
    lines = [f"missing {k}: want {v}" for k, v in expected.items() if k not in got]
    lines += [f"extra   {k}: got {v}" for k, v in got.items() if k not in expected]
    lines += [f"wrong   {k}: want {expected[k]}, got {v}" for k, v in got.items()
              if k in expected and expected[k] != v]
    return "\n".join(sorted(lines))


def test_every_sql_source_collects(collected: dict[str, Collection]) -> None:
    assert set(collected) == set(SQL_SOURCES)
    for name, collection in collected.items():
        bad = [c.message for c in collection.checks if c.status is not Status.OK]
        assert not bad, f"{name}: {bad}"
        assert_declared(collection)


def test_nova_sql_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    expected = expected_sql_nova(truth)
    for source in ("sql.nova", "sql.nova_cell0"):
        got = sample_map(collected[source].samples, _names("sql.nova"))
        assert got == expected[source], f"{source}:\n" + _diff(expected[source], got)


def test_nova_sql_does_not_report_the_api_service_down(collected: dict[str, Collection]) -> None:
    got = sample_map(collected["sql.nova"].samples, _names("sql.nova"))
    osapi = {k: v for k, v in got.items() if ("binary", OSAPI) in k[1]}
    assert not osapi, f"nova-api's version-tracking row reported as a service: {osapi}"


def test_cinder_sql_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    expected = expected_sql_cinder(truth)
    got = sample_map(collected["sql.cinder"].samples, _names("sql.cinder"))
    assert got == expected, _diff(expected, got)


def test_neutron_sql_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    expected = expected_sql_neutron(truth)
    assert expected, "the fake L3 agent should be listed"
    got = sample_map(collected["sql.neutron"].samples, _names("sql.neutron"))
    assert got == expected, _diff(expected, got)


def test_keystone_sql_counts_a_revocation_made_with_the_cli(
        sql_sources: dict[str, Source], collected: dict[str, Collection], truth: Truth) -> None:
    names = _names("sql.keystone")
    before = sample_map(collected["sql.keystone"].samples, names)
    # Fernet tokens are never stored: the token table exists and stays empty, however many
    # tokens the tests issued (realcloud README, problem 8).
    assert before[key("openstack_keystone_db_tokens")] == 0
    assert before[key("openstack_keystone_db_tokens_expired")] == 0
    assert truth.scalar("keystone", "select count(*) from token") == 0
    token = truth.cli("token", "issue")["id"]
    truth.run("token", "revoke", token)
    after = sample_map(sql_sources["sql.keystone"].collect().samples, names)
    revocations = key("openstack_keystone_db_revocation_events")
    assert after[revocations] == before[revocations] + 1
    assert after[revocations] == truth.scalar("keystone",
                                              "select count(*) from revocation_event")


def test_nova_api_sql_equals_cli(collected: dict[str, Collection], truth: Truth,
                                 demo_quota: str) -> None:
    """Flavors, the quota set with the CLI, cells, host and instance mappings."""
    got = sample_map(collected["sql.nova_api"].samples, _names("sql.nova_api"))
    cli = truth.cli_many({"flavors": ("flavor", "list", "--all"),
                          "hypervisors": ("hypervisor", "list"),
                          "servers": ("server", "list", "--all-projects")})
    assert got[key("openstack_nova_api_db_flavors")] == len(cli["flavors"])
    assert got[key("openstack_nova_api_db_quota_limit", project_id=demo_quota,
                   resource="cores")] == DEMO_CORES
    # up.sh maps cell0 and cell1 (nova-manage cell_v2), both enabled
    assert got[key("openstack_nova_api_db_cells")] == 2
    assert got[key("openstack_nova_api_db_cells_disabled")] == 0
    hosts = {h["Hypervisor Hostname"] for h in cli["hypervisors"]}
    assert got[key("openstack_nova_api_db_host_mappings", cell="cell1")] == len(hosts) == 2
    # servers that never got a host live in nova_cell0; the others in cell1
    in_cell0 = {r["uuid"] for r in truth.sql(
        "nova_cell0", "select uuid from instances where deleted = 0")}
    servers = {s["ID"] for s in cli["servers"]}
    assert in_cell0 <= servers
    mappings = {dict(k[1])["cell"]: v for k, v in got.items()
                if k[0] == "openstack_nova_api_db_instance_mappings"}
    assert mappings == {c: n for c, n in (("cell0", len(in_cell0)),
                                          ("cell1", len(servers - in_cell0))) if n}
    assert got[key("openstack_nova_api_db_build_requests")] == 0  # nothing is scheduling


def test_glance_sql_equals_cli(collected: dict[str, Collection], truth: Truth) -> None:
    got = sample_map(collected["sql.glance"].samples, _names("sql.glance"))
    images = truth.cli("image", "list", "--long")
    assert images
    by = Counter((i["Status"], i["Visibility"]) for i in images)
    assert {(dict(k[1])["status"], dict(k[1])["visibility"]): v for k, v in got.items()
            if k[0] == "openstack_glance_db_images"} == dict(by)
    assert got[key("openstack_glance_db_images_size_bytes")] == sum(
        i["Size"] or 0 for i in images)
    members = truth.cli_many({i["ID"]: ("image", "member", "list", i["ID"]) for i in images
                              if i["Visibility"] == "shared"})
    assert got[key("openstack_glance_db_image_members")] == sum(len(m) for m in members.values())


def test_nova_db_memory_used_is_placement_usage_plus_reserved(
        collected: dict[str, Collection], truth: Truth) -> None:
    """compute_nodes.memory_mb_used counts each node's 512 MiB reserved: placement's usage
    does not, so the two agree only with the reserved added."""
    got = sample_map(collected["sql.nova"].samples, _names("sql.nova"))
    providers = truth.cli("resource", "provider", "list")
    cli = truth.cli_many({f"{kind}:{rp['uuid']}": (
        "resource", "provider", *(("inventory", "list") if kind == "inv" else ("usage", "show")),
        rp["uuid"]) for rp in providers for kind in ("inv", "use")})
    used = reserved = total = 0
    for rp in providers:
        [memory] = [i for i in cli[f"inv:{rp['uuid']}"] if i["resource_class"] == "MEMORY_MB"]
        assert memory["reserved"] == 512
        reserved += memory["reserved"]
        total += memory["total"]
        used += {u["resource_class"]: u["usage"] for u in cli[f"use:{rp['uuid']}"]}[
            "MEMORY_MB"]
    assert got[key("openstack_nova_db_memory_bytes")] == total * MIB
    assert got[key("openstack_nova_db_memory_used_bytes")] == (used + reserved) * MIB
