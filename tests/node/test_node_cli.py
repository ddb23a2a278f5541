"""``stackwatch check`` (Nagios plugin lines, exit codes) and ``stackwatch nrpe-config``."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from node_data import Tree

from stackwatch.catalog.loader import Role, load_catalog
from stackwatch.cli import main
from stackwatch.model import Status

pytestmark = pytest.mark.unit


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree("vm-2cpu", tmp_path)


def _config(tmp_path: Path, tree: Tree, **node: object) -> Path:
    """A stackwatch.yaml whose node section reads the recorded tree (statvfs is this
    machine's: the recorded mounts are "/" and pseudo filesystems)."""
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({"clouds": [{"name": "c"}], "node": {
        "host": "n1", "proc_root": str(tree.proc), "sys_root": str(tree.sys),
        "kernel_log": str(tree.kmsg), **node}}))
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _root_percent() -> float:
    st = os.statvfs("/")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return 100.0 * used / (used + st.f_bavail * st.f_frsize)


def _expected(percent: float, warning: float, critical: float) -> Status:
    return Status.CRITICAL if percent >= critical else (
        Status.WARNING if percent >= warning else Status.OK)


def test_check_disk_prints_the_plugin_line_and_exits_with_its_status(tmp_path: Path,
                                                                     tree: Tree) -> None:
    config = _config(tmp_path, tree)
    code, output = _run("check", "disk", "--config", str(config))
    percent = _root_percent()
    status = _expected(percent, 80, 90)
    assert code == int(status)
    assert output.startswith(f"DISK {status.name} - /: {percent:.0f}% used (")
    assert output.rstrip().endswith(f"| /={round(percent, 1):g}%;80;90;0;100")
    code, output = _run("check", "disk", "--config", str(config), "--warning", "0",
                        "--critical", "100", "--mount", "/")
    assert code == int(_expected(percent, 0, 100))
    assert ";0;100;0;100" in output
    code, output = _run("check", "disk", "--mount", "/no/such/mount", "--config", str(config))
    assert (code, output) == (2, "DISK CRITICAL - /no/such/mount: not mounted\n")


def test_check_load_memory_swap_inodes_on_the_recorded_tree(tmp_path: Path,
                                                            tree: Tree) -> None:
    config = str(_config(tmp_path, tree))
    one, five, fifteen = (tree.proc / "loadavg").read_text().split()[:3]
    per_cpu = float(five) / 2
    code, output = _run("check", "load", "--config", config)
    assert code == int(_expected(per_cpu, 2, 4))
    assert output.startswith(f"LOAD {_expected(per_cpu, 2, 4).name} - load {float(one):g} "
                             f"{float(five):g} {float(fifteen):g} on 2 CPUs: {per_cpu:.2f} "
                             "per CPU over 5 min | load1=")
    code, _ = _run("check", "load", "--config", config, "-w", str(per_cpu / 2),
                   "-c", str(per_cpu * 2))
    assert code == 1
    code, _ = _run("check", "load", "--config", config, "-w", "0", "-c", str(per_cpu / 2))
    assert code == 2
    assert _run("check", "swap", "--config", config) == (0, "SWAP OK - no swap | "
                                                         "swap=0%;50;80;0;100\n")
    code, output = _run("check", "memory", "--config", config, "-w", "1", "-c", "1")
    assert code == 2 and output.startswith("MEMORY CRITICAL - memory ")
    code, output = _run("check", "inodes", "--config", config)
    assert code == 0 and output.startswith("INODES OK - /: ")


def test_check_disk_io(tmp_path: Path, tree: Tree) -> None:
    config = str(_config(tmp_path, tree))
    assert _run("check", "disk-io", "--config", config) == (
        0, "DISK_IO OK - no disk I/O error in the kernel log in the last 1 h | errors=0;;;0\n")
    uptime = float((tree.proc / "uptime").read_text().split()[0])
    with tree.kmsg.open("a") as out:
        out.write(f"3,999999,{int((uptime - 30) * 1e6)},-;blk_update_request: I/O error, "
                  "dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800\n")
    code, output = _run("check", "disk-io", "--config", config)
    assert code == 2
    assert output == ("DISK_IO CRITICAL - 1 disk I/O error in the kernel log in the last 1 h: "
                      "sdb x1 (last 30 s ago) | errors=1;;;0\n")


@pytest.mark.parametrize(("args", "says"), [
    (["check", "process"], "check process needs a NAME"),
    (["check", "disk", "extra"], "check disk takes no NAME"),
    (["check", "port", "http"], "'http' is not a TCP port"),
    (["check", "port", "8774", "--warning", "1"], "port takes no --warning/--critical"),
    (["check", "process", "nova-bogus"], "'nova-bogus' is not a service of the catalog"),
    (["check", "load", "--warning", "5", "--critical", "1"], "critical 1 is below warning 5"),
    (["check", "process", "nova-compute", "-w", "1.5"], "are counts, not 1.5"),
    (["check", "disk-io", "--critical", "3"], "disk-io takes no --warning/--critical"),
    (["check", "memory", "--mount", "/"], "--mount is for disk and inodes"),
    (["check", "bogus"], "Invalid value for '{process|port|disk"),
    (["check", "disk", "--config", "/no/such/stackwatch.yaml"], "cannot read"),
])
def test_the_commands_own_failures_are_unknown(args: list[str], says: str) -> None:
    code, output = _run(*args)
    assert code == 3, output
    assert says in output


def test_nrpe_config_of_a_compute_node(tmp_path: Path) -> None:
    code, output = _run("nrpe-config", "--role", "compute", "--command", "/usr/bin/stackwatch")
    assert code == 0
    lines = [line for line in output.splitlines() if line.startswith("command[")]
    catalog = load_catalog().deployed(["ovn"])
    services = [s.name for s in catalog.services
                if Role.COMPUTE in s.roles and catalog.expects(s)]
    names = [line[len("command["):line.index("]")] for line in lines]
    assert names == [f"stackwatch_process_{s}" for s in services] + [
        "stackwatch_disk", "stackwatch_inodes", "stackwatch_memory", "stackwatch_swap",
        "stackwatch_load", "stackwatch_disk_io"]
    assert "command[stackwatch_process_nova-compute]=/usr/bin/stackwatch check process " \
           "nova-compute" in lines
    assert "command[stackwatch_disk]=/usr/bin/stackwatch check disk --warning 80 " \
           "--critical 90" in lines
    # every definition is a command `stackwatch check` accepts
    for line in lines:
        argv = shlex.split(line.split("=", 1)[1])
        assert argv[0] == "/usr/bin/stackwatch"
        code, said = _run(*argv[1:])
        assert code in (0, 1, 2, 3) and said.split()[0] == argv[2].upper().replace("-", "_"), \
            (line, said)


def test_nrpe_config_with_a_config_takes_its_ports_thresholds_and_ignores(
        tmp_path: Path, tree: Tree) -> None:
    config = _config(tmp_path, tree, ports={"nova-api": [18774]}, ignore=["pacemaker"],
                     thresholds={"disk": {"warning": 70, "critical": 85}})
    out = tmp_path / "stackwatch.cfg"
    code, said = _run("nrpe-config", "--role", "controller", "--command", "/opt/sw bin",
                      "--config", str(config), "-o", str(out))
    assert code == 0 and said.startswith("wrote ") and str(out) in said
    text = out.read_text()
    tail = f" --config {config.resolve()}"
    assert (f"command[stackwatch_port_nova-api_18774]='/opt/sw bin' check port 18774{tail}"
            in text.splitlines())
    assert "stackwatch_port_nova-api_8774" not in text
    assert "stackwatch_process_pacemaker" not in text
    assert f"check disk --warning 70 --critical 85{tail}" in text
    assert "command[stackwatch_port_keystone_5000]=" in text
    assert "35357" not in text  # optional: keystone's legacy admin port
