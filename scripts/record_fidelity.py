#!/usr/bin/env python3
"""Record what a real OpenStack cloud answers to the requests the simulator is held to.

``scripts/record_fixtures.py`` records the requests stackwatch's sources make; this
script records a wider set, the one the simulator's fidelity tests
(``tests/sim/test_fidelity_*.py``) replay against the simulator and compare: version
documents, listings at the oldest and newest microversions and the ones where a
schema changed (nova hypervisors 2.33/2.53/2.87/2.88), single objects, paging,
401/403/404/406 answers, a member's answers, and the answers to resource-changing
calls made on temporary objects (a server booted, stopped, started, cold migrated,
confirmed and deleted; a server in ERROR through NoValidHost; a network, subnet,
port, router, floating IP, image, volume and snapshot created and deleted). Every
temporary object is deleted again, so the cloud is left as found.

Files: ``<out>/<service_type>/<METHOD>_<path>[@<microversion>][.<variant>].json`` with
the same layout and content as ``record_fixtures.py``'s (``{"request", "status",
"headers", "body", "elapsed_s"}``, tokens ``<token>``, passwords ``<password>``); the
path is the request's template (``{server_id}``...), the real URL is in
``request.url``. Usage (the realcloud's credentials; the cloud must be quiet: hold
the realcloud lock that serialises its users, with ``flock``)::

    RC_PASSWORD=... python scripts/record_fidelity.py --root <root> [--out ...]
        [--auth-url http://127.0.0.1:5000/v3] [--only servers ...]

Prints one line per file, and what could not be recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from record_fixtures import SECRET_HEADERS, scrub
from record_logs import scrub as scrub_text
from record_logs import scrubber

from stackwatch.sim.fidelity import catalog_roots

RELEASE = "2026.1"
ZERO = "00000000-0000-0000-0000-000000000000"
MICROVERSION_HEADERS = {"compute": ("compute", "X-OpenStack-Nova-API-Version"),
                        "placement": ("placement", None), "block-storage": ("volume", None)}
MEMBER = "rc-fidelity-member"
WAIT_S = 120.0


@dataclass
class Session:
    """A token and the roots of the services it may call."""

    token: str
    user_id: str
    project_id: str
    roots: dict[str, str]


def login(auth_url: str, user: str, password: str, project: str | None) -> Session:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": "default"}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    answer = requests.post(f"{auth_url}/auth/tokens", json=body, timeout=60)
    answer.raise_for_status()
    token = answer.json()["token"]
    roots = dict(catalog_roots(token.get("catalog", ())))
    if "volumev3" in roots:
        roots.setdefault("block-storage", roots["volumev3"])
    return Session(answer.headers["X-Subject-Token"], token["user"]["id"],
                   token.get("project", {}).get("id", ""), roots)


@dataclass
class Recorder:
    """Sends requests, writes each answer as a recording."""

    out: Path
    admin: Session
    member: Session | None = None
    written: list[Path] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    scrub_paths: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def call(self, folder: str, method: str, template: str, ids: Mapping[str, str] | None = None,
             *, version: str = "", variant: str | None = None, caller: str = "admin",
             body: Any = None,
             data: bytes | None = None, headers: Mapping[str, str] | None = None,
             record: bool = True) -> requests.Response:
        """One request; ``template``'s placeholders are filled from ``ids``. The file's
        variant: ``variant``, else the status when it is an error ("" for none)."""
        values = {"project_id": self.admin.project_id, **(ids or {})}
        url = template.format(**values)
        sent: dict[str, str] = {"Accept": "application/json"}
        session = {"admin": self.admin, "member": self.member}.get(caller)
        if session is not None:
            sent["X-Auth-Token"] = session.token
        if version:
            name, legacy = MICROVERSION_HEADERS[folder]
            sent["OpenStack-API-Version"] = f"{name} {version}"
            if legacy:
                sent[legacy] = version
        if body is not None:
            sent["Content-Type"] = "application/json"
        if data is not None:
            sent["Content-Type"] = "application/octet-stream"
        sent.update(headers or {})
        started = time.monotonic()
        answer = requests.request(method, self.admin.roots[folder] + url, headers=sent,
                                  json=body, data=data, timeout=120, allow_redirects=False)
        elapsed = time.monotonic() - started
        if record:
            self._write(folder, method, template, url, version, variant, sent, body, answer,
                        elapsed)
        return answer

    def _paths(self, body: Any) -> Any:
        """The recording host's paths (in a fault's traceback) rewritten."""
        return _rewrite(body, self.scrub_paths) if self.scrub_paths else body

    def _write(self, folder: str, method: str, template: str, url: str, version: str,
               variant: str | None, sent: Mapping[str, str], body: Any, answer: requests.Response,
               elapsed: float) -> None:
        if variant is None:
            variant = str(answer.status_code) if answer.status_code >= 400 else ""
        name = f"{method}_{template.replace('/', '__').replace('?', '~', 1)}"
        name += (f"@{version}" if version else "") + (f".{variant}" if variant else "") + ".json"
        request: dict[str, Any] = {"method": method, "url": url, "headers": {
            k: ("<token>" if k.lower() in SECRET_HEADERS else v) for k, v in sent.items()}}
        if body is not None:
            request["body"] = scrub(body)
        content: Any = None
        if answer.content:
            try:
                content = self._paths(scrub(answer.json()))
            except ValueError:
                content = answer.text[:2000]
        headers = {k: ("<token>" if k.lower() in SECRET_HEADERS else v)
                   for k, v in answer.headers.items()}
        path = self.out / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"request": request, "status": answer.status_code,
                                    "headers": headers, "body": content,
                                    "elapsed_s": round(elapsed, 3)}, indent=1) + "\n")
        self.written.append(path)
        print(path)


def _rewrite(value: Any, pairs: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, pairs) for v in value]
    if isinstance(value, str):
        return scrub_text(value, pairs)
    return value


def wait(what: str, probe: Callable[[], str], wanted: str, failed: tuple[str, ...] = ()) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        state = probe()
        if state == wanted or state in failed:
            return state
        time.sleep(1.0)
    raise TimeoutError(f"{what}: not {wanted} after {WAIT_S:.0f}s ({probe()})")


# --------------------------------------------------------------------------- per service

def identity(r: Recorder, auth_url: str, password: str) -> None:
    for template in ("/", "/v3"):
        r.call("identity", "GET", template, caller="none", variant="")
    for template in ("/v3/domains", "/v3/projects", "/v3/regions", "/v3/users",
                     "/v3/roles", "/v3/services", "/v3/endpoints", "/v3/role_assignments",
                     "/v3/role_assignments?include_names=true", "/v3/auth/catalog",
                     "/v3/auth/projects"):
        r.call("identity", "GET", template)
    r.call("identity", "GET", "/v3/projects", caller="none", variant="401-no-token")
    r.call("identity", "GET", "/v3/users", caller="member", variant="403-member")
    r.call("identity", "GET", "/v3/users/{user_id}", {"user_id": ZERO})
    r.call("identity", "GET", "/v3/users/{user_id}/projects",
           {"user_id": r.member.user_id if r.member else r.admin.user_id})

    def auth(user: str, secret: str, scoped: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"id": "default"}, "password": secret}}}}}
        if scoped:
            body["auth"]["scope"] = {"project": {"name": "admin", "domain": {"id": "default"}}}
        return body

    for variant, body in (("201-project-scoped", auth("admin", password, True)),
                          ("201-unscoped", auth("admin", password, False)),
                          ("401-wrong-password", auth("admin", "not-the-password", True)),
                          ("401-unknown-user", auth("nobody", password, True))):
        r.call("identity", "POST", "/v3/auth/tokens", caller="none", variant=variant, body=body)
    subject = login(auth_url, "admin", password, "admin").token
    for template, variant in (("/v3/auth/tokens", "200-valid"),
                              ("/v3/auth/tokens?nocatalog", "200-valid-nocatalog")):
        r.call("identity", "GET", template, variant=variant, headers={"X-Subject-Token": subject})
    r.call("identity", "HEAD", "/v3/auth/tokens", variant="200-valid",
           headers={"X-Subject-Token": subject})
    r.call("identity", "GET", "/v3/auth/tokens", variant="404-bad-token",
           headers={"X-Subject-Token": "gAAAAAnotatoken"})
    r.call("identity", "GET", "/v3/auth/tokens", caller="none", variant="401-bad-caller-token",
           headers={"X-Auth-Token": "not-a-token", "X-Subject-Token": subject})
    r.call("identity", "DELETE", "/v3/auth/tokens", variant="204-revoke",
           headers={"X-Subject-Token": subject})
    r.call("identity", "GET", "/v3/auth/tokens", variant="404-revoked-token",
           headers={"X-Subject-Token": subject})


def compute(r: Recorder, ids: dict[str, str]) -> None:
    for template in ("/", "/v2.1", "/v2.1/"):
        r.call("compute", "GET", template, caller="none", variant="")
    r.call("compute", "GET", "/v2.1", variant="authenticated")
    r.call("compute", "GET", "/v2", caller="none", variant="legacy-v2-endpoint")
    window = {"start": ids["start"], "end": ids["end"]}
    both = ("2.1", "latest")
    for template, versions in (
            ("/v2.1/flavors/detail", both), ("/v2.1/flavors?limit=1", ("latest",)),
            ("/v2.1/limits", both), ("/v2.1/limits?tenant_id={project_id}", both),
            ("/v2.1/os-aggregates", both), ("/v2.1/os-availability-zone", both),
            ("/v2.1/os-availability-zone/detail", both), ("/v2.1/os-hypervisors", both),
            ("/v2.1/os-hypervisors/detail", ("2.1", "2.33", "2.53", "2.87", "2.88", "latest")),
            ("/v2.1/os-hypervisors/detail?limit=1", ("latest",)),
            ("/v2.1/os-hypervisors/detail?with_servers=true", ("2.53",)),
            ("/v2.1/os-hypervisors/statistics", ("2.1", "2.87", "2.88")),
            ("/v2.1/os-hypervisors?hypervisor_hostname_pattern=fake", ("latest",)),
            ("/v2.1/os-hypervisors?limit=1", ("2.33",)),
            ("/v2.1/os-hypervisors?with_servers=true", ("latest",)),
            ("/v2.1/os-instance_usage_audit_log", ("2.1",)),
            ("/v2.1/os-keypairs", ("latest",)),
            ("/v2.1/os-migrations", both), ("/v2.1/os-migrations?limit=1", ("latest",)),
            ("/v2.1/os-quota-sets/{project_id}", both),
            ("/v2.1/os-quota-sets/{project_id}/defaults", both),
            ("/v2.1/os-quota-sets/{project_id}/detail", both),
            ("/v2.1/os-services", both), ("/v2.1/os-services?binary=nova-compute", ("latest",)),
            ("/v2.1/os-simple-tenant-usage/{project_id}?start={start}&end={end}", both),
            ("/v2.1/os-simple-tenant-usage?start={start}&end={end}&detailed=1", both),
            ("/v2.1/os-simple-tenant-usage?start={start}&end={end}", both),
            ("/v2.1/servers/detail?all_tenants=1&limit=1", both),
            ("/v2.1/servers?all_tenants=1", both)):
        for version in versions:
            r.call("compute", "GET", template, window, version=version)
    r.call("compute", "GET", "/v2.1/os-simple-tenant-usage?detailed=1&limit=1",
           version="latest", variant="no-dates-limit1")
    hyp = {"hostname_pattern": ids["hypervisor_hostname"]}
    r.call("compute", "GET", "/v2.1/os-hypervisors/{hostname_pattern}/search", hyp, version="2.1")
    r.call("compute", "GET", "/v2.1/os-hypervisors/{hostname_pattern}/servers", hyp,
           version="2.1")
    r.call("compute", "GET", "/v2.1/os-hypervisors/{hostname_pattern}/servers", hyp,
           version="latest", variant="404-removed")
    for version, key in (("2.1", "hypervisor_legacy_id"), ("2.87", "hypervisor_id"),
                         ("latest", "hypervisor_id")):
        r.call("compute", "GET", "/v2.1/os-hypervisors/{id}", {"id": ids[key]}, version=version)
    r.call("compute", "GET", "/v2.1/os-hypervisors/{id}/uptime",
           {"id": ids["hypervisor_legacy_id"]}, version="2.1", variant="")  # 501, fake driver
    r.call("compute", "GET", "/v2.1/os-hypervisors/{id}?with_servers=true",
           {"id": ids["hypervisor_id"]}, version="latest")
    r.call("compute", "GET", "/v2.1/os-services", version="9.99", variant="406-bad-microversion")
    r.call("compute", "GET", "/v2.1/os-services", version="latest", caller="none",
           variant="401-no-token")
    r.call("compute", "GET", "/v2.1/os-services", version="latest", caller="member",
           variant="403-member")
    r.call("compute", "GET", "/v2.1/servers/detail", version="latest", caller="member",
           variant="member-own-project")
    r.call("compute", "GET", "/v2.1/servers/{server_id}", {"server_id": ZERO}, version="latest")


def servers(r: Recorder, ids: dict[str, str]) -> None:
    """A server through create, stop, start, cold migration and delete; one in ERROR."""
    def status(server_id: str) -> str:
        got = r.call("compute", "GET", "/v2.1/servers/{server_id}", {"server_id": server_id},
                     version="latest", record=False)
        return str(got.json()["server"]["status"]) if got.status_code == 200 else "GONE"

    def act(server_id: str, action: str, body: Any, variant: str = "") -> None:
        r.call("compute", "POST", "/v2.1/servers/{server_id}/action",
               {"server_id": server_id}, version="latest", variant=variant or action,
               body={action: body})

    boot = {"server": {"name": "ref-vm-1", "imageRef": ids["image_id"],
                       "flavorRef": ids["flavor_id"], "networks": "none"}}
    made = r.call("compute", "POST", "/v2.1/servers", version="latest", variant="ref-vm-1",
                  body=boot)
    server = made.json()["server"]["id"]
    huge: str | None = None
    disk: str | None = None
    error: str | None = None
    try:
        wait("ref-vm-1", lambda: status(server), "ACTIVE", ("ERROR",))
        act(server, "os-stop", None)
        wait("ref-vm-1 stop", lambda: status(server), "SHUTOFF")
        act(server, "os-start", None)
        wait("ref-vm-1 start", lambda: status(server), "ACTIVE")
        act(server, "migrate", None)
        wait("ref-vm-1 migrate", lambda: status(server), "VERIFY_RESIZE", ("ERROR", "ACTIVE"))
        act(server, "confirmResize", None)
        wait("ref-vm-1 confirm", lambda: status(server), "ACTIVE")
        flavor = r.call("compute", "POST", "/v2.1/flavors", version="latest", variant="m1.huge",
                        body={"flavor": {"name": "rc-fidelity-huge", "ram": 64000000,
                                         "vcpus": 1, "disk": 1}})
        huge = flavor.json()["flavor"]["id"]
        # more RAM than the project's quota: refused at once
        r.call("compute", "POST", "/v2.1/servers", version="latest",
               variant="403-quota-exceeded-ram", body={"server": {
                   "name": "ref-vm-err", "imageRef": ids["image_id"], "flavorRef": huge,
                   "networks": "none"}})
        # more disk than any host has (within quota): accepted, then NoValidHost
        made_disk = r.call("compute", "POST", "/v2.1/flavors", version="latest",
                           record=False, body={"flavor": {"name": "rc-fidelity-disk",
                                                          "ram": 64, "vcpus": 1,
                                                          "disk": 700000}})
        disk = made_disk.json()["flavor"]["id"]
        failed = r.call("compute", "POST", "/v2.1/servers", version="latest",
                        variant="ref-vm-err", body={"server": {
                            "name": "ref-vm-err", "imageRef": ids["image_id"],
                            "flavorRef": disk, "networks": "none"}})
        error = failed.json()["server"]["id"]
        wait("ref-vm-err", lambda: status(error or ""), "ERROR")
        for action in ("os-stop", "os-start", "migrate"):
            act(error, action, None, f"{action}.409-error-server")
        for name, server_id in (("active", server), ("error", error)):
            for version in ("2.1", "latest"):
                if name == "active":
                    r.call("compute", "GET", "/v2.1/servers/{server_id}",
                           {"server_id": server_id}, version=version, variant="active")
                else:
                    r.call("compute", "GET", "/v2.1/servers/{server_id}",
                           {"server_id": server_id}, version=version, variant="error-with-fault")
                listed = r.call("compute", "GET", "/v2.1/servers/{server_id}/os-instance-actions",
                                {"server_id": server_id}, version=version, variant=name)
                for action in listed.json()["instanceActions"]:
                    r.call("compute", "GET",
                           "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
                           {"server_id": server_id, "request_id": action["request_id"]},
                           version=version, variant=f"{name}-{action['action']}")
    finally:
        def clean_up() -> None:
            r.call("compute", "DELETE", "/v2.1/servers/{server_id}", {"server_id": server},
                   version="latest")
            if error is not None:
                r.call("compute", "DELETE", "/v2.1/servers/{server_id}", {"server_id": error},
                       version="latest", record=False)
            for gone in (server, error):
                if gone is not None:
                    wait("server delete", lambda g=gone: status(g), "GONE")  # type: ignore[misc]
            for flavor_id in (huge, disk):
                if flavor_id is not None:
                    r.call("compute", "DELETE", "/v2.1/flavors/{flavor_id}",
                           {"flavor_id": flavor_id}, version="latest", record=False)

        # deleted at the end of the run: the listings show them, and the migration
        r.cleanups.append(clean_up)


def placement(r: Recorder, ids: dict[str, str]) -> None:
    r.call("placement", "GET", "/", caller="none", variant="")
    r.call("placement", "GET", "/", variant="authenticated")
    r.call("placement", "GET", "/resource_providers", caller="none", variant="401-no-token")
    for version in ("1.0", "latest"):
        r.call("placement", "GET", "/resource_providers", version=version)
    r.call("placement", "GET", "/resource_providers", version="9.99",
           variant="406-bad-microversion")
    r.call("placement", "GET", "/resource_providers", version="latest", caller="member",
           variant="403-member")
    r.call("placement", "GET", "/resource_providers/{uuid}", {"uuid": ZERO}, version="latest")
    r.call("placement", "GET", "/resource_classes", version="latest")
    r.call("placement", "GET",
           "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:1&limit=2",
           version="latest")
    r.call("placement", "GET", "/usages?project_id={project_id}", version="latest")
    r.call("placement", "GET", "/usages?project_id={project_id}", {"project_id": ZERO},
           version="latest", variant="empty-project")
    for index, (uuid, name) in enumerate(ids["providers"].items(), 1):  # type: ignore[attr-defined]
        variant = f"rp{index}-{name}"
        for tail in ("", "/aggregates", "/allocations", "/inventories", "/traits", "/usages"):
            r.call("placement", "GET", "/resource_providers/{uuid}" + tail, {"uuid": uuid},
                   version="latest", variant=variant)


def network(r: Recorder, ids: dict[str, str]) -> None:
    r.call("network", "GET", "/", caller="none", variant="")
    r.call("network", "GET", "/v2.0", caller="none", variant="")
    r.call("network", "GET", "/v2.0", variant="authenticated")
    for template in ("agents", "extensions", "floatingips", "network-ip-availabilities",
                     "networks", "networks?limit=1", "ports", "ports?limit=1", "quotas",
                     "routers", "routers?limit=1", "security-groups", "security-groups?limit=1",
                     "subnets", "subnets?limit=1"):
        r.call("network", "GET", "/v2.0/" + template)
    first = r.call("network", "GET", "/v2.0/networks?limit=1", record=False).json()["networks"]
    r.call("network", "GET", "/v2.0/networks?limit=1&marker={network_id}",
           {"network_id": first[0]["id"]}, variant="page2")
    r.call("network", "GET", "/v2.0/agents", caller="member", variant="200-member")
    r.call("network", "GET", "/v2.0/network-ip-availabilities", caller="member",
           variant="200-member-empty-list")
    r.call("network", "GET", "/v2.0/networks", caller="none", variant="401-no-token")
    r.call("network", "GET", "/v2.0/networks/{network_id}", {"network_id": ZERO})
    net = {"network_id": ids["network_id"]}
    r.call("network", "GET", "/v2.0/networks/{network_id}", net)
    r.call("network", "GET", "/v2.0/network-ip-availabilities/{network_id}", net)
    for tail in ("", "/default", "/details"):
        r.call("network", "GET", "/v2.0/quotas/{project_id}" + tail)
    if ids.get("agent_id"):
        r.call("network", "GET", "/v2.0/agents/{agent_id}/l3-routers",
               {"agent_id": ids["agent_id"]})
    r.call("network", "POST", "/v2.0/networks", caller="member", variant="403-member-provider-attr",
           body={"network": {"name": "x", "provider:network_type": "vlan"}})
    made: list[tuple[str, str]] = []
    try:
        net_id = r.call("network", "POST", "/v2.0/networks", variant="tmp-net",
                        body={"network": {"name": "tmp-net"}}).json()["network"]["id"]
        made.append(("networks", net_id))
        subnet_id = r.call("network", "POST", "/v2.0/subnets", variant="tmp-subnet", body={
            "subnet": {"name": "tmp-subnet", "network_id": net_id, "ip_version": 4,
                       "cidr": "10.99.0.0/24"}}).json()["subnet"]["id"]
        made.append(("subnets", subnet_id))
        port_id = r.call("network", "POST", "/v2.0/ports", variant="tmp-port", body={
            "port": {"name": "tmp-port", "network_id": net_id}}).json()["port"]["id"]
        made.append(("ports", port_id))
        router_id = r.call("network", "POST", "/v2.0/routers", variant="tmp-router",
                           body={"router": {"name": "tmp-router"}}).json()["router"]["id"]
        made.append(("routers", router_id))
        r.call("network", "PUT", "/v2.0/routers/{router_id}/add_router_interface",
               {"router_id": router_id}, body={"subnet_id": subnet_id})
        if ids.get("external_network_id"):
            fip = r.call("network", "POST", "/v2.0/floatingips", body={
                "floatingip": {"floating_network_id": ids["external_network_id"]}})
            if fip.status_code == 201:
                made.append(("floatingips", fip.json()["floatingip"]["id"]))
        r.call("network", "PUT", "/v2.0/routers/{router_id}/remove_router_interface",
               {"router_id": router_id}, body={"subnet_id": subnet_id}, record=False)
    finally:
        names = {"networks": "network_id", "subnets": "subnet_id", "ports": "port_id",
                 "routers": "router_id", "floatingips": "floatingip_id"}
        for kind in ("floatingips", "ports", "routers", "subnets", "networks"):
            for made_kind, made_id in made:
                if made_kind == kind:
                    key = names[kind]
                    r.call("network", "DELETE", f"/v2.0/{kind}/{{{key}}}", {key: made_id},
                           record=kind != "floatingips")


def image(r: Recorder, ids: dict[str, str]) -> None:
    for template in ("/", "/versions"):
        r.call("image", "GET", template, caller="none", variant="")
    for template in ("/v2/images", "/v2/images?limit=1",
                     "/v2/images?status=active", "/v2/images?visibility=public",
                     "/v2/info/import", "/v2/info/stores"):
        r.call("image", "GET", template)
    r.call("image", "GET", "/v2", variant="no-trailing-slash", caller="none")
    r.call("image", "GET", "/v2", variant="authenticated")
    r.call("image", "GET", "/v2/", variant="authenticated")
    r.call("image", "GET", "/v2/images", caller="none", variant="401-no-token")
    first = r.call("image", "GET", "/v2/images?limit=1", record=False).json()["images"]
    r.call("image", "GET", "/v2/images?limit=1&marker={image_id}",
           {"image_id": first[0]["id"]}, variant="page2")
    r.call("image", "GET", "/v2/images/{image_id}", {"image_id": ids["image_id"]})
    r.call("image", "GET", "/v2/images/{image_id}", {"image_id": ZERO})
    r.call("image", "DELETE", "/v2/images/{image_id}", {"image_id": ids["image_id"]},
           caller="member", variant="403-member-delete-public")
    made = r.call("image", "POST", "/v2/images", variant="ref-image-tmp", body={
        "name": "ref-image-tmp", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()["id"]
    try:
        r.call("image", "PUT", "/v2/images/{image_id}/file", {"image_id": made},
               variant="ref-image-tmp", data=b"\0" * 4096)
    finally:
        r.call("image", "DELETE", "/v2/images/{image_id}", {"image_id": made})


def block_storage(r: Recorder, ids: dict[str, str]) -> None:
    for template in ("/", "/v3", "/v3/"):
        r.call("block-storage", "GET", template, caller="none", variant="")
    r.call("block-storage", "GET", "/v3", variant="authenticated")
    r.call("block-storage", "GET", "/v3/", variant="authenticated")
    r.call("block-storage", "GET", "/v2", caller="none", variant="removed")
    both = ("3.0", "latest")
    for template, versions in (
            ("/backups/detail?all_tenants=1", ("latest",)), ("/limits", both),
            ("/os-availability-zone", ("latest",)),
            ("/os-quota-sets/{project_id}", ("latest",)),
            ("/os-quota-sets/{project_id}?usage=True", both), ("/os-services", both),
            ("/scheduler-stats/get_pools?detail=True", both),
            ("/snapshots/detail?all_tenants=1", both), ("/types", both),
            ("/volumes/detail?all_tenants=1&limit=1", both),
            ("/volumes/detail?all_tenants=1", both),
            ("/volumes/summary?all_tenants=1", ("latest",))):
        for version in versions:
            r.call("block-storage", "GET", "/v3/{project_id}" + template, version=version)
    r.call("block-storage", "GET", "/v3/{project_id}/volumes", version="9.99",
           variant="406-bad-microversion")
    r.call("block-storage", "GET", "/v3/{project_id}/volumes", version="latest", caller="none",
           variant="401-no-token")
    r.call("block-storage", "GET", "/v3/{project_id}/os-services", version="latest",
           caller="member", variant="403-member",
           ids={"project_id": r.member.project_id} if r.member else None)
    r.call("block-storage", "GET", "/v3/{project_id}/volumes/{volume_id}",
           {"volume_id": ZERO}, version="latest")

    def status(volume_id: str, kind: str = "volumes") -> str:
        got = r.call("block-storage", "GET", f"/v3/{{project_id}}/{kind}/{volume_id}",
                     version="latest", record=False)
        return str(got.json()[kind[:-1]]["status"]) if got.status_code == 200 else "GONE"

    volume_type = r.call("block-storage", "GET", "/v3/{project_id}/types", version="latest",
                         record=False).json()["volume_types"][0]["name"]
    for version, volume_name, snapshot_name in (("3.0", "vol2", "snap1"),
                                                ("latest", "vol-tmp", "snap-tmp")):
        volume = r.call("block-storage", "POST", "/v3/{project_id}/volumes", version=version,
                        variant=volume_name, body={"volume": {
                            "name": volume_name, "size": 1, "volume_type": volume_type}}
                        ).json()["volume"]["id"]
        snapshot: str | None = None
        try:
            wait(volume_name, lambda v=volume: status(v), "available", ("error",))
            snapshot = r.call("block-storage", "POST", "/v3/{project_id}/snapshots",
                              version=version, variant=snapshot_name, body={
                                  "snapshot": {"name": snapshot_name, "volume_id": volume}}
                              ).json()["snapshot"]["id"]
            wait(snapshot_name, lambda s=snapshot: status(s, "snapshots"), "available",
                 ("error",))
        finally:
            if snapshot is not None:
                r.call("block-storage", "DELETE", "/v3/{project_id}/snapshots/{snapshot_id}",
                       {"snapshot_id": snapshot}, version="latest", record=version != "3.0")
                wait("snapshot delete", lambda s=snapshot: status(s, "snapshots"), "GONE")
            r.call("block-storage", "DELETE", "/v3/{project_id}/volumes/{volume_id}",
                   {"volume_id": volume}, version="latest", record=version != "3.0")
            wait("volume delete", lambda v=volume: status(v), "GONE")


# --------------------------------------------------------------------------- the run

def discover(r: Recorder) -> dict[str, Any]:
    """Ids of the cloud's own objects the requests need."""
    def get(folder: str, url: str, version: str = "") -> Any:
        return r.call(folder, "GET", url, version=version, record=False).json()

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    hyps = get("compute", "/v2.1/os-hypervisors", "latest")["hypervisors"]
    legacy = get("compute", "/v2.1/os-hypervisors", "2.1")["hypervisors"]
    images = [i for i in get("image", "/v2/images")["images"] if i["status"] == "active"]
    flavors = get("compute", "/v2.1/flavors", "latest")["flavors"]
    networks = get("network", "/v2.0/networks")["networks"]
    internal = [n for n in networks if not n["router:external"]]
    external = [n for n in networks if n["router:external"]]
    agents = [a for a in get("network", "/v2.0/agents")["agents"] if a["agent_type"] == "L3 agent"]
    providers = get("placement", "/resource_providers", "latest")["resource_providers"]
    return {
        "start": (now - dt.timedelta(days=2)).isoformat(), "end": now.isoformat(),
        "hypervisor_id": hyps[0]["id"], "hypervisor_hostname": hyps[0]["hypervisor_hostname"],
        "hypervisor_legacy_id": str(legacy[0]["id"]),
        "image_id": images[0]["id"],
        "flavor_id": next(f["id"] for f in flavors if f["name"] == "m1.fake"),
        "network_id": (internal or networks)[0]["id"],
        "external_network_id": external[0]["id"] if external else "",
        "agent_id": agents[0]["id"] if agents else "",
        "providers": {p["uuid"]: p["name"] for p in sorted(providers, key=lambda p: p["name"])},
    }


def member_session(r: Recorder, auth_url: str, password: str) -> tuple[Session, str]:
    """A temporary user with the member role on project demo (deleted at the end)."""
    def call(method: str, url: str, body: Any = None) -> requests.Response:
        return requests.request(method, r.admin.roots["identity"] + url, json=body, timeout=60,
                                headers={"X-Auth-Token": r.admin.token})

    demo = call("GET", "/v3/projects?name=demo").json()["projects"][0]["id"]
    role = call("GET", "/v3/roles?name=member").json()["roles"][0]["id"]
    made = r.call("identity", "POST", "/v3/users", body={"user": {
        "name": MEMBER, "password": password, "domain_id": "default",
        "default_project_id": demo, "description": "stackwatch fidelity recording"}})
    user = made.json()["user"]["id"]
    r.call("identity", "PUT", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
           {"project_id": demo, "user_id": user, "role_id": role})
    return login(auth_url, MEMBER, password, "demo"), user


# In this order: the servers' story first, so that the listings show its migration.
PARTS: dict[str, Callable[..., None]] = {
    "servers": servers, "identity": identity, "compute": compute, "placement": placement,
    "network": network, "image": image, "block-storage": block_storage}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--auth-url", default="http://127.0.0.1:5000/v3")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--project", default="admin")
    parser.add_argument("--password-env", default="RC_PASSWORD",
                        help="variable holding the password (realcloud's default when unset)")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded/fidelity"))
    parser.add_argument("--root", type=Path, default=None,
                        help="the control plane's root ($RC_ROOT): its paths in answers "
                             "(fault tracebacks) are rewritten as in record_logs.py")
    parser.add_argument("--only", choices=sorted(PARTS), action="append",
                        help="record these parts again, keeping the other files")
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env, "secret")
    started = time.monotonic()
    if args.out.exists() and not args.only:
        shutil.rmtree(args.out)
    admin = login(args.auth_url, args.user, password, args.project)
    recorder = Recorder(args.out, admin)
    if args.root is not None:
        recorder.scrub_paths = scrubber(args.root.resolve())
    ids = discover(recorder)
    member, member_id = member_session(recorder, args.auth_url, password)
    recorder.member = member
    try:
        for name, part in PARTS.items():
            if args.only and name not in args.only:
                continue
            if name == "identity":
                identity(recorder, args.auth_url, password)
            else:
                part(recorder, ids)  # type: ignore[call-arg]
    finally:
        for clean_up in reversed(recorder.cleanups):
            clean_up()
        requests.delete(f"{admin.roots['identity']}/v3/users/{member_id}", timeout=60,
                        headers={"X-Auth-Token": admin.token})
    (args.out / "INFO.json").write_text(json.dumps({
        "release": RELEASE, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": len(list(args.out.glob("*/*.json")))}, indent=1) + "\n")
    print(f"{len(recorder.written)} recordings in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
