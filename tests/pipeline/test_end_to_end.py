"""Against the simulated cloud: collect, status with faults injected, and the demo."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stackwatch.catalog.testing import assert_declared
from stackwatch.cli import main
from stackwatch.model import Collection, Sample
from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small", seed=1) as sim:
        yield sim


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_collect_once_json_against_the_simulator(cloud: SimulatedCloud) -> None:
    code, out = run("collect", "--once", "--config", str(cloud.config_path), "--format", "json")
    data = json.loads(out)
    by_source = {s["source"]: s for s in data["sources"]}
    failed = {name: s["reason"] for name, s in by_source.items() if not s["ok"]}
    assert code == (3 if failed else 0)
    for name in ("api.identity", "api.compute", "api.network", "api.image",
                 "api.block_storage", "sql.nova", "sql.cinder", "sql.keystone", "sql.neutron"):
        assert by_source[name]["ok"], (name, by_source[name]["reason"])
    assert not [r for r in failed.values() if r.startswith("unexpected")], failed
    samples = [Sample(s["name"], s["value"], tuple(sorted(s["labels"].items())), s["timestamp"])
               for s in data["samples"]]
    assert_declared(Collection(tuple(samples)))
    up = {s.label("source"): s.value for s in samples if s.name == "stackwatch_source_up"}
    assert up == {name: (0.0 if name in failed else 1.0) for name in by_source}
    nova_services = [c for c in data["checks"] if c["labels"].get("binary") == "nova-compute"]
    assert nova_services and all(c["status"] == "OK" for c in nova_services)
    # the inventory the counts cannot name: every hypervisor, each server in ERROR
    hypervisors = [i for i in data["items"] if i["kind"] == "hypervisor"]
    assert len(hypervisors) == next(s.value for s in samples
                                    if s.name == "openstack_nova_hypervisors")
    errors = [i for i in data["items"] if i["kind"] == "server"]
    assert len(errors) == sum(s.value for s in samples if s.name == "openstack_nova_servers"
                              and s.label("status") == "ERROR")
    assert all(e["message"] and e["time"].endswith("Z") for e in errors)


def test_collect_table_counts_what_the_source_says(cloud: SimulatedCloud) -> None:
    """api.compute emits stackwatch_resource_* samples too: the table's SAMPLES is the
    count the source's own message gives, under its header."""
    code, out = run("collect", "--once", "--config", str(cloud.config_path), "-s", "api.compute")
    assert code == 0, out
    header, row = out.splitlines()[:2]
    said = next(line for line in out.splitlines()
                if "api.compute: " in line and " samples," in line)
    count = said.split("api.compute: ")[1].split(" samples")[0]
    assert row.split()[:2] == ["api.compute", "OK"]
    assert row[:header.index("SAMPLES") + len("SAMPLES")].endswith(f" {count}"), (row, said)
    assert "stackwatch_resource_up{" in out


def test_status_names_the_service_a_fault_breaks(cloud: SimulatedCloud) -> None:
    config = str(cloud.config_path)
    cloud.inject("compute-down")
    try:
        code, out = run("status", "--config", config, "-s", "api", "-s", "sql")
    finally:
        cloud.clear("compute-down")
    assert code != 0, out
    lines = out.splitlines()
    assert "nova-compute" in lines[0], out
    [line] = [ln for ln in lines if ln.split()[1:2] == ["nova-compute"]]
    assert line.split()[0] in ("WARNING", "CRITICAL") and "down:" in line

    cloud.inject("api-500", service="network")
    try:
        code, out = run("status", "--config", config, "-s", "api")
    finally:
        cloud.clear("api-500")
    assert code == 2, out
    [line] = [ln for ln in out.splitlines() if ln.split()[1:2] == ["neutron-server"]]
    assert line.split()[0] == "CRITICAL", out


@pytest.mark.parametrize(
    ("scenario", "params", "service", "status", "code"),
    [
        ("l3-agent-dead", {}, "neutron-l3-agent", "WARNING", 1),       # 1 of 2 up
        ("cinder-volume-down", {}, "cinder-volume", "CRITICAL", 2),   # active/passive, none up
        ("service-disabled", {}, "nova-compute", "WARNING", 1),       # up but degraded
        ("api-401", {"service": "compute"}, "nova-api", "UNKNOWN", 3),  # could not look
    ],
)
def test_fault_moves_the_service_it_concerns(
    cloud: SimulatedCloud, scenario: str, params: dict[str, str], service: str, status: str,
    code: int,
) -> None:
    cloud.inject(scenario, **params)
    try:
        exit_code, out = run("status", "--config", str(cloud.config_path), "-s", "api",
                             "-s", "sql")
    finally:
        cloud.clear(scenario)
    [line] = [ln for ln in out.splitlines() if ln.split()[1:2] == [service]]
    assert line.split()[0] == status, out
    assert exit_code == code, out


def test_a_slow_api_times_out_alone(cloud: SimulatedCloud) -> None:
    """api-slow on compute: the runner's timeout makes api.compute UNKNOWN, others produce."""
    config = yaml.safe_load(cloud.config_path.read_text())
    config["timeouts"] = {"api.compute": 1.0}
    path = cloud.config_path.with_name("stackwatch-timeouts.yaml")
    path.write_text(yaml.safe_dump(config))
    cloud.inject("api-slow", service="compute", delay="3")
    try:
        code, out = run("collect", "--once", "--config", str(path), "--format", "json",
                        "-s", "api", "-s", "sql")
    finally:
        cloud.clear("api-slow")
    assert code == 3, out
    by_source = {s["source"]: s for s in json.loads(out)["sources"]}
    assert by_source["api.compute"]["reason"] == "timed out after 1 s"
    assert by_source["api.compute"]["duration_seconds"] < 2.5
    others = {name: s["ok"] for name, s in by_source.items() if name != "api.compute"}
    assert others and all(others.values()), others


def test_demo_runs_for_a_duration(tmp_path: Path) -> None:
    code, out = run("demo", "--duration", "5", "--listen", "127.0.0.1:0",
                    "--workdir", str(tmp_path), "--refresh", "1", "--calm")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("monitor: http://127.0.0.1:"), out  # the address first
    assert lines[1] == "calm: no faults come and go (without --calm they do)"
    assert "stackwatch demo: simulated small cloud at http://127.0.0.1:" in out
    refreshes = [ln for ln in lines if " - " in ln and ln[:2].isdigit()]
    assert len(refreshes) >= 2, out
    assert " story: " not in out
    assert (tmp_path / "stackwatch-store.sqlite").exists()


def test_demo_with_the_optional_services_watches_swift(tmp_path: Path) -> None:
    """``demo --optional-services``: the nine optional services are watched too, swift's
    storage nodes through their recon middleware and its proxy through its log."""
    code, out = run("demo", "--once", "--optional-services", "--calm",
                    "--listen", "127.0.0.1:0", "--workdir", str(tmp_path))
    assert code == 0, out
    assert "STACKWATCH OK - all 28 watched services OK" in out, out
    for service, members in (("swift-proxy-server", 1), ("swift-object-server", 3),
                             ("heat-api", 1), ("ironic-api", 1)):
        assert re.search(rf"OK +{service} +active/active +{members} of {members} up", out), out
    for source in ("infra.swift", "logs.swift", "api.object_store"):
        assert f"duration_{source}=" in out, out


def test_demo_tells_its_story_faster_when_asked(tmp_path: Path) -> None:
    """At 20 times the speed the calm lasts 3 s and the first fault 3 s: it comes and
    goes within the run, and the demo prints it."""
    result = CliRunner(env={"STACKWATCH_STORY_SPEED": "20"}).invoke(main, [
        "demo", "--duration", "8", "--listen", "127.0.0.1:0", "--workdir", str(tmp_path),
        "--refresh", "0.5"])
    out = result.output
    assert result.exit_code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("monitor: http://127.0.0.1:"), out
    assert lines[1] == (
        "story: faults come and go on a schedule (--calm to turn off): a compute node dies "
        "(0:03-0:06), keystone sees a password storm (0:08-0:11), a volume gets stuck "
        "deleting (0:13-0:16); again every 0:18"), lines[1]
    told = [ln.split(" ", 1)[1] for ln in lines if " story: " in ln]
    assert told[:2] == [
        "story: inject compute-down host=compute-0001 (a compute node dies): nova-compute on "
        f"compute-0001 stopped heartbeating (last report {told[0].split('last report ')[1]}",
        "story: clear compute-down host=compute-0001 (a compute node dies): heartbeats "
        "resumed on compute-0001"], out
    assert any("nova-compute" in ln for ln in lines if " WARNING - " in ln), out


def _with_wrong_password(cloud: SimulatedCloud) -> Path:
    """A stackwatch.yaml whose clouds.yaml has a wrong password for the monitor."""
    clouds = yaml.safe_load(cloud.clouds_yaml.read_text())
    for entry in clouds["clouds"].values():
        entry["auth"]["password"] = "not-the-password"
    wrong = cloud.config_path.with_name("clouds-wrong.yaml")
    wrong.write_text(yaml.safe_dump(clouds))
    config = yaml.safe_load(cloud.config_path.read_text())
    for entry in config["clouds"]:
        entry["clouds_yaml"] = str(wrong)
    path = cloud.config_path.with_name("stackwatch-wrong-password.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def _services(out: str) -> dict[str, dict[str, object]]:
    return {s["name"]: s for s in json.loads(out)["services"]}


def test_a_wrong_api_password_leaves_the_database_view_of_the_services(
    cloud: SimulatedCloud,
) -> None:
    code, out = run("status", "--config", str(_with_wrong_password(cloud)), "--format", "json",
                    "-s", "api", "-s", "sql")
    assert code == 3, out  # the API sources could not look: the cloud is UNKNOWN
    services = _services(out)
    for name in ("nova-compute", "nova-conductor", "nova-scheduler", "cinder-volume"):
        assert services[name]["status"] == "OK", services[name]
        assert services[name]["members"], services[name]
    assert services["nova-api"]["status"] == "UNKNOWN"  # only the API tells its endpoint
    cloud.inject("compute-down")
    try:
        code, out = run("status", "--config", str(_with_wrong_password(cloud)), "--format", "json",
                        "-s", "api", "-s", "sql")
    finally:
        cloud.clear("compute-down")
    compute = _services(out)["nova-compute"]
    assert compute["status"] in ("WARNING", "CRITICAL") and "down:" in compute["message"]


def test_sql_sources_alone_watch_the_services_they_read(cloud: SimulatedCloud) -> None:
    cloud.inject("compute-down")
    try:
        code, out = run("status", "--config", str(cloud.config_path), "--format", "json",
                        "-s", "sql")
    finally:
        cloud.clear("compute-down")
    data = json.loads(out)
    assert not data["message"].startswith("nothing watched"), data["message"]
    compute = _services(out)["nova-compute"]
    assert compute["status"] in ("WARNING", "CRITICAL") and "down:" in compute["message"]
    assert code == {"WARNING": 1, "CRITICAL": 2}[str(compute["status"])], out
    # what no source looks at is not OK either
    assert _services(out)["rabbitmq"]["status"] == "UNWATCHED"
