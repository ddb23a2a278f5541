"""Health verdicts on the real control plane: what the monitor judges when it cannot
read the API, and what it says of what it does not watch.

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
from stackwatch.cli import main as stackwatch_cli

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
