"""Where it happened: a log record's host is the node its log belongs to, not the monitor's.

Logs of two controllers under one root (as rsyslog's remote logs or a copied tree
lay them out) and a kern.log whose lines name their own node: `stackwatch trace`,
the events and the log metrics say which node each record came from.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stackwatch.config import load_config
from stackwatch.errors import ConfigError
from stackwatch.logcli import trace
from stackwatch.logparse.engine import FileParser, LogFormat
from stackwatch.model import Collection
from stackwatch.runner import collect_once
from stackwatch.sources.registry import build_sources
from stackwatch.store.request_index import RequestIndex
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

REQ = "req-0a0b0c0d-1111-2222-3333-444455556666"
USER = "5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4 - - default default"
MONITOR = "monitor-node"  # logs.host: what files outside the mapped directories belong to


def oslo(at: float, level: str, message: str) -> str:
    """An oslo.log line of nova-api stamped ``at`` (local time, as oslo writes it)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
    return (f"{stamp} 590 {level} nova.api.openstack.compute.servers "
            f"[None {REQ} {USER}] {message}\n")


def syslog(at: float) -> str:
    """A syslog timestamp (``Nov 21 06:19:36``: no year) of ``at``."""
    return time.strftime("%b %d %H:%M:%S", time.localtime(at))


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "remote"
    start = int(time.time()) - 120.0  # recent: the request index keeps records for days
    # the same request through both controllers' nova-api, an error on each
    write(root, "ctl1/nova/nova-api.log",
          oslo(start + 0.1, "INFO", "Creating server") + oslo(start + 0.2, "ERROR",
                                                              "ctl1 failed"))
    write(root, "ctl2/nova/nova-api.log",
          oslo(start + 1.1, "INFO", "Retried here") + oslo(start + 1.2, "ERROR", "ctl2 failed"))
    # a kern.log collected from several computes: each line names its node
    write(root, "kern.log",
          f"{syslog(start + 30)} compute1 kernel: [ 8812.1] blk_update_request: I/O error, "
          "dev sdb, sector 1\n"
          f"{syslog(start + 31)} compute2 kernel: [ 9000.2] blk_update_request: I/O error, "
          "dev sdc, sector 2\n")
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({
        "clouds": [{"name": "two-nodes", "disable": ["api"], "logs": {
            "root": str(root), "host": MONITOR,
            "globs": {"nova": ["*/nova/*.log"], "kernel": ["kern.log"]},
            "hosts": {"ctl1": "ctl1.example", "ctl2/nova": "ctl2.example"}}}],
        "store": {"path": str(tmp_path / "store.sqlite")}}))
    return path


def collect(config: Path) -> Collection:
    runs = collect_once(build_sources(load_config(config)))
    assert [r.source for r in runs] == ["logs.nova", "logs.kernel"], runs
    assert all(r.ok for r in runs), [r.reason for r in runs]
    total = sum((r.collection for r in runs), Collection())
    store = SQLiteStore(load_config(config).store.path)
    store.write(total)
    store.close()
    return total


def test_records_events_and_metrics_carry_the_node_of_their_log(config: Path) -> None:
    total = collect(config)
    errors = {e.message: e.host for e in total.events if e.kind == "log"}
    assert errors == {"ctl1 failed": "ctl1.example", "ctl2 failed": "ctl2.example",
                      "[ 8812.1] blk_update_request: I/O error, dev sdb, sector 1": "compute1",
                      "[ 9000.2] blk_update_request: I/O error, dev sdc, sector 2": "compute2"}
    records = {(dict(s.labels)["host"], dict(s.labels)["level"]): s.value
               for s in total.samples if s.name == "openstack_log_records_total"}
    assert records == {("ctl1.example", "INFO"): 1, ("ctl1.example", "ERROR"): 1,
                       ("ctl2.example", "INFO"): 1, ("ctl2.example", "ERROR"): 1}
    assert socket.gethostname() not in {e.host for e in total.events}
    index = RequestIndex(load_config(config).store.path)
    story = index.story(REQ, 100)
    kept = index.count()
    index.close()
    assert kept == 6  # each kernel record kept (they shared offset 0, so one was dropped)
    assert [(r.host, r.message) for r in story] == [
        ("ctl1.example", "Creating server"), ("ctl1.example", "ctl1 failed"),
        ("ctl2.example", "Retried here"), ("ctl2.example", "ctl2 failed")]


def test_trace_names_the_node_of_each_record(config: Path) -> None:
    collect(config)
    result = CliRunner().invoke(trace, [REQ, "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4, result.output
    assert [line.split()[3] for line in lines] == ["ctl1.example"] * 2 + ["ctl2.example"] * 2
    assert "ctl2 failed" in lines[3]


def test_kernel_records_of_two_nodes_are_both_kept(config: Path) -> None:
    collect(config)
    store = SQLiteStore(load_config(config).store.path)
    events = store.events(0, 2e9, limit=100)
    store.close()
    kernel = sorted((e.host, e.message[-8:]) for e in events if e.event_type == "kernel")
    assert kernel == [("compute1", "sector 1"), ("compute2", "sector 2")]


def test_files_outside_the_mapped_directories_belong_to_logs_host(
        config: Path, tmp_path: Path) -> None:
    write(tmp_path / "remote", "nova/nova-api.log", oslo(time.time() - 60, "ERROR", "here"))
    data = yaml.safe_load(config.read_text())
    data["clouds"][0]["logs"]["globs"]["nova"].append("nova/*.log")
    config.write_text(yaml.safe_dump(data))
    total = collect(config)
    assert {e.message: e.host for e in total.events}["here"] == MONITOR


@pytest.mark.parametrize("directory", ["/var/log/ctl1", "../ctl1", ""])
def test_hosts_must_name_directories_under_the_root(tmp_path: Path, directory: str) -> None:
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({"clouds": [{"name": "x", "logs": {
        "root": str(tmp_path), "hosts": {directory: "ctl1"}}}]}))
    with pytest.raises(ConfigError, match=r"not a directory under logs\.root"):
        load_config(path)


@pytest.mark.parametrize(("fmt", "text"), [
    (LogFormat.GUNICORN, "[2026-11-21 06:19:36 +0000] [1234] [ERROR] Worker timeout\n"
                         "[2026-11-21 06:19:37 +0000] [1234] [ERROR] Worker died\n"),
    (LogFormat.LIBVIRT, "2026-11-21 06:19:36.100+0000: 77: error : qemuMonitorIO : one\n"
                        "2026-11-21 06:19:37.100+0000: 77: error : qemuMonitorIO : two\n"),
    (LogFormat.SYSLOG, "Nov 21 06:19:36 c1 kernel: blk_update_request: I/O error, dev sdb\n"
                       "Nov 21 06:19:37 c1 kernel: blk_update_request: I/O error, dev sdc\n"),
])
def test_each_error_record_has_its_own_offset(fmt: LogFormat, text: str) -> None:
    """The index keeps one record per (file, offset): two errors read together are two."""
    parser = FileParser(fmt, "x", "node", "x.log", index=True)
    parser.feed(text, 1000)
    rows = parser.take_rows()
    assert [r.offset for r in rows] == [1000, 1000 + text.index("\n") + 1]
