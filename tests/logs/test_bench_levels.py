# ruff: noqa: E501
"""Records by level equal an independent count, and the benchmark's corpus keeps the
proportions of what it was built from.

The independent count is ``bench/logs_corpus.py``'s: plain patterns over every line,
no code shared with ``stackwatch.logparse``. A traceback is one record, counted by its
head's level (its lines repeat the prefix with ``ERROR``, even under a CRITICAL head,
and no context, or ``[instance: …]`` straight after the logger); a message's embedded
newlines continue it with no prefix; gunicorn's error log (the API server's own log)
is counted by level too — a count of oslo.log heads alone is short of those records.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from stackwatch.config import CloudConfig, LogsConfig
from stackwatch.logcli import logs
from stackwatch.sources.logs import build_log_sources
from stackwatch.store.log_history import LogHistory
from stackwatch.store.request_index import RequestIndex

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "tests" / "data" / "recorded" / "logs"
VM = "8a90fa0e-5b1c-4d2e-9f3a-0b1c2d3e4f50"
REQ = "req-317dd0b1-1b2c-4d5e-8f90-a1b2c3d4e5f6"
SP = " "  # oslo.log ends a traceback with its prefix and a blank line


def _corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("logs_corpus", REPO / "bench" / "logs_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["logs_corpus"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


corpus = _corpus_module()

NOVA_COMPUTE = f"""\
2026-12-04 20:10:01.100 3937 INFO nova.compute.manager [None {REQ} u p - - default default] [instance: {VM}] Took 2.1 seconds to spawn the instance on the hypervisor.
2026-12-04 20:10:02.200 3937 CRITICAL nova [None req-ea49b170-65d6-4de0-8b23-4cf19538fc56 - - - - - -] Unhandled error: AttributeError: 'ComputeManager' object has no attribute 'x'
2026-12-04 20:10:02.200 3937 ERROR nova Traceback (most recent call last):
2026-12-04 20:10:02.200 3937 ERROR nova   File "/usr/lib/python3/dist-packages/nova/service.py", line 1, in start
2026-12-04 20:10:02.200 3937 ERROR nova AttributeError: 'ComputeManager' object has no attribute 'x'
2026-12-04 20:10:02.200 3937 ERROR nova{SP}
2026-12-04 20:10:03.300 3937 ERROR nova.compute.manager [None {REQ} u p - - default default] [instance: {VM}] Instance failed to spawn: libvirt.libvirtError: internal error
2026-12-04 20:10:03.300 3937 ERROR nova.compute.manager [instance: {VM}] Traceback (most recent call last):
2026-12-04 20:10:03.300 3937 ERROR nova.compute.manager [instance: {VM}]   File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 2, in _build
2026-12-04 20:10:03.300 3937 ERROR nova.compute.manager [instance: {VM}] libvirt.libvirtError: internal error
2026-12-04 20:10:04.400 3937 WARNING nova.compute.manager [-] While synchronizing instance power states, found 1 instances in the database and 0 instances on the hypervisor.
2026-12-04 20:10:05.500 3937 INFO nova.compute.resource_tracker [None req-0c3f1d2e-aaaa-4bbb-8ccc-0123456789ab - - - - - -] Final resource view: name=cmp1
phys_ram=15990MB used_ram=512MB
phys_disk=99GB used_disk=1GB
2026-12-04 20:10:06.600 3937 DEBUG oslo_concurrency.lockutils [-] Lock "compute_resources" released :: held 0.001s
"""

NOVA_API = f"""\
2026-12-04 20:10:01.050 2041 INFO nova.api.openstack.requestlog [None {REQ} u p - - default default] 127.0.0.1 "POST /v2.1/servers" status: 202 len: 412 microversion: 2.1 time: 0.412000
2026-12-04 20:10:07.000 2041 ERROR nova.api.openstack.wsgi [None req-5a5a5a5a-1b2c-4d5e-8f90-a1b2c3d4e5f6 u p - - default default] Unexpected exception in API method: neutronclient.common.exceptions.ServiceUnavailable
2026-12-04 20:10:07.000 2041 ERROR nova.api.openstack.wsgi Traceback (most recent call last):
2026-12-04 20:10:07.000 2041 ERROR nova.api.openstack.wsgi   File "/usr/lib/python3/dist-packages/nova/api/openstack/wsgi.py", line 3, in wrapped
2026-12-04 20:10:07.000 2041 ERROR nova.api.openstack.wsgi neutronclient.common.exceptions.ServiceUnavailable: 503
2026-12-04 20:10:07.010 2041 INFO nova.api.openstack.requestlog [None req-5a5a5a5a-1b2c-4d5e-8f90-a1b2c3d4e5f6 u p - - default default] 127.0.0.1 "GET /v2.1/servers/detail" status: 500 len: 224 microversion: 2.1 time: 0.010000
"""

GUNICORN = """\
[2026-12-04 20:09:00 +0000] [2040] [INFO] Starting gunicorn 25.2.0
[2026-12-04 20:09:00 +0000] [2040] [INFO] Listening at: http://127.0.0.1:8774 (2040)
[2026-12-04 20:09:00 +0000] [2041] [INFO] Booting worker with pid: 2041
[2026-12-04 20:11:00 +0000] [2040] [CRITICAL] WORKER TIMEOUT (pid:2041)
[2026-12-04 20:11:01 +0000] [2040] [ERROR] Worker (pid:2041) was sent SIGKILL! Perhaps out of memory?
"""

EXPECTED = Counter({"INFO": 2 + 2 + 3, "CRITICAL": 1 + 1, "ERROR": 1 + 1 + 1, "WARNING": 1,
                    "DEBUG": 1})
"""Counted by hand: nova-compute 2 INFO, 1 CRITICAL, 1 ERROR, 1 WARNING, 1 DEBUG (no
ERROR for the traceback lines under the CRITICAL and the ERROR heads); nova-api 2 INFO,
1 ERROR; gunicorn 3 INFO, 1 CRITICAL, 1 ERROR."""


@pytest.fixture()
def recorded(tmp_path: Path) -> Path:
    """A recording in the realcloud's flat layout."""
    directory = tmp_path / "recorded"
    directory.mkdir()
    (directory / "nova-compute-1.log").write_text(NOVA_COMPUTE)
    (directory / "nova-api.log").write_text(NOVA_API)
    (directory / "nova-api-gunicorn.log").write_text(GUNICORN)
    return directory


def _tail_levels(root: Path, checkpoints: Path, index: RequestIndex) -> Counter[str]:
    sources = build_log_sources(CloudConfig(name="t", logs=LogsConfig(root=root)),
                                checkpoints, host="h", index=index)
    levels: Counter[str] = Counter()
    for source in sources:
        for sample in source.collect().samples:
            if sample.name == "openstack_log_records_total":
                levels[dict(sample.labels)["level"]] += int(sample.value)
    return levels


def _backfill_levels(root: Path, store: Path, engine: str) -> Counter[str]:
    result = CliRunner().invoke(logs, ["backfill", str(root), "--store", str(store),
                                       "--host", "h", "--engine", engine, "--workers", "1"])
    assert result.exit_code == 0, result.output
    history = LogHistory(store)
    try:
        rows = history._conn.execute(
            "SELECT level, sum(records) FROM log_hourly_records GROUP BY level").fetchall()
    finally:
        history.close()
    return Counter({level: int(n) for level, n in rows})


def test_independent_count_by_hand(recorded: Path) -> None:
    assert corpus.independent_levels(sorted(recorded.iterdir())) == EXPECTED


@pytest.mark.parametrize("copies", [1, 150])
def test_levels_equal_the_independent_count(recorded: Path, tmp_path: Path,
                                            copies: int) -> None:
    """Tail mode and both backfill engines count what the independent count counts; 150
    copies make files large enough for the batch paths (their tracebacks included)."""
    lines = sum(p.read_text().count("\n") for p in recorded.iterdir())
    built = corpus.build(recorded, tmp_path / "log", lines * copies)
    assert built.lines == lines * copies
    truth = corpus.independent_levels(built.files)
    assert truth == Counter({level: n * copies for level, n in EXPECTED.items()})
    index = RequestIndex(tmp_path / "store.sqlite")
    assert _tail_levels(built.root, tmp_path / "cp", index) == truth
    assert _backfill_levels(built.root, tmp_path / "compiled.sqlite", "compiled") == truth
    assert _backfill_levels(built.root, tmp_path / "python.sqlite", "python") == truth
    # the tracebacks stay in their record's indexed message, each copy its own request
    story = index.story(VM)
    assert len({r.request_id for r in story}) == copies
    failed = [r for r in story if r.level == "ERROR"]
    assert len(failed) == copies
    assert all(r.message.endswith("libvirt.libvirtError: internal error") for r in failed)
    index.close()


def test_corpus_keeps_records_whole_and_proportions(recorded: Path, tmp_path: Path) -> None:
    """Whole records only (a traceback never apart from its head), every file its share,
    copies moved in time and given their own request ids."""
    built = corpus.build(recorded, tmp_path / "log", 1000)
    share = corpus.traceback_share(sorted(recorded.iterdir()))
    assert corpus.traceback_share(built.files) == pytest.approx(share, abs=0.01)
    compute = (built.root / "nova" / "nova-compute-1.log").read_text().splitlines()
    assert len(compute) >= 1000 * 14 // 25 - 8
    for number, line in enumerate(compute):
        if "Traceback (most recent" in line:
            assert "CRITICAL" in compute[number - 1] or "failed to spawn" in compute[number - 1]
    stamps = [line[:19] for line in compute if line[:4] == "2026"]
    assert stamps == sorted(stamps)  # copies later in time, the file still in order
    assert len({line.split(" [None ")[1][:40] for line in compute
                if "Took 2.1 seconds" in line}) == len([line for line in compute
                                                        if "Took 2.1 seconds" in line])
    assert sorted(str(p.relative_to(built.root)) for p in built.files) == [
        "nova/nova-api-gunicorn.log", "nova/nova-api.log", "nova/nova-compute-1.log"]


@pytest.mark.skipif(not RECORDED.is_dir(), reason="no recorded real logs in this tree")
def test_recorded_real_logs_levels(tmp_path: Path) -> None:
    """On the project's recorded real logs: every engine counts what the independent
    count counts."""
    built = corpus.build(RECORDED, tmp_path / "log", 20_000)
    truth = corpus.independent_levels(built.files)
    index = RequestIndex(tmp_path / "store.sqlite")
    assert _tail_levels(built.root, tmp_path / "cp", index) == truth
    index.close()
    assert _backfill_levels(built.root, tmp_path / "compiled.sqlite", "compiled") == truth


@pytest.mark.parametrize("large", [False, True])
def test_restart_inside_a_traceback(tmp_path: Path, large: bool) -> None:
    """A reader restarted from its checkpoint in the middle of a traceback (a collection
    cut by its budget, a stopped agent) counts the rest of it as continuation, not as a
    record of its own: records by level still equal the independent count. ``large``:
    chunks big enough for the batch path."""
    lines = NOVA_COMPUTE.splitlines(keepends=True)
    cut = lines.index(next(line for line in lines if "Traceback" in line)) + 1
    copies = 150 if large else 1
    first = "".join(lines) * (copies - 1) + "".join(lines[:cut])
    rest = "".join(lines[cut:]) + "".join(lines) * (copies - 1)
    log = tmp_path / "log" / "nova" / "nova-compute.log"
    log.parent.mkdir(parents=True)
    log.write_text(first)
    levels: Counter[str] = Counter()
    for _ in range(2):  # two processes: the second starts from the first's checkpoint
        index = RequestIndex(tmp_path / "store.sqlite")
        sources = build_log_sources(CloudConfig(name="t", logs=LogsConfig(root=log.parents[1])),
                                    tmp_path / "cp", host="h", index=index)
        levels = Counter()
        for source in sources:
            for sample in source.collect().samples:
                if sample.name == "openstack_log_records_total":
                    levels[dict(sample.labels)["level"]] += int(sample.value)
        index.close()
        with log.open("a") as handle:
            handle.write(rest)
            rest = ""
    assert levels == corpus.independent_levels([log])
    whole = 2 * copies - 1  # copies of the file in the two parts together
    assert levels["ERROR"] == whole and levels["CRITICAL"] == whole
