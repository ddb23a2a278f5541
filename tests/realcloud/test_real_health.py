"""Health verdicts on the real control plane: what the monitor judges when it cannot
read the API, what it says of what it does not watch, and slow is not down.

Reads only; the one thing changed is the monitor's own clouds.yaml (a wrong
password in a copy), so the cloud is left as it was found.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from realcloud.cloud import RealCloud
from stackwatch.catalog.loader import load_catalog
from stackwatch.cli import main as stackwatch_cli
from stackwatch.config import parse_config
from stackwatch.health.evaluate import evaluate
from stackwatch.model import Status
from stackwatch.runner import collect_once
from stackwatch.sources.registry import build_sources

#: nova services the SQL source reads as the API does (up.sh runs each of these)
NOVA_SERVICES = ("nova-compute", "nova-conductor", "nova-scheduler")


def _status(config: Path, *sources: str) -> tuple[int, dict[str, Any]]:
    args = ["status", "--config", str(config), "--format", "json"]
    for source in sources:
        args += ["-s", source]
    result = CliRunner().invoke(stackwatch_cli, args)
    return result.exit_code, json.loads(result.output)


def _members(health: dict[str, Any], service: str) -> dict[str, str]:
    [found] = [s for s in health["services"] if s["name"] == service]
    return {m["host"]: m["status"] for m in found["members"]}


@pytest.fixture(scope="module")
def configs(realcloud: RealCloud, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, Path]:
    """stackwatch.yaml with the right password, and one whose clouds.yaml has a wrong one."""
    workdir = tmp_path_factory.mktemp("realcloud-health")
    right = workdir / "stackwatch.yaml"
    right.write_text(yaml.safe_dump(realcloud.stackwatch_config(store=workdir / "a.sqlite")))
    clouds = yaml.safe_load(realcloud.clouds_yaml.read_text())
    for entry in clouds["clouds"].values():
        entry["auth"]["password"] = "not-the-password"
    (workdir / "clouds-wrong.yaml").write_text(yaml.safe_dump(clouds))
    config = realcloud.stackwatch_config(store=workdir / "b.sqlite")
    for cloud in config["clouds"]:  # type: ignore[attr-defined]
        cloud["clouds_yaml"] = str(workdir / "clouds-wrong.yaml")
    wrong = workdir / "stackwatch-wrong-password.yaml"
    wrong.write_text(yaml.safe_dump(config))
    return right, wrong


def test_a_wrong_api_password_leaves_the_database_view_of_nova_services(
    configs: tuple[Path, Path],
) -> None:
    right, wrong = configs
    _, by_api = _status(right, "api", "sql")
    code, by_sql = _status(wrong, "api", "sql")
    assert code == 3, by_sql["message"]  # the API sources could not look
    assert "sources that could not look: api." in by_sql["message"]
    for service in NOVA_SERVICES:
        seen = _members(by_sql, service)
        assert seen, (service, by_sql["message"])
        # the database sees the members the API lists, in the same state
        assert seen == _members(by_api, service), service
    [compute] = [s for s in by_sql["services"] if s["name"] == "nova-compute"]
    assert compute["status"] in ("OK", "WARNING"), compute  # up (one may be disabled)
    [nova_api] = [s for s in by_sql["services"] if s["name"] == "nova-api"]
    assert nova_api["status"] == "UNKNOWN"  # its endpoint only the API can tell


def test_sql_sources_alone_watch_the_services_they_read(configs: tuple[Path, Path]) -> None:
    right, _ = configs
    _, health = _status(right, "sql")
    assert not health["message"].startswith("nothing watched"), health["message"]
    for service in NOVA_SERVICES:
        assert _members(health, service), service
    statuses = {s["name"]: s["status"] for s in health["services"]}
    assert statuses["nova-conductor"] == "OK"
    # nothing reads rabbitmq's state in this configuration: not OK, UNWATCHED
    assert statuses["rabbitmq"] == "UNWATCHED"


#: API services and the member each one's endpoint check is (catalog names)
ENDPOINT_SERVICES = ("keystone", "nova-api", "placement", "neutron-server", "glance-api",
                     "cinder-api")
ROUNDS = 3


def test_the_healthy_baseline_is_not_down_for_being_slow(
    realcloud: RealCloud, tmp_path: Path,
) -> None:
    """Three collections of the API sources (the first pays for the new token, which
    cinder validates with keystone: 2-11 s seen here): every endpoint answered, so every
    API service is up in each round; then api.latency judges the median of the three."""
    config = parse_config(realcloud.stackwatch_config(databases=(), store=tmp_path / "s"))
    sources = build_sources(config)
    latencies: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        runs = collect_once(sources, timeout=180)
        checks = [c for run in runs for c in run.collection.checks]
        for run in runs:
            for sample in run.collection.samples:
                if sample.name == "openstack_api_endpoint_latency_seconds":
                    latencies.setdefault(sample.label("service"), []).append(sample.value)
        endpoints = [c for c in checks if c.name == "api.endpoint"]
        # the six, and heat's and swift's once test_real_heat_swift has brought them up
        assert len(endpoints) >= 6 and all(c.status is Status.OK for c in endpoints), [
            c.message for c in endpoints if c.status is not Status.OK]
        health = evaluate(load_catalog(), checks)
        for name in ENDPOINT_SERVICES:
            service = health.service(name)
            assert service is not None and service.status is Status.OK, (name, service)
    print("endpoint latencies (s) per round:",
          {k: [round(v, 3) for v in vs] for k, vs in sorted(latencies.items())})
    slow = [c for c in checks if c.name == "api.latency"]
    assert sorted(dict(c.labels)["service"] for c in slow) == sorted(latencies)
    # a healthy cloud: no API is judged very slow (the median of three)
    assert not [c.message for c in slow if c.status is Status.CRITICAL]
