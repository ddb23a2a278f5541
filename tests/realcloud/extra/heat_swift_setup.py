"""Keystone entries and resources for real heat and swift (run by ``heat_swift.sh``).

``keystone-swift`` / ``keystone-heat``: service users, roles, services and endpoints
(idempotent, openstacksdk with lib.sh's ``OS_*`` admin environment, one process instead
of a dozen CLI calls). ``resources``: in project admin, containers ``hs-full`` (three
objects of 1, 10 and 100 bytes) and ``hs-empty``; stacks ``hs-ok`` (CREATE_COMPLETE:
OS::Heat::RandomString and OS::Heat::None, no other service needed) and ``hs-failed``
(CREATE_FAILED: OS::Heat::TestResource told to fail); in project demo, stack ``hs-demo``
(CREATE_COMPLETE), seen only by a listing of every project.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import openstack

PW = os.environ["OS_PASSWORD"]
REGION = "RegionOne"
SERVICES = {  # name: (type, url, user)
    "swift": ("object-store", "http://127.0.0.1:8080/v1/AUTH_%(project_id)s", "swift"),
    "heat": ("orchestration", "http://127.0.0.1:8004/v1/%(tenant_id)s", "heat"),
}
OBJECTS = {"one": b"x", "ten": b"y" * 10, "hundred": b"z" * 100}
STACKS = {
    "hs-ok": {"heat_template_version": "2021-04-16", "resources": {
        "secret": {"type": "OS::Heat::RandomString", "properties": {"length": 8}},
        "nothing": {"type": "OS::Heat::None"}}},
    "hs-failed": {"heat_template_version": "2021-04-16", "resources": {
        "broken": {"type": "OS::Heat::TestResource", "properties": {"fail": True}}}},
}
WANT_STATUS = {"hs-ok": "CREATE_COMPLETE", "hs-failed": "CREATE_FAILED"}
DEMO_STACK = "hs-demo"


def role(c: Any, name: str) -> Any:
    return c.identity.find_role(name) or c.identity.create_role(name=name)


def service(c: Any, name: str) -> None:
    """Service user (admin + service on project service), service and its endpoints."""
    idc = c.identity
    stype, url, user = SERVICES[name]
    dom = idc.find_domain("default")
    proj = idc.find_project("service", domain_id=dom.id)
    u = idc.find_user(user, domain_id=dom.id) or idc.create_user(
        name=user, password=PW, domain_id=dom.id, default_project_id=proj.id)
    for r in ("admin", "service"):
        idc.assign_project_role_to_user(proj, u, role(c, r))
    svc = next((s for s in idc.services() if s.type == stype), None) or idc.create_service(
        name=name, type=stype, enabled=True)
    have = {e.interface for e in idc.endpoints(service_id=svc.id)}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            idc.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=REGION)


def keystone_swift(c: Any) -> None:
    service(c, "swift")
    role(c, "ResellerAdmin")


def keystone_heat(c: Any) -> None:
    service(c, "heat")
    idc = c.identity
    for r in ("heat_stack_owner", "heat_stack_user"):
        role(c, r)
    dom = idc.find_domain("heat") or idc.create_domain(
        name="heat", description="Users and projects heat makes for stacks")
    admin = idc.find_user("heat_domain_admin", domain_id=dom.id) or idc.create_user(
        name="heat_domain_admin", password=PW, domain_id=dom.id)
    idc.assign_domain_role_to_user(dom, admin, role(c, "admin"))
    me = idc.find_user("admin", domain_id=idc.find_domain("default").id)
    idc.assign_project_role_to_user(idc.find_project("admin", domain_id="default"), me,
                                    role(c, "heat_stack_owner"))


def wait(orch: Any, want: dict[str, str]) -> dict[str, str]:
    """Wait (up to 120 s) until the stacks named in ``want`` are in those statuses."""
    deadline = time.monotonic() + 120
    while True:
        status = {s.name: s.status for s in orch.stacks() if s.name in want}
        if status == want:
            return status
        if time.monotonic() > deadline:
            sys.exit(f"stacks not in {want} after 120 s: {status}")
        time.sleep(1)


def resources(c: Any) -> None:
    store = c.object_store
    have = {ct.name for ct in store.containers()}
    for name in ("hs-full", "hs-empty"):
        if name not in have:
            store.create_container(name=name)
    for name, data in OBJECTS.items():
        store.upload_object(container="hs-full", name=name, data=data)
    orch = c.orchestration
    stacks = {s.name: s for s in orch.stacks()}
    for name, template in STACKS.items():
        if name not in stacks:
            orch.create_stack(name=name, template=template)
    demo = openstack.connect(project_name="demo").orchestration
    if not any(s.name == DEMO_STACK for s in demo.stacks()):
        demo.create_stack(name=DEMO_STACK, template=STACKS["hs-ok"])
    status = wait(orch, WANT_STATUS) | wait(demo, {DEMO_STACK: "CREATE_COMPLETE"})
    print("swift containers:", sorted(ct.name for ct in store.containers()),
          "stacks:", status)


def main() -> None:
    steps = {"keystone-swift": keystone_swift, "keystone-heat": keystone_heat,
             "resources": resources}
    conn = openstack.connect()
    for step in sys.argv[1:]:
        steps[step](conn)


if __name__ == "__main__":
    main()
