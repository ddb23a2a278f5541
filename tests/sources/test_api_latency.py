"""Slow is not down: the endpoint check says whether an API answered, ``api.latency``
judges its slowness over several collections, against per-service thresholds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import CloudConfig, LatencyConfig, parse_config
from stackwatch.errors import ConfigError
from stackwatch.health.evaluate import evaluate
from stackwatch.model import CheckResult, Collection, Status, make_labels
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.openstack_api import ApiClient, api_sources
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.latency import LatencyJudge

OK, WARN, CRIT = Status.OK, Status.WARNING, Status.CRITICAL


@pytest.mark.unit
@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        ([0.1], None),                      # one sample is no verdict
        ([11.0, 0.1], None),
        ([11.0, 0.1, 0.2], OK),             # a slow first request (new token): median fast
        ([0.1, 11.0, 0.2, 12.0, 0.3], OK),  # every other one slow: still the median
        ([3.0, 2.5, 0.1], WARN),
        ([11.0, 12.0, 0.1], CRIT),
        ([11.0, 12.0, 0.1, 0.1, 0.2], OK),  # recovered: the window moved on
        ([0.1, 0.1, 0.1, 0.1, 0.1, 11, 12, 13], CRIT),  # only the last 5 count
    ],
)
def test_latency_is_judged_on_the_median_of_the_last_collections(
    latencies: list[float], expected: Status | None,
) -> None:
    judge = LatencyJudge("compute", "nova", LatencyConfig())
    found = [judge.add(latency, "RegionOne") for latency in latencies][-1]
    assert (found.status if found else None) is expected
    if found is not None:
        assert found.name == "api.latency"
        assert dict(found.labels) == {"service": "nova", "region": "RegionOne"}


@pytest.mark.unit
def test_thresholds_per_service_type_default_and_configured() -> None:
    default = LatencyConfig()
    assert default.thresholds("compute") == (2.0, 10.0)
    assert default.thresholds("block-storage") == (5.0, 20.0)
    config = CloudConfig.model_validate(
        {"name": "c", "latency": {"services": {"block-storage": {"warning": 8}}}})
    assert config.latency.thresholds("block-storage") == (8.0, 20.0)
    judge = LatencyJudge("block-storage", "cinder", config.latency)
    checks = [judge.add(s, "") for s in (6.0, 7.0, 7.5)]
    assert checks[-1] is not None and checks[-1].status is OK  # below cinder's 8 s


@pytest.mark.unit
@pytest.mark.parametrize(
    ("latency", "error"),
    [
        ({"services": {"volume": {"warning": 1}}}, "'volume' is not a service type"),
        ({"services": {"compute": {"warning": 12}}}, "critical 10 s is below warning 12 s"),
        ({"samples": 2}, "min_samples 3 is more than samples 2"),
        ({"services": {"compute": {"critical": -1}}}, "greater than 0"),
    ],
)
def test_bad_latency_settings_are_refused_naming_the_field(
    latency: dict[str, object], error: str,
) -> None:
    with pytest.raises(ConfigError, match=r"clouds\.0\.latency") as caught:
        parse_config({"clouds": [{"name": "c", "latency": latency}]})
    assert error in str(caught.value)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False) as sim:
        yield sim


def cinder(cloud: SimulatedCloud, latency: LatencyConfig | None = None) -> BlockStorageSource:
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=30)
    return BlockStorageSource(client, latency=latency)


def probe(source: BlockStorageSource) -> Collection:
    collection, error = source.prepare()
    assert error is None, error
    return collection


def named(collection: Collection, name: str) -> list[CheckResult]:
    return [c for c in collection.checks if c.name == name]


@pytest.mark.integration
def test_one_slow_answer_is_neither_down_nor_slow(cloud: SimulatedCloud) -> None:
    """The first request with a new token took 11 s on the real cinder: answered, so up."""
    source = cinder(cloud)
    cloud.inject("api-slow", service="block-storage", delay="10.5")
    try:
        first = probe(source)
    finally:
        cloud.clear("api-slow")
    [endpoint] = named(first, "api.endpoint")
    assert endpoint.status is OK and " in 10" in endpoint.message
    assert named(first, "api.latency") == []  # one sample: not judged
    health = evaluate(load_catalog(), first.checks)
    cinder_api = health.service("cinder-api")
    assert cinder_api is not None and cinder_api.status is OK, cinder_api
    assert health.status is OK, health.message
    later = [probe(source) for _ in range(2)]
    [slow] = named(later[-1], "api.latency")
    assert slow.status is OK and "over the last 3 collections" in slow.message


@pytest.mark.integration
def test_lasting_slowness_is_its_own_verdict_not_a_member_down(cloud: SimulatedCloud) -> None:
    config = parse_config({"clouds": [{
        "name": "stackwatch-sim", "clouds_yaml": str(cloud.clouds_yaml),
        "latency": {"samples": 3, "min_samples": 3,
                    "services": {"block-storage": {"warning": 0.3, "critical": 5}}}}]})
    [source] = [s for s in api_sources(config.clouds[0]) if s.name == "api.block_storage"]
    assert isinstance(source, BlockStorageSource)
    cloud.inject("api-slow", service="block-storage", delay="0.4")
    try:
        probes = [probe(source) for _ in range(3)]
    finally:
        cloud.clear("api-slow")
    assert all(c.status is OK for p in probes for c in named(p, "api.endpoint"))
    [slow] = named(probes[-1], "api.latency")
    assert slow.status is WARN and slow.message.startswith("cinder API slow: median 4")
    checks = [*probes[-1].checks, CheckResult(
        "stackwatch_source", OK, "ok", make_labels(source="api.block_storage"))]
    health = evaluate(load_catalog(), checks)
    cinder_api = health.service("cinder-api")
    assert cinder_api is not None and cinder_api.status is OK
    assert "down" not in cinder_api.message
    assert health.status is WARN
    assert health.message.endswith("; 1 other checks not OK: api.latency")
    # the other services keep the defaults
    [nova] = [s for s in api_sources(config.clouds[0]) if s.name == "api.compute"]
    assert (nova.latency.warning, nova.latency.critical) == (2.0, 10.0)  # type: ignore[attr-defined]
