"""The simulated nova answers like the real one (recorded in tests/data/recorded/fidelity)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fidelity import API_RECORDINGS, Replayer, login_from_clouds_yaml

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import load_recordings

pytestmark = pytest.mark.integration

FOLDER = "compute"
RECORDINGS = load_recordings(API_RECORDINGS / FOLDER)
ALLOW: dict[str, str] = {}
# Dicts keyed by data (host names, network names): compared value by value.
MAPS = ["body/availabilityZoneInfo/*/hosts", "body/servers/*/addresses",
        "body/server/addresses", "body/instance_usage_audit_logs/log"]
SKIP_VARIANTS = ("member", "neutron-down", "legacy-v2", "removed",
                 "hypervisor_hostname_pattern=fake")

PLAIN_GETS = sorted(
    name for name, rec in RECORDINGS.items()
    if rec.method == "GET" and not rec.placeholders
    and not any(v in name for v in SKIP_VARIANTS)
)


# A ``limit=1`` page of servers holds the newest one: recorded, the server in ERROR
# (never scheduled: no host, never launched, a fault, no progress); the simulated
# cloud's newest is active. The whole listings hold both and are compared as they are.
ERROR_FIRST = {f"body/servers/*/{key}": "the recorded page's only server is in ERROR"
               for key in ("fault", "progress", "OS-SRV-USG:launched_at",
                           "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:host",
                           "OS-EXT-SRV-ATTR:root_device_name")}


@pytest.mark.parametrize("name", PLAIN_GETS)
def test_listings_and_documents(replayer: Replayer, name: str) -> None:
    allow = {**ALLOW, **ERROR_FIRST} if "servers__detail" in name and "limit=1" in name \
        else ALLOW
    report = replayer.check(FOLDER, name, allow=allow, maps=MAPS)
    assert report, report.explain()


def _ids(cloud: SimulatedCloud, name: str) -> dict[str, str]:
    """Map a recording's placeholders to objects of the simulated cloud alike."""
    state = cloud.state
    servers = list(state.servers)
    active = next(s for s in servers if s.vm_state == "active" and s.addresses)
    stopped = next(s for s in servers if s.vm_state == "stopped")
    no_host = next(s for s in servers if s.vm_state == "error" and s.host is None)
    hyp = next(iter(state.hypervisors))
    version_21 = "@2.1" in name
    # a usage window around the simulated cloud's own clock (its servers were made
    # within the last 400 days of it), not fixed years that the calendar passes
    now = cloud.state.now().replace(tzinfo=None, microsecond=0)
    ids = {"project_id": active.project_id,
           "start": (now - timedelta(days=800)).isoformat(),
           "end": (now + timedelta(days=1)).isoformat(),
           "hostname_pattern": hyp.hypervisor_hostname,
           "id": str(hyp.legacy_id) if version_21 else hyp.id}
    server = no_host if "error" in name else active
    variant = name.rsplit("-", 1)[-1].removesuffix(".json")
    if variant == "stop":
        server = stopped
    ids["server_id"] = server.id
    actions = state.instance_actions.by("server_id", server.id)
    wanted = {"create": "create", "stop": "stop"}.get(variant)
    for action in actions:
        if action.action == wanted:
            ids["request_id"] = action.id
    return ids


PLACEHOLDER_GETS = sorted(
    name for name, rec in RECORDINGS.items()
    if rec.method == "GET" and rec.placeholders
    and not any(v in name for v in (*SKIP_VARIANTS, "404", "Resize", "migrate", "start.json"))
)


@pytest.mark.parametrize("name", PLACEHOLDER_GETS)
def test_objects_by_id(cloud: SimulatedCloud, replayer: Replayer, name: str) -> None:
    allow = dict(ALLOW)
    if "uptime" in name:
        allow.update({"status": "libvirt reports uptime; the recorded fake driver answers 501",
                      "header/content-type": "a 200, not the recorded 501 fault",
                      "body/notImplemented": "a 200, not the recorded 501 fault",
                      "body/hypervisor": "a 200, not the recorded 501 fault"})
    if "os-instance-actions" in name and "request_id" not in name:
        # the recorded server went through stop/start/migrate; ours only through create
        allow["body/instanceActions"] = "fewer actions in the simulated server's history"
    report = replayer.check(FOLDER, name, ids=_ids(cloud, name), allow=allow, maps=MAPS)
    assert report, report.explain()


@pytest.mark.parametrize("name", sorted(n for n in RECORDINGS if "404" in n))
def test_not_found(replayer: Replayer, name: str) -> None:
    report = replayer.check(FOLDER, name, maps=MAPS)
    assert report, report.explain()


def test_hostname_pattern_filters(cloud: SimulatedCloud, replayer: Replayer) -> None:
    hosts = [h.hypervisor_hostname for h in cloud.state.hypervisors]
    answer = replayer.get(FOLDER, "/v2.1/os-hypervisors?hypervisor_hostname_pattern=0002",
                          {"OpenStack-API-Version": "compute latest"})
    assert answer.status == 200
    assert [h["hypervisor_hostname"] for h in answer.body["hypervisors"]] == [
        h for h in hosts if "0002" in h]


def test_server_actions_as_recorded(cloud: SimulatedCloud, replayer: Replayer) -> None:
    state = cloud.state
    active = next(s for s in state.servers if s.vm_state == "active" and s.host)
    error = next(s for s in state.servers if s.vm_state == "error")
    for name in ("POST___v2.1__servers__{server_id}__action@latest.os-stop.409-error-server.json",
                 "POST___v2.1__servers__{server_id}__action@latest.os-start.409-error-server.json",
                 "POST___v2.1__servers__{server_id}__action@latest.migrate.409-error-server.json"):
        report = replayer.check(FOLDER, name, ids={"server_id": error.id})
        assert report, report.explain()
    for name in ("POST___v2.1__servers__{server_id}__action@latest.os-stop.json",
                 "POST___v2.1__servers__{server_id}__action@latest.os-start.json",
                 "POST___v2.1__servers__{server_id}__action@latest.migrate.json",
                 "POST___v2.1__servers__{server_id}__action@latest.confirmResize.json"):
        report = replayer.check(FOLDER, name, ids={"server_id": active.id})
        assert report, report.explain()
    moved = state.servers.get(active.id)
    assert moved is not None and moved.host != active.host and moved.vm_state == "active"
    migration = state.migrations.by("server_id", active.id)[-1]
    assert (migration.source_compute, migration.dest_compute, migration.status) == (
        active.host, moved.host, "confirmed")
    actions = [a.action for a in state.instance_actions.by("server_id", active.id)]
    assert actions[-4:] == ["stop", "start", "migrate", "confirmResize"]
    assert cloud.call(state.check_consistency) == []


def test_server_create_and_delete_as_recorded(cloud: SimulatedCloud, replayer: Replayer) -> None:
    flavor = next(iter(cloud.state.flavors))
    image = next(i for i in cloud.state.images if i.status == "active")
    body = {"server": {"name": "ref-vm-1", "imageRef": image.id, "flavorRef": flavor.id,
                       "networks": "none"}}
    report = replayer.check(FOLDER, "POST___v2.1__servers@latest.ref-vm-1.json", body=body)
    assert report, report.explain()
    created = next(s for s in cloud.state.servers if s.name == "ref-vm-1")
    report = replayer.check(FOLDER, "DELETE___v2.1__servers__{server_id}@latest.json",
                            ids={"server_id": created.id})
    assert report, report.explain()
    assert created.id not in cloud.state.servers


@pytest.mark.parametrize("name", sorted(n for n in RECORDINGS if "member" in n))
def test_member_answers(cloud: SimulatedCloud, replayer: Replayer, name: str) -> None:
    member = login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo",
                                    project_name="demo")
    # the recorded member's only server is ACTIVE; a server in ERROR has a fault and no
    # progress (as the recorded error-with-fault answers show)
    allow = {"body/servers/*/progress": "servers in ERROR show no progress",
             "body/servers/*/fault": "servers in ERROR carry their fault"}
    report = replayer.check(FOLDER, name, session=member, maps=MAPS, allow=allow)
    assert report, report.explain()
