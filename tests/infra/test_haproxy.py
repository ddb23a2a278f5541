"""infra.haproxy against a real HAProxy (Debian's ``haproxy``) started in front of two small
HTTP servers: a server stopped is DOWN (a nova-api member down in health), both stopped
leave the backend without server, 5xx, a queue, a full frontend; the stats page and the
stats socket read alike; and every way of failing to look."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from infra.faulty import http_answer, serving
from servers import free_port, start_haproxy
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceAuthError, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import HAProxyConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.haproxy import HAProxySource, parse_csv

pytestmark = pytest.mark.integration

T = TypeVar("T")
STATS_PASSWORD = "st4ts-secret"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        status = 500 if self.path.startswith("/fail") else 200
        body = b'{"versions": []}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client HAProxy gave up on: nothing to report


class Backend:
    """A small API server on 127.0.0.1 that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: _Server | None = None

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Proxy:
    frontend: int
    stats: int
    socket: Path
    backends: tuple[Backend, Backend]


CONFIG = """global
    stats socket {sock} mode 600 level user
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout queue 10s
frontend nova_api_front
    bind 127.0.0.1:{frontend}
    maxconn 6
    default_backend nova_api
backend nova_api
    option httpchk GET /
    server ctl1 127.0.0.1:{b1} check inter 200 fall 2 rise 1 maxconn 2
    server ctl2 127.0.0.1:{b2} check inter 200 fall 2 rise 1 maxconn 2
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /
    stats auth admin:{password}
"""


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    backends = (Backend(), Backend())
    for backend in backends:
        backend.start()
    frontend, stats = free_port(), free_port()
    sock = tmp_path / "admin.sock"
    config = CONFIG.format(sock=sock, frontend=frontend, b1=backends[0].port,
                           b2=backends[1].port, stats=stats, password=STATS_PASSWORD)
    try:
        with start_haproxy(tmp_path, config, stats):
            yield Proxy(frontend, stats, sock, backends)
    finally:
        for backend in backends:
            backend.stop()


def source_for(proxy: Proxy, **options: object) -> HAProxySource:
    instance = {"url": f"http://127.0.0.1:{proxy.stats}/", "host": "lb1", "user": "admin",
                "password": STATS_PASSWORD}
    config = {"instances": [instance], "backends": {"nova_api": "nova-api"}, **options}
    return HAProxySource(HAProxyConfig.model_validate(config), "this-node")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"not seen within {timeout:.0f}s: {what}"
        time.sleep(0.2)
    return found


def checks(out: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name
            and all(dict(c.labels).get(k) == v for k, v in labels.items())]


def get(port: int, path: str = "/") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while conn.recv(65536):
            pass


def test_a_server_stopped_is_a_member_down_and_both_leave_no_server(proxy: Proxy) -> None:
    source = source_for(proxy)

    def backend_status(status: Status) -> Collection | None:
        out = source.collect()
        [backend] = checks(out, "haproxy.backend", proxy="nova_api")
        return out if backend.status is status else None

    out = wait_for("both servers UP", lambda: backend_status(Status.OK))
    assert_declared(out, source="infra")
    assert_covered(out, "infra.haproxy")
    [instance] = checks(out, "haproxy.instance")
    assert instance.status is Status.OK and dict(instance.labels)["host"] == "lb1"
    assert {dict(c.labels)["host"]: c.status for c in checks(out, "haproxy.server")} == {
        "ctl1": Status.OK, "ctl2": Status.OK}

    proxy.backends[1].stop()
    out = wait_for("ctl2 DOWN", lambda: backend_status(Status.WARNING))
    [backend] = checks(out, "haproxy.backend", proxy="nova_api")
    # HAProxy marks a check still in progress with "* " before its last status
    assert "1 of 2 servers up; down: ctl2 DOWN (" in backend.message
    assert "L4CON" in backend.message
    [server] = checks(out, "haproxy.server", host="ctl2")
    assert server.status is Status.CRITICAL
    nova_api = evaluate(default_catalog(), out.checks).service("nova-api")
    assert nova_api is not None
    assert {m.host: m.status for m in nova_api.members} == {"ctl1": Status.OK,
                                                            "ctl2": Status.CRITICAL}
    proxy.backends[0].stop()
    out = wait_for("no server", lambda: backend_status(Status.CRITICAL))
    [backend] = checks(out, "haproxy.backend", proxy="nova_api")
    assert "no server up" in backend.message
    value = [s.value for s in out.samples if s.name == "haproxy_up"
             and s.label("proxy") == "nova_api" and s.label("server") == "BACKEND"]
    assert value == [0]
    # an API that is down behind HAProxy is a problem of the cloud, beside its members
    health = evaluate(default_catalog(), out.checks)
    assert any(c.name == "haproxy.backend" for c in health.others)


def test_5xx_answers_since_the_last_run(proxy: Proxy) -> None:
    source = source_for(proxy, http_5xx_min_responses=10)
    wait_for("UP", lambda: True if checks(source.collect(), "haproxy.backend")[0].status
             is Status.OK else None)
    for _ in range(12):
        get(proxy.frontend, "/fail")
    [backend] = checks(source.collect(), "haproxy.backend", proxy="nova_api")
    assert backend.status is Status.WARNING
    assert "12 of 12 answers 5xx since the last run" in backend.message
    for _ in range(12):
        get(proxy.frontend, "/")
    [backend] = checks(source.collect(), "haproxy.backend", proxy="nova_api")
    assert backend.status is Status.OK   # those were 2xx


def test_requests_queued_and_a_full_frontend(proxy: Proxy) -> None:
    source = source_for(proxy)
    wait_for("UP", lambda: True if checks(source.collect(), "haproxy.backend")[0].status
             is Status.OK else None)
    slow = [threading.Thread(target=get, args=(proxy.frontend, "/slow"), daemon=True)
            for _ in range(6)]   # 2 servers x maxconn 2: two wait in the queue
    for thread in slow:
        thread.start()
    time.sleep(0.5)
    out = source.collect()
    for thread in slow:
        thread.join(30)
    [backend] = checks(out, "haproxy.backend", proxy="nova_api")
    assert backend.status is Status.WARNING and "requests queued" in backend.message
    [frontend] = checks(out, "haproxy.frontend", proxy="nova_api_front")
    assert frontend.status is Status.CRITICAL
    assert "6 of 6 sessions" in frontend.message


def test_the_stats_socket_reads_the_same(proxy: Proxy) -> None:
    config = HAProxyConfig.model_validate({"instances": [{"socket": str(proxy.socket)}]})
    out = HAProxySource(config, "this-node").collect()
    [instance] = checks(out, "haproxy.instance")
    assert dict(instance.labels)["host"] == "this-node"   # a local socket: this node's
    assert {dict(c.labels)["proxy"] for c in checks(out, "haproxy.backend")} == {
        "nova_api", "stats"}


def test_a_wrong_password_never_shows(proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = HAProxyConfig.model_validate({"instances": [{
        "url": f"http://127.0.0.1:{proxy.stats}/", "user": "admin", "password": "n0t-it"}]})
    with pytest.raises(SourceAuthError, match="HTTP 401") as info:
        HAProxySource(config, "x").collect()
    assert "n0t-it" not in str(info.value) and "n0t-it" not in caplog.text


@pytest.mark.parametrize(("answer", "error", "words"), [
    (None, SourceTimeout, "no answer within 1s"),
    (http_answer(200, b"<html>stats</html>", "text/html"), InvalidResponse, "not CSV"),
    (http_answer(200, b"# a,b,c\n1,2,3\n", "text/csv"), InvalidResponse, "no column"),
    (http_answer(500, b""), SourceUnavailable, "HTTP 500"),
])
def test_failures(answer: bytes | None, error: type[Exception], words: str) -> None:
    with serving(answer) as server:
        config = HAProxyConfig.model_validate({"instances": [
            {"url": f"http://127.0.0.1:{server.port}/"}], "timeout": 1})
        with pytest.raises(error, match=words):
            HAProxySource(config, "x").collect()


def test_a_socket_nobody_listens_on(tmp_path: Path) -> None:
    config = HAProxyConfig.model_validate({"instances": [{"socket": str(tmp_path / "no")}]})
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        HAProxySource(config, "x").collect()


@pytest.mark.unit
def test_short_lines_are_invalid() -> None:
    with pytest.raises(InvalidResponse, match="short line"):
        parse_csv("# pxname,svname,qcur,status,type\napi,FRONTEND\n")
