"""GETs to an infrastructure HTTP API (RabbitMQ management, HAProxy stats), errors in our terms.

One urllib3 pool per source; basic authentication in a header (never in the URL,
so no message or log line can carry the password); no retries, no redirects.

* refused, unresolvable, TLS failure, 5xx, 404 -> :class:`SourceUnavailable`
* 401, 403 -> :class:`SourceAuthError`
* no answer in time -> :class:`SourceTimeout`
* cut short, another status, not the JSON asked for -> :class:`InvalidResponse`
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from typing import Any

from urllib3 import PoolManager
from urllib3 import exceptions as u3
from urllib3.util import make_headers

from stackwatch.errors import (
    InvalidResponse,
    SourceAuthError,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)

log = logging.getLogger(__name__)


def excerpt(data: bytes | str, size: int = 60) -> str:
    """The start of an answer, printable, for a message saying it was not understood."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return repr(text[:size] + ("..." if len(text) > size else ""))


class HttpGetter:
    """GETs with a timeout and optional basic authentication."""

    def __init__(self, timeout: float, user: str | None = None, password: str | None = None,
                 verify_tls: bool = True) -> None:
        self.timeout = timeout
        self._headers = {"Accept": "application/json, text/plain"}
        if user:
            self._headers.update(make_headers(basic_auth=f"{user}:{password or ''}"))
        self._pool = PoolManager(num_pools=4, maxsize=2, retries=False,
                                 cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE")

    def __repr__(self) -> str:  # the headers hold the password
        return f"HttpGetter(timeout={self.timeout})"

    def get(self, url: str, what: str) -> bytes:
        """The body of a 200 answer to GET ``url``; a :class:`SourceError` otherwise."""
        started = time.monotonic()
        try:
            response = self._pool.request("GET", url, headers=self._headers,
                                          timeout=self.timeout, redirect=False)
        except u3.HTTPError as exc:
            raise _translate(exc, what, self.timeout) from None
        log.info("%s: HTTP %d in %.3fs", what, response.status, time.monotonic() - started)
        if response.status == 200:
            return bytes(response.data)
        status = response.status
        if status in (401, 403):
            raise SourceAuthError(f"{what}: HTTP {status} "
                                  f"({'bad credentials' if status == 401 else 'not allowed'})")
        if status == 404:
            raise SourceUnavailable(f"{what}: HTTP 404 (not found: wrong URL?)")
        if status >= 500:
            raise SourceUnavailable(f"{what}: HTTP {status}")
        raise InvalidResponse(f"{what}: HTTP {status}")

    def get_json(self, url: str, what: str) -> Any:
        """The JSON document at ``url``."""
        body = self.get(url, what)
        try:
            return json.loads(body)
        except ValueError:
            raise InvalidResponse(f"{what}: not JSON: {excerpt(body)}") from None

    def close(self) -> None:
        self._pool.clear()


def _translate(exc: u3.HTTPError, what: str, timeout: float) -> SourceError:
    """urllib3 exception -> the stackwatch error, naming what was asked."""
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        exc = exc.reason if isinstance(exc.reason, u3.HTTPError) else exc
    if isinstance(exc, u3.NewConnectionError):
        cause = exc.__cause__ if exc.__cause__ is not None else exc.__context__
        reason = (cause.strerror if isinstance(cause, OSError) else None) or "refused"
        return SourceUnavailable(f"{what}: cannot connect ({reason})")
    if isinstance(exc, u3.NameResolutionError):
        return SourceUnavailable(f"{what}: cannot connect (name not resolved)")
    if isinstance(exc, u3.TimeoutError):
        return SourceTimeout(f"{what}: no answer within {timeout:g}s")
    if isinstance(exc, u3.SSLError):
        return SourceUnavailable(f"{what}: TLS error")
    if isinstance(exc, u3.ProtocolError):
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, http.client.IncompleteRead):
            return InvalidResponse(f"{what}: answer cut short")
        if isinstance(cause, OSError):  # RemoteDisconnected too: the server hung up
            return SourceUnavailable(f"{what}: connection lost ({type(cause).__name__})")
    return InvalidResponse(f"{what}: not a valid HTTP answer ({type(exc).__name__})")
