"""The world around the simulated APIs, through ``SimulatedCloud``: served requests in the
logs with their request ids, notifications on a real RabbitMQ, the service processes,
and the bus/process scenarios from ``cloud.inject``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import sqlalchemy as sa
from fidelity import login_from_clouds_yaml
from kombu.connection import Connection
from kombu.entity import Queue

from stackwatch.sim.bus import exchange
from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, rabbitmq: Any) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(
        workdir=tmp_path_factory.mktemp("world"),
        size="small",
        amqp_url=rabbitmq.url,
        processes=True,
        life=False,
    ) as c:
        yield c


def test_served_requests_are_logged_with_their_request_ids(cloud: SimulatedCloud) -> None:
    admin = login_from_clouds_yaml(Path(cloud.clouds_yaml))
    answer = requests.get(
        admin.root("compute") + "/v2.1/servers/detail?all_tenants=1",
        headers={"X-Auth-Token": admin.token},
        timeout=30,
    )
    assert answer.status_code == 200
    request_id = answer.headers["x-openstack-request-id"]
    api = (cloud.log_dir / "nova" / "nova-api.log").read_text().splitlines()
    line = next(line for line in api if request_id in line)
    assert " INFO nova.api.openstack.requestlog [None " + request_id in line
    assert '"GET /v2.1/servers/detail?all_tenants=1" status: 200' in line
    access = (cloud.log_dir / "apache2" / "keystone_access.log").read_text()
    assert '"POST /v3/auth/tokens HTTP/1.1" 201 ' in access
    haproxy = (cloud.log_dir / "haproxy" / "haproxy.log").read_text()
    assert "nova_api_back/" in haproxy and "/v2.1/servers/detail" in haproxy


def test_state_changes_reach_the_bus_and_the_databases(
    cloud: SimulatedCloud, rabbitmq: Any
) -> None:
    queue = Queue(
        "world-test",
        exchange("nova"),
        routing_key="versioned_notifications.info",
        durable=False,
        auto_delete=False,
    )
    with Connection(rabbitmq.url) as conn:
        queue(conn.channel()).declare()
    cloud.inject("servers-error", count="2")
    cloud.flush()
    errored = {s.id for s in cloud.state.servers if s.vm_state == "error" and s.host}
    with Connection(rabbitmq.url) as conn:
        bound = queue(conn.channel())
        messages = []
        while (m := bound.get(no_ack=True)) is not None:
            messages.append(json.loads(json.loads(m.body)["oslo.message"]))
        bound.delete()
    updates = {
        m["payload"]["nova_object.data"]["uuid"]
        for m in messages
        if m["event_type"] == "instance.update"
        and m["payload"]["nova_object.data"]["state"] == "error"
    }
    assert len(updates & errored) == 2
    engine = sa.create_engine(cloud.db_urls["nova"])
    try:
        with engine.connect() as conn:
            in_db = {
                row[0]
                for row in conn.execute(
                    sa.text("SELECT uuid FROM instances WHERE vm_state = 'error' AND deleted = 0")
                )
            }
    finally:
        engine.dispose()
    assert updates <= in_db


def test_processes_and_their_scenarios(cloud: SimulatedCloud, rabbitmq: Any) -> None:
    procs = cloud.world["procs"]
    pid = procs.pids["nova-compute"]
    assert psutil.Process(pid).name() == "nova-compute"
    said = cloud.inject("process-killed", name="nova-compute")
    assert str(pid) in said and "nova-compute" not in procs.pids
    cloud.clear("process-killed")
    assert psutil.Process(procs.pids["nova-compute"]).name() == "nova-compute"

    cloud.inject("queue-no-consumers")
    cloud.inject("servers-error", count="1")
    cloud.flush()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        depth, consumers = rabbitmq.queue_depths().get("notifications.info", (0, 0))
        if depth:
            break
        time.sleep(0.5)
    assert depth > 0 and consumers == 0
    cloud.clear("queue-no-consumers")


def test_refused_logins_reach_logs_and_bus(cloud: SimulatedCloud, rabbitmq: Any) -> None:
    queue = Queue(
        "world-auth",
        exchange("keystone"),
        routing_key="notifications.info",
        durable=False,
        auto_delete=False,
    )
    with Connection(rabbitmq.url) as conn:
        queue(conn.channel()).declare()
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"id": "default"}, "password": "wrong"}
                },
            }
        }
    }
    auth_url = cloud.auth_url.rstrip("/")
    for _ in range(3):
        answer = requests.post(f"{auth_url}/auth/tokens", json=body, timeout=30)
        assert answer.status_code == 401
    cloud.flush()
    with Connection(rabbitmq.url) as conn:
        bound = queue(conn.channel())
        events = []
        while (m := bound.get(no_ack=True)) is not None:
            events.append(json.loads(json.loads(m.body)["oslo.message"]))
        bound.delete()
    failures = [
        e
        for e in events
        if e["event_type"] == "identity.authenticate" and e["payload"]["outcome"] == "failure"
    ]
    assert len(failures) == 3
    assert failures[0]["payload"]["initiator"]["host"]["address"] == "127.0.0.1"
    access = (cloud.log_dir / "apache2" / "keystone_access.log").read_text().splitlines()
    assert sum('"POST /v3/auth/tokens HTTP/1.1" 401 ' in line for line in access) >= 3
