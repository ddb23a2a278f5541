"""build_sources: one factory per kind, missing code reported as UNKNOWN, names unique."""

from __future__ import annotations

import pytest

from stackwatch.config import parse_config
from stackwatch.errors import SourceUnavailable
from stackwatch.runner import collect_once
from stackwatch.sources.registry import (
    API_SOURCE_NAMES,
    OPTIONAL_API_SOURCE_NAMES,
    MissingSource,
    _factory,
    build_sources,
)

pytestmark = pytest.mark.unit


def test_one_cloud_api_and_sql_sources() -> None:
    config = parse_config({"clouds": [{"name": "a", "databases": {
        "nova": "sqlite:///nova.sqlite", "cinder": "sqlite:///cinder.sqlite"}}]})
    names = [s.name for s in build_sources(config)]
    assert names[:6] == list(API_SOURCE_NAMES)
    assert names[6:15] == list(OPTIONAL_API_SOURCE_NAMES)
    assert {"sql.nova", "sql.cinder"} <= set(names)
    assert len(names) == len(set(names))


def test_every_database_the_config_accepts_gets_its_sql_source() -> None:
    """No database URL is accepted and then ignored: each one is read by sql.<database>,
    or (placement's) by the API sources instead of per-provider requests."""
    from stackwatch.config import SQL_DATABASES
    from stackwatch.sources.openstack_api import ApiSource
    from stackwatch.sources.sql import API_ONLY, SQL_CLASSES

    assert set(SQL_DATABASES) == set(SQL_CLASSES) | set(API_ONLY)
    assert not set(SQL_CLASSES) & set(API_ONLY)
    config = parse_config({"clouds": [{"name": "a", "databases": {
        db: f"sqlite:///{db}.sqlite" for db in SQL_DATABASES}}]})
    sources = build_sources(config)
    names = {s.name for s in sources}
    assert {f"sql.{db}" for db in SQL_CLASSES} <= names
    assert {"sql.nova_api", "sql.glance"} <= names
    assert not {f"sql.{db}" for db in API_ONLY} & names
    api = [s for s in sources if isinstance(s, ApiSource)]
    assert api and all(s.shortcuts is not None and s.shortcuts.placement for s in api)


def test_disable_by_name_and_kind() -> None:
    config = parse_config({"clouds": [{"name": "a", "disable": ["sql", "api.image"],
                                       "databases": {"nova": "sqlite:///nova.sqlite"}}]})
    names = [s.name for s in build_sources(config)]
    assert "api.image" not in names
    assert not [n for n in names if n.startswith("sql.")]
    assert "api.compute" in names


def test_several_clouds_get_prefixed_names() -> None:
    config = parse_config({"clouds": [{"name": "east"}, {"name": "west"}],
                           "intervals": {"api.compute": 15}})
    sources = build_sources(config)
    names = [s.name for s in sources]
    assert "east/api.compute" in names and "west/api.compute" in names
    assert len(names) == len(set(names))
    assert config.interval("west/api.compute") == 15


def test_missing_code_is_reported_not_raised() -> None:
    assert _factory("stackwatch.not_there:f") == "stackwatch.not_there is not installed"
    assert _factory("stackwatch.sources.openstack_api:nope") == (
        "stackwatch.sources.openstack_api has no nope() yet")
    missing = MissingSource("sql.nova", "sql sources unavailable: stackwatch.sources.sql is "
                                        "not installed")
    with pytest.raises(SourceUnavailable, match="not installed"):
        missing.collect()
    [run] = collect_once([missing], timeout=5)
    assert not run.ok
    assert run.reason == ("SourceUnavailable: sql sources unavailable: stackwatch.sources.sql "
                          "is not installed")


def test_several_clouds_keep_the_cross_check_after_its_own_prefixed_sources() -> None:
    config = parse_config({"clouds": [
        {"name": name, "databases": {"nova": "sqlite:///nova.sqlite"}}
        for name in ("east", "west")]})
    sources = {s.name: s for s in build_sources(config)}
    for cloud in ("east", "west"):
        after = getattr(sources[f"{cloud}/crosscheck"], "after", ())
        assert set(after) == {f"{cloud}/{name}" for name in (
            *API_SOURCE_NAMES, *OPTIONAL_API_SOURCE_NAMES, "sql.nova")}


def test_with_several_clouds_each_series_is_one_clouds() -> None:
    """Two clouds may both be RegionOne with the same hosts: their samples carry ``cloud``
    (the same series from both once counted as duplicates of each other)."""
    from stackwatch.catalog.testing import assert_declared
    from stackwatch.model import Collection, Sample
    from stackwatch.sources.registry import RenamedSource

    class Same:
        name = "api.compute"

        def collect(self) -> Collection:
            return Collection((Sample.of("openstack_nova_total_vms", 3, region="RegionOne"),))

    runs = collect_once([RenamedSource(f"{c}/", Same()) for c in ("east", "west")], timeout=5)
    samples = [s for r in runs for s in r.collection.samples
               if s.name == "openstack_nova_total_vms"]
    assert sorted(s.labels for s in samples) == [
        (("cloud", cloud), ("region", "RegionOne")) for cloud in ("east", "west")]
    assert_declared(Collection(tuple(samples)))
