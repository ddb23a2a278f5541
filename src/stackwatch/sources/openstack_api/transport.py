"""Keep-alive HTTP/1.1 for tens of thousands of small GETs: a pool of idle connections per host.

A full collection of a big cloud is some 26,000 requests; per request,
keystoneauth + requests cost about 1 ms of CPU, urllib3 0.4 ms, ``http.client``
on a kept-alive connection 0.2 ms — and CPU, not the network, is what bounds
the collection. So data requests go through ``http.client`` directly;
keystoneauth still does authentication and the catalog.

Every request is a GET (idempotent): when a kept-alive connection turns out to
be closed by the server, it is reopened and the request sent once more. Errors
are translated here, naming the request.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from stackwatch.errors import InvalidResponse, SourceError, SourceTimeout, SourceUnavailable

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
          http.client.CannotSendRequest, http.client.BadStatusLine)


@dataclass(frozen=True, slots=True)
class Answer:
    """Status and body of one HTTP answer."""

    status: int
    content: bytes


class Transport:
    """Thread-local kept-alive connections; TLS as clouds.yaml says."""

    def __init__(self, timeout: float, verify: bool | str = True,
                 cert: str | tuple[str, str] | None = None) -> None:
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        self._verify = verify
        self._cert = cert
        self._lock = threading.Lock()
        # idle connections per (scheme, host:port); the caller bounds how many are in use
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            if self._verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(self._verify, str):
                context = ssl.create_default_context(cafile=self._verify)
            else:
                context = ssl.create_default_context()
            if isinstance(self._cert, tuple):
                context.load_cert_chain(self._cert[0], self._cert[1])
            elif self._cert:
                context.load_cert_chain(self._cert)
            self._context = context
        return self._context

    def _take(self, key: tuple[str, str], fresh: bool) -> http.client.HTTPConnection:
        """An idle kept-alive connection to ``key``, or a new one."""
        if not fresh:
            with self._lock:
                idle = self._idle.get(key)
                if idle:
                    return idle.pop()
        scheme, netloc = key
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                               context=self._ssl_context())
        return http.client.HTTPConnection(netloc, timeout=self.timeout)

    def _give_back(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append(conn)

    def get(self, url: str, headers: Mapping[str, str], what: str) -> Answer:
        """GET ``url``; SourceError subclasses for every failure to get an answer."""
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        key = (parts.scheme, parts.netloc)
        for attempt in (1, 2):
            conn = self._take(key, fresh=attempt == 2)
            try:
                conn.request("GET", target, headers=dict(headers))
                response = conn.getresponse()
                body = response.read()
                if response.will_close:
                    conn.close()
                else:
                    self._give_back(key, conn)
                return Answer(response.status, body)
            except _STALE:
                conn.close()
                if attempt == 2:
                    raise SourceUnavailable(f"{what}: the server closed the connection") from None
            except TimeoutError:
                conn.close()
                raise SourceTimeout(f"{what}: no answer within {self.timeout:g}s") from None
            except http.client.IncompleteRead as exc:
                conn.close()
                raise InvalidResponse(
                    f"{what}: answer cut short ({len(exc.partial)} bytes of "
                    f"{len(exc.partial) + (exc.expected or 0)})") from None
            except ssl.SSLError as exc:
                conn.close()
                raise SourceUnavailable(f"{what}: TLS error: {exc}") from None
            except OSError as exc:  # refused, unreachable, DNS
                conn.close()
                reason = exc.strerror or str(exc)
                raise SourceUnavailable(f"{what}: cannot connect ({reason})") from None
            except http.client.HTTPException as exc:
                conn.close()
                raise InvalidResponse(f"{what}: not a valid HTTP answer ({exc!r})") from None
        raise SourceError(f"{what}: no answer")  # pragma: no cover - loop returns or raises

    def close(self) -> None:
        """Close the idle connections (those in use are closed by their request)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    def __del__(self) -> None:
        self.close()
