"""The simulated logs: real line shapes (same regex for the reference lines and ours),
the files a real node has, request ids, tracebacks, traffic and the log scenarios."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stackwatch.logparse import access, haproxy, oslo, system
from stackwatch.sim import logformat as lf
from stackwatch.sim import ops
from stackwatch.sim.events import ServedRequest
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.logwriter import FILES, LogWriter
from stackwatch.sim.state import CloudState
from stackwatch.sim.traffic import TrafficGenerator

# Real 2026.1 services' logs, recorded by scripts/record_logs.py.
DATA = Path(__file__).parent.parent / "data" / "recorded" / "logs"
T = datetime(2026, 11, 21, 6, 19, 36, 304512, tzinfo=UTC)
REQ = "req-317dd0b1-1b2c-4d5e-8f90-a1b2c3d4e5f6"
USER, PROJECT = "5afa7840934d4210aed583efbe8237bd", "de912f432d76441d9a692064394cb3d4"

# One pattern per format; each must match the recorded real lines and ours alike.
OSLO = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ "
    r"\[(?:-|None req-[0-9a-f-]{36} "
    r"(?:- - - - - -|[0-9a-f]{32} [0-9a-f]{32} - - default default))\] \S"
)
REQUESTLOG = re.compile(
    r'^\S+ "(?:GET|POST|PUT|DELETE|HEAD|PATCH) /\S*" status: \d{3} len: \d+ '
    r"microversion: (?:-|\d+\.\d+)(?: time: \d+\.\d{6})?$"
)
ACCESS = re.compile(
    r'^\S+ - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "[A-Z]+ /\S* HTTP/1\.1" '
    r'\d{3} (?:\d+|-) "[^"]*" "[^"]*" \d+(?:\.\d+)?$'
)


def reference(name: str) -> list[str]:
    """Recorded lines of a real service's log."""
    return (DATA / name).read_text().splitlines()


def message(line: str) -> str:
    """What follows the oslo context."""
    return line.split("] ", 1)[1]


# ---------------------------------------------------------------------------- pure formats


@pytest.mark.unit
def test_oslo_lines_have_the_reference_shape() -> None:
    recorded = [line for line in reference("nova-api.log") if "requestlog" in line]
    assert recorded and all(OSLO.match(line) for line in recorded)
    ctx = lf.Context(request_id=REQ, user_id=USER, project_id=PROJECT)
    ours = [
        lf.oslo_line(T, 590, "INFO", "nova.api.openstack.requestlog", "x", ctx),
        lf.oslo_line(T, 590, "INFO", "nova.compute.manager", "y", lf.Context(REQ)),
    ]
    assert all(OSLO.match(line) for line in ours)
    assert ours[0].startswith("2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog "
                              f"[None {REQ} {USER} {PROJECT} - - default default] x")  # fmt: skip
    assert lf.oslo_line(T, 1, "INFO", "nova.service", "up").endswith(" [-] up")


@pytest.mark.unit
def test_requestlog_has_the_reference_shape() -> None:
    recorded = [message(line) for line in reference("nova-api.log") if "requestlog" in line]
    recorded += [message(line) for line in reference("placement-api.log") if "requestlog" in line]
    assert all(REQUESTLOG.match(m) for m in recorded), [
        m for m in recorded if not REQUESTLOG.match(m)
    ]
    ours = lf.requestlog_message("127.0.0.1", "GET", "/v2.1/servers/detail", 200, 3759, "2.100",
                                 1.93539)  # fmt: skip
    assert ours == ('127.0.0.1 "GET /v2.1/servers/detail" status: 200 len: 3759 '
                    "microversion: 2.100 time: 1.935390")  # fmt: skip
    assert REQUESTLOG.match(lf.requestlog_message("127.0.0.1", "GET", "/", 200, 136, "1.0", None))


@pytest.mark.unit
def test_access_lines_have_the_reference_shape_and_parse() -> None:
    recorded = reference("keystone-access.log")
    assert all(ACCESS.match(line) for line in recorded)
    ours = lf.access_line("203.0.113.50", T, "POST", "/v3/auth/tokens", 401, 109,
                          "python-requests/2.32.5", 0.341794)  # fmt: skip
    assert ACCESS.match(ours)
    parsed = access.parse_combined(ours)
    assert parsed is not None
    assert (parsed.remote, parsed.status, parsed.length) == ("203.0.113.50", 401, 109)
    assert parsed.duration == pytest.approx(0.341794, abs=1e-6)


@pytest.mark.unit
def test_traceback_blocks_repeat_the_prefix_like_the_reference() -> None:
    recorded = reference("nova-api.log")
    start = next(i for i, line in enumerate(recorded) if "Traceback (most recent" in line)
    prefix = recorded[start].split(" Traceback")[0]
    assert prefix.endswith("ERROR nova.api.openstack.wsgi")
    ctx = lf.Context(request_id=REQ, user_id=USER, project_id=PROJECT)
    detail = lf.traceback_lines([("/usr/lib/python3/dist-packages/nova/api/x.py", 7, "f", "g()")],
                                "ValueError: boom")  # fmt: skip
    block = lf.oslo_block(T, 590, "ERROR", "nova.api.openstack.wsgi", "Unexpected exception in "
                          "API method", ctx, detail)  # fmt: skip
    ours_prefix = "2026-11-21 06:19:36.304 590 ERROR nova.api.openstack.wsgi"
    assert block[0].startswith(ours_prefix + " [None req-")
    assert block[1] == ours_prefix + " Traceback (most recent call last):"
    assert all(line.startswith(ours_prefix + " ") for line in block)
    assert all(oslo.LINE.match(line) for line in block)


@pytest.mark.unit
def test_eventlet_haproxy_and_libvirt_lines_parse() -> None:
    msg = lf.eventlet_message("10.0.0.5", "GET", "/v2.0/ports?device_id=x", 200, 1834, 0.082325)
    assert (
        msg
        == '10.0.0.5 "GET /v2.0/ports?device_id=x HTTP/1.1" status: 200  len: 1834 time: 0.0823250'
    )
    found = oslo.REQUEST.match(msg)
    assert found is not None and found.groups()[1:5] == ("GET", "/v2.0/ports", "200", "1834")
    glance = lf.eventlet_default_message("10.0.0.5", T, "GET", "/v2/images", 200, 1200, 0.01)
    assert (
        glance == '10.0.0.5 - - [21/Nov/2026 06:19:36] "GET /v2/images HTTP/1.1" 200 1200 0.010000'
    )
    line = lf.haproxy_line(
        T, "ctl1", 77, "10.0.0.5", 51234, "nova_api_front", "nova_api_back", "ctl1",
        (0, 0, 1, 45, 46), 503, 224, "GET", "/v2.1/servers/detail",
    )  # fmt: skip
    parsed = haproxy.parse_httplog(line)
    assert parsed is not None
    assert (parsed.backend, parsed.server, parsed.status, parsed.timers[3]) == (
        "nova_api_back",
        "ctl1",
        503,
        45,
    )
    lib = lf.libvirt_line(T, 1234, "error", "qemuMonitorIO:123", "internal error: boom")
    assert system.LIBVIRT.match(lib)


# ---------------------------------------------------------------------------- the writer


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[CloudState, LogWriter]]:
    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=7, base_url="http://x", admin_password="p")
    writer = LogWriter(tmp_path / "log", state, host="ctl1", seed=3).start(T)
    yield state, writer
    writer.close()


def read(writer: LogWriter, name: str) -> list[str]:
    return writer.path(name).read_text().splitlines()


def served(service: str, method: str, path: str, status: int, **kw: object) -> ServedRequest:
    fields: dict[str, object] = dict(
        service=service,
        method=method,
        path=path,
        status=status,
        length=321,
        duration=0.25,
        request_id=REQ,
        user_id=USER,
        project_id=PROJECT,
        remote_addr="10.0.0.9",
        microversion=None,
        time=T,
    )
    fields.update(kw)
    return ServedRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.unit
def test_layout_is_a_real_nodes(cloud: tuple[CloudState, LogWriter]) -> None:
    _, writer = cloud
    for rel in ("nova/nova-api.log", "keystone/keystone.log", "apache2/keystone_access.log",
                "neutron/server.log", "glance/api.log", "cinder/api.log", "haproxy/haproxy.log",
                "placement/placement-api.log", "libvirt/libvirtd.log"):  # fmt: skip
        assert (writer.log_dir / rel).is_file(), rel
    assert set(FILES.values()) == {
        str(p.relative_to(writer.log_dir)) for p in writer.log_dir.rglob("*.log")
    }
    # the harmless start-up ERROR every real neutron-server prints
    assert any(" ERROR neutron.api.extensions " in line for line in read(writer, "neutron"))


@pytest.mark.unit
def test_every_served_request_is_logged_with_its_request_id(
    cloud: tuple[CloudState, LogWriter],
) -> None:
    _, writer = cloud
    writer.on_request(served("compute", "GET", "/v2.1/servers/detail", 200,
                             microversion="2.100", query="all_tenants=1"))  # fmt: skip
    writer.on_request(served("network", "GET", "/v2.0/ports", 200))
    writer.on_request(served("identity", "POST", "/v3/auth/tokens", 201, user_id=None))
    writer.on_request(served("block-storage", "GET", f"/v3/{PROJECT}/volumes/detail", 200))
    writer.on_request(served("image", "GET", "/v2/images", 200))
    writer.on_request(served("placement", "GET", "/resource_providers", 200, microversion="1.39"))
    api = [line for line in read(writer, "nova-api") if REQ in line]
    assert len(api) == 1 and api[0].endswith(
        '10.0.0.9 "GET /v2.1/servers/detail?all_tenants=1" status: 200 len: 321 '
        "microversion: 2.100 time: 0.250000"
    )
    for name in ("neutron", "cinder-api", "glance", "placement"):
        assert any(REQ in line for line in read(writer, name)), name
    assert any('"POST /v3/auth/tokens HTTP/1.1" 201 321' in line
               for line in read(writer, "keystone-access"))  # fmt: skip
    assert len(read(writer, "haproxy")) == 6


@pytest.mark.unit
def test_errors_write_tracebacks_and_warnings(cloud: tuple[CloudState, LogWriter]) -> None:
    state, writer = cloud
    writer.on_request(served("compute", "GET", "/v2.1/servers/detail", 500, microversion="2.1"))
    api = read(writer, "nova-api")
    block = [line for line in api if " ERROR nova.api.openstack.wsgi" in line]
    assert len(block) > 3 and REQ in block[0] and "Traceback" in block[1]
    writer.on_request(served("identity", "POST", "/v3/auth/tokens", 401, user_id=None,
                             remote_addr="203.0.113.9"))  # fmt: skip
    assert any("Authorization failed." in line and "from 203.0.113.9" in line
               for line in read(writer, "keystone"))  # fmt: skip

    writer.state.subscribe(writer.on_change)
    victim = next(s for s in state.servers if s.vm_state == "active")
    ops.set_error(state, victim.id, "internal error: process exited while connecting to monitor")
    compute = read(writer, "nova-compute")
    assert any(f"[instance: {victim.id}] Setting instance vm_state to ERROR" in line
               for line in compute)  # fmt: skip
    assert any("qemuMonitorIORead" in line for line in read(writer, "libvirt"))
    new = ops.create_server(state, name="x", project_id=victim.project_id, user_id=victim.user_id,
                            flavor=victim.flavor, image_id=victim.image_id,
                            request_id="req-00000000-0000-4000-a000-000000000001",
                            rng=random.Random(1))  # fmt: skip
    ops.fail_build(state, new.id, no_valid_host=True)
    assert any("Got no allocation candidates" in line for line in read(writer, "nova-scheduler"))
    conductor = read(writer, "nova-conductor")
    assert any("ERROR nova.conductor.manager" in line and "Failed to schedule" in line
               for line in conductor)  # fmt: skip


@pytest.mark.unit
def test_traffic_mix_uses_real_ids(cloud: tuple[CloudState, LogWriter]) -> None:
    state, writer = cloud
    gen = TrafficGenerator(writer, state, seed=5)
    gen.emit(400)
    statuses: Counter[int] = Counter()
    services: Counter[str] = Counter()
    for line in read(writer, "haproxy"):
        parsed = haproxy.parse_httplog(line)
        assert parsed is not None
        statuses[parsed.status // 100] += 1
        services[parsed.backend] += 1
    assert sum(statuses.values()) == 400
    assert statuses[2] > 0.8 * 400 and statuses[4] > 0
    assert len(services) == 6
    servers = set(state.servers.ids())
    urls = re.findall(r'"GET /v2\.1/servers/([0-9a-f-]{36})"', "\n".join(read(writer, "nova-api")))
    assert urls and set(urls) <= servers


@pytest.mark.unit
def test_auth_401_storm_and_5xx_burst(cloud: tuple[CloudState, LogWriter]) -> None:
    _, writer = cloud
    said = writer.inject("auth-401-storm", {"source": "203.0.113.50", "count": "120"})
    assert "120" in said
    storm = [line for line in read(writer, "keystone-access")
             if line.startswith("203.0.113.50 ") and '" 401 ' in line]  # fmt: skip
    assert len(storm) == 120
    assert sum("from 203.0.113.50" in line for line in read(writer, "keystone")) == 120
    gen = TrafficGenerator(writer, writer.state, seed=2)
    gen.emit(10)  # while the storm is on, traffic keeps adding failed logins from the source
    assert sum(line.startswith("203.0.113.50 ") for line in read(writer, "keystone-access")) > 120
    writer.clear("auth-401-storm")

    writer.inject("api-5xx-burst", {"service": "network", "count": "30", "status": "503"})
    wsgi = [oslo.REQUEST.search(line) for line in read(writer, "neutron")]
    assert sum(1 for m in wsgi if m is not None and m.group(4) == "503") == 30
    errors = [line for line in read(writer, "neutron")
              if " ERROR neutron.pecan_wsgi.hooks.translation [None req-" in line]  # fmt: skip
    assert len(errors) == 30


@pytest.mark.unit
def test_periodic_lines_report_resources_and_dead_agents(
    cloud: tuple[CloudState, LogWriter],
) -> None:
    state, writer = cloud
    agent = next(a for a in state.agents if a.agent_type == "L3 agent")
    now = state.now()
    state.update("agent", agent.id, heartbeat_timestamp=now - timedelta(minutes=10))
    writer.periodic(now)
    compute = read(writer, "nova-compute")
    assert any("Final resource view: name=" in line for line in compute)
    neutron = read(writer, "neutron")
    head = next(i for i, line in enumerate(neutron) if "Agent healthcheck: found" in line)
    expected = " WARNING neutron.db.agents_db [-] Agent healthcheck: found 1 dead agents"
    assert expected in neutron[head]
    assert agent.host in neutron[head + 2]
    prefix = neutron[head].split(" [-]")[0]
    assert neutron[head + 2].startswith(prefix)  # continuation lines keep the record's prefix
