"""Keystone entries and nodes for real ironic (run by ``ironic.sh``).

``keystone``: user ``ironic`` (admin + service on project service), service
``baremetal`` and its three endpoints (idempotent; openstacksdk with lib.sh's ``OS_*``
admin environment, one process instead of a dozen CLI calls).

``nodes``: five ``fake-hardware`` nodes, enrolled by the system-scoped admin as an
operator does (no owner), driven to different states: ``rc-bm-enroll`` (enroll, power
state unknown), ``rc-bm-manageable`` (manageable, off), ``rc-bm-available`` (available,
off), ``rc-bm-maint`` (available, off, in maintenance with a reason) and
``rc-bm-active`` (deployed: active, on, two traits, owned by project admin, so that
ironic's stock policy shows a project admin that one node). Re-runs only do what is missing.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import openstack

PW = os.environ["OS_PASSWORD"]
REGION = "RegionOne"
URL = "http://127.0.0.1:6385"
MAINTENANCE_REASON = "fan replaced, waiting for the burn-in"


class Spec(NamedTuple):
    provision: str
    power: str | None
    maintenance: bool = False
    owned: bool = False
    traits: tuple[str, ...] = ()


NODES = {
    "rc-bm-enroll": Spec("enroll", None),
    "rc-bm-manageable": Spec("manageable", "power off"),
    "rc-bm-available": Spec("available", "power off"),
    "rc-bm-maint": Spec("available", "power off", maintenance=True),
    "rc-bm-active": Spec("active", "power on", owned=True,
                         traits=("CUSTOM_RC_GPU", "HW_CPU_X86_VMX")),
}
#: the provision action that leaves each state on the way to ``active``
NEXT = {"enroll": ("manage", "manageable"), "manageable": ("provide", "available"),
        "available": ("active", "active")}
TIMEOUT_S = 120


def keystone(c: Any) -> None:
    idc = c.identity
    dom = idc.find_domain("default")
    proj = idc.find_project("service", domain_id=dom.id)
    user = idc.find_user("ironic", domain_id=dom.id) or idc.create_user(
        name="ironic", password=PW, domain_id=dom.id, default_project_id=proj.id)
    for name in ("admin", "service"):
        role = idc.find_role(name) or idc.create_role(name=name)
        idc.assign_project_role_to_user(proj, user, role)
    svc = next((s for s in idc.services() if s.type == "baremetal"), None) or \
        idc.create_service(name="ironic", type="baremetal", enabled=True)
    have = {e.interface for e in idc.endpoints(service_id=svc.id)}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            idc.create_endpoint(service_id=svc.id, interface=iface, url=URL, region_id=REGION)


def system_admin() -> Any:
    """The admin user with a system-scoped token (keystone-manage bootstrap grants it)."""
    auth = {"auth_url": os.environ["OS_AUTH_URL"], "username": os.environ["OS_USERNAME"],
            "password": PW, "user_domain_name": "Default", "system_scope": "all"}
    # not openstack.connect(): it would add the environment's OS_PROJECT_NAME to the scope
    return openstack.connection.Connection(auth=auth, region_name=REGION)


def drive(bm: Any, node: Any, spec: Spec) -> None:
    """Take one node from where it is to ``spec`` (provision state, power, traits,
    maintenance)."""
    while node.provision_state != spec.provision:
        action, reached = NEXT[node.provision_state]
        node = bm.set_node_provision_state(node, action, wait=True, timeout=TIMEOUT_S)
        assert node.provision_state == reached, (node.name, node.provision_state)
    if spec.power and node.power_state != spec.power:
        bm.set_node_power_state(node, spec.power, wait=True, timeout=TIMEOUT_S)
    for trait in spec.traits:
        if trait not in (node.traits or ()):
            bm.add_node_trait(node, trait)
    if spec.maintenance and not node.is_maintenance:
        bm.set_node_maintenance(node, reason=MAINTENANCE_REASON)


def nodes(c: Any) -> None:
    bm = system_admin().baremetal
    admin_project = c.identity.find_project("admin", domain_id="default").id
    have = {n.name: n for n in bm.nodes(details=True)}
    made = {name: have.get(name) or bm.create_node(
        name=name, driver="fake-hardware", provision_state="enroll",
        owner=admin_project if spec.owned else None) for name, spec in NODES.items()}
    # the nodes side by side: each state change is a wait of its own (the SDK polls)
    with ThreadPoolExecutor(len(NODES)) as pool:
        for done in [pool.submit(drive, bm, made[name], spec) for name, spec in NODES.items()]:
            done.result()
    seen = {n.name: (n.provision_state, n.power_state, n.is_maintenance)
            for n in bm.nodes(details=True)}
    print("ironic nodes:", seen)


def main() -> None:
    steps = {"keystone": keystone, "nodes": nodes}
    conn = openstack.connect()
    for step in sys.argv[1:]:
        steps[step](conn)


if __name__ == "__main__":
    main()
