"""Who may use the web app, and how they prove it (docs/security.md).

* A request from a loopback address (127.0.0.0/8, ::1) needs no token and acts as
  operator (``web.allow_local``, on by default) — unless it carries forwarding
  headers: a reverse proxy on this host relays other people's requests.
* Any other request carries ``Authorization: Bearer <token>`` (``stackwatch token
  create``), or the session cookie ``/login`` sets for a browser. A token given is
  always judged, from loopback too: a read token is read-only wherever it is used.
* Roles: ``read`` may GET and HEAD; ``operator`` may also POST, PUT, PATCH, DELETE;
  ``agent`` may only push a node's results (``POST /api/v1/ingest``, docs/agent.md).
* Refusals: 401 with ``WWW-Authenticate: Bearer`` and a JSON error for the API and
  ``/metrics`` (``web.metrics_public`` opens it for a Prometheus scrape); a page
  redirects to ``/login``; a read token acting gets 403. After
  ``web.max_auth_failures`` bad tokens in a minute a client gets 429 until the
  oldest of them is a minute old.
* Every refusal is counted in ``stackwatch_web_auth_failures_total{reason}``; bad
  tokens are logged with the client's address, never with the token.
* ``X-Forwarded-For`` is believed only from ``web.trusted_proxies``: the client is
  the nearest address in it that is not a trusted proxy.

The session cookie holds a random session id, never the token: HttpOnly,
SameSite=Strict (no other site can make a browser send it), Secure under TLS. A
session lasts :data:`SESSION_S` (or until its token expires); it ends when its
token is revoked, at logout and when the server restarts.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from stackwatch.config import WebConfig
from stackwatch.model import Sample, make_labels
from stackwatch.store.base import Role, TokenRecord, TokenStore
from stackwatch.tokens import Verdict, find, verify

log = logging.getLogger(__name__)

SESSION_COOKIE = "stackwatch_session"
SESSION_S = 12 * 3600.0
WINDOW_S = 60.0
"""Failed authentications are counted per client over this many seconds."""
TOUCH_EVERY_S = 60.0
"""A token's "last used" is written at most this often (not on every request)."""
FAILURE_METRIC = "stackwatch_web_auth_failures_total"
REASONS = ("missing", "invalid", "expired", "forbidden", "rate_limited")
_FORWARDING = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
_OPEN = {("GET", "/login"), ("HEAD", "/login"), ("POST", "/login"), ("POST", "/logout")}

Network = IPv4Network | IPv6Network
IP = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts as: a token's name and role, or ``local``."""

    name: str
    role: Role
    via: str  # "local", "token" or "session"


LOCAL = Identity("local", Role.OPERATOR, "local")
_IDENTITY = web.RequestKey("identity", Identity)


def identity(request: web.Request) -> Identity | None:
    """The identity the access middleware gave the request (None without it)."""
    return request.get(_IDENTITY)


# ------------------------------------------------------------------ the client
def _ip(text: str) -> IP | None:
    try:
        found = ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return found


def _trusted(ip: IP | None, proxies: Sequence[Network]) -> bool:
    return ip is not None and any(ip.version == net.version and ip in net for net in proxies)


@dataclass(frozen=True, slots=True)
class Client:
    """The address a request comes from; ``relayed`` when an untrusted proxy sent it."""

    address: str
    relayed: bool = False

    @property
    def loopback(self) -> bool:
        """From this host itself, directly."""
        ip = _ip(self.address)
        return not self.relayed and ip is not None and ip.is_loopback

    @property
    def key(self) -> str:
        """What failures are counted under: the address; an IPv6 client's /64 (one
        host's share, which it may take many addresses from)."""
        ip = _ip(self.address)
        if isinstance(ip, IPv6Address):
            return str(IPv6Network(f"{ip}/64", strict=False))
        return self.address


def client_of(peer: str | None, headers: Mapping[str, str], proxies: Sequence[Network]
              ) -> Client:
    """The client of a request from its TCP peer and, from a trusted proxy, its
    ``X-Forwarded-For`` (read right to left: the entries left of the nearest untrusted
    address are the client's own to write)."""
    address = peer or ""
    if not _trusted(_ip(address), proxies):
        return Client(address, relayed=any(h in headers for h in _FORWARDING))
    hops = [h for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return Client("unreadable-forwarded-for", relayed=True)
        address = str(ip)
        if not _trusted(ip, proxies):
            break
    return Client(address)


# ------------------------------------------------------------ failure limiting
class FailureLimiter:
    """Failed authentications per client over a sliding window; past ``limit`` the
    client waits until the oldest of them leaves the window."""

    def __init__(self, limit: int, window: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> float:
        """Seconds the client must wait before trying again; 0 when it may."""
        now = self._clock()
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window - now

    def failed(self, key: str) -> None:
        """Count one failure of the client."""
        now = self._clock()
        if key not in self._failures and len(self._failures) >= self._max_clients:
            for other in list(self._failures):  # forget the quiet ones first
                self._recent(other, now)
            if len(self._failures) >= self._max_clients:
                del self._failures[next(iter(self._failures))]  # then the oldest
        self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)


# ------------------------------------------------------------------- sessions
@dataclass(frozen=True, slots=True)
class _Session:
    digest: str  # of the token that logged in: the session ends with it
    expires: float


class Sessions:
    """Browser sessions by random id, in memory (a restart logs everyone out)."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._sessions: dict[str, _Session] = {}
        self._max = max_sessions

    def open(self, token: TokenRecord, now: float) -> tuple[str, float]:
        """A new session for ``token``: its id and how long it lasts (seconds)."""
        if len(self._sessions) >= self._max:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
            while len(self._sessions) >= self._max:
                del self._sessions[next(iter(self._sessions))]
        expires = now + SESSION_S
        if token.expires is not None:
            expires = min(expires, token.expires)
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(token.digest, expires)
        return session_id, expires - now

    def get(self, session_id: str, now: float) -> _Session | None:
        session = self._sessions.get(session_id)
        if session is not None and session.expires <= now:
            del self._sessions[session_id]
            return None
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)


# ---------------------------------------------------------------- responses
def json_error(status: int, message: str, headers: Mapping[str, str] | None = None
               ) -> web.Response:
    """The API's error body: ``{"error": {"status": ..., "message": ...}}``."""
    return web.json_response({"error": {"status": status, "message": message}},
                             status=status, headers=headers,
                             dumps=lambda d: json.dumps(d, indent=1))


def _safe_next(target: object) -> str:
    """Where to go after logging in: a path of this site, else ``/``."""
    if (isinstance(target, str) and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and not any(c.isspace() for c in target)):
        return target
    return "/"


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stackwatch: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box;font:inherit}}
p.problem{{color:#b00020}}</style></head>
<body><h1>stackwatch</h1>
<p>This address needs an access token (<code>stackwatch token create</code>).</p>
{problem}<form method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" autofocus required>
<input type="hidden" name="next" value="{next}">
<input type="submit" value="Log in"></form></body></html>
"""


def _login_page(next_path: str, problem: str = "", status: int = 200,
                headers: Mapping[str, str] | None = None) -> web.Response:
    text = _LOGIN_PAGE.format(
        next=html.escape(next_path, quote=True),
        problem=f'<p class="problem" role="alert">{html.escape(problem)}</p>\n' if problem else "")
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def _see_other(location: str) -> web.Response:
    """303 to ``location`` (returned, so that it can carry a cookie)."""
    return web.Response(status=303, headers={"Location": location})


def _wants_page(request: web.Request) -> bool:
    return (request.method in ("GET", "HEAD") and not request.path.startswith("/api/")
            and request.path != "/metrics" and "text/html" in request.headers.get("Accept", ""))


# --------------------------------------------------------------------- access
class Access:
    """The access rules over one token store: the middleware, ``/login`` and
    ``/logout``, and the failure counter."""

    def __init__(self, tokens: TokenStore, config: WebConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._config = config
        self._secure = config.tls_cert is not None
        self._clock = clock
        self._limiter = FailureLimiter(config.max_auth_failures)
        self._sessions = Sessions()
        self._failures = dict.fromkeys(REASONS, 0)
        self._failures_lock = threading.Lock()  # /metrics reads them from a worker thread
        self._blocked: set[str] = set()  # clients told 429 (logged once per block)
        self._touched: dict[str, float] = {}
        self._touched_lock = threading.Lock()

    # ---------------------------------------------------------------- wiring
    def middleware(self) -> Middleware:
        """The aiohttp middleware enforcing the rules (first in the chain)."""
        @web.middleware
        async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._guard(request, handler)
        return access

    def add_routes(self, app: web.Application) -> None:
        """``GET``/``POST /login`` and ``POST /logout``."""
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)

    def samples(self) -> list[Sample]:
        """``stackwatch_web_auth_failures_total`` by reason, for ``/metrics``."""
        now = self._clock()
        with self._failures_lock:
            counts = dict(self._failures)
        return [Sample(FAILURE_METRIC, float(n), make_labels(reason=r), now)
                for r, n in counts.items()]

    # ----------------------------------------------------------------- rules
    def _client(self, request: web.Request) -> Client:
        return client_of(request.remote, request.headers, self._config.trusted_proxies)

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (request.method, request.path) in _OPEN or (
                request.path == "/metrics" and self._config.metrics_public
                and request.method in ("GET", "HEAD")):
            return await handler(request)
        client = self._client(request)
        limited = self._rate_limited(client, request)
        if limited is not None:
            return limited
        who: Identity | None
        header = request.headers.get("Authorization")
        if header is not None:
            verdict = await self._check(_bearer(header))
            if not verdict.valid or verdict.token is None:
                return self._refuse(client, request, verdict.reason or "invalid")
            who = Identity(verdict.token.name, verdict.token.role, "token")
        else:
            who = await self._session(request)
            if who is None and self._config.allow_local and client.loopback:
                who = LOCAL
        if who is None:
            self._count("missing")
            if _wants_page(request):
                return _see_other(f"/login?next={quote(request.path_qs, safe='')}")
            return json_error(401, "authentication required: send Authorization: Bearer "
                              "<token> (stackwatch token create)",
                              {"WWW-Authenticate": 'Bearer realm="stackwatch"'})
        if not who.role.may(request.method, request.path):
            self._count("forbidden")
            log.info("web: %s (role %s) from %s may not %s %s", who.name, who.role.value,
                     client.address, request.method, request.path)
            needed = "a read" if Role.READ.may(request.method) else (
                "an agent or operator" if Role.AGENT.may(request.method, request.path)
                else "an operator")
            return json_error(403, f"the {who.role.value} role may not {request.method} "
                              f"{request.path}; this needs {needed} token")
        request[_IDENTITY] = who
        response = await handler(request)
        # an action: who did what, for the record (an agent's pushes are not actions, and
        # come every few seconds from every node)
        if not Role.READ.may(request.method) and who.role is not Role.AGENT:
            log.info("web: %s %s by %s (%s) from %s: %d", request.method, request.path,
                     who.name, who.role.value, client.address, response.status)
        return response

    def _rate_limited(self, client: Client, request: web.Request) -> web.Response | None:
        wait = self._limiter.retry_after(client.key)
        if wait <= 0:
            self._blocked.discard(client.key)
            return None
        self._count("rate_limited")
        if client.key not in self._blocked:
            self._blocked.add(client.key)
            log.warning("web: %s: %d failed authentications in %g s; refused for %.0f s",
                        client.address, self._limiter.limit, WINDOW_S, wait)
        seconds = math.ceil(wait)
        message = f"too many failed authentications; try again in {seconds} s"
        headers = {"Retry-After": str(seconds)}
        if request.path == "/login":
            return _login_page("/", message, 429, headers)
        return json_error(429, message, headers)

    def _refuse(self, client: Client, request: web.Request, reason: str) -> web.Response:
        """A bad token: counted, logged (never the token), 401."""
        self._count(reason)
        self._limiter.failed(client.key)
        log.warning("web: %s token from %s refused (%s %s)", reason, client.address,
                    request.method, request.path)
        return json_error(401, f"the token is {reason}",
                          {"WWW-Authenticate": 'Bearer realm="stackwatch", '
                                               'error="invalid_token"'})

    def _count(self, reason: str) -> None:
        with self._failures_lock:
            self._failures[reason] += 1

    async def _check(self, token: str) -> Verdict:
        """The token's verdict, read in a worker thread (the store may be slow)."""
        return await asyncio.to_thread(self._verify, token)

    def _verify(self, token: str) -> Verdict:
        now = self._clock()
        verdict = verify(self._tokens, token, now) if token else Verdict(None, "invalid")
        if verdict.valid and verdict.token is not None:
            self._used(verdict.token.name, now)
        return verdict

    def _used(self, name: str, now: float) -> None:
        with self._touched_lock:
            if now - self._touched.get(name, -math.inf) < TOUCH_EVERY_S:
                return
            self._touched[name] = now
        self._tokens.touch(name, now)

    async def _session(self, request: web.Request) -> Identity | None:
        """The identity of the request's session cookie; None without a live session."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        now = self._clock()
        session = self._sessions.get(session_id, now)
        if session is None:
            return None

        def current() -> TokenRecord | None:
            record = find(self._tokens, session.digest)
            if record is not None and not record.expired(now):
                self._used(record.name, now)
                return record
            return None

        record = await asyncio.to_thread(current)
        if record is None:  # revoked or expired since the login
            self._sessions.close(session_id)
            return None
        return Identity(record.name, record.role, "session")

    # ---------------------------------------------------------------- routes
    async def _login_form(self, request: web.Request) -> web.Response:
        return _login_page(_safe_next(request.query.get("next")))

    async def _login(self, request: web.Request) -> web.StreamResponse:
        client = self._client(request)
        limited = self._rate_limited(client, request)
        if limited is not None:
            return limited
        form = await request.post()
        next_path = _safe_next(form.get("next"))
        token = form.get("token")
        verdict = await self._check(token.strip() if isinstance(token, str) else "")
        if not verdict.valid or verdict.token is None:
            reason = verdict.reason or "invalid"
            self._count(reason)
            self._limiter.failed(client.key)
            log.warning("web: %s token from %s refused at login", reason, client.address)
            return _login_page(next_path, f"That token is {reason}.", 401)
        if not verdict.token.role.may("GET"):  # an agent's: it pushes, it reads nothing
            self._count("forbidden")
            return _login_page(next_path, f"That token has the {verdict.token.role.value} "
                               "role: it may only push a node's results.", 403)
        session_id, lasts = self._sessions.open(verdict.token, self._clock())
        log.info("web: %s (role %s) logged in from %s", verdict.token.name,
                 verdict.token.role.value, client.address)
        response = _see_other(next_path)
        response.set_cookie(SESSION_COOKIE, session_id, max_age=max(1, int(lasts)), path="/",
                            httponly=True, samesite="Strict", secure=self._secure)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            self._sessions.close(session_id)
        response = _see_other("/login")
        response.del_cookie(SESSION_COOKIE, path="/", secure=self._secure, httponly=True,
                            samesite="Strict")
        return response


def _bearer(header: str) -> str:
    """The token of ``Authorization: Bearer <token>``; "" for any other form."""
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""

