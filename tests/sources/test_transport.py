"""The data requests' transport (urllib3 pools) against real servers on 127.0.0.1:
kept-alive reuse, a stale connection retried once, TLS as clouds.yaml says, and
every failure translated into stackwatch's errors, naming the request."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from urllib3.exceptions import InsecureRequestWarning

from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable
from stackwatch.sources.openstack_api.transport import Transport

pytestmark = pytest.mark.integration

BODY = b'{"servers": []}'


class Handler(http.server.BaseHTTPRequestHandler):
    """``/ok`` answers; ``/slow`` waits 2 s; ``/cut`` promises more bytes than it sends."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/slow":
            threading.Event().wait(2.0)
        length = len(BODY) + (100 if self.path == "/cut" else 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(BODY)
        if self.path == "/cut":
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []
        self.connections = 0
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def get_request(self) -> tuple[socket.socket, object]:
        self.connections += 1
        return super().get_request()

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def serve(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server() -> Iterator[Server]:
    yield from serve(Server())


def test_connections_are_kept_alive_and_reused(http_server: Server) -> None:
    transport = Transport(5.0, pool_size=2)
    for _ in range(5):
        answer = transport.get(f"http://{http_server.origin}/ok", {}, "GET /ok")
        assert (answer.status, answer.content) == (200, BODY)
    assert http_server.connections == 1
    transport.close()


def test_a_stale_kept_alive_connection_is_retried_once() -> None:
    """The server answers the first request of each connection and drops the
    connection, without answering, on the second: each GET still succeeds."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[int] = []

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                for answered in (True, False):
                    if not conn.recv(65536):
                        break
                    seen.append(port)
                    if not answered:
                        break  # closes without an answer: stale for the client
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(BODY), BODY))

    threading.Thread(target=run, daemon=True).start()
    transport = Transport(5.0, pool_size=1)
    try:
        for _ in range(3):
            assert transport.get(f"http://127.0.0.1:{port}/x", {}, "GET /x").content == BODY
    finally:
        transport.close()
        listener.close()
    assert len(seen) == 5  # 3 answered, 2 dropped and sent again


def test_failures_become_stackwatch_errors_naming_the_request(http_server: Server) -> None:
    transport = Transport(1.0)
    with pytest.raises(SourceTimeout, match=r"^GET /slow: no answer within 1s$"):
        transport.get(f"http://{http_server.origin}/slow", {}, "GET /slow")
    with pytest.raises(InvalidResponse,
                       match=r"^GET /cut: answer cut short \(15 bytes of 115\)$"):
        transport.get(f"http://{http_server.origin}/cut", {}, "GET /cut")
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(SourceUnavailable, match=r"^GET /x: cannot connect \(Connection refused\)"):
        transport.get(f"http://127.0.0.1:{port}/x", {}, "GET /x")
    # and the transport still works afterwards
    assert transport.get(f"http://{http_server.origin}/ok", {}, "GET /ok").status == 200


# ---------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (also its own CA bundle) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stackwatch test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    yield from serve(Server(context))


def test_tls_verified_with_the_cacert_of_clouds_yaml(
        https_server: Server, certificate: tuple[Path, Path]) -> None:
    url = f"https://{https_server.origin}/ok"
    assert Transport(5.0, verify=str(certificate[0])).get(url, {}, "GET /ok").content == BODY
    with pytest.raises(SourceUnavailable,
                       match=r"^GET /ok: TLS error: .*CERTIFICATE_VERIFY_FAILED"):
        Transport(5.0, verify=True).get(url, {}, "GET /ok")
    with pytest.warns(InsecureRequestWarning):  # verify: false, as clouds.yaml asked
        assert Transport(5.0, verify=False).get(url, {}, "GET /ok").status == 200


def test_client_certificate_from_clouds_yaml_is_presented(
        certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED  # the server asks for a client certificate
    context.load_verify_locations(cert)
    for server in serve(Server(context)):
        url = f"https://{server.origin}/ok"
        transport = Transport(5.0, verify=str(cert), cert=(str(cert), str(key)))
        assert transport.get(url, {}, "GET /ok").content == BODY
        with pytest.raises(SourceUnavailable, match=r"^GET /ok: "):
            Transport(5.0, verify=str(cert)).get(url, {}, "GET /ok")
