"""Every metric of catalog/metrics/logs.yaml, from log files to the SQLite store.

The log files are written here line by line, in the formats the real services
use (the keystone and nova lines are copied from the reference recordings), so
each expected value is counted by hand from what was written.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.config import CloudConfig, LogsConfig
from stackwatch.model import Collection, Sample, Status
from stackwatch.sources.logs import build_log_sources
from stackwatch.store.request_index import RequestIndex
from stackwatch.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unit



def clf_now() -> str:
    """Now in the access logs' format: read when a line is written, not at import (a full
    run reaches this module minutes after collecting it, past the brute-force window)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())


def iso_now() -> str:
    """Now in oslo.log's format, read when a line is written."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())

UA = '"-" "openstacksdk/4.10.0 keystoneauth1/5.13.1 python-requests/2.32.5 CPython/3.11.7"'


def access(addr: str, method: str, path: str, status: int, seconds: float) -> str:
    return f'{addr} - - [{clf_now()}] "{method} {path} HTTP/1.1" {status} 100 {UA} {seconds:.6f}\n'


def oslo(level: str, logger: str, context: str, message: str, pid: int = 590) -> str:
    return f"{iso_now()}.123 {pid} {level} {logger} [{context}] {message}\n"


REQ = "req-317dd0b1-6a36-4f4e-9c8e-2b1a4a3c1111"
CTX = f"None {REQ} 5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4 - - " \
      "default default"
VM = "8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a"


@pytest.fixture
def log_root(tmp_path: Path) -> Path:
    root = tmp_path / "log"
    files = {
        "keystone/keystone-access.log": (
            [access("203.0.113.9", "POST", "/v3/auth/tokens", 401, 0.2)] * 25
            + [access("10.0.0.5", "POST", "/v3/auth/tokens", 201, 0.4)] * 3
            + [access("10.0.0.5", "POST", "/v3/auth/tokens", 401, 0.3)]
            + [access("10.0.0.6", "GET", "/v3/auth/tokens", 404, 0.03)] * 2
            + [access("10.0.0.6", "GET", "/v3/auth/tokens", 200, 0.02)] * 4
            + [access("10.0.0.6", "GET", "/v3/projects?domain_id=default", 503, 1.5)]),
        "keystone/keystone.log": [
            oslo("WARNING", "keystone.server.flask.application", "None req-e4f5 - - - - - -",
                 "Authorization failed. The request you have made requires authentication."),
        ],
        "nova/nova-api.log": [
            oslo("INFO", "nova.api.openstack.requestlog", CTX,
                 '127.0.0.1 "GET /v2.1/servers/detail" status: 500 len: 224 microversion: '
                 "2.103 time: 4.484147"),
            oslo("ERROR", "nova.api.openstack.wsgi", CTX, "Unexpected exception in API method"),
            f"{iso_now()}.923 590 ERROR nova.api.openstack.wsgi "
            "Traceback (most recent call last):\n",
            f'{iso_now()}.923 590 ERROR nova.api.openstack.wsgi   File "/usr/lib/x.py", line 1\n',
            "<class 'keystoneauth1.exceptions.connection.ConnectFailure'>\n",
            oslo("INFO", "nova.api.openstack.requestlog", CTX,
                 f'127.0.0.1 "POST /v2.1/servers/{VM}/action" status: 202 len: 0 '
                 "microversion: 2.103 time: 0.2"),
            oslo("CRITICAL", "nova", "-", "Unhandled error"),
        ],
        "nova/nova-api-access.log": [
            access("127.0.0.1", "GET", "/v2.1/servers/detail", 500, 4.485598),
            access("127.0.0.1", "POST", f"/v2.1/servers/{VM}/action", 202, 0.2),
        ],
        "nova/nova-compute.log": [
            oslo("INFO", "nova.compute.manager", CTX.replace("None", "req-aaaa1111-0000-0000-"
                 "0000-000000000000", 1), f"[instance: {VM}] Rebooting instance", pid=77),
        ],
        "haproxy.log": [
            f"Nov 21 06:19:36 lb1 haproxy[1234]: 198.51.100.7:5{i:04d} [{clf_now()[:20]}.{i:03d}] "
            f"nova_api nova_api_back/ctl{i % 2} 0/0/1/45/{46 + i} {503 if i < 3 else 200} 217"
            f' - - ---- 1/1/0/0/0 0/0 "GET /v2.1/servers HTTP/1.1"\n' for i in range(10)
        ],
        "kern.log": [
            "Nov 21 06:19:36 compute1 kernel: [ 8812.1] blk_update_request: I/O error, dev sdb, "
            "sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n",
            "Nov 21 06:19:37 compute1 kernel: [ 8812.2] Buffer I/O error on dev sdb1, logical "
            "block 0, async page read\n",
            "Nov 21 06:19:38 compute1 kernel: [ 8812.3] e1000e: eth0 NIC Link is Up\n",
        ],
        "libvirt/libvirtd.log": [
            "2026-11-21 06:19:36.123+0000: 2417: error : qemuMonitorIO:620 : internal error: "
            "End of file from qemu monitor\n",
            "2026-11-21 06:19:36.124+0000: 2417: warning : qemuProcessHandleIOError:851 : block "
            "I/O error in device 'drive-virtio-disk0': Input/output error (5)\n",
        ],
    }
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines), encoding="utf-8")
    return root


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s for s in samples if s.name == name
             and all(s.label(k) == v for k, v in labels.items())]
    assert found, f"no {name} {labels}"
    return sum(s.value for s in found)


def test_every_metric_from_files_to_store(log_root: Path, tmp_path: Path) -> None:
    cloud = CloudConfig(name="c", logs=LogsConfig(root=log_root))
    store_path = tmp_path / "store.sqlite"
    index = RequestIndex(store_path)
    sources = build_log_sources(cloud, tmp_path / "cp", host="ctl1", index=index)
    assert sorted(s.name for s in sources) == [
        "logs.haproxy", "logs.kernel", "logs.keystone", "logs.libvirt", "logs.nova"]
    store = SQLiteStore(store_path)
    collections = [s.collect() for s in sources]
    for collection in collections:
        store.write(collection)
    assert_declared(collections)
    assert_covered(collections, source="logs")
    latest = store.latest_samples()
    p = "openstack_log_"
    # requests, by service / method / URL template / status; nova counted once
    assert value(latest, p + "http_requests_total", service="keystone", method="POST",
                 url="/v3/auth/tokens", status="401") == 26
    assert value(latest, p + "http_requests_total", service="nova") == 2
    assert value(latest, p + "http_requests_total", service="nova", method="POST",
                 url="/v2.1/servers/{id}/action", status="202") == 1
    assert value(latest, p + "http_server_errors_total", service="keystone") == 1
    assert value(latest, p + "http_server_errors_total", service="nova") == 1
    # response-time histograms and quantiles per operation
    assert value(latest, p + "http_request_duration_seconds_count", service="keystone",
                 method="POST", url="/v3/auth/tokens") == 29
    assert value(latest, p + "http_request_duration_seconds_bucket", service="keystone",
                 method="POST", url="/v3/auth/tokens", le="0.25") == 25
    assert value(latest, p + "http_request_duration_seconds_sum", service="nova",
                 url="/v2.1/servers/detail") == pytest.approx(4.485598)
    p50 = value(latest, p + "http_request_duration_quantile_seconds", service="keystone",
                method="POST", url="/v3/auth/tokens", quantile="0.5")
    assert 0.1 < p50 <= 0.25
    assert value(latest, p + "http_request_duration_quantile_seconds", service="keystone",
                 method="POST", url="/v3/auth/tokens", quantile="0.99") > 0.25
    # keystone: authentication and token validation
    assert value(latest, p + "identity_auth_failures_total", host="ctl1") == 26
    assert value(latest, p + "identity_auth_duration_seconds_count") == 29
    assert value(latest, p + "identity_auth_duration_seconds_sum") == pytest.approx(
        25 * 0.2 + 3 * 0.4 + 0.3)
    assert value(latest, p + "identity_token_validation_failures_total") == 2
    assert value(latest, p + "identity_token_validation_duration_seconds_count") == 6
    # HAProxy
    assert value(latest, p + "haproxy_http_responses_total", backend="nova_api_back",
                 status="503") == 3
    assert value(latest, p + "haproxy_http_responses_total", host="lb1") == 10
    assert value(latest, p + "haproxy_backend_server_errors_total",
                 backend="nova_api_back") == 3
    assert value(latest, p + "haproxy_total_time_seconds_count", backend="nova_api_back") == 10
    # records by level; the traceback and its unprefixed line are one ERROR record
    assert value(latest, p + "records_total", service="nova", level="ERROR") == 1
    assert value(latest, p + "records_total", service="nova", level="CRITICAL") == 1
    assert value(latest, p + "records_total", service="nova", level="INFO") == 3
    assert value(latest, p + "records_total", service="libvirt", level="ERROR") == 1
    assert value(latest, p + "tracebacks_total", service="nova") == 1
    # disk I/O errors: kernel and QEMU through libvirtd
    assert value(latest, p + "disk_io_errors_total", device="sdb") == 1
    assert value(latest, p + "disk_io_errors_total", device="sdb1") == 1
    assert value(latest, p + "disk_io_errors_total", device="drive-virtio-disk0") == 1
    # line accounting
    assert value(latest, p + "lines_total", outcome="unparsed") == 0
    assert value(latest, p + "lines_total", service="kernel", outcome="parsed") == 2
    assert value(latest, p + "skipped_lines_total", service="kernel", reason="syslog-other") == 1
    assert value(latest, p + "skipped_lines_total", service="nova", reason="continuation") == 3
    # the brute-force check names the address
    checks = {c.name: c for c in store.latest_checks()}
    bruteforce = checks["logs.auth_bruteforce"]
    assert bruteforce.status == Status.WARNING
    assert "203.0.113.9 (25)" in bruteforce.message and "10.0.0.5" not in bruteforce.message
    assert "window=300s" in [d.render() for d in bruteforce.perfdata]
    # every offender is a sample too (the message names only ten)
    offenders = {s.label("address"): s.value for s in latest
                 if s.name == p + "identity_auth_offender_failures"}
    assert offenders == {"203.0.113.9": 25}
    # ERROR records became events, with request id and instance
    events = store.events(0, time.time() + 10, kinds=["log"])
    assert {e.severity.name for e in events} == {"ERROR", "CRITICAL"}
    assert any(e.request_id == REQ for e in events)
    store.close()
    index.close()


@pytest.mark.parametrize(("threshold", "status"), [(25, Status.WARNING), (26, Status.OK)])
def test_the_brute_force_threshold_and_window_come_from_the_config(
        log_root: Path, tmp_path: Path, threshold: int, status: Status) -> None:
    """203.0.113.9 failed 25 times: named at a threshold of 25, not at 26."""
    cloud = CloudConfig(name="c", logs=LogsConfig(
        root=log_root, bruteforce_threshold=threshold, bruteforce_window=1e9))
    (keystone,) = [s for s in build_log_sources(cloud, tmp_path / "cp", host="h")
                   if s.service == "keystone"]
    assert keystone.detector.window == 1e9
    [check] = [c for c in keystone.collect().checks if c.name == "logs.auth_bruteforce"]
    assert check.status == status, check.message
    assert ("203.0.113.9 (25)" in check.message) == (status == Status.WARNING)


def test_counters_survive_a_restart(log_root: Path, tmp_path: Path) -> None:
    cloud = CloudConfig(name="c", logs=LogsConfig(root=log_root))
    (first,) = [s for s in build_log_sources(cloud, tmp_path / "cp", host="h")
                if s.service == "keystone"]
    before = value(list(first.collect().samples), "openstack_log_http_requests_total")
    with open(log_root / "keystone/keystone-access.log", "a", encoding="utf-8") as handle:
        handle.write(access("10.0.0.5", "GET", "/v3", 200, 0.001))
    (second,) = [s for s in build_log_sources(cloud, tmp_path / "cp", host="h")
                 if s.service == "keystone"]
    after = second.collect()
    assert value(list(after.samples), "openstack_log_http_requests_total") == before + 1
    assert isinstance(after, Collection)
    # nothing new: same totals, no quantiles (they describe the latest requests only)
    again = second.collect()
    assert value(list(again.samples), "openstack_log_http_requests_total") == before + 1
    assert not [s for s in again.samples if "quantile" in s.name]


def test_unparsed_lines_are_kept_for_inspection(tmp_path: Path) -> None:
    from stackwatch.sources.logs import LogsSource

    log = tmp_path / "apache2" / "keystone_access.log"
    log.parent.mkdir()
    log.write_text(access("10.0.0.1", "GET", "/v3", 200, 0.01) + "garbage one\n"
                   + "".join(f"bad {n}\n" for n in range(30)), encoding="utf-8")
    source = LogsSource("keystone", tmp_path, ["apache2/*.log"], None, host="h")
    collection = source.collect()
    kept = [e for e in collection.events if e.kind == "log-unparsed"]
    assert [e.message for e in kept[:2]] == ["garbage one", "bad 0"]
    assert len(kept) == 20  # bounded
    assert value(list(collection.samples), "openstack_log_lines_total", outcome="unparsed") == 31
    assert not [e for e in source.collect().events if e.kind == "log-unparsed"]


def test_format_of_a_file_created_empty(tmp_path: Path) -> None:
    """A file named like nothing in particular, empty at the first look, then written with
    access lines: its format is decided once it has lines."""
    from stackwatch.sources.logs import LogsSource

    log = tmp_path / "keystone" / "public.log"
    log.parent.mkdir()
    log.touch()
    source = LogsSource("keystone", tmp_path, ["keystone/*.log"], None, host="h")
    source.collect()
    log.write_text(access("10.0.0.1", "GET", "/v3", 200, 0.01), encoding="utf-8")
    collection = source.collect()
    assert value(list(collection.samples), "openstack_log_http_requests_total") == 1
    assert value(list(collection.samples), "openstack_log_lines_total", outcome="unparsed") == 0


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "tally": {"requests": 5}}',
                                     '{"version": 1, "files": {"x": {"streams": [[1]]}}}'])
def test_unusable_checkpoint_is_set_aside(tmp_path: Path, content: str) -> None:
    from stackwatch.sources.logs import LogsSource

    log = tmp_path / "apache2" / "keystone_access.log"
    log.parent.mkdir()
    log.write_text(access("10.0.0.1", "GET", "/v3", 200, 0.01), encoding="utf-8")
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(content, encoding="utf-8")
    source = LogsSource("keystone", tmp_path, ["apache2/*.log"], checkpoint, host="h")
    collection = source.collect()
    assert value(list(collection.samples), "openstack_log_http_requests_total") == 1
    (aside,) = tmp_path.glob("cp.json.corrupt-*")
    assert aside.read_text(encoding="utf-8") == content
    again = LogsSource("keystone", tmp_path, ["apache2/*.log"], checkpoint, host="h")
    assert value(list(again.collect().samples), "openstack_log_http_requests_total") == 1


def test_error_events_are_the_latest_two_hundred(tmp_path: Path) -> None:
    """300 ERROR records after unparsed lines: one collection returns the last 200 events,
    in file order, each made from its record (request id, instance, first message line)."""
    from stackwatch.sources.logs import LogsSource

    log = tmp_path / "nova" / "nova-api.log"
    log.parent.mkdir()
    log.write_text("".join(f"bad {n}\n" for n in range(5))
                   + "".join(oslo("ERROR", "nova.api", CTX, f"[instance: {VM}] failed {n}")
                             + f"{iso_now()}.123 590 ERROR nova.api Traceback (most recent call)\n"
                             for n in range(300)), encoding="utf-8")
    events = LogsSource("nova", tmp_path, ["nova/*.log"], None, host="h").collect().events
    assert len(events) == 200
    assert all(e.kind == "log" for e in events)
    assert [e.message for e in events[:2]] == ["failed 100", "failed 101"]
    assert events[-1].message == "failed 299"
    assert events[-1].request_id == REQ
    assert events[-1].resource_ids == (VM,)
