"""Fixtures of the web tests: an address of this host that is not loopback, a
self-signed certificate, and a monitor over small real sources."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stackwatch.config import Config, parse_config
from stackwatch.model import Collection


@pytest.fixture(scope="session")
def public_address() -> str:
    """An IPv4 address of this host's network interfaces that is not loopback: a client
    connecting to it from here is a non-local peer (the kernel picks it as source)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(address.address)
            if not (ip.is_loopback or ip.is_link_local):
                return str(ip)
    pytest.skip("this host has no IPv4 address besides loopback")


def self_signed(directory: Path, addresses: list[str]) -> tuple[Path, Path]:
    """A certificate (for these IP addresses) and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stackwatch test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def certificate(tmp_path: Path, public_address: str) -> Iterator[tuple[Path, Path]]:
    yield self_signed(tmp_path, ["127.0.0.1", public_address])


def monitor_config(tmp_path: Path, **web: Any) -> Config:
    """One cloud, a store in ``tmp_path``, sources every hour (runs come when asked)."""
    return parse_config({"clouds": [{"name": "x"}], "store": {"path": str(tmp_path / "s.db")},
                         "intervals": {"api": 3600, "sql": 3600}, "web": web})


class CountingSource:
    """A source that answers nothing, and counts its runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def collect(self) -> Collection:
        self.calls += 1
        return Collection()
