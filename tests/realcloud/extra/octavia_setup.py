"""Keystone entries, a CA and resources for real octavia (run by ``octavia.sh``).

``ca DIR``: the CA the worker signs amphora certificates with. ``keystone``: user
``octavia`` (admin + service on project service), service ``load-balancer`` and its
three endpoints (idempotent, openstacksdk with lib.sh's ``OS_*`` admin environment).
``resources``: in project admin, load balancer ``lb-ok`` (ACTIVE) with listener
``ls-http`` (HTTP:80) and pool ``pool-http`` (ROUND_ROBIN) on it, then ``lb-error``, made
while the worker's client CA file ($OCTAVIA_CLIENT_CA) is moved away: the amphora's build
reads it, fails, and the flow reverts the load balancer to ERROR (the file is put back
before this step ends, whatever happens).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import openstack

REGION = "RegionOne"
URL = "http://127.0.0.1:9876"
#: the VIP's network and subnet: the no-op network driver never looks them up in neutron
VIP = {"vip_network_id": "7a1b2c3d-0000-4000-8000-000000000015",
       "vip_subnet_id": "7a1b2c3d-0000-4000-8000-000000000016"}
WAIT_S = 120.0


def role(c: Any, name: str) -> Any:
    return c.identity.find_role(name) or c.identity.create_role(name=name)


def keystone(c: Any) -> None:
    """User octavia, service load-balancer and its endpoints."""
    idc = c.identity
    dom = idc.find_domain("default")
    proj = idc.find_project("service", domain_id=dom.id)
    user = idc.find_user("octavia", domain_id=dom.id) or idc.create_user(
        name="octavia", password=os.environ["OS_PASSWORD"], domain_id=dom.id,
        default_project_id=proj.id)
    for r in ("admin", "service"):
        idc.assign_project_role_to_user(proj, user, role(c, r))
    svc = next((s for s in idc.services() if s.type == "load-balancer"), None) or \
        idc.create_service(name="octavia", type="load-balancer", enabled=True)
    have = {e.interface for e in idc.endpoints(service_id=svc.id)}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            idc.create_endpoint(service_id=svc.id, interface=iface, url=URL, region_id=REGION)


def wait_lb(lb_api: Any, name: str, want: str) -> str:
    """Wait (up to :data:`WAIT_S`) until load balancer ``name`` is in provisioning
    status ``want``; exit with what it is in when it is not by then."""
    deadline = time.monotonic() + WAIT_S
    while True:
        lb = lb_api.find_load_balancer(name)
        status = lb.provisioning_status if lb is not None else "missing"
        if status == want:
            return status
        if time.monotonic() > deadline or (status == "ERROR" and want != "ERROR"):
            sys.exit(f"load balancer {name} is {status} after {WAIT_S:.0f} s, not {want}")
        time.sleep(0.5)


def make_ok(lb_api: Any) -> None:
    lb = lb_api.find_load_balancer("lb-ok") or lb_api.create_load_balancer(
        name="lb-ok", **VIP)
    wait_lb(lb_api, "lb-ok", "ACTIVE")
    listener = lb_api.find_listener("ls-http")
    if listener is None:
        listener = lb_api.create_listener(name="ls-http", protocol="HTTP", protocol_port=80,
                                          load_balancer_id=lb.id)
        wait_lb(lb_api, "lb-ok", "ACTIVE")
    if lb_api.find_pool("pool-http") is None:
        lb_api.create_pool(name="pool-http", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                           listener_id=listener.id)
        wait_lb(lb_api, "lb-ok", "ACTIVE")


def make_error(lb_api: Any) -> None:
    if lb_api.find_load_balancer("lb-error") is not None:
        return
    client_ca = Path(os.environ["OCTAVIA_CLIENT_CA"])
    away = client_ca.with_suffix(".away")
    client_ca.rename(away)
    try:
        lb_api.create_load_balancer(name="lb-error", **VIP)
        wait_lb(lb_api, "lb-error", "ERROR")
    finally:
        away.rename(client_ca)


def resources(c: Any) -> None:
    lb_api = c.load_balancer
    make_ok(lb_api)
    make_error(lb_api)
    print("load balancers:", sorted((lb.name, lb.provisioning_status, lb.operating_status)
                                    for lb in lb_api.load_balancers()))


def make_ca(folder: Path) -> None:
    """A self-signed CA (``ca.pem``, ``ca.key``) the worker signs amphora certificates
    with, and a copy of it as the client CA it ships to them (``client_ca.pem``)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realcloud-octavia-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (folder / "ca.pem").write_bytes(pem)
    (folder / "client_ca.pem").write_bytes(pem)


def main() -> None:
    if sys.argv[1:2] == ["ca"]:
        make_ca(Path(sys.argv[2]))
        return
    steps = {"keystone": keystone, "resources": resources}
    conn = openstack.connect()
    for step in sys.argv[1:]:
        steps[step](conn)


if __name__ == "__main__":
    main()
