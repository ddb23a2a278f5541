"""The service databases in place of per-provider and per-project requests: the same
samples as the API gives, in a few queries (sources/sql/shortcuts.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from stackwatch.config import load_config
from stackwatch.model import Collection
from stackwatch.sim import records as r
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.state import CloudState
from stackwatch.sources.openstack_api import api_sources
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.openstack_api.network import NetworkSource
from stackwatch.sources.openstack_api.placement import PlacementSource

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small",
                        life=False) as sim:
        yield sim


def overrides(state: CloudState) -> str:
    """A project with a nova, a cinder and a neutron quota of its own (the others take
    defaults)."""
    project = next(p for p in state.projects if not p.is_domain
                   and state.servers.by("project_id", p.id))
    for service, resource, limit in (("compute", "cores", 77), ("compute", "instances", -1),
                                     ("block-storage", "gigabytes", 4321),
                                     ("network", "port", 555)):
        state.add(r.QuotaOverride(id=f"{service}:{project.id}:{resource}", service=service,
                                  project_id=project.id, resource=resource, hard_limit=limit))
    return project.id


def read(cloud: SimulatedCloud, databases: bool
         ) -> tuple[dict[str, Collection], int]:
    """Placement's providers, nova's capacity and quotas, cinder's quotas; API calls made."""
    config = load_config(cloud.config_path).clouds[0]
    if not databases:
        config = config.model_copy(update={"databases": {}})
    sources = {type(s): s for s in api_sources(config)}
    client = sources[PlacementSource].client
    assert all((s.shortcuts is not None) is databases for s in sources.values())

    def of(cls: type[ApiSource], method: str) -> Callable[[], Collection]:
        return getattr(sources[cls], method)  # type: ignore[no-any-return]

    calls = client.calls
    out = {name: of(cls, method)() for name, cls, method in (
        ("providers", PlacementSource, "providers"), ("capacity", ComputeSource, "capacity"),
        ("allocations", PlacementSource, "allocations"),
        ("nova quotas", ComputeSource, "quotas"),
        ("cinder quotas", BlockStorageSource, "quotas"),
        ("neutron quota details", NetworkSource, "quota_details"))}
    return out, client.calls - calls


def samples(collection: Collection) -> list[tuple[str, float, tuple[tuple[str, str], ...]]]:
    return sorted((s.name, s.value, s.labels) for s in collection.samples)


def test_the_databases_give_the_samples_the_api_gives(cloud: SimulatedCloud) -> None:
    project = cloud.call(overrides, cloud.state)
    cloud.flush()
    by_api, api_calls = read(cloud, databases=False)
    by_sql, sql_calls = read(cloud, databases=True)
    for name, collection in by_api.items():
        assert not collection.checks, [c.message for c in collection.checks]
        assert not by_sql[name].checks, [c.message for c in by_sql[name].checks]
        assert collection.samples, name
        assert samples(by_sql[name]) == samples(collection), name
    # the overrides and the usage are there, not only defaults and zeros
    quotas = {(s.name, s.label("tenant_id")): s.value
              for c in by_sql.values() for s in c.samples if s.name.endswith(("_max", "_gb"))}
    assert quotas[("openstack_nova_limits_vcpus_max", project)] == 77
    assert quotas[("openstack_nova_limits_instances_max", project)] == -1
    assert quotas[("openstack_cinder_limits_volume_max_gb", project)] == 4321
    state = cloud.state
    used = {s.label("tenant_id"): s.value for s in by_sql["nova quotas"].samples
            if s.name == "openstack_nova_limits_vcpus_used"}
    assert used[project] == state.quota_usage("compute", project)["cores"] > 0
    details = {(s.label("tenant_id"), s.name, s.label("type")): s.value
               for s in by_sql["neutron quota details"].samples}
    assert details[(project, "openstack_neutron_quota_port", "limit")] == 555
    for resource in ("port", "security_group_rule"):
        assert details[(project, f"openstack_neutron_quota_{resource}", "used")] == \
            state.quota_usage("network", project)[resource] > 0
    providers = list(state.resource_providers)
    assert {s.label("hostname") for s in by_sql["providers"].samples
            if s.name == "openstack_placement_resource_usage"} == {
        p.name for p in providers if p.inventories}
    assert [s.value for s in by_sql["providers"].samples
            if s.name == "openstack_placement_resource_providers"] == [len(providers)]
    # the API: 3 requests a provider (inventories, usages, allocations), 1 a project and
    # service (and placement's list and version document); the databases: the two
    # services' defaults and nova's server groups instead
    projects = sum(1 for p in state.projects if not p.is_domain)
    assert api_calls - sql_calls >= 3 * len(providers) + 3 * projects - 4


def test_neutron_reserved_is_what_unexpired_reservations_hold(cloud: SimulatedCloud) -> None:
    """``reserved``: the deltas of reservations not yet expired, per project and resource
    (neutron's ``get_total_reservations_map``); expired ones are not counted."""
    import sqlalchemy as sa

    from stackwatch.sources.sql.shortcuts import Shortcuts

    url = load_config(cloud.config_path).clouds[0].databases["neutron"]
    now = datetime(2030, 1, 2, 3, 4, 5)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for rid, expiration, amount in (("r-live", now + timedelta(seconds=30), 2),
                                        ("r-gone", now - timedelta(seconds=1), 5)):
            conn.execute(sa.text("INSERT INTO reservations VALUES (:id, 'p-resv', :at)"),
                         {"id": rid, "at": expiration})
            conn.execute(sa.text("INSERT INTO resourcedeltas VALUES ('port', :id, :n)"),
                         {"id": rid, "n": amount})
    try:
        facts = Shortcuts({"neutron": url}).neutron_quota_facts(now)
        assert facts.reserved["p-resv"] == {"port": 2.0}
        assert Shortcuts({"neutron": url}).neutron_quota_facts(
            now + timedelta(minutes=1)).reserved.get("p-resv") is None
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM resourcedeltas WHERE reservation_id LIKE 'r-%'"))
            conn.execute(sa.text("DELETE FROM reservations WHERE project_id = 'p-resv'"))
        engine.dispose()


def test_a_database_that_fails_gives_way_to_the_api(
        cloud: SimulatedCloud, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A grant missing or a table another release lacks: the figures come through the
    API (slower, the same), and why is logged once."""
    by_api, _ = read(cloud, databases=False)
    config = load_config(cloud.config_path).clouds[0]
    empty = f"sqlite:///{tmp_path}/empty.sqlite"
    broken = config.model_copy(update={"databases": {
        **config.databases, "placement": empty, "cinder": empty, "neutron": empty}})
    sources = api_sources(broken)
    placement = next(s for s in sources if isinstance(s, PlacementSource))
    cinder = next(s for s in sources if isinstance(s, BlockStorageSource))
    network = next(s for s in sources if isinstance(s, NetworkSource))
    with caplog.at_level(logging.WARNING, logger="stackwatch.sources.sql.shortcuts"):
        for _ in range(2):
            placement.client.forget("placement.")
            assert samples(placement.providers()) == samples(by_api["providers"])
            assert samples(cinder.quotas()) == samples(by_api["cinder quotas"])
            assert samples(network.quota_details()) == samples(
                by_api["neutron quota details"])
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3, said  # once each, not at every run
    assert any(m.startswith("placement providers read through the API") and
               "table or column missing" in m and "resource_providers" in m for m in said)
    assert any(m.startswith("cinder quotas read through the API") for m in said)
    assert any(m.startswith("neutron quota details read through the API") for m in said)
