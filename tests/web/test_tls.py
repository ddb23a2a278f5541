"""HTTPS from the configured certificate: a client that verifies it gets in, with a token;
one that does not trust it, or speaks plain HTTP, does not; bad files are clear errors."""

from __future__ import annotations

import http.client
import ssl
import time
from pathlib import Path

import pytest

from stackwatch.config import load_config
from stackwatch.errors import ConfigError
from stackwatch.server import Monitor
from stackwatch.store.base import Role
from stackwatch.tokens import issue
from stackwatch.web.tls import server_context

from .client import Http
from .conftest import CountingSource, monitor_config, self_signed

pytestmark = pytest.mark.integration


def trusting(cert: Path, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    if maximum is not None:
        context.maximum_version = maximum
    return context


def test_https_with_a_verified_certificate(tmp_path: Path, public_address: str,
                                           certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    config = monitor_config(tmp_path, tls_cert=str(cert), tls_key=str(key))
    with Monitor(config, [CountingSource("api.compute")], listen=(public_address, 0)) as monitor:
        assert monitor.url.startswith(f"https://{public_address}:")
        read = issue(monitor.tokens, "reader", Role.READ, time.time())
        client = Http(monitor.url, context=trusting(cert))
        assert client.get("/api/v1/health").status == 401
        assert client.get("/api/v1/health", read).status == 200
        # TLS 1.2 is enough; the session cookie is Secure over HTTPS
        tls12 = Http(monitor.url, context=trusting(cert, ssl.TLSVersion.TLSv1_2))
        assert tls12.get("/api/v1/health", read).status == 200
        login = client.post("/login", form=f"token={read}&next=/")
        assert "secure" in [a.strip().lower() for a in
                            (login.header("Set-Cookie") or "").split(";")]
        # a client that does not trust the certificate stops at the handshake
        with pytest.raises(ssl.SSLCertVerificationError):
            Http(monitor.url, context=ssl.create_default_context()).get("/api/v1/health")
        # plain HTTP to the HTTPS port gets no answer
        plain = Http(monitor.url.replace("https://", "http://"))
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.get("/api/v1/health", read)


def test_the_server_context_refuses_tls_below_1_2(certificate: tuple[Path, Path]) -> None:
    context = server_context(*certificate)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_tls_files_are_checked_at_load(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    path = tmp_path / "stackwatch.yaml"
    head = "clouds: [{name: x}]\nweb:\n"
    path.write_text(head + f"  tls_cert: {cert}\n  tls_key: {key}\n")
    assert load_config(path).web.tls_key == key
    path.write_text(head + "  tls_cert: nowhere.pem\n  tls_key: key.pem\n")
    with pytest.raises(ConfigError, match=r"web\.tls_cert: .*nowhere\.pem does not exist"):
        load_config(path)
    path.write_text(head + f"  tls_cert: {cert}\n")
    with pytest.raises(ConfigError, match="tls_cert is set but tls_key is not"):
        load_config(path)
    path.write_text(head + f"  tls_cert: {cert}\n  tls_key: {tmp_path}\n")
    with pytest.raises(ConfigError, match=r"web\.tls_key: .* is not a file"):
        load_config(path)


def test_a_certificate_that_does_not_load_stops_the_start(tmp_path: Path,
                                                          certificate: tuple[Path, Path]
                                                          ) -> None:
    cert, _ = certificate
    other_key = tmp_path / "other"
    other_key.mkdir()
    _, wrong_key = self_signed(other_key, ["127.0.0.1"])
    config = monitor_config(tmp_path, tls_cert=str(cert), tls_key=str(wrong_key))
    monitor = Monitor(config, [CountingSource("api.compute")], listen=("127.0.0.1", 0))
    with pytest.raises(ConfigError, match=r"web\.tls_cert .* cannot be loaded"):
        monitor.start()
    assert monitor.url == ""
