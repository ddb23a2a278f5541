"""schemathesis against the REST API's OpenAPI document: no 5xx, every answer as documented.

The server is the real one (:class:`~stackwatch.server.Monitor`) over a store a short
run against the small simulated cloud filled, with faults injected (servers in ERROR,
a compute node down, a keystone password storm, a volume stuck), so the answers carry
real content: problems, events, series with history. Every operation registered when
the test runs is exercised (the document is read from the server), with at most
:data:`EXAMPLES` generated cases each, valid and invalid parameters both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from stackwatch.config import load_config
from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.registry import build_sources

pytestmark = pytest.mark.integration

EXAMPLES = 30
#: what the store is filled with before the API is tried
FAULTS = (("servers-error", {"count": "2"}), ("compute-down", {}),
          ("auth-401-storm", {"count": "50"}), ("volume-stuck-deleting", {}))
ROUNDS = 3


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's URL, its store filled by a few rounds against a faulty small cloud."""
    workdir = tmp_path_factory.mktemp("api-schema")
    with SimulatedCloud(workdir=workdir / "sim", size="small", churn_rate=2.0,
                        traffic_rate=20.0) as cloud:
        config = load_config(cloud.config_path)
        config = config.model_copy(update={
            "intervals": {"api": 2.0, "sql": 2.0, "logs": 2.0, "crosscheck": 2.0},
            "store": config.store.model_copy(update={"path": Path(workdir / "store.sqlite")})})
        sources = build_sources(config)
        with Monitor(config, sources, listen=("127.0.0.1", 0)) as monitor:
            assert monitor.wait_for_runs(len(sources), timeout=120)
            for name, params in FAULTS:
                cloud.inject(name, **params)
            assert monitor.wait_for_runs(ROUNDS * len(sources), timeout=180)
            monitor.loop.stop()  # the store holds still while the API is tried
            time.sleep(0.5)
            yield monitor.url


@pytest.fixture(scope="module")
def api_schema(api_server: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def _inverted(case: schemathesis.Case) -> bool:
    """A time range ending before it starts (``end`` defaults to now), which OpenAPI
    cannot rule out: the API answers it 400."""
    query = case.query or {}
    start, end = query.get("start"), query.get("end", time.time())
    return (isinstance(start, int | float) and isinstance(end, int | float)
            and end < start)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case: schemathesis.Case) -> None:
    if _inverted(case):  # refused with the documented 400, which is checked as the rest
        response = case.call_and_validate(
            excluded_checks=[schemathesis.checks.positive_data_acceptance])
        assert response.status_code == 400, response.text
        return
    case.call_and_validate()
