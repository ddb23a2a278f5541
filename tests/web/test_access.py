"""Access control of a running monitor, from a real non-loopback peer and from loopback.

The monitor listens on an address of this host's network interface (not
127.0.0.1): a client connecting to it from here is seen from that address, a
non-local peer; the same client bound to 127.0.0.1 is a loopback peer of the
same server.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.cli import main
from stackwatch.server import Monitor
from stackwatch.sources.base import Source
from stackwatch.store.base import Role, TokenRecord
from stackwatch.tokens import digest, issue

from .client import Http, Reply
from .conftest import CountingSource, monitor_config
from .leaks import assert_no_secrets

pytestmark = pytest.mark.integration

API = ("/api/v1/health", "/api/v1/checks", "/api/v1/samples?name=stackwatch_source_up",
       "/api/v1/sources", "/api/v1/events")
COLLECT = "/api/v1/sources/api.compute/collect"


@contextmanager
def serving(tmp_path: Path, address: str, sources: Sequence[Source] | None = None,
            **web: Any) -> Iterator[Monitor]:
    """A monitor on ``address`` over counting sources (each runs once, then when asked)."""
    config = monitor_config(tmp_path, **web)
    with Monitor(config, sources or [CountingSource("api.compute")],
                 listen=(address, 0)) as monitor:
        assert monitor.wait_for_runs(len(monitor.runner.sources), timeout=10)
        yield monitor


def tokens(monitor: Monitor) -> tuple[str, str]:
    """A read token and an operator token of the monitor's store."""
    now = time.time()
    return (issue(monitor.tokens, "reader", Role.READ, now),
            issue(monitor.tokens, "operator", Role.OPERATOR, now))


def error(reply: Reply, status: int) -> str:
    """The message of a JSON error reply with that status."""
    assert reply.status == status, (reply.status, reply.body)
    assert (reply.header("Content-Type") or "").startswith("application/json")
    body = json.loads(reply.body)
    assert body["error"]["status"] == status
    return str(body["error"]["message"])


def failures(http: Http) -> dict[str, float]:
    """``stackwatch_web_auth_failures_total`` by reason, as /metrics says."""
    reply = http.get("/metrics")
    assert reply.status == 200, reply.body
    return {s.labels["reason"]: s.value for f in text_string_to_metric_families(reply.body)
            for s in f.samples if s.name == "stackwatch_web_auth_failures_total"}


def test_a_client_from_another_address_needs_a_token(tmp_path: Path,
                                                     public_address: str) -> None:
    assert not ipaddress.ip_address(public_address).is_loopback
    with serving(tmp_path, public_address) as monitor:
        remote, local = Http(monitor.url), Http(monitor.url, source="127.0.0.1")
        for path in (*API, "/metrics", "/overview", "/"):
            reply = remote.get(path)
            assert "authentication required" in error(reply, 401), path
            assert reply.header("WWW-Authenticate") == 'Bearer realm="stackwatch"'
        assert "authentication required" in error(remote.post(COLLECT), 401)
        page = remote.get("/", Accept="text/html,application/xhtml+xml")
        assert page.status == 303
        location = page.header("Location") or ""
        assert location.startswith("/login?next=")
        form = remote.get(location)
        assert form.status == 200 and 'action="/login"' in form.body
        # the same server, from loopback: no token needed, and it may act
        for path in (*API, "/metrics", "/overview"):
            assert local.get(path).status == 200, path
        assert local.post(COLLECT).status == 202
        # the API, /metrics, two pages, the POST, the browser's page
        assert failures(local)["missing"] == len(API) + 5


def test_the_read_role_reads_and_cannot_act(tmp_path: Path, public_address: str) -> None:
    compute, network = CountingSource("api.compute"), CountingSource("east/api.network")
    with serving(tmp_path, public_address, [compute, network]) as monitor:
        read, operator = tokens(monitor)
        remote = Http(monitor.url)
        for path in (*API, "/metrics"):
            assert remote.get(path, read).status == 200, path
        assert remote.request("HEAD", "/overview",
                              {"Authorization": f"Bearer {read}"}).status == 200
        assert "read role may not POST" in error(remote.post(COLLECT, read), 403)
        assert "read role may not DELETE" in error(
            remote.request("DELETE", COLLECT, {"Authorization": f"Bearer {read}"}), 403)
        # a requested run starts within a tick (0.2 s): none comes of the refused request
        assert not monitor.wait_for_runs(3, timeout=1.0)
        assert compute.calls == 1

        accepted = remote.post(COLLECT, operator)
        assert accepted.status == 202
        assert json.loads(accepted.body) == {"source": "api.compute", "status": "requested"}
        assert monitor.wait_for_runs(3, timeout=10) and compute.calls == 2
        # several clouds: a source name holds '/', written %2F
        assert remote.post("/api/v1/sources/east%2Fapi.network/collect", operator
                           ).status == 202
        assert monitor.wait_for_runs(4, timeout=10) and network.calls == 2
        assert "no such source" in error(
            remote.post("/api/v1/sources/api.nothing/collect", operator), 404)
        spec = json.loads(remote.get("/api/v1/openapi.json", read).body)
        action = spec["paths"]["/api/v1/sources/{source}/collect"]["post"]
        assert action["x-role"] == "operator" and "202" in action["responses"]
        assert failures(Http(monitor.url, source="127.0.0.1"))["forbidden"] == 2


def test_local_access_can_be_turned_off(tmp_path: Path) -> None:
    with serving(tmp_path, "127.0.0.1", allow_local=False) as monitor:
        read, _ = tokens(monitor)
        local = Http(monitor.url)
        error(local.get("/api/v1/health"), 401)
        error(local.post(COLLECT), 401)
        assert local.get("/api/v1/health", read).status == 200
        error(local.post(COLLECT, read), 403)


def test_a_token_is_judged_from_loopback_too(tmp_path: Path) -> None:
    """A read token used on this host is read-only, and a wrong one is refused: a script
    tried here behaves as it will from elsewhere."""
    with serving(tmp_path, "127.0.0.1") as monitor:
        read, _ = tokens(monitor)
        local = Http(monitor.url)
        error(local.post(COLLECT, read), 403)
        error(local.get("/api/v1/health", "sw_" + secrets.token_urlsafe(32)), 401)
        assert local.post(COLLECT).status == 202


def test_a_proxy_on_this_host_does_not_make_everyone_local(tmp_path: Path,
                                                          public_address: str) -> None:
    with serving(tmp_path, public_address) as monitor:
        local = Http(monitor.url, source="127.0.0.1")
        assert local.get("/api/v1/health").status == 200
        for header, value in (("X-Forwarded-For", "203.0.113.9"),
                              ("Forwarded", "for=203.0.113.9"), ("X-Real-IP", "203.0.113.9")):
            reply = local.request("GET", "/api/v1/health", {header: value})
            error(reply, 401)
        # and from elsewhere, a header claiming loopback is not believed
        error(Http(monitor.url).get("/api/v1/health", X_Forwarded_For="127.0.0.1"), 401)


def test_a_trusted_proxy_names_the_client(tmp_path: Path, public_address: str) -> None:
    with serving(tmp_path, public_address, trusted_proxies=["127.0.0.1"],
                 max_auth_failures=2) as monitor:
        read, _ = tokens(monitor)
        proxy = Http(monitor.url, source="127.0.0.1")

        def via_proxy(forwarded_for: str, token: str | None = None) -> Reply:
            headers = {"X-Forwarded-For": forwarded_for}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return proxy.request("GET", "/api/v1/health", headers)

        error(via_proxy("203.0.113.9"), 401)
        # the client wrote "127.0.0.1" itself; the proxy appended where it came from
        error(via_proxy("127.0.0.1, 203.0.113.9"), 401)
        assert via_proxy("203.0.113.9", read).status == 200
        # failures count per client behind the proxy, not for the proxy
        for _ in range(2):
            error(via_proxy("203.0.113.9", "sw_wrong"), 401)
        error(via_proxy("203.0.113.9", read), 429)
        assert via_proxy("198.51.100.7", read).status == 200


def test_bad_tokens_are_limited_counted_and_logged_without_the_token(
        tmp_path: Path, public_address: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(tmp_path, public_address, max_auth_failures=3) as monitor:
        read, operator = tokens(monitor)
        expired = "sw_" + secrets.token_urlsafe(32)
        monitor.tokens.add(TokenRecord("old", Role.READ, digest(expired), time.time() - 86400,
                                       time.time() - 60))
        remote = Http(monitor.url)
        assert "expired" in error(remote.get("/api/v1/health", expired), 401)
        guesses = ["sw_" + secrets.token_urlsafe(32) for _ in range(2)]
        for guess in guesses:
            reply = remote.get("/api/v1/health", guess)
            assert "invalid" in error(reply, 401)
            assert 'error="invalid_token"' in (reply.header("WWW-Authenticate") or "")
        # three failures in a minute: even the right token waits now
        limited = remote.get("/api/v1/health", read)
        assert "too many failed authentications" in error(limited, 429)
        assert 0 < int(limited.header("Retry-After") or "0") <= 60
        # another client is not held up
        local = Http(monitor.url, source="127.0.0.1")
        assert local.get("/api/v1/health", read).status == 200
        counted = failures(local)
        assert (counted["expired"], counted["invalid"], counted["rate_limited"]) == (1, 2, 1)
    refused = [r.getMessage() for r in caplog.records if r.name == "stackwatch.web.auth"]
    assert len([m for m in refused if "token from" in m and "refused" in m]) == 3
    assert any("3 failed authentications" in m for m in refused)
    assert_no_secrets([read, operator, expired, *guesses, digest(read), digest(expired)],
                      remote.replies + local.replies, caplog.records)


def test_metrics_can_be_public_for_a_scrape(tmp_path: Path, public_address: str) -> None:
    with serving(tmp_path, public_address, metrics_public=True) as monitor:
        remote = Http(monitor.url)
        reply = remote.get("/metrics")
        assert reply.status == 200
        assert "stackwatch_source_up" in {f.name for f in text_string_to_metric_families(
            reply.body)}
        error(remote.get("/api/v1/health"), 401)


def test_tokens_from_the_command_line_count_at_once(tmp_path: Path,
                                                   public_address: str) -> None:
    with serving(tmp_path, public_address) as monitor:
        store = str(monitor.config.store.path)
        made = CliRunner().invoke(main, ["token", "create", "--name", "grafana", "--role",
                                         "read", "--store", store])
        assert made.exit_code == 0, made.output
        token = made.stdout.splitlines()[0]
        assert token.startswith("sw_") and len(token) > 40
        remote = Http(monitor.url)
        assert remote.get("/api/v1/health", token).status == 200
        listed = CliRunner().invoke(main, ["token", "list", "--store", store,
                                           "--format", "json"])
        [row] = json.loads(listed.stdout)
        assert row["name"] == "grafana" and row["last_used"] != "-"
        assert token not in listed.output and digest(token) not in listed.output
        revoked = CliRunner().invoke(main, ["token", "revoke", "grafana", "--store", store])
        assert revoked.exit_code == 0, revoked.output
        error(remote.get("/api/v1/health", token), 401)


def test_a_browser_logs_in_and_out(tmp_path: Path, public_address: str) -> None:
    with serving(tmp_path, public_address) as monitor:
        read, operator = tokens(monitor)
        browser = Http(monitor.url)
        form = browser.get("/login?next=/api/v1/health")
        assert 'name="next" value="/api/v1/health"' in form.body
        wrong = "sw_" + secrets.token_urlsafe(32)
        refused = browser.post("/login", form=f"token={wrong}&next=/api/v1/health")
        assert refused.status == 401 and "That token is invalid." in refused.body
        # somewhere else after login: refused, home instead
        elsewhere = browser.post("/login", form=f"token={read}&next=//evil.example/x")
        assert (elsewhere.status, elsewhere.header("Location")) == (303, "/")

        logged_in = browser.post("/login", form=f"token={read}&next=/api/v1/health")
        assert (logged_in.status, logged_in.header("Location")) == (303, "/api/v1/health")
        [cookie] = logged_in.all("Set-Cookie")
        attributes = [a.strip().lower() for a in cookie.split(";")]
        name, _, session = cookie.split(";")[0].partition("=")
        assert name == "stackwatch_session" and len(session) >= 40
        assert {"httponly", "samesite=strict", "path=/"} <= set(attributes)
        assert "secure" not in attributes  # plain HTTP (the TLS test sees it set)
        assert read not in cookie and digest(read) not in cookie

        with_cookie = {"Cookie": f"stackwatch_session={session}"}
        assert browser.request("GET", "/api/v1/health", with_cookie).status == 200
        page = browser.request("GET", "/overview", {**with_cookie, "Accept": "text/html"})
        assert page.status == 200 and "<html" in page.body
        assert 'action="/logout"' in page.body and "role read" in page.body  # who, and out
        assert browser.request("HEAD", "/api/v1/health", with_cookie).status == 200
        error(browser.request("POST", COLLECT, with_cookie), 403)  # a read session
        out = browser.request("POST", "/logout", with_cookie)
        assert (out.status, out.header("Location")) == (303, "/login")
        assert 'stackwatch_session=""' in (out.header("Set-Cookie") or "")
        error(browser.request("GET", "/api/v1/health", with_cookie), 401)

        # an operator session acts, and ends with its token
        logged_in = browser.post("/login", form=f"token={operator}&next=/")
        session = (logged_in.header("Set-Cookie") or "").split(";")[0].partition("=")[2]
        with_cookie = {"Cookie": f"stackwatch_session={session}"}
        assert browser.request("POST", COLLECT, with_cookie).status == 202
        assert monitor.tokens.revoke("operator")
        error(browser.request("GET", "/api/v1/health", with_cookie), 401)
        assert_no_secrets([read, operator, wrong, digest(read), digest(operator)],
                          browser.replies)
