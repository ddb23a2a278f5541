"""HTTPS for the web app: an :class:`ssl.SSLContext` from ``web.tls_cert`` and ``web.tls_key``.

TLS 1.2 at least (RFC 8996 retired 1.0 and 1.1), with Python's default ciphers
and options (no compression, no renegotiation). The key must be unencrypted:
a server that asked for a passphrase at start would hang under systemd; its
file's permissions protect it instead.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from stackwatch.config import WebConfig
from stackwatch.errors import ConfigError


def _no_passphrase() -> str:
    raise ConfigError("web.tls_key: the key is encrypted; give an unencrypted key "
                      "(openssl pkey -in KEY -out KEY.plain) readable only by stackwatch")


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context with the certificate chain and key loaded; TLS >= 1.2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except ssl.SSLError as exc:
        raise ConfigError(f"web.tls_cert {cert} / web.tls_key {key}: cannot be loaded as a "
                          f"PEM certificate and its key ({exc.reason or exc})") from None
    except OSError as exc:
        raise ConfigError(f"web.tls_cert {cert} / web.tls_key {key}: cannot read: "
                          f"{exc.strerror}") from None
    return context


def web_context(web: WebConfig) -> ssl.SSLContext | None:
    """The context ``web`` asks for; None to serve plain HTTP."""
    if web.tls_cert is None or web.tls_key is None:
        return None
    return server_context(web.tls_cert, web.tls_key)
