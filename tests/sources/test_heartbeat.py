"""Heartbeat late (``sources/heartbeat.py``): the verdict table, and ages on the cloud's
clock (an API whose ``Date`` is five minutes ahead of ours)."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stackwatch.model import Status
from stackwatch.sources.heartbeat import heartbeat_check
from stackwatch.sources.openstack_api.transport import Transport

pytestmark = pytest.mark.unit

#: (age, interval, says up, enabled) -> (status, words in the message)
CASES = [
    (3.0, 10.0, True, True, Status.OK, "heartbeat last seen 3 s ago, report interval 10 s"),
    (20.0, 10.0, True, True, Status.OK, "last seen 20 s ago"),
    (25.0, 10.0, True, True, Status.WARNING,
     "heartbeat late: last seen 25 s ago, report interval 10 s"),
    (59.0, 30.0, True, True, Status.OK, "report interval 30 s"),
    (61.0, 30.0, True, True, Status.WARNING, "heartbeat late: last seen 61 s ago"),
    (75.0, 10.0, False, True, Status.CRITICAL, "down, last seen 75 s ago"),
    (75.0, 10.0, False, False, Status.WARNING, "down, last seen 75 s ago"),
    (None, 10.0, False, True, Status.CRITICAL, "down, never seen"),
    (None, 10.0, True, True, Status.UNKNOWN, "no heartbeat time"),
]


@pytest.mark.parametrize(("age", "interval", "up", "enabled", "status", "words"), CASES)
def test_verdict(age: float | None, interval: float, up: bool, enabled: bool,
                 status: Status, words: str) -> None:
    check = heartbeat_check("nova.heartbeat", host="cmp1", binary="nova-compute", age=age,
                            interval=interval, says_up=up, enabled=enabled, region="R")
    assert check.status is status
    assert check.message.startswith("nova-compute on cmp1: ") and words in check.message
    assert dict(check.labels) == {"host": "cmp1", "binary": "nova-compute", "region": "R"}
    if age is not None:
        assert [(p.label, p.value, p.warn) for p in check.perfdata] == [
            ("age", age, 2 * interval)]


SKEW_S = 300.0


class _Skewed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header send_response writes: five minutes ahead of ours."""
        return email.utils.formatdate(time.time() + SKEW_S, usegmt=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def skewed() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Skewed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_servers_clock_is_its_date_header(skewed: str) -> None:
    transport = Transport(timeout=5)
    try:
        assert transport.server_now(skewed + "/v2.1") is None  # nothing heard yet
        transport.get(skewed + "/v2.1/os-services", {}, "GET os-services")
        time.sleep(1.0)
        now = transport.server_now(skewed + "/v2.1/anything")
        assert now is not None
        # its clock, moved on by the second since: not ours (1 s: Date has whole seconds)
        assert abs(now - (time.time() + SKEW_S)) <= 1.5
    finally:
        transport.close()
