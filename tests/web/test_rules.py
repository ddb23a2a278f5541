"""The access rules' parts, each against a table: who the client is, what a role may do,
how failures are limited, where a login may lead."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from stackwatch.store.base import Role, TokenRecord
from stackwatch.web.auth import SESSION_S, Client, FailureLimiter, Sessions, client_of
from stackwatch.web.auth import _safe_next as safe_next

pytestmark = pytest.mark.unit

PROXIES = [ip_network("127.0.0.1/32"), ip_network("10.1.0.0/16")]


@pytest.mark.parametrize(("peer", "headers", "address", "loopback"), [
    ("127.0.0.1", {}, "127.0.0.1", True),
    ("127.8.9.1", {}, "127.8.9.1", True),
    ("::1", {}, "::1", True),
    ("::ffff:127.0.0.1", {}, "::ffff:127.0.0.1", True),  # a dual-stack socket's view
    ("192.0.2.5", {}, "192.0.2.5", False),
    (None, {}, "", False),  # a Unix socket: no address, not local
    # untrusted peers: the header is not believed, and a relayed request is not local
    ("192.0.2.5", {"X-Forwarded-For": "127.0.0.1"}, "192.0.2.5", False),
    ("::1", {"X-Forwarded-For": "203.0.113.9"}, "::1", False),
    ("::1", {"Forwarded": "for=203.0.113.9"}, "::1", False),
])
def test_client_of_an_untrusted_peer(peer: str | None, headers: dict[str, str], address: str,
                                     loopback: bool) -> None:
    client = client_of(peer, headers, PROXIES)
    assert (client.address, client.loopback) == (address, loopback)


@pytest.mark.parametrize(("forwarded_for", "address", "loopback"), [
    ("203.0.113.9", "203.0.113.9", False),
    ("127.0.0.1, 203.0.113.9", "203.0.113.9", False),  # the client wrote the first one
    ("203.0.113.9, 10.1.2.3", "203.0.113.9", False),  # through two trusted proxies
    ("10.1.2.3", "10.1.2.3", False),  # every hop trusted: the farthest
    ("127.0.0.1", "127.0.0.1", True),  # someone on the proxy's own host
    ("", "127.0.0.1", True),  # the proxy itself
    ("not-an-address", "unreadable-forwarded-for", False),
    ("203.0.113.9, bogus", "unreadable-forwarded-for", False),
])
def test_client_behind_a_trusted_proxy(forwarded_for: str, address: str,
                                       loopback: bool) -> None:
    client = client_of("127.0.0.1", {"X-Forwarded-For": forwarded_for}, PROXIES)
    assert (client.address, client.loopback) == (address, loopback)


def test_ipv6_clients_are_limited_per_64() -> None:
    assert Client("2001:db8:1:2::5").key == Client("2001:db8:1:2:ffff::1").key
    assert Client("2001:db8:1:2::5").key != Client("2001:db8:1:3::5").key
    assert Client("192.0.2.5").key == "192.0.2.5"


@pytest.mark.parametrize(("role", "method", "allowed"), [
    (Role.READ, "GET", True), (Role.READ, "HEAD", True), (Role.READ, "POST", False),
    (Role.READ, "PUT", False), (Role.READ, "PATCH", False), (Role.READ, "DELETE", False),
    (Role.READ, "OPTIONS", False),
    (Role.OPERATOR, "GET", True), (Role.OPERATOR, "POST", True), (Role.OPERATOR, "DELETE", True),
    (Role.AGENT, "GET", False), (Role.AGENT, "HEAD", False), (Role.AGENT, "POST", False),
])
def test_what_a_role_may_do(role: Role, method: str, allowed: bool) -> None:
    assert role.may(method) is allowed


@pytest.mark.parametrize(("role", "method", "path", "allowed"), [
    (Role.AGENT, "POST", "/api/v1/ingest", True),
    (Role.AGENT, "POST", "/api/v1/sources/api.compute/collect", False),
    (Role.AGENT, "GET", "/api/v1/ingest", False),
    (Role.READ, "POST", "/api/v1/ingest", False),
    (Role.OPERATOR, "POST", "/api/v1/ingest", True),
])
def test_an_agent_may_push_and_nothing_else(role: Role, method: str, path: str,
                                            allowed: bool) -> None:
    assert role.may(method, path) is allowed


def test_failures_are_limited_over_a_sliding_minute() -> None:
    now = [1000.0]
    limiter = FailureLimiter(3, window=60, clock=lambda: now[0])
    for second in (0, 10, 20):
        now[0] = 1000 + second
        assert limiter.retry_after("a") == 0
        limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(40)  # until the first is a minute old
    assert limiter.retry_after("b") == 0
    now[0] = 1060.5  # the first left the window: one more try
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(9.5)
    now[0] = 2000
    assert limiter.retry_after("a") == 0


def test_the_limiter_keeps_a_bounded_number_of_clients() -> None:
    now = [0.0]
    limiter = FailureLimiter(1, window=60, clock=lambda: now[0], max_clients=3)
    for client in "abcd":
        limiter.failed(client)
    # "a", the oldest, was forgotten to make room; the others still wait
    assert [limiter.retry_after(c) > 0 for c in "abcd"] == [False, True, True, True]


def test_sessions_end_with_their_time_or_their_token() -> None:
    sessions = Sessions(max_sessions=2)
    lasting = TokenRecord("a", Role.READ, "d1", 0.0)
    short = TokenRecord("b", Role.READ, "d2", 0.0, expires=100.0)
    first, lasts = sessions.open(lasting, 0.0)
    assert lasts == SESSION_S
    second, lasts = sessions.open(short, 0.0)
    assert lasts == 100.0  # not beyond its token
    assert first != second and len(first) >= 40
    third, _ = sessions.open(lasting, 50.0)  # full, none expired: the oldest goes
    assert sessions.get(first, 50.0) is None and sessions.get(third, 50.0) is not None
    assert sessions.get(second, 99.0) is not None and sessions.get(second, 100.0) is None
    sessions.close(third)
    assert sessions.get(third, 60.0) is None


@pytest.mark.parametrize(("target", "safe"), [
    ("/api/v1/health", "/api/v1/health"), ("/?x=1", "/?x=1"), (None, "/"), ("", "/"),
    ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"),
    ("/ok\nSet-Cookie: x", "/"), ("evil", "/"),
])
def test_login_leads_only_to_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_each_endpoint_declares_the_role_its_method_needs() -> None:
    """The OpenAPI document's ``x-role`` says what the middleware enforces by method."""
    from stackwatch.web.api import actions
    from stackwatch.web.api.routes import ENDPOINTS

    endpoints = (*ENDPOINTS, *actions.endpoints(lambda _: True))
    assert any(e.role == "operator" for e in endpoints)
    assert any(e.role == "agent" for e in endpoints)
    for endpoint in endpoints:
        needed = Role.READ if Role.READ.may(endpoint.method) else (
            Role.AGENT if Role.AGENT.may(endpoint.method, endpoint.path) else Role.OPERATOR)
        assert endpoint.role == needed.value, (endpoint.method, endpoint.path)
        assert Role.OPERATOR.may(endpoint.method, endpoint.path)
