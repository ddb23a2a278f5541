"""Every fault scenario shows where an operator would look: the APIs, the DBs, the logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from fidelity import Session, login_from_clouds_yaml

from stackwatch.errors import SimulatorError
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.faults import SCENARIOS

pytestmark = pytest.mark.integration
LATEST = {"OpenStack-API-Version": "compute latest, volume 3.71"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("faults"), size="small") as c:
        yield c


@pytest.fixture(scope="module")
def admin(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml))


def get(admin: Session, service: str, path: str, **headers: str) -> requests.Response:
    """GET ``path`` of a service, after its versioned root (``/v2.1``, ``/v3/<project>``)."""
    version = {"compute": "/v2.1", "block-storage": f"/v3/{admin.project_id}"}.get(service, "")
    return requests.get(admin.root(service) + version + path, timeout=30,
                        headers={"X-Auth-Token": admin.token, **LATEST, **headers})


def compute_services(admin: Session) -> dict[str, dict[str, Any]]:
    body = get(admin, "compute", "/os-services").json()
    return {f"{s['host']}/{s['binary']}": s for s in body["services"]}


def test_every_scenario_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    missing = [name for name in SCENARIOS if f"`{name}`" not in doc]
    assert missing == []


def test_compute_down(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("compute-down", host="compute-0003")
    time.sleep(1.5)  # life keeps heartbeating the others, not this one
    services = compute_services(admin)
    assert services["compute-0003/nova-compute"]["state"] == "down"
    assert services["compute-0001/nova-compute"]["state"] == "up"
    hyps = {h["hypervisor_hostname"]: h for h in get(admin, "compute",
                                                     "/os-hypervisors").json()["hypervisors"]}
    assert hyps["compute-0003"]["state"] == "down"
    cloud.flush()
    engine = sa.create_engine(cloud.db_urls["nova"])
    try:
        with engine.connect() as conn:
            last = conn.execute(sa.text(
                "SELECT updated_at FROM services WHERE host = 'compute-0003' "
                "AND `binary` = 'nova-compute'".replace("`", '"'))).scalar_one()
    finally:
        engine.dispose()
    last = datetime.fromisoformat(str(last)).replace(tzinfo=UTC)
    assert datetime.now(UTC) - last > timedelta(minutes=4)  # what a SQL check sees
    cloud.clear("compute-down")
    assert compute_services(admin)["compute-0003/nova-compute"]["state"] == "up"


def test_service_disabled(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("service-disabled", host="compute-0002", reason="disk swap")
    svc = compute_services(admin)["compute-0002/nova-compute"]
    assert (svc["status"], svc["disabled_reason"]) == ("disabled", "disk swap")
    cloud.clear("service-disabled")
    assert compute_services(admin)["compute-0002/nova-compute"]["status"] == "enabled"


def test_servers_error(cloud: SimulatedCloud, admin: Session) -> None:
    before = {s["id"] for s in get(admin, "compute",
                                   "/servers/detail?all_tenants=1&status=ERROR").json()["servers"]}
    message = cloud.inject("servers-error", count=2)
    assert "2 server(s)" in message
    errors = get(admin, "compute", "/servers/detail?all_tenants=1&status=ERROR").json()["servers"]
    new = [s for s in errors if s["id"] not in before]
    assert len(new) == 2
    for server in new:
        assert server["fault"]["code"] == 500 and "qemu" not in server["fault"]["message"]
        actions = get(admin, "compute", f"/servers/{server['id']}/os-instance-actions").json()
        failed = [a for a in actions["instanceActions"] if a["message"] == "Error"]
        assert failed and failed[0]["action"] == "reboot"
        detail = get(admin, "compute", f"/servers/{server['id']}/os-instance-actions/"
                                       f"{failed[0]['request_id']}").json()["instanceAction"]
        assert detail["events"][0]["result"] == "Error"
    cloud.flush()
    engine = sa.create_engine(cloud.db_urls["nova"])
    try:
        with engine.connect() as conn:
            faulted = {row[0] for row in conn.execute(sa.text(
                "SELECT i.uuid FROM instances i JOIN instance_faults f "
                "ON f.instance_uuid = i.uuid WHERE i.vm_state = 'error' AND i.deleted = 0"))}
    finally:
        engine.dispose()
    assert {s["id"] for s in new} <= faulted
    cloud.clear("servers-error")
    still = get(admin, "compute", "/servers/detail?all_tenants=1&status=ERROR").json()["servers"]
    assert {s["id"] for s in still} == before


def test_volume_and_snapshot_stuck(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("volume-stuck-deleting", count=2)
    cloud.inject("snapshot-stuck")
    volumes = get(admin, "block-storage", "/volumes/detail?all_tenants=1").json()["volumes"]
    assert sum(v["status"] == "deleting" for v in volumes) == 2
    snaps = get(admin, "block-storage", "/snapshots/detail?all_tenants=1").json()["snapshots"]
    stuck = [s for s in snaps if s["status"] == "creating"]
    assert len(stuck) == 1 and stuck[0]["os-extended-snapshot-attributes:progress"] == "37%"
    cloud.clear("volume-stuck-deleting")
    cloud.clear("snapshot-stuck")
    volumes = get(admin, "block-storage", "/volumes/detail?all_tenants=1").json()["volumes"]
    assert not any(v["status"] == "deleting" for v in volumes)


def test_cinder_volume_down(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("cinder-volume-down")
    time.sleep(1.2)
    services = get(admin, "block-storage", "/os-services").json()["services"]
    volume = [s for s in services if s["binary"] == "cinder-volume"]
    assert volume[0]["state"] == "down"
    cloud.clear("cinder-volume-down")


def test_l3_agent_dead_with_routers(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("l3-agent-dead")
    time.sleep(1.2)
    agents = get(admin, "network", "/v2.0/agents?agent_type=L3%20agent").json()["agents"]
    dead = [a for a in agents if not a["alive"]]
    assert len(dead) == 1
    routers = get(admin, "network", f"/v2.0/agents/{dead[0]['id']}/l3-routers").json()
    assert routers["routers"], "the dead agent still hosts routers"
    cloud.clear("l3-agent-dead")
    agents = get(admin, "network", "/v2.0/agents?agent_type=L3%20agent").json()["agents"]
    assert all(a["alive"] for a in agents)


def test_mtu_misconfigured_and_put_back(cloud: SimulatedCloud, admin: Session) -> None:
    said = cloud.inject("mtu-misconfigured", mtu="1500")
    nets = get(admin, "network", "/v2.0/networks").json()["networks"]
    wrong = [n for n in nets if n["mtu"] == 1500 and n["provider:network_type"] == "vxlan"]
    assert len(wrong) == 1 and wrong[0]["name"] in said
    net = wrong[0]
    url = admin.root("network") + f"/v2.0/networks/{net['id']}"
    headers = {"X-Auth-Token": admin.token}
    too_small = requests.put(url, json={"network": {"mtu": 20}}, headers=headers, timeout=30)
    assert too_small.status_code == 400 and "at least '68'" in too_small.text
    answer = requests.put(url, json={"network": {"mtu": 1450}}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["network"]["mtu"] == 1450
    assert answer.json()["network"]["revision_number"] == net["revision_number"] + 1
    assert get(admin, "network", f"/v2.0/networks/{net['id']}").json()["network"]["mtu"] == 1450
    cloud.clear("mtu-misconfigured")


@pytest.mark.parametrize(("scenario", "status"), [
    ("api-500", 500), ("api-401", 401), ("api-403", 403)])
def test_api_error_faults(cloud: SimulatedCloud, admin: Session, scenario: str,
                          status: int) -> None:
    cloud.inject(scenario, service="network")
    try:
        assert get(admin, "network", "/v2.0/networks").status_code == status
        assert get(admin, "compute", "/os-services").status_code == 200
    finally:
        cloud.clear(scenario)
    assert get(admin, "network", "/v2.0/networks").status_code == 200


def test_api_truncated_and_slow(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("api-truncated", service="compute")
    try:
        response = get(admin, "compute", "/os-services")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    finally:
        cloud.clear("api-truncated")
    cloud.inject("api-slow", service="image", delay="0.6")
    try:
        started = time.perf_counter()
        assert get(admin, "image", "/v2/images").status_code == 200
        assert time.perf_counter() - started >= 0.6
    finally:
        cloud.clear("api-slow")


def test_token_table_bloat_and_revocations(cloud: SimulatedCloud) -> None:
    cloud.inject("token-bloat", rows="20000", user="nova")
    cloud.inject("revocation-growth", rows="3000")
    cloud.flush()
    engine = sa.create_engine(cloud.db_urls["keystone"])
    try:
        with engine.connect() as conn:
            tokens = conn.execute(sa.text("SELECT count(*) FROM token")).scalar_one()
            top = conn.execute(sa.text(
                "SELECT user_id, count(*) AS n FROM token GROUP BY user_id ORDER BY n DESC"
            )).first()
            events = conn.execute(sa.text("SELECT count(*) FROM revocation_event")).scalar_one()
        nova = cloud.state.users.by("name", "nova")[0]
        assert tokens == 20000 and top is not None and top[0] == nova.id and top[1] > 10000
        assert events >= 3000
        cloud.clear("token-bloat")
        cloud.flush()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM token")).scalar_one() == 0
    finally:
        engine.dispose()


def test_log_scenarios(cloud: SimulatedCloud) -> None:
    cloud.inject("auth-401-storm", source="198.51.100.9", count="40")
    cloud.inject("api-5xx-burst", service="compute", count="10")
    keystone = (cloud.log_dir / "apache2" / "keystone_access.log").read_text()
    assert sum("198.51.100.9" in line and '" 401 ' in line for line in keystone.splitlines()) >= 40
    nova = (cloud.log_dir / "nova" / "nova-api.log").read_text()
    assert sum("status: 500" in line for line in nova.splitlines()) >= 10


def test_bad_parameters_and_missing_components(cloud: SimulatedCloud) -> None:
    with pytest.raises(SimulatorError, match="unknown parameter"):
        cloud.inject("compute-down", planet="mars")
    with pytest.raises(SimulatorError, match="no nova-compute on host"):
        cloud.inject("compute-down", host="nowhere")
    with pytest.raises(SimulatorError, match="unknown scenario"):
        cloud.inject("meteor")
    with pytest.raises(SimulatorError, match="needs a real RabbitMQ"):
        cloud.inject("queue-no-consumers")
    with pytest.raises(SimulatorError, match="not running"):
        cloud.inject("process-killed")


def test_start_scenarios(tmp_path: Path) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False,
                        scenarios=("service-disabled", "api-500"),
                        scenario_params={"api-500": {"service": "image"}}) as c:
        admin = login_from_clouds_yaml(Path(c.clouds_yaml))
        assert get(admin, "image", "/v2/images").status_code == 500
        disabled = [s for s in compute_services(admin).values() if s["status"] == "disabled"]
        assert len(disabled) == 1


def test_process_killed(tmp_path: Path) -> None:
    import psutil

    with SimulatedCloud(workdir=tmp_path, size="small", life=False, processes=True) as c:
        pid = c.world["procs"].pids["nova-compute"]
        assert psutil.Process(pid).name() == "nova-compute"
        said = c.inject("process-killed", name="nova-compute")
        assert str(pid) in said
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        c.clear("process-killed")
        assert psutil.Process(c.world["procs"].pids["nova-compute"]).name() == "nova-compute"


def test_queue_without_consumers_on_rabbitmq(tmp_path: Path, rabbitmq: Any) -> None:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False,
                        amqp_url=rabbitmq.url) as c:
        c.inject("queue-no-consumers", queue="notifications.info")
        c.inject("servers-error", count=1)  # notifications the idle queue now keeps
        c.flush()
        deadline = time.monotonic() + 30
        depth = 0
        while time.monotonic() < deadline and depth == 0:
            depth = rabbitmq.queue_depths().get("notifications.info", (0, 0))[0]
            time.sleep(0.5)
        assert depth > 0
        c.clear("queue-no-consumers")


def test_no_subscriber_or_hook_failed(cloud: SimulatedCloud) -> None:
    """After all of the above, every change reached the DBs, logs and bus without error."""
    assert cloud.state.subscriber_errors == 0
    assert cloud.server.hook_errors == 0


# ------------------------------------------------------------------ cascades


def test_conductor_down_is_up_until_service_down_time(cloud: SimulatedCloud,
                                                      admin: Session) -> None:
    """nova's servicegroup driver: silent, a service is up until 60 s have passed."""
    cloud.inject("conductor-down")
    try:
        time.sleep(1.5)
        services = compute_services(admin)
        assert {s["state"] for k, s in services.items() if "nova-conductor" in k} == {"up"}
    finally:
        cloud.clear("conductor-down")
    cloud.inject("conductor-down", seconds="61")
    try:
        services = compute_services(admin)
        states = {k.split("/")[1]: s["state"] for k, s in services.items()}
        assert states["nova-conductor"] == "down" and states["nova-compute"] == "down"
        assert states["nova-scheduler"] == "up"
    finally:
        cloud.clear("conductor-down")
    assert {s["state"] for s in compute_services(admin).values()} == {"up"}


def test_neutron_server_down_breaks_nova_server_list(cloud: SimulatedCloud,
                                                     admin: Session) -> None:
    cloud.inject("neutron-server-down")
    try:
        for path in ("/servers", "/servers/detail"):
            answer = get(admin, "compute", path)
            assert answer.status_code == 500
            assert "ConnectFailure" in answer.json()["computeFault"]["message"]
        assert get(admin, "compute", "/flavors").status_code == 200
        network = get(admin, "network", "/v2.0/networks")
        assert network.status_code == 503 and "No server is available" in network.text
    finally:
        cloud.clear("neutron-server-down")
    assert get(admin, "compute", "/servers/detail").status_code == 200


def test_keystone_down_makes_every_authenticated_call_503(cloud: SimulatedCloud,
                                                          admin: Session) -> None:
    cloud.inject("keystone-down")
    try:
        answer = get(admin, "compute", "/servers/detail")
        assert answer.status_code == 503
        assert "The Keystone service is temporarily unavailable" in answer.json()["message"]
        # a version document needs no token
        assert requests.get(admin.root("compute"), timeout=30).status_code == 200
        token = requests.post(admin.auth_url + "/auth/tokens", json={}, timeout=30)
        assert token.status_code == 503
    finally:
        cloud.clear("keystone-down")
    assert get(admin, "compute", "/servers/detail").status_code == 200


def test_database_down_makes_the_apis_answer_500(cloud: SimulatedCloud,
                                                 admin: Session) -> None:
    db = cloud.workdir / "db" / "nova.sqlite"
    cloud.inject("database-down")
    try:
        answer = get(admin, "compute", "/os-services")
        assert answer.status_code == 500
        assert "DBConnectionError" in answer.json()["computeFault"]["message"]
        assert get(admin, "network", "/v2.0/networks").status_code == 500
        with pytest.raises(sa.exc.OperationalError), \
                sa.create_engine(f"sqlite:///{db}").connect() as conn:
            conn.execute(sa.text("SELECT 1 FROM services"))
    finally:
        cloud.clear("database-down")
    assert get(admin, "compute", "/os-services").status_code == 200
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM services")).scalar()
