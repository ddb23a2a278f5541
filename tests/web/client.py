"""A small HTTP(S) client for the web tests: no redirects followed, every reply kept.

Replies are kept so that a test can check all it was ever sent for secrets
(:mod:`web.leaks`). ``source`` binds the client's end to an address of this host:
``127.0.0.1`` makes a loopback peer of a server listening on another address.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status, headers (in order, repeated ones kept), body text."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Http:
    """Requests to one server (``url``), from an optional source address."""

    url: str
    source: str | None = None
    context: ssl.SSLContext | None = None
    replies: list[Reply] = field(default_factory=list)

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: str | bytes | None = None) -> Reply:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "", parts.port or 0
        source = (self.source, 0) if self.source else None
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=15,
                                                      source_address=source,
                                                      context=self.context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=15,
                                                     source_address=source)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            reply = Reply(response.status, tuple(response.getheaders()),
                          response.read().decode("utf-8", "replace"))
        finally:
            connection.close()
        self.replies.append(reply)
        return reply

    def get(self, path: str, token: str | None = None, **headers: str) -> Reply:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})

    def post(self, path: str, token: str | None = None, form: str | None = None,
             **headers: str) -> Reply:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", path, sent, form)
