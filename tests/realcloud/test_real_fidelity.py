"""The simulator answers like the real services, for every request stackwatch makes.

Each request of the fresh recording (``fresh_recordings``: what the real 2026.1
services answered just now to stackwatch's API sources, at the microversions they
negotiate) is replayed against a small :class:`SimulatedCloud`, ids mapped to the
simulator's own objects, and the two answers are compared by
:mod:`stackwatch.sim.fidelity` (status, the headers clients read, keys, JSON types,
string formats, link shapes) through sim-services' replayer (``tests/sim/fidelity.py``).

Differences that come from the two clouds holding different *data* are allowed, each
with its reason (:data:`DATA`). Any other difference fails the test: the simulator's own
differences found so far (tenant-usage link order, l3-routers fields) are fixed and
checked in ``tests/sim/test_fidelity_recorded.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sim.fidelity import Replayer, login_from_clouds_yaml
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import Difference, Recording, load_recordings

FOLDERS = ("identity", "compute", "placement", "network", "image", "block-storage")

# Allowed: the real test cloud and the simulated one hold different things.
DATA: Mapping[str, str] = {
    "body/servers/*/fault": "only a server in ERROR has a fault (the sim has one)",
    "body/servers/*/progress": "progress is shown for some statuses only",
    "body/servers/*/OS-EXT-SRV-ATTR:host": "a server never scheduled has no host",
    "body/servers/*/OS-EXT-SRV-ATTR:hypervisor_hostname": "a server never scheduled ...",
    "body/servers/*/OS-EXT-SRV-ATTR:root_device_name": "a server never scheduled ...",
    "body/servers/*/OS-SRV-USG:launched_at": "a server never launched",
    "body/servers/*/hostId": "'' for a server without a host",
    "body/*_links": "a next link exists only while more items follow",
    "body/resource_providers/*/parent_provider_uuid": "the sim nests providers",
    "body/resource_providers/*/links/*/href": "the sim serves placement under /placement; "
                                              "links carry the path prefix, as behind a proxy",
    "body/floatingips/*/fixed_ip_address": "the real floating IP is not associated",
    "body/images/*/owner_specified.openstack.*": "properties set by the uploading client "
                                                 "(openstacksdk), not by glance",
    "body/images/*/stores": "only an image with data has stores",
    "body/images/*/checksum": "a queued image (no data) has nulls",
    "body/images/*/size": "a queued image (no data) has nulls",
    "body/images/*/virtual_size": "a queued image (no data) has nulls",
    "body/images/*/os_hash_*": "a queued image (no data) has nulls",
    "body/quota_set/volumes_*": "per-volume-type quotas are named after the types",
    "body/quota_set/gigabytes_*": "per-volume-type quotas are named after the types",
    "body/quota_set/snapshots_*": "per-volume-type quotas are named after the types",
    "body/pools/*/capabilities/*_capacity_gb": "the real fake driver says 'infinite'; "
                                               "the sim's LVM-like pools give numbers",
    "body/pools/*/capabilities/thin_provisioning_support": "driver capability (LVM thin)",
    "body/pools/*/capabilities/max_over_subscription_ratio": "driver capability (LVM thin)",
    "body/volumes/*/os-vol-host-attr:host": "a volume never scheduled has no host",
    "body/volumes/*/service_uuid": "a volume never scheduled has no service",
    "body/agents/*/configurations/*": "each agent reports its own configuration (the "
                                      "real one here is a fake L3 agent with few keys)",
    "body/agents/*/availability_zone": "only DHCP and L3 agents have a zone",
    "body/servers/*/OS-SRV-USG:terminated_at": "servers changed since a time include "
                                               "deleted ones on the real cloud; the simulator "
                                               "removes a deleted server (docs/lifecycle.md)",
    "body/servers_links/*/href": "a listing of servers changed since a time repeats the "
                                 "request's time in its next link",
    # the real .itemN are each instance's actions, failed ones among them; the simulator's
    # answer is one instance's, whose actions succeeded: nulls where a failure has text
    "body/instanceAction/message": "null on success, text on failure",
    "body/instanceAction/events/*/details": "null on success, text on failure",
    "body/instanceAction/events/*/traceback": "null on success, text on failure",
    "body/instanceActions/*/message": "null on success, text on failure",
    # the listings now ask for every column openstack-exporter reads: values that depend
    # on which object each cloud holds
    "body/tenant_usages/*/server_usages/*/ended_at": "a deleted server's usage has an "
                                                     "end, a live one's is null",
    "body/floatingips/*/router_id": "an associated floating IP has its router, a free "
                                    "one null",
    "body/networks/*/provider:physical_network": "a flat or VLAN network names its "
                                                 "physical network, a tunnelled one null",
    "body/ports/*/device_id": "an unattached port's device is empty",
}
MAPS = ("body/servers/*/addresses",  # keys are network names
        "body/allocations")  # keys are the consumers (each cloud its own servers)


@pytest.fixture(scope="module")
def replayer(tmp_path_factory: pytest.TempPathFactory,
             fresh_recordings: Path) -> Iterator[Replayer]:
    workdir = tmp_path_factory.mktemp("realcloud-sim")
    with SimulatedCloud(workdir=workdir, size="small", life=False) as cloud:
        yield Replayer(login_from_clouds_yaml(cloud.clouds_yaml), reference=fresh_recordings)


def _ids(replayer: Replayer, recordings: Mapping[str, Recording], name: str) -> dict[str, str]:
    """The simulator's own objects for a recording's placeholders."""
    recording = recordings[name]
    ids: dict[str, str] = {}
    if "uuid" in recording.placeholders:
        body = replayer.get("placement", "/resource_providers",
                            {"OpenStack-API-Version": "placement 1.39"}).body
        ids["uuid"] = body["resource_providers"][0]["uuid"]
    if "target_project_id" in recording.placeholders:
        projects = replayer.get("identity", "/v3/projects").body["projects"]
        ids["target_project_id"] = next(p["id"] for p in projects
                                        if p["id"] != replayer.session.project_id)
    if "agent_id" in recording.placeholders:  # the routers of an L3 agent
        agents = replayer.get("network", "/v2.0/agents?agent_type=L3%20agent").body["agents"]
        ids["agent_id"] = agents[0]["id"]
    if "server_id" in recording.placeholders:  # an instance's actions: one of the sim's
        servers = replayer.get("compute", "/v2.1/servers?all_tenants=1").body["servers"]
        ids["server_id"] = servers[0]["id"]
        if "request_id" in recording.placeholders:
            actions = replayer.get(
                "compute", f"/v2.1/servers/{ids['server_id']}/os-instance-actions",
                {"OpenStack-API-Version": "compute 2.103"}).body["instanceActions"]
            ids["request_id"] = actions[0]["request_id"]
    if "changes_since" in recording.placeholders:  # every server of the sim "changed since"
        ids["changes_since"] = "2000-01-01T00:00:00"
    if "marker" in recording.placeholders:  # page 2: the marker of the sim's own page 1
        first = name.replace(".page2.json", ".page1.json").split("~")[0]
        keys = _query_keys(name) - {"marker"}
        candidates = [n for n in recordings if n.endswith(".page1.json")
                      and n.split("~")[0] == first]
        # the page 1 of the same listing (servers, and servers changed since a time)
        page1 = next((n for n in candidates if _query_keys(n) == keys), candidates[0])
        ids["marker"] = _next_marker(replayer.replay(recordings[page1], ids=ids).body)
    return ids


def _query_keys(name: str) -> set[str]:
    """The query's parameter names in a recording's name (``~k=v&k2=v2@version``)."""
    query = name.split("~", 1)[1].split("@", 1)[0] if "~" in name else ""
    return {pair.split("=", 1)[0] for pair in query.split("&") if pair}


def _next_marker(body: Any) -> str:
    links = [link["href"] for key, value in body.items() if key.endswith("_links")
             for link in value if link.get("rel") == "next"]
    if isinstance(body.get("next"), str):
        links.append(body["next"])
    assert links, f"the simulator's page 1 has no next link: {list(body)}"
    return parse_qs(urlsplit(links[0]).query)["marker"][0]


def _differences(replayer: Replayer, recordings_dir: Path) -> dict[str, list[Difference]]:
    """Per recording, every difference found (allowed ones carry their reason)."""
    found: dict[str, list[Difference]] = {}
    for folder in FOLDERS:
        recordings = load_recordings(recordings_dir / folder)
        for name, recording in recordings.items():
            if recording.method != "GET":
                continue
            report = replayer.check(folder, name, ids=_ids(replayer, recordings, name),
                                    allow=DATA, maps=MAPS)
            found[f"{folder}/{name}"] = list(report.differences)
    return found


@pytest.fixture(scope="module")
def differences(replayer: Replayer, fresh_recordings: Path) -> dict[str, list[Difference]]:
    return _differences(replayer, fresh_recordings)


def test_simulator_answers_like_the_real_services(
        differences: dict[str, list[Difference]]) -> None:
    assert len(differences) >= 40  # every GET stackwatch makes, pages included
    failures = [f"{name}: {d}" for name, found in differences.items()
                for d in found if d.allowed is None]
    assert not failures, "simulator differs from the real services:\n" + "\n".join(failures)

