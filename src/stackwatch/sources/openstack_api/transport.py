"""The data requests' HTTP: urllib3's pooled, kept-alive connections, errors in our terms.

A full collection of a big cloud is some 26,000 small GETs; per request,
keystoneauth + requests cost about 1 ms of CPU, urllib3 alone about 0.2 ms
(0.1 ms more than bare ``http.client``; see docs/sources.md) — and CPU, not the
network, is what bounds the collection. So data requests go
through urllib3's :class:`~urllib3.HTTPConnectionPool` (one pool of kept-alive
connections per host, as many as the client lets requests run at once);
keystoneauth still does authentication and the catalog.

* TLS as ``clouds.yaml`` says: ``verify`` (bool, or a CA bundle path: ``cacert``)
  and a client certificate (``cert``, ``key``).
* Every request is a GET (idempotent). urllib3 retries nothing here
  (``retries=False``), so that a timeout is reported after one timeout, not
  several; but a kept-alive connection the server closed meanwhile (the
  request fails before any answer) is retried once on another connection.
* urllib3's exceptions are translated into :mod:`stackwatch.errors`, naming
  the request.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from urllib3 import exceptions as u3
from urllib3.connectionpool import HTTPConnectionPool, connection_from_url

from stackwatch.errors import InvalidResponse, SourceError, SourceTimeout, SourceUnavailable

#: What a kept-alive connection closed by the server looks like when reused.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          http.client.CannotSendRequest, http.client.BadStatusLine)


@dataclass(frozen=True, slots=True)
class Answer:
    """Status and body of one HTTP answer."""

    status: int
    content: bytes


class Transport:
    """GETs on pooled connections (thread-safe); TLS options from clouds.yaml."""

    def __init__(self, timeout: float, verify: bool | str = True,
                 cert: str | tuple[str, str] | None = None, pool_size: int = 16) -> None:
        #: Seconds to connect and, separately, to wait for the answer (read at each request).
        self.timeout = timeout
        self._tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
        if isinstance(verify, str):
            self._tls["ca_certs"] = verify
        if isinstance(cert, tuple):
            self._tls["cert_file"], self._tls["key_file"] = cert
        elif cert:
            self._tls["cert_file"] = cert
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._pools: dict[str, HTTPConnectionPool] = {}
        #: origin -> (its latest ``Date`` header, our monotonic time when it came)
        self._dates: dict[str, tuple[str, float]] = {}

    def _pool(self, origin: str) -> HTTPConnectionPool:
        """The pool of ``scheme://host:port``, made on first use.

        One pool per origin, kept for the transport's life (a cloud has a handful of
        API hosts); asking it by path saves urllib3's PoolManager parsing every URL
        again (some 0.03 ms per request, almost 1 s of CPU per big collection).
        """
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    tls = self._tls if origin.startswith("https:") else {}
                    # maxsize: the client's gate bounds the requests in flight to
                    # pool_size, so none waits for a connection or opens a spare one.
                    pool = connection_from_url(origin, maxsize=self._pool_size,
                                               retries=False, **tls)
                    self._pools[origin] = pool
        return pool

    def get(self, url: str, headers: Mapping[str, str], what: str) -> Answer:
        """GET ``url``; SourceError subclasses for every failure to get an answer."""
        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        origin, target = f"{scheme}://{netloc}", slash + path or "/"
        for attempt in (1, 2):
            try:
                response = self._pool(origin).urlopen(
                    "GET", target, headers=headers, timeout=self.timeout, redirect=False,
                    assert_same_host=False)
                date = response.headers.get("Date")
                if date:  # kept raw: parsed only when asked (cloud_now)
                    self._dates[origin] = (date, time.monotonic())
                return Answer(response.status, response.data)
            except u3.ProtocolError as exc:
                cause = exc.args[1] if len(exc.args) > 1 else None
                if isinstance(cause, _STALE) and attempt == 1:
                    continue  # a kept-alive connection the server had closed: once more
                raise _translate(exc, what, self.timeout) from None
            except u3.HTTPError as exc:
                raise _translate(exc, what, self.timeout) from None
        raise SourceError(f"{what}: no answer")  # pragma: no cover - loop returns or raises

    def server_now(self, url: str) -> float | None:
        """The server's clock now (Unix seconds), from the ``Date`` header of its latest
        answer plus the time since it came; None before any answer with one."""
        scheme, _, rest = url.partition("://")
        seen = self._dates.get(f"{scheme}://{rest.partition('/')[0]}")
        if seen is None:
            return None
        try:
            moment = email.utils.parsedate_to_datetime(seen[0])
        except (TypeError, ValueError):
            return None  # not an HTTP date: no server clock, ours is not used instead
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp() + (time.monotonic() - seen[1])

    def close(self) -> None:
        """Close the idle connections (those in use are closed when their request ends)."""
        with self._lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()


def _translate(exc: u3.HTTPError, what: str, timeout: float) -> SourceError:
    """urllib3 exception -> the stackwatch error for it, naming the request."""
    if isinstance(exc, u3.NewConnectionError):  # before ConnectTimeoutError, its base
        cause = exc.__cause__
        reason = (cause.strerror if isinstance(cause, OSError) else None) or str(cause or exc)
        return SourceUnavailable(f"{what}: cannot connect ({reason})")
    if isinstance(exc, u3.NameResolutionError):
        return SourceUnavailable(f"{what}: cannot connect (name not resolved)")
    if isinstance(exc, u3.TimeoutError):  # connect or read timeout
        return SourceTimeout(f"{what}: no answer within {timeout:g}s")
    if isinstance(exc, u3.SSLError):
        return SourceUnavailable(f"{what}: TLS error: {exc.args[0] if exc.args else exc}")
    if isinstance(exc, u3.ProtocolError):
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, http.client.IncompleteRead):
            # urllib3 counts the bytes (int), http.client keeps them (bytes);
            # ``expected`` is what was still missing.
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            return InvalidResponse(f"{what}: answer cut short ({got} bytes of "
                                   f"{got + (cause.expected or 0)})")
        if isinstance(cause, _STALE):
            return SourceUnavailable(f"{what}: the server closed the connection")
        if isinstance(cause, OSError):
            return SourceUnavailable(f"{what}: connection lost ({cause.strerror or cause})")
    return InvalidResponse(f"{what}: not a valid HTTP answer ({exc})")
