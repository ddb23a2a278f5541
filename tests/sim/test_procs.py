"""Simulated service processes: psutil sees the real names and ports; kill and restart."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stackwatch.errors import SimulatorError
from stackwatch.sim.procs import SPECS, SimProcesses

pytestmark = pytest.mark.integration


def free_offset() -> int:
    """A port offset under which every simulated port is free right now."""
    highest = max(p for spec in SPECS for p in spec.ports)
    for offset in range(31000, 65536 - highest, 97):
        ok = True
        for spec in SPECS:
            for port in spec.ports:
                with socket.socket() as s:
                    try:
                        s.bind(("127.0.0.1", port + offset))
                    except OSError:
                        ok = False
        if ok:
            return offset
    raise RuntimeError("no free port offset")


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcesses]:
    running = SimProcesses(tmp_path_factory.mktemp("procs"), port_offset=free_offset()).start()
    yield running
    running.close()


def test_psutil_sees_names_cmdlines_and_ports(procs: SimProcesses) -> None:
    pids = procs.pids
    assert set(pids) == {s.name for s in SPECS}
    for name, pid in pids.items():
        p = psutil.Process(pid)
        spec = next(s for s in SPECS if s.name == name)
        # the kernel keeps 15 characters of comm, as for the real console scripts
        assert p.name() == spec.executable[:15], name
        cmdline = " ".join(p.cmdline())
        assert f"/{spec.bindir}/{spec.executable}" in cmdline
        assert p.memory_info().rss < 40 * 1024 * 1024
    nova = psutil.Process(pids["nova-api"])
    listening = {
        c.laddr.port for c in nova.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
    }
    assert listening == {procs.port(8774), procs.port(8775)}
    assert "--config-file /etc/nova/nova.conf" in " ".join(nova.cmdline())


def test_process_killed_scenario_and_restart(procs: SimProcesses) -> None:
    pid = procs.pids["neutron-l3-agent"]
    said = procs.inject("process-killed", {"name": "neutron-l3-agent"})
    assert str(pid) in said
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "neutron-l3-agent" not in procs.pids
    procs.clear("process-killed")
    new = procs.pids["neutron-l3-agent"]
    assert new != pid and psutil.Process(new).name() == "neutron-l3-agent"[:15]


def test_port_in_use_is_a_clear_error(procs: SimProcesses, tmp_path: Path) -> None:
    clash = SimProcesses(tmp_path, port_offset=procs.port_offset, services=("glance-api",))
    with pytest.raises(SimulatorError, match=r"ports in use.*glance-api:"):
        clash.start()
    with pytest.raises(SimulatorError, match="unknown simulated process"):
        SimProcesses(tmp_path, services=("nova-bogus",))
