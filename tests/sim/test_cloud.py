"""SimulatedCloud end to end: starts, writes its files, serves identity and compute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml

from stackwatch.config import load_config
from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("cloud"), size="small") as c:
        yield c


def token(cloud: SimulatedCloud) -> str:
    clouds = yaml.safe_load(Path(cloud.clouds_yaml).read_text())
    auth = clouds["clouds"]["stackwatch-sim"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    response = requests.post(f"{cloud.auth_url}/auth/tokens", json=body, timeout=10)
    assert response.status_code == 201
    return response.headers["X-Subject-Token"]


def test_workdir_files_are_usable(cloud: SimulatedCloud) -> None:
    config = load_config(cloud.config_path)
    (watched,) = config.clouds
    assert watched.name == "stackwatch-sim"
    assert watched.clouds_yaml == Path(cloud.clouds_yaml)
    assert set(watched.databases) >= {"nova", "cinder", "keystone", "neutron"}
    assert cloud.auth_url.endswith("/identity/v3")


def test_state_is_consistent_and_sized(cloud: SimulatedCloud) -> None:
    assert cloud.state.check_consistency() == []
    assert len(cloud.state.hypervisors) == 4
    assert len(cloud.state.servers) == 24


def test_compute_answers_with_the_ground_truth(cloud: SimulatedCloud) -> None:
    headers = {"X-Auth-Token": token(cloud), "OpenStack-API-Version": "compute latest"}
    base = f"{cloud.base_url}/compute/v2.1"
    response = requests.get(f"{base}/servers/detail?all_tenants=1", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == "compute 2.103"
    assert response.headers["x-openstack-request-id"].startswith("req-")
    assert response.headers["x-compute-request-id"] == response.headers["x-openstack-request-id"]
    ids = {s["id"] for s in response.json()["servers"]}
    assert ids == set(cloud.state.servers.ids())


def test_missing_token_is_401_as_recorded(cloud: SimulatedCloud) -> None:
    response = requests.get(f"{cloud.base_url}/compute/v2.1/os-services", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def _scalar(url: str, sql: str) -> Any:
    """The one value ``sql`` selects in the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_databases_on_a_real_mariadb(tmp_path: Path, mariadb: Any) -> None:
    """--db-url: the service databases live on the server; the config points there."""
    url = mariadb.url("simcloud_")
    with SimulatedCloud(workdir=tmp_path, size="small", db_url=url, life=False) as c:
        assert c.db_urls["nova"].startswith("mysql+pymysql://")
        config = load_config(c.config_path)
        assert config.clouds[0].databases["nova"] == c.db_urls["nova"]
        c.inject("service-disabled", host="compute-0001", reason="sql check")
        c.flush()
        count = _scalar(c.db_urls["nova"], "SELECT count(*) FROM instances WHERE deleted = 0")
        disabled = _scalar(c.db_urls["nova"], "SELECT disabled_reason FROM services WHERE "
                                              "host = 'compute-0001' AND `binary` = 'nova-compute'")
        unplaced = _scalar(c.db_urls["nova_cell0"],
                           "SELECT count(*) FROM instances WHERE deleted = 0")
        # instances that never got a host live in cell0, as in a real nova
        assert (count, unplaced) == (sum(1 for s in c.state.servers if s.cell == "cell1"),
                                     sum(1 for s in c.state.servers if s.cell == "cell0"))
        assert disabled == "sql check"
