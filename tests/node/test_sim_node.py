"""The node checks on the simulator's real processes: killed, restarted, their ports taken.

Other simulators may run on the same machine (other test runs): the process table is
psutil's, restricted to this test's own children. The end-to-end ``stackwatch status``
test runs in its own PID namespace instead, where the node is what it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.catalog.loader import load_catalog
from stackwatch.config import NodeConfig
from stackwatch.health.evaluate import evaluate
from stackwatch.model import Status
from stackwatch.sim.procs import SimProcesses
from stackwatch.sources.node.plan import NodePlan
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.processes import ProcessesSource
from stackwatch.sources.node.table import ProcessInfo, read_processes

pytestmark = pytest.mark.integration

CATALOG = load_catalog().deployed(["ovs"])
HOST = "sim-node"
SERVICES = ("keystone", "nova-api", "nova-compute", "placement-api")


def _ours() -> list[ProcessInfo]:
    """This machine's processes started by this test process (the simulated node's)."""
    me = os.getpid()
    return [p for p in read_processes() if p.ppid == me]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[SimProcesses]:
    running = SimProcesses(tmp_path, services=SERVICES).start()
    yield running
    running.close()


def _plan(procs: SimProcesses) -> NodePlan:
    return NodePlan(CATALOG, NodeConfig.model_validate(procs.node_section(HOST)))


def _check(collection: object, service: str) -> tuple[Status, str]:
    checks = [c for c in getattr(collection, "checks", ())
              if dict(c.labels).get("service") == service]
    assert len(checks) == 1, checks
    return checks[0].status, checks[0].message


def test_killed_critical_under_its_service_and_node_then_restarted(
        procs: SimProcesses) -> None:
    source = ProcessesSource(_plan(procs), _ours)
    assert _check(source.collect(), "nova-compute")[0] == Status.OK
    assert _check(source.collect(), "keystone")[0] == Status.OK  # keystone-wsgi-public
    said = procs.inject("process-killed", {"name": "nova-compute"})
    killed = source.collect()
    assert _check(killed, "nova-compute") == (
        Status.CRITICAL, "nova-compute: not running (expected on compute nodes)")
    assert "nova-compute" in said
    health = evaluate(CATALOG, killed.checks)
    service = health.service("nova-compute")
    assert service is not None and service.status == Status.CRITICAL
    assert [(m.host, m.status) for m in service.members] == [(HOST, Status.CRITICAL)]
    procs.clear("process-killed")
    status, message = _check(source.collect(), "nova-compute")
    assert status == Status.WARNING
    assert message.startswith(f"nova-compute: restarted: pid {procs.pids['nova-compute']} up ")
    assert _check(source.collect(), "nova-compute")[0] == Status.OK


HOLD = textwrap.dedent("""
    import socket, sys, time
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    print("ready", flush=True)
    time.sleep(60)
""")


def test_a_port_taken_by_another_process_names_both(procs: SimProcesses) -> None:
    port = procs.port(8774)
    ports = PortsSource(_plan(procs), _ours)
    assert _check(ports.check(port), "nova-api")[0] == Status.OK
    procs.kill("nova-api")
    squatter = subprocess.Popen([sys.executable, "-c", HOLD, str(port)],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "ready\n"
        status, message = _check(ports.check(port), "nova-api")
        name = next(p.name for p in _ours() if p.pid == squatter.pid)
        assert status == Status.CRITICAL
        assert message.startswith(f"nova-api: port {port}/tcp is held by {name} "
                                  f"(pid {squatter.pid}, '{sys.executable} -c ")
        assert message.endswith("'), not nova-api")
        # and in the full run, beside the process check saying nova-api is gone
        collection = ports.collect()
        assert _check(collection, "keystone")[0] == Status.OK
    finally:
        squatter.kill()
        squatter.communicate()


def test_a_port_bound_by_this_very_process_is_named(procs: SimProcesses) -> None:
    import socket

    port = procs.port(8778)
    procs.kill("placement-api")
    me = os.getpid()
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", port))
        held.listen()
        rows = [*_ours(), *(p for p in read_processes() if p.pid == me)]
        status, message = _check(PortsSource(_plan(procs), lambda: rows).check(port),
                                 "placement")
    assert status == Status.CRITICAL
    assert f"is held by {next(p.name for p in rows if p.pid == me)} (pid {me}, " in message
    assert message.endswith(", not placement")


STATUS_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from click.testing import CliRunner
    from stackwatch.cli import main
    from stackwatch.sim.cloud import SimulatedCloud

    with SimulatedCloud(workdir=Path(sys.argv[1]), size="small", processes=True) as cloud:
        cloud.inject("process-killed", name="nova-compute")
        result = CliRunner().invoke(main, ["status", "--config", str(cloud.config_path),
                                           "--members"])
        print(result.output)
        print("EXIT", result.exit_code)
""")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a PID namespace of its own needs root and unshare")
def test_status_shows_the_killed_nova_compute_on_its_node(tmp_path: Path) -> None:
    """``stackwatch sim --processes`` writes the node section; ``stackwatch status`` with
    it sees the simulated node as a real one: nova-compute's member there is down."""
    script = tmp_path / "status.py"
    script.write_text(STATUS_SCRIPT)
    # sh stays PID 1 (the simulated services leave when their parent is PID 1)
    done = subprocess.run(
        ["unshare", "--fork", "--pid", "--mount-proc", "sh", "-c",
         f'"{sys.executable}" "{script}" "{tmp_path / "sim"}"; exit $?'],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    nova = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["nova-compute"])
    assert lines[nova].split()[0] == "WARNING", lines[nova]
    assert "down: controller" in lines[nova]
    members = lines[nova + 1:]
    controller = next(line for line in members if line.split()[1:2] == ["controller"])
    assert controller.split()[0] == "CRITICAL"
    assert "nova-compute: not running (expected on compute nodes)" in controller
    assert lines[-1] in ("EXIT 1", "EXIT 2")


def test_nagios_check_of_a_process_and_its_port(procs: SimProcesses, tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from stackwatch.cli import main

    port = procs.port(8774)
    config = tmp_path / "stackwatch.yaml"
    config.write_text(yaml.safe_dump({"clouds": [{"name": "c"}],
                                      "node": {"host": HOST, "ports": {"nova-api": [port]}}}))
    runner = CliRunner()
    ok = runner.invoke(main, ["check", "process", "nova-api", "--config", str(config)])
    assert ok.exit_code == 0 and ok.output.startswith("PROCESS OK - nova-api: ")
    held = runner.invoke(main, ["check", "port", str(port), "--config", str(config)])
    assert held.exit_code == 0
    assert held.output.startswith(f"PORT OK - nova-api: port {port}/tcp listening on "
                                  f"127.0.0.1, held by nova-api (pid {procs.pids['nova-api']}")
    procs.kill("nova-api")
    squatter = subprocess.Popen([sys.executable, "-c", HOLD, str(port)],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "ready\n"
        taken = runner.invoke(main, ["check", "port", str(port), "--config", str(config)])
    finally:
        squatter.kill()
        squatter.communicate()
    assert taken.exit_code == 2
    assert taken.output.startswith(f"PORT CRITICAL - nova-api: port {port}/tcp is held by ")
    assert f"(pid {squatter.pid}, " in taken.output and "), not nova-api" in taken.output
    absent = runner.invoke(main, ["check", "process", "ceph-mon"])
    assert absent.exit_code == 2
    assert absent.output == ("PROCESS CRITICAL - ceph-mon: not running (expected on storage "
                             "nodes) | processes=0;;;0 workers=0;;;0 zombies=0;;;0 "
                             "restarts=0c;;;0\n")
