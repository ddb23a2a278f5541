"""The request index and ``stackwatch trace``; ``stackwatch logs parse|backfill|blocklist``."""

from __future__ import annotations

import gzip
import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.logs.conftest import REFERENCE

from stackwatch.cli import main
from stackwatch.logcli import logs, trace
from stackwatch.logparse.engine import FileParser, LogFormat
from stackwatch.query.errors import BadQuery, NotFound
from stackwatch.query.trace import timeline
from stackwatch.sources.logs import LogsSource
from stackwatch.sources.logs.bruteforce import blocklist
from stackwatch.store.log_history import LogHistory
from stackwatch.store.request_index import RequestIndex
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit

API_REQ = "req-11111111-2222-3333-4444-555555555555"
NET_REQ = "req-66666666-7777-8888-9999-000000000000"
OTHER = "req-99999999-0000-0000-0000-000000000000"
VM = "8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a"
USER = "5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4 - - default default"


def story_files(root: Path) -> None:
    files = {
        "nova/nova-api.log": [
            f"2026-11-21 06:10:00.100 590 INFO nova.api.openstack.compute.servers [None {API_REQ}"
            f" {USER}] Creating server",
            f'2026-11-21 06:10:01.900 590 INFO nova.api.openstack.requestlog [None {API_REQ} '
            f'{USER}] 127.0.0.1 "POST /v2.1/servers" status: 202 len: 370 microversion: 2.100 '
            "time: 1.8",
            f'2026-11-21 06:12:00.000 590 INFO nova.api.openstack.requestlog [None {OTHER} '
            f'{USER}] 127.0.0.1 "POST /v2.1/servers/{VM}/action" status: 202 len: 0 '
            "microversion: 2.100 time: 0.1",
        ],
        "neutron/neutron-server.log": [
            f"2026-11-21 06:10:00.500 494 INFO neutron.wsgi [{API_REQ} {NET_REQ} {USER}] "
            '127.0.0.1 "POST /v2.0/ports HTTP/1.1" status: 201  len: 900 time: 0.3000',
        ],
        "nova/nova-compute.log": [
            f"2026-11-21 06:10:05.000 77 INFO nova.compute.manager [None {API_REQ} {USER}] "
            f"[instance: {VM}] Took 2.1 seconds to spawn the instance on the hypervisor.",
            f"2026-11-21 06:12:01.000 77 ERROR nova.compute.manager [None {OTHER} {USER}] "
            f"[instance: {VM}] Reboot failed",
            f"2026-11-21 06:12:01.000 77 ERROR nova.compute.manager [instance: {VM}] Traceback "
            "(most recent call last):",
            "2026-11-21 06:12:01.000 77 ERROR nova.compute.manager [instance: "
            f"{VM}]   File \"x.py\", line 1",
            "2026-11-21 06:13:00.000 77 INFO nova.compute.manager [-] unrelated periodic task",
        ],
    }
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    root = tmp_path / "log"
    story_files(root)
    store = tmp_path / "store.sqlite"
    index = RequestIndex(store)
    for service, pattern in (("nova", "nova/*.log"), ("neutron", "neutron/*.log")):
        source = LogsSource(service, root, [pattern], tmp_path / f"{service}.json", "ctl1",
                            index)
        source.collect()
        # a restart that re-reads everything (lost checkpoint) adds no duplicate
        LogsSource(service, root, [pattern], None, "ctl1", index).collect()
    assert index.count() == 6
    index.close()
    return store


def test_request_story_across_services(indexed: Path) -> None:
    index = RequestIndex(indexed)
    story = index.story(API_REQ)
    assert [(r.service, r.message.split(" ")[0]) for r in story] == [
        ("nova", "Creating"), ("neutron", "127.0.0.1"), ("nova", "127.0.0.1"), ("nova", "Took")]
    assert story[1].global_request_id == API_REQ and story[1].request_id == NET_REQ


def test_instance_story(indexed: Path) -> None:
    index = RequestIndex(indexed)
    story = index.story(VM)
    requests = {r.request_id for r in story}
    assert requests == {API_REQ, NET_REQ, OTHER}
    failed = [r for r in story if r.level == "ERROR"]
    assert len(failed) == 1 and "Traceback" in failed[0].message
    assert [r.timestamp for r in story] == sorted(r.timestamp for r in story)


def test_trace_command(indexed: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(trace, [OTHER, "--store", str(indexed)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2026-11-21 06:12:00.000 nova")
    assert "POST /v2.1/servers/" in lines[0] and "Reboot failed" in lines[1]
    assert "Traceback (most recent call last):" in result.output
    missing = runner.invoke(trace, ["req-nothing", "--store", str(indexed)])
    assert missing.exit_code == 1 and "nothing found for req-nothing" in missing.output
    # registered on the main command
    assert runner.invoke(main, ["trace", VM, "--store", str(indexed)]).exit_code == 0


def test_parse_command() -> None:
    runner = CliRunner()
    result = runner.invoke(logs, ["parse", str(REFERENCE / "nova-api.log"),
                                  str(REFERENCE / "keystone-access.log")])
    assert result.exit_code == 0, result.output
    text = (REFERENCE / "nova-api.log").read_text(encoding="utf-8")
    lines = text.count("\n")
    # a record carries its context bracket; the lines of its traceback do not
    records = len(re.findall(r"^\S+ \S+ \d+ [A-Z]+ \S+ \[", text, re.M))
    assert 0 < records < lines
    assert (f"nova-api.log: {lines} lines, {records} parsed, {lines - records} skipped, "
            "0 unparsed") in result.output
    assert f"skipped continuation: {lines - records}" in result.output
    assert "POST /v3/auth/tokens 401" in result.output


def test_parse_command_shows_unparsed(tmp_path: Path) -> None:
    bad = tmp_path / "keystone-access.log"
    bad.write_text('10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x" '
                   "0.1\nnot an access line\n", encoding="utf-8")
    result = CliRunner().invoke(logs, ["parse", str(bad)])
    assert result.exit_code == 1
    assert "1 unparsed" in result.output and "unparsed: not an access line" in result.output


def _access_hours(*names: str) -> dict[float, int]:
    """Requests per UTC hour in recorded access logs, counted from their dates."""
    from stackwatch.logparse.timestamps import clf_epoch, hour_of

    hours: dict[float, int] = {}
    for name in names:
        for line in (REFERENCE / name).read_text(encoding="utf-8").splitlines():
            hour = hour_of(clf_epoch(line.split("[", 1)[1].split("]", 1)[0]))
            hours[hour] = hours.get(hour, 0) + 1
    return hours


def test_backfill_command(tmp_path: Path) -> None:
    logs_dir = tmp_path / "old"
    logs_dir.mkdir()
    names = ("keystone-access.log", "nova-api.log", "nova-api-access.log")
    for name in names:
        shutil.copy(REFERENCE / name, logs_dir / name)
    with open(REFERENCE / "placement-api-access.log", "rb") as raw, \
            gzip.open(logs_dir / "placement-api-access.log.3.gz", "wb") as packed:
        shutil.copyfileobj(raw, packed)
    store = tmp_path / "s.sqlite"
    runner = CliRunner()
    result = runner.invoke(logs, ["backfill", str(logs_dir), "--store", str(store),
                                  "--workers", "2"])
    assert result.exit_code == 0, result.output
    lines = {name: (REFERENCE / name).read_text(encoding="utf-8").count("\n")
             for name in (*names, "placement-api-access.log")}
    assert f"4 files, {sum(lines.values())} lines (0 unparsed)" in result.output
    history = LogHistory(store)
    hourly = history.requests_per_hour()
    by_service: dict[str, int] = {}
    for row in hourly:
        by_service[row.service] = by_service.get(row.service, 0) + row.requests
    # nova counted from its access log only; the .gz read
    assert by_service == {"keystone": lines["keystone-access.log"],
                          "nova": lines["nova-api-access.log"],
                          "placement": lines["placement-api-access.log"]}
    hours = _access_hours("keystone-access.log", "nova-api-access.log",
                          "placement-api-access.log")
    per_hour: dict[float, int] = {}
    for row in hourly:
        per_hour[row.hour] = per_hour.get(row.hour, 0) + row.requests
    assert per_hour == hours
    total = sum(hours.values())
    again = runner.invoke(logs, ["backfill", str(logs_dir), "--store", str(store)])
    assert again.exit_code == 0
    assert sum(r.requests for r in history.requests_per_hour()) == total
    shown = runner.invoke(logs, ["hourly", "--store", str(store), "--top", "2"])
    assert shown.exit_code == 0, shown.output
    printed = shown.output.splitlines()
    first = min(hours)
    assert printed[0] == (f"{time.strftime('%Y-%m-%d %H:00', time.gmtime(first))}  "
                          f"{hours[first]} requests")
    busiest = max((r for r in history.requests_per_hour() if r.hour == first),
                  key=lambda r: r.requests)
    assert len(printed) == 3 * len(hours)
    assert printed[1].split()[:4] == [str(busiest.requests), busiest.service, busiest.method,
                                      busiest.url]
    empty = runner.invoke(logs, ["hourly", "--store", str(tmp_path / "empty.sqlite")])
    assert empty.exit_code == 1


def test_blocklist_command(tmp_path: Path) -> None:
    log = tmp_path / "keystone-access.log"
    lines = [f'{addr} - - [21/Nov/2026:06:{m:02d}:{s:02d} +0000] "POST /v3/auth/tokens '
             f'HTTP/1.1" {status} 114 "-" "x" 0.2\n'
             for addr, status, m in (("203.0.113.9", 401, 10), ("198.51.100.4", 401, 1),
                                     ("10.0.0.5", 201, 10))
             for s in range(30)]
    log.write_text("".join(lines), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(logs, ["blocklist", str(log), "--format", "nginx"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "deny 203.0.113.9;\n"  # 198.51.100.4 is outside the window
    wide = runner.invoke(logs, ["blocklist", str(log), "--window", "3600", "--format", "plain",
                                "-o", str(tmp_path / "block.txt")])
    assert wide.exit_code == 0
    assert (tmp_path / "block.txt").read_text() == "198.51.100.4\n203.0.113.9\n"


def test_blocklist_root_without_matching_files_is_an_error(tmp_path: Path) -> None:
    """--root whose files the default patterns miss fails plainly, not an empty list."""
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "access.log").write_text(
        '203.0.113.9 - - [21/Nov/2026:06:10:00 +0000] "POST /v3/auth/tokens HTTP/1.1" '
        '401 114 "-" "x" 0.2\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["logs", "blocklist", "--root", str(tmp_path)])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert f"no log files matched under {tmp_path}" in result.stderr
    assert "keystone/*.log" in result.stderr
    # a root where keystone's log is where the defaults look still works
    (tmp_path / "keystone").mkdir()
    lines = "".join(f'203.0.113.9 - - [21/Nov/2026:06:10:{s:02d} +0000] "POST /v3/auth/tokens '
                    f'HTTP/1.1" 401 114 "-" "x" 0.2\n' for s in range(30))
    (tmp_path / "keystone" / "keystone-access.log").write_text(lines, encoding="utf-8")
    ok = CliRunner().invoke(main, ["logs", "blocklist", "--root", str(tmp_path),
                                   "--format", "plain"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "203.0.113.9\n"


@pytest.mark.parametrize(("fmt", "expected"), [
    ("ipset", "create stackwatch_bruteforce hash:ip family inet -exist\n"
              "add stackwatch_bruteforce 192.0.2.1 -exist\n"
              "create stackwatch_bruteforce6 hash:ip family inet6 -exist\n"
              "add stackwatch_bruteforce6 2001:db8::1 -exist\n"
              "# iptables -I INPUT -m set --match-set stackwatch_bruteforce src -j DROP\n"),
    ("iptables", "iptables -I INPUT -s 192.0.2.1 -j DROP\n"
                 "ip6tables -I INPUT -s 2001:db8::1 -j DROP\n"),
    ("nginx", "deny 192.0.2.1;\ndeny 2001:db8::1;\n"),
    ("apache", "<RequireAll>\n    Require all granted\n    Require not ip 192.0.2.1\n"
               "    Require not ip 2001:db8::1\n</RequireAll>\n"),
])
def test_blocklist_formats(fmt: str, expected: str) -> None:
    assert blocklist(["2001:db8::1", "192.0.2.1", "192.0.2.1"], fmt) == expected


def test_nftables_set() -> None:
    text = blocklist(["192.0.2.1", "192.0.2.2"], "nftables")
    assert "set stackwatch_bruteforce { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 } }" \
        in text
    assert "ip saddr @stackwatch_bruteforce drop" in text
    with pytest.raises(ValueError, match="unknown"):
        blocklist([], "pf")


def test_backfill_ranges_join_exactly(tmp_path: Path) -> None:
    """A file cut into byte ranges for the workers gives what it gives whole, tracebacks
    included (ranges start at a record, never inside one)."""
    from stackwatch.sources.logs.backfill import backfill, plan

    big = tmp_path / "nova-compute.log"
    big.write_bytes((REFERENCE / "nova-compute-1.log").read_bytes() * 20)
    whole = next(iter(backfill([big], workers=1, host="h")))
    tasks = plan([big], "h", workers=2, range_size=20_000)
    assert len(tasks) >= 4  # the file is cut into several ranges
    ranged = next(iter(backfill([big], workers=2, host="h", range_size=20_000)))
    lines = (REFERENCE / "nova-compute-1.log").read_bytes().count(b"\n")
    assert ranged.lines == whole.lines == lines * 20
    assert ranged.hours == whole.hours


def test_index_pruned_to_retention(tmp_path: Path) -> None:
    root = tmp_path / "log"
    story_files(root)  # records of 2026-11-21 06:10-06:13
    index = RequestIndex(tmp_path / "store.sqlite")
    keep = LogsSource("nova", root, ["nova/*.log"], None, "h", index)
    keep.collect()
    assert index.count() == 5
    expiring = LogsSource("neutron", root, ["neutron/*.log"], None, "h", index, retention=60)
    expiring.collect()  # retention of a minute: everything recorded in 2026-11 goes
    assert index.count() == 0


def test_trace_includes_the_stores_events(indexed: Path) -> None:
    """Notifications and instance actions in the store join the story of their request."""
    from stackwatch.model import Collection, Event, Severity
    from stackwatch.store.sqlite import SQLiteStore

    store = SQLiteStore(indexed)
    when = 1795241405.0  # 2026-11-21 06:10:05, while the server was being built
    store.write(Collection(events=(
        Event(kind="notification", event_type="compute.instance.create.end", timestamp=when,
              severity=Severity.INFO, service="nova", host="compute1",
              message="instance created", request_id=API_REQ, resource_ids=(VM,)),
        Event(kind="instance_action", event_type="reboot", timestamp=when + 116,
              service="nova", message="reboot failed", request_id=OTHER, resource_ids=(VM,)),
    )))
    store.close()
    runner = CliRunner()
    result = runner.invoke(trace, [API_REQ, "--store", str(indexed)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    notification = next(i for i, line in enumerate(lines) if "compute.instance.create" in line)
    took = next(i for i, line in enumerate(lines) if "Took 2.1 seconds" in line)
    assert lines[notification].startswith("2026-11-21 06:10:05.000 nova")
    assert took < notification or lines[took][:23] <= lines[notification][:23]
    by_instance = runner.invoke(trace, [VM, "--store", str(indexed)]).output
    assert "instance_action:reboot" in by_instance and "Reboot failed" in by_instance


@pytest.mark.parametrize("day", range(1, 32))
@pytest.mark.parametrize("batch", [False, True])
def test_blocklist_from_haproxy_any_day_of_the_month(tmp_path: Path, day: int,
                                                     batch: bool) -> None:
    """Behind HAProxy its log holds the client's address; syslog pads a one-digit day
    (``Dec  4``), which once cut the request line wrongly on days 1-9 of every month."""
    log = tmp_path / "haproxy.log"
    syslog_day = f"{day:>2}"
    lines = [f"Dec {syslog_day} 20:19:{s:02d} lb1 haproxy[1431]: {addr}:4{s:04d} "
             f"[{day:02d}/Dec/2026:20:19:{s:02d}.184] keystone_front keystone_back/ctl1 "
             f"0/0/0/429/430 {status} 109 - - ---- 1/1/0/0/0 0/0 "
             f'"POST /v3/auth/tokens HTTP/1.1"\n'
             for addr, status in (("203.0.113.50", 401), ("10.0.0.5", 201)) for s in range(25)]
    log.write_text("".join(lines), encoding="utf-8")
    parser = FileParser(LogFormat.HAPROXY, "haproxy", "lb1", "haproxy.log")
    parser.batch_bytes = 1 if batch else 1 << 62
    parser.feed(log.read_text(), 0)
    assert [f.remote for f in parser.failures] == ["203.0.113.50"] * 25
    result = CliRunner().invoke(logs, ["blocklist", str(log), "--format", "plain"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "203.0.113.50\n"


# -------------------------------------------- unreadable files, missing stores, escapes
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x00\u202e"
ESCAPED = "\\x1b[2J\\x1b]0;owned\\x07\\x00\\u202e"


def _access_log(path: Path, agent: str = "x") -> None:
    path.write_text(f'10.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 1 "-" '
                    f'"{agent}" 0.1\n', encoding="utf-8")


def _corrupt_gz(path: Path) -> None:
    packed = gzip.compress(b"".join(b"2026-11-21 06:10:00.100 590 INFO nova.api x [-] line %d\n"
                                    % i for i in range(5000)))
    path.write_bytes(packed[:40] + bytes(range(256)) * 8)  # a gzip header, then damage


def test_parse_reports_each_unreadable_file_and_exits_2(tmp_path: Path) -> None:
    good, bad, worse = (tmp_path / "keystone-access.log", tmp_path / "nova-api.log.2.gz",
                        tmp_path / "nova-api.log.3.gz")
    _access_log(good)
    _corrupt_gz(bad)
    _corrupt_gz(worse)
    result = CliRunner().invoke(logs, ["parse", str(bad), str(good), str(worse)])
    assert result.exit_code == 2, result.output
    assert f"{good}: 1 lines, 1 parsed" in result.output  # the others are still parsed
    assert f"error: {bad}: " in result.output and f"error: {worse}: " in result.output
    assert "stackwatch: 2 of 3 files could not be read" in result.output


def test_backfill_reports_each_unreadable_file_and_exits_2(tmp_path: Path) -> None:
    _access_log(tmp_path / "keystone-access.log")
    _corrupt_gz(tmp_path / "nova-api.log.2.gz")
    store = tmp_path / "s.sqlite"
    result = CliRunner().invoke(logs, ["backfill", str(tmp_path / "keystone-access.log"),
                                       str(tmp_path / "nova-api.log.2.gz"), "--store",
                                       str(store), "--engine", "python", "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert "nova-api.log.2.gz: " in result.output
    assert "1 of 2 files could not be read" in result.output
    assert sum(r.requests for r in LogHistory(store).requests_per_hour()) == 1


@pytest.mark.parametrize("command", [["logs", "hourly"], ["trace", API_REQ]])
def test_readers_of_a_missing_store_fail_and_create_none(tmp_path: Path,
                                                         command: list[str]) -> None:
    store = tmp_path / "nothing.sqlite"
    result = CliRunner().invoke(main, [*command, "--store", str(store)])
    assert result.exit_code == 2
    assert f"stackwatch: error: {store}: no store; run stackwatch logs backfill" in result.output
    assert not store.exists()
    store.write_bytes(b"not sqlite")
    result = CliRunner().invoke(main, [*command, "--store", str(store)])
    assert result.exit_code == 2
    assert "not a SQLite file, not a store" in result.output


def test_parse_escapes_control_characters_of_the_log(tmp_path: Path) -> None:
    raw = tmp_path / "keystone-access.log"
    _access_log(raw, agent="curl")
    with open(raw, "ab") as handle:
        handle.write(f"junk {ESCAPES} end\n".encode() + b"\xff\xfe\x9b\n")
    result = CliRunner().invoke(logs, ["parse", str(raw)])
    assert result.exit_code == 1, result.output
    assert f"unparsed: junk {ESCAPED} end" in result.output
    assert "unparsed: \\xff\\xfe\\x9b" in result.output
    assert not any(c in result.output for c in "\x1b\x07\x00\u202e")


def test_trace_escapes_control_characters_of_the_log(tmp_path: Path) -> None:
    root = tmp_path / "log"
    (root / "nova").mkdir(parents=True)
    (root / "nova" / "nova-api.log").write_text(
        f"2026-11-21 06:10:00.100 590 INFO nova.api.openstack.compute.servers [None {API_REQ}"
        f" {USER}] Creating server {ESCAPES}\n"
        f"2026-11-21 06:10:00.100 590 ERROR nova.api [None {API_REQ} {USER}] Traceback:\n"
        f"2026-11-21 06:10:00.100 590 ERROR nova.api [None {API_REQ} {USER}]   x{ESCAPES}\n",
        encoding="utf-8")
    store = tmp_path / "store.sqlite"
    index = RequestIndex(store)
    LogsSource("nova", root, ["nova/*.log"], None, "ctl1", index).collect()
    index.close()
    result = CliRunner().invoke(trace, [API_REQ, "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert f"Creating server {ESCAPED}" in result.output
    assert not any(c in result.output for c in "\x1b\x07\x00\u202e")


def test_timeline_links_requests_and_marks_the_error_story(indexed: Path) -> None:
    """The one trace function the CLI, the trace page and the API share."""
    store = SQLiteStore(indexed)
    now = time.time()
    story = timeline(store, VM, now)
    assert story.kind == "instance" and story.services == ["neutron", "nova"]
    assert [s.timestamp for s in story.steps] == sorted(s.timestamp for s in story.steps)
    # nova's request and the neutron call made for it, then the reboot on its own
    assert [(g.global_request_id, [r.request_id for r in g.requests])
            for g in story.requests] == [(API_REQ, [API_REQ, NET_REQ]), ("", [OTHER])]
    neutron = story.requests[0].requests[1]
    assert (neutron.services, neutron.records, neutron.errors) == (["neutron"], 1, 0)
    [failed] = [s for s in story.steps if s.error]
    assert story.errors == 1 and failed.traceback and failed.message == "Reboot failed"
    assert failed.detail[0] == "Traceback (most recent call last):"
    assert failed.request_id == OTHER and failed.resource_ids == [VM]
    # the pause between the build and the reboot, two minutes later
    reboot = next(s for s in story.steps if s.request_id == OTHER)
    assert story.steps[0].gap_seconds is None
    assert reboot.gap_seconds == pytest.approx(115.0)
    assert timeline(store, NET_REQ, now).kind == "request"
    assert [s.service for s in timeline(store, API_REQ, now).steps] == [
        "nova", "neutron", "nova", "nova"]
    with pytest.raises(NotFound, match="nothing found for req-nothing"):
        timeline(store, "req-nothing", now)
    with pytest.raises(BadQuery):
        timeline(store, "", now)
    store.close()
