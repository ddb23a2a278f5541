"""Sample -> expected tables for each format, on real recorded lines where they exist."""

from __future__ import annotations

import pytest

from stackwatch.logparse.access import parse_combined, parse_uwsgi
from stackwatch.logparse.haproxy import parse_httplog
from stackwatch.logparse.oslo import parse_context, parse_oslo
from stackwatch.logparse.other import recognise
from stackwatch.logparse.records import Context
from stackwatch.logparse.system import disk_device, parse_libvirt, parse_syslog
from stackwatch.logparse.timestamps import clf_epoch, iso_epoch
from stackwatch.logparse.urls import url_template

pytestmark = pytest.mark.unit

T0 = iso_epoch("2026-11-21 06:19:36")


@pytest.mark.parametrize(("path", "template"), [
    ("/v2.1/servers/detail", "/v2.1/servers/detail"),
    ("/v2.1/servers/8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a/action", "/v2.1/servers/{id}/action"),
    ("/v2.1/servers/fake-vm-1", "/v2.1/servers/{id}"),
    ("/v2.1/flavors/m1.fake", "/v2.1/flavors/{id}"),
    ("/v2.1/servers/114d3df5-f31f-4f8a-887c-de20ad447ed8/os-instance-actions/"
     "req-11318ebe-b51b-488a-bfd5-0b693b58ee09",
     "/v2.1/servers/{id}/os-instance-actions/{id}"),
    ("/v2.1/os-hypervisors/statistics", "/v2.1/os-hypervisors/statistics"),
    ("/v2.1/os-hypervisors/fake-compute-1/servers", "/v2.1/os-hypervisors/{id}/servers"),
    ("/v2.1/os-aggregates/1/action", "/v2.1/os-aggregates/{id}/action"),
    ("/v3/de912f432d76441d9a692064394cb3d4/volumes/detail?all_tenants=1",
     "/v3/{id}/volumes/detail"),
    ("/v3/de912f432d76441d9a692064394cb3d4/types/fake", "/v3/{id}/types/{id}"),
    ("/v3/auth/tokens", "/v3/auth/tokens"),
    ("/identity/v3/auth/tokens", "/identity/v3/auth/tokens"),
    ("/v3/projects/2b84bf5412f849c3a358b69f53f89ec1/users/5afa7840934d4210aed583efbe8237bd/"
     "roles/3e44d8d970424c30ba0a83f62df28a01", "/v3/projects/{id}/users/{id}/roles/{id}"),
    ("/v2.0/quotas/2b84bf5412f849c3a358b69f53f89ec1/default", "/v2.0/quotas/{id}/default"),
    ("/resource_providers/e0b2f25d-97c1-4934-93c1-888f056ab3f4/inventories",
     "/resource_providers/{id}/inventories"),
    ("/v2/images/38eaa820-875b-48fd-ae11-49c1f49a3420/file", "/v2/images/{id}/file"),
    ("/v2.0/networks?shared=True", "/v2.0/networks"),
    ("/", "/"),
    ("", "/"),
])
def test_url_templates(path: str, template: str) -> None:
    assert url_template(path) == template


REQUESTLOG = (
    '2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None '
    'req-317dd0b1-6a36-4f4e-9c8e-2b1a4a3c1111 5afa7840934d4210aed583efbe8237bd '
    'de912f432d76441d9a692064394cb3d4 - - default default] 127.0.0.1 "GET /v2.1/servers/detail"'
    ' status: 500 len: 224 microversion: 2.103 time: 4.484147')


def test_oslo_requestlog_line() -> None:
    line = parse_oslo(REQUESTLOG)
    assert line is not None
    assert (line.timestamp, line.pid, line.level, line.logger) == (
        T0 + 0.304, 590, "INFO", "nova.api.openstack.requestlog")
    assert line.context == Context("", "req-317dd0b1-6a36-4f4e-9c8e-2b1a4a3c1111",
                                   "5afa7840934d4210aed583efbe8237bd",
                                   "de912f432d76441d9a692064394cb3d4")
    assert line.request is not None
    assert (line.request.remote, line.request.method, line.request.path, line.request.status,
            line.request.length, line.request.microversion, line.request.duration) == (
        "127.0.0.1", "GET", "/v2.1/servers/detail", 500, 224, "2.103", 4.484147)


@pytest.mark.parametrize(("line", "expected"), [
    # placement's requestlog has no time
    ('2026-11-21 06:04:59.434 29795 INFO placement.requestlog [None req-b5fe223e-29d7-4e90-'
     'b456-18a7e4b1eed8 - - - - - -] 127.0.0.1 "GET /" status: 200 len: 136 microversion: 1.0',
     ("GET", "/", 200, 136, None, "1.0")),
    # eventlet wsgi (neutron/glance before WSGI servers), two spaces before len
    ('2026-11-21 06:10:00.100 1234 INFO neutron.wsgi [req-0b3e4c5d-6f70-4a1b-8c9d-0e1f2a3b4c5d'
     ' 5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4 - - -] 10.0.0.9 '
     '"GET /v2.0/ports?device_id=x HTTP/1.1" status: 200  len: 1834 time: 0.0823',
     ("GET", "/v2.0/ports", 200, 1834, 0.0823, "")),
    # nova-api behind the query string
    ('2026-11-21 06:07:44.553 29970 INFO nova.api.openstack.requestlog [None req-65f7ade3-4ae0-'
     '431c-be22-56144f1ddfa4 5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4'
     ' - - default default] 127.0.0.1 "GET /v2.1/servers/detail?name=fake-vm-2" status: 200 '
     'len: 15 microversion: 2.100 time: 0.028750',
     ("GET", "/v2.1/servers/detail", 200, 15, 0.02875, "2.100")),
])
def test_request_lines(line: str, expected: tuple[object, ...]) -> None:
    parsed = parse_oslo(line)
    assert parsed is not None and parsed.request is not None
    r = parsed.request
    assert (r.method, r.path, r.status, r.length, r.duration, r.microversion) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("None req-317dd0b1-6a36 5afa78 de912f - - default default",
     Context("", "req-317dd0b1-6a36", "5afa78", "de912f")),
    ("req-aaa req-bbb u p - - -", Context("req-aaa", "req-bbb", "u", "p")),
    ("req-bbb u p - - -", Context("", "req-bbb", "u", "p")),
    ("None req-df46960f - - - - - -", Context("", "req-df46960f", "", "")),
    ("-", Context()),
])
def test_context(text: str, expected: Context) -> None:
    assert parse_context(text) == expected


def test_oslo_continuation_and_instance() -> None:
    first = parse_oslo(
        "2026-11-21 06:12:38.548 573 ERROR nova.conductor.manager [None req-d230b742-9820-4f10-"
        "9b12-23d9763ef114 5afa7840934d4210aed583efbe8237bd de912f432d76441d9a692064394cb3d4 - - "
        "default default] [instance: 8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a] Failed to schedule")
    assert first is not None and first.context is not None
    assert first.instance == "8a90fa0e-03e0-4e5a-b8a0-39964ec29c5a"
    assert first.message == "Failed to schedule"
    trace = parse_oslo("2026-11-21 06:19:39.923 590 ERROR nova.api.openstack.wsgi Traceback "
                       "(most recent call last):")
    assert trace is not None and trace.context is None
    assert trace.message == "Traceback (most recent call last):"
    empty = parse_oslo("2026-11-21 06:19:39.923 590 ERROR nova.api.openstack.wsgi ")
    assert empty is not None and empty.context is None and empty.message == ""
    assert parse_oslo("<class 'keystoneauth1.exceptions.connection.ConnectFailure'>") is None


@pytest.mark.parametrize(("line", "expected"), [
    # gunicorn, as the reference APIs ran (combined + seconds)
    ('127.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v2.1/servers/detail HTTP/1.1" 500 224 '
     '"-" "python-requests/2.32.5" 4.485598',
     ("127.0.0.1", T0, "GET", "/v2.1/servers/detail", 500, 224, 4.485598)),
    # query string dropped from the path, user agent with spaces
    ('127.0.0.1 - - [21/Nov/2026:06:05:24 +0000] "GET /v2/images?name=fake-cirros HTTP/1.1" 200'
     ' 86 "-" "openstacksdk/4.10.0 keystoneauth1/5.13.1 python-requests/2.32.5 CPython/3.11.7" '
     '0.023190', ("127.0.0.1", T0 - 852, "GET", "/v2/images", 200, 86, 0.02319)),
    # Apache combined with %D (microseconds), devstack keystone style with vhost
    ('keystone.example.org:5000 10.1.2.3 - - [21/Nov/2026:07:19:36 +0100] "POST /v3/auth/tokens '
     'HTTP/1.1" 401 114 "-" "openstacksdk/4.10.0" 45213(us)',
     ("10.1.2.3", T0, "POST", "/v3/auth/tokens", 401, 114, 0.045213)),
    # Apache combined with a bare %D, no size
    ('10.1.2.3 - - [21/Nov/2026:06:19:36 +0000] "DELETE /v3/auth/tokens HTTP/1.1" 204 - "-" '
     '"curl/8.0" 1200', ("10.1.2.3", T0, "DELETE", "/v3/auth/tokens", 204, 0, 0.0012)),
    # plain common log format: no response time
    ('10.1.2.3 - - [21/Nov/2026:06:19:36 +0000] "GET /v3 HTTP/1.1" 200 300',
     ("10.1.2.3", T0, "GET", "/v3", 200, 300, None)),
])
def test_access_lines(line: str, expected: tuple[object, ...]) -> None:
    r = parse_combined(line)
    assert r is not None
    assert (r.remote, r.timestamp, r.method, r.path, r.status, r.length, r.duration) == expected


def test_uwsgi_line() -> None:
    r = parse_uwsgi(
        "[pid: 9|app: 0|req: 1/1] 10.0.0.4 () {34 vars in 470 bytes} [Sat Nov 21 06:19:36 2026]"
        " POST /v3/auth/tokens => generated 2301 bytes in 45 msecs (HTTP/1.1 201) 6 headers in "
        "250 bytes (1 switches on core 0)")
    assert r is not None
    assert (r.remote, r.timestamp, r.method, r.path, r.status, r.length, r.duration) == (
        "10.0.0.4", T0, "POST", "/v3/auth/tokens", 201, 2301, 0.045)


def test_haproxy_httplog() -> None:
    r = parse_httplog(
        'Nov 21 06:19:36 lb1 haproxy[1234]: 203.0.113.7:51234 [21/Nov/2026:06:19:36.123] '
        'keystone_public~ keystone_public_back/ctl1 0/0/1/45/46 401 1234 - - ---- 10/5/0/0/0 0/0 '
        '"POST /v3/auth/tokens HTTP/1.1"')
    assert r is not None
    assert (r.host, r.client, r.frontend, r.backend, r.server, r.timers, r.status, r.length,
            r.termination, r.method, r.path) == (
        "lb1", "203.0.113.7", "keystone_public", "keystone_public_back", "ctl1",
        (0, 0, 1, 45, 46), 401, 1234, "----", "POST", "/v3/auth/tokens")
    assert r.timestamp == pytest.approx(T0 + 0.123)
    no_server = parse_httplog(
        '2026-11-21T06:19:36+00:00 lb1 haproxy[1234]: 10.0.0.1:4000 [21/Nov/2026:06:19:36.000] '
        'nova_api nova_api_back/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 '
        '{keystone.example} "GET /v2.1/servers HTTP/1.1"')
    assert no_server is not None
    assert (no_server.server, no_server.status, no_server.timers) == (
        "<NOSRV>", 503, (0, -1, -1, -1, 0))
    assert parse_httplog("Nov 21 06:19:36 lb1 haproxy[1234]: Proxy nova_api started.") is None


def test_libvirt_line() -> None:
    line = parse_libvirt(
        "2026-11-21 06:19:36.123+0000: 2417: error : qemuMonitorIO:620 : internal error: End of "
        "file from qemu monitor")
    assert line is not None
    assert (line.timestamp, line.level, line.message, line.device) == (
        pytest.approx(T0 + 0.123), "ERROR", "internal error: End of file from qemu monitor", "")
    io = parse_libvirt("2026-11-21 06:19:36.123+0000: 2417: warning : qemuProcessHandleIOError:"
                       "851 : block I/O error in device 'drive-virtio-disk0': Input/output "
                       "error (5)")
    assert io is not None and io.device == "drive-virtio-disk0"


@pytest.mark.parametrize(("message", "device"), [
    ("blk_update_request: I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800", "sdb"),
    ("I/O error, dev nvme0n1, sector 12 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2",
     "nvme0n1"),
    ("Buffer I/O error on dev sda1, logical block 0, async page read", "sda1"),
    ("sd 2:0:0:0: [sdc] tag#7 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK", "sdc"),
    ("EXT4-fs error (device dm-0): ext4_find_entry:1455: inode #2: reading directory", "dm-0"),
    ("XFS (sdd1): metadata I/O error in \"xfs_trans_read_buf_map\" at daddr 0x2", "sdd1"),
    ("ata3.00: failed command: READ FPDMA QUEUED", "ata3.00"),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex", ""),
])
def test_kernel_disk_errors(message: str, device: str) -> None:
    assert disk_device(message) == device
    line = parse_syslog(f"Nov 21 06:19:36 compute1 kernel: [ 8812.123456] {message}")
    assert line is not None and line.host == "compute1" and line.program == "kernel"
    assert line.device == device


@pytest.mark.parametrize(("line", "reason"), [
    ("[2026-11-21 06:06:07 +0000] [29965] [INFO] Listening at: http://127.0.0.1:8774 (29965)",
     "gunicorn"),
    ("2026-11-21 06:12:36.532022+00:00 [info] <0.1164.0> accepting AMQP connection <0.1164.0> "
     "(127.0.0.1:56856 -> 127.0.0.1:5672)", "rabbitmq"),
    ("2026-11-21  6:04:09 0 [Note] Starting MariaDB 10.11.19-MariaDB-0+deb12u1", "mariadb"),
    ("INFO  [alembic.runtime.migration] Context impl MySQLImpl.", "python-logging"),
    ("[Sat Nov 21 06:19:36.123456 2026] [wsgi:error] [pid 12:tid 34] [remote 10.0.0.1:5] x",
     "apache-error"),
    ("Nov 21 06:19:36 lb1 haproxy[1234]: Server nova_api_back/ctl2 is DOWN", "haproxy-notice"),
    ("   ", "blank"),
    ("random words", ""),
])
def test_recognised_lines(line: str, reason: str) -> None:
    assert recognise(line) == reason


def test_timestamps() -> None:
    assert clf_epoch("21/Nov/2026:07:19:36 +0100") == T0
    assert clf_epoch("21/Nov/2026:06:19:36.250 +0000") == T0 + 0.25
    assert iso_epoch("2026-11-21T06:19:36.5") == T0 + 0.5
    assert clf_epoch("garbage") == 0.0
    assert iso_epoch("2026-13-45 99:99:99") == 0.0


def test_template_cardinality_is_bounded() -> None:
    from stackwatch.logparse.urls import OTHER, TemplateCache

    templates = TemplateCache(max_templates=3)
    assert templates("/v1/a/x") == "/v1/a/x"
    assert templates("/v2.1/servers/fake-vm-1") == "/v2.1/servers/{id}"
    assert templates("/v1/b/x") == "/v1/b/x"
    assert templates("/v1/c/x") == OTHER  # a fourth distinct template
    assert templates("/v2.1/servers/other-vm") == "/v2.1/servers/{id}"  # known ones stay
