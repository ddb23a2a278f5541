"""The simulated neutron answers like the real one (recorded in tests/data/recorded/fidelity)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fidelity import Replayer, Session, plain_gets, send

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import Answer, compare, compare_recording

pytestmark = pytest.mark.integration

FOLDER = "network"
API_REF = Path(__file__).resolve().parents[1] / "data" / "sim" / "api-ref" / "network"
# Differences that are the simulator being a bigger, busier cloud than the recorded
# one, or gaps of the shared HTTP middleware; each says why it is tolerated.
ALLOW: dict[str, str] = {
    # tenant vxlan networks have no physical network (API reference); recorded: vlan/flat
    "body/networks/*/provider:physical_network": "vxlan tenant networks (API reference)",
    "body/network/provider:physical_network": "the simulated ML2 makes vxlan tenant networks",
    # the recorded floating IP is unassociated; associated ones carry these (API reference)
    "body/floatingips/*/port_id": "associated floating IPs (API reference)",
    "body/floatingips/*/router_id": "associated floating IPs (API reference)",
    "body/floatingips/*/fixed_ip_address": "associated floating IPs (API reference)",
    "body/floatingips/*/port_details": "associated floating IPs (fip-port-details, API ref)",
    # the recorded cloud's only agent is a (fake) L3 agent reporting over RPC; the DHCP,
    # OVS and metadata agents' configurations follow neutron's API reference (api-ref/),
    # and only DHCP and L3 agents have an availability zone
    "body/agents/*/configurations/*": "agent types the recorded cloud has none of",
    "body/agents/*/availability_zone": "OVS and metadata agents have no availability zone",
    # the recorded listing's ports all belong to a router or a floating IP; a free port's
    # device_id is '' (the recorded POST of tmp-port shows it)
    "body/ports/*/device_id": "free ports have an empty device_id",
}
# Dicts whose keys are driver data: bound OVS ports have vif details (recorded: unbound).
MAPS = ["body/ports/*/binding:vif_details", "body/port/binding:vif_details"]

PLAIN_GETS = plain_gets(FOLDER)


@pytest.mark.parametrize("name", PLAIN_GETS)
def test_listings_and_documents(replayer: Replayer, name: str) -> None:
    allow = dict(ALLOW)
    if "limit=1" in name:
        # page 1 here is whichever network sorts first; recorded: the external one
        allow["body/networks/*/is_default"] = "is_default shows on external networks only"
        allow["body/networks/*/provider:segmentation_id"] = "recorded page 1 is a flat network"
    report = replayer.check(FOLDER, name, allow=allow, maps=MAPS)
    assert report, report.explain()


def test_second_page(replayer: Replayer) -> None:
    first = replayer.get(FOLDER, "/v2.0/networks?limit=1").body["networks"]
    report = replayer.check(
        FOLDER, "GET___v2.0__networks~limit=1&marker={network_id}.page2.json",
        ids={"network_id": first[-1]["id"]},
        allow={**ALLOW, "body/networks/*/is_default": "the recorded page 2 is internal",
               "body/networks/*/provider:segmentation_id": "recorded page 2 is vlan"},
    )
    assert report, report.explain()


@pytest.mark.parametrize(
    "name",
    ["GET___v2.0__agents.200-member.json",
     "GET___v2.0__network-ip-availabilities.200-member-empty-list.json"],
)
def test_member_views(replayer: Replayer, member: Session, name: str) -> None:
    report = replayer.check(FOLDER, name, session=member)
    assert report, report.explain()


def test_one_ip_availability_and_404(cloud: SimulatedCloud, replayer: Replayer) -> None:
    tenant = next(n for n in cloud.state.networks if not n.router_external)
    report = replayer.check(FOLDER, "GET___v2.0__network-ip-availabilities__{network_id}.json",
                            ids={"network_id": tenant.id})
    assert report, report.explain()
    report = replayer.check(FOLDER, "GET___v2.0__networks__{network_id}.404.json")
    assert report, report.explain()


def test_quotas(cloud: SimulatedCloud, replayer: Replayer) -> None:
    demo = next(p for p in cloud.state.projects if p.name == "demo").id
    for name, project in (("GET___v2.0__quotas__{project_id}.json", None),
                          ("GET___v2.0__quotas__{project_id}__details.json", None),
                          ("GET___v2.0__quotas__{project_id}__default.json", demo)):
        ids = {"project_id": project} if project else {}
        report = replayer.check(FOLDER, name, ids=ids)
        assert report, report.explain()


def test_create_attach_and_delete_as_recorded(
    cloud: SimulatedCloud, replayer: Replayer, member: Session
) -> None:
    public = next(n for n in cloud.state.networks if n.router_external)
    root = replayer.session.root(FOLDER)

    def created(name: str, body: dict[str, object] | None = None) -> dict[str, object]:
        recording = replayer.recording(FOLDER, name)
        answer = replayer.replay(recording, **({"body": body} if body is not None else {}))
        report = compare_recording(recording, answer, bases=replayer.bases(), allow=ALLOW)
        assert report, report.explain()
        assert isinstance(answer.body, dict)
        return answer.body

    net = created("POST___v2.0__networks.tmp-net.json")["network"]
    assert isinstance(net, dict)
    subnet = created("POST___v2.0__subnets.tmp-subnet.json", {"subnet": {
        "name": "tmp-subnet", "network_id": net["id"], "ip_version": 4,
        "cidr": "10.9.0.0/24"}})["subnet"]
    assert isinstance(subnet, dict)
    port = created("POST___v2.0__ports.tmp-port.json",
                   {"port": {"name": "tmp-port", "network_id": net["id"]}})["port"]
    router = created("POST___v2.0__routers.tmp-router.json")["router"]
    assert isinstance(port, dict) and isinstance(router, dict)
    created("POST___v2.0__floatingips.json",
            {"floatingip": {"floating_network_id": public.id}})
    report = replayer.check(FOLDER, "PUT___v2.0__routers__{router_id}__add_router_interface.json",
                            ids={"router_id": str(router["id"])},
                            body={"subnet_id": subnet["id"]})
    assert report, report.explain()
    send(replayer.session, root, "PUT", f"/v2.0/routers/{router['id']}/remove_router_interface",
         json_body={"subnet_id": subnet["id"]})
    for name, key, ident in (
        ("DELETE___v2.0__ports__{port_id}.json", "port_id", port["id"]),
        ("DELETE___v2.0__routers__{router_id}.json", "router_id", router["id"]),
        ("DELETE___v2.0__subnets__{subnet_id}.json", "subnet_id", subnet["id"]),
        ("DELETE___v2.0__networks__{network_id}.json", "network_id", net["id"]),
    ):
        report = replayer.check(FOLDER, name, ids={key: str(ident)})
        assert report, report.explain()
    report = replayer.check(FOLDER, "POST___v2.0__networks.403-member-provider-attr.json",
                            session=member)
    assert report, report.explain()


def _api_ref(name: str) -> Answer:
    data = json.loads((API_REF / name).read_text())
    return Answer(data["status"], data["headers"], data["body"])


def test_agents_follow_the_api_reference(cloud: SimulatedCloud, replayer: Replayer) -> None:
    # the recorded cloud had no agents: neutron-lib's API reference samples stand in
    maps = ["body/agents/*/configurations"]
    listing = replayer.get(FOLDER, "/v2.0/agents")
    report = compare(_api_ref("agents-list-response.json"), listing, maps=maps)
    assert report, report.explain()
    router = next(iter(cloud.state.router_bindings)).router_id
    hosting = replayer.get(FOLDER, f"/v2.0/routers/{router}/l3-agents")
    newer = {"body/agents/*/resources_synced": "the 2018 sample predates the "
             "agent-resources-synced extension, which the recorded neutron lists"}
    report = compare(_api_ref("router-l3-agent-list-response.json"), hosting, maps=maps,
                     allow=newer)
    assert report, report.explain()


def test_an_associated_floating_ip_follows_the_api_reference(
    cloud: SimulatedCloud, replayer: Replayer
) -> None:
    # the recorded floating IP is unassociated; the API reference shows an associated one
    root = replayer.session.root(FOLDER)
    public = next(n for n in cloud.state.networks if n.router_external)
    routed = {p.network_id: p.device_id for p in cloud.state.ports
              if p.device_owner == "network:router_interface"}
    port = next(p for p in cloud.state.ports
                if p.device_owner == "compute:nova" and p.network_id in routed)
    router = cloud.state.routers.get(routed[port.network_id])
    assert router is not None
    created = send(replayer.session, root, "POST", "/v2.0/floatingips",
                   json_body={"floatingip": {"floating_network_id": public.id}})
    fip_id = created.body["floatingip"]["id"]
    associated = send(replayer.session, root, "PUT", f"/v2.0/floatingips/{fip_id}",
                      json_body={"floatingip": {"port_id": port.id}})
    assert associated.status == 200
    assert associated.body["floatingip"]["router_id"] == router.id
    shown = replayer.get(FOLDER, f"/v2.0/floatingips/{fip_id}")
    report = compare(_api_ref("floatingip-show-response.json"), shown,
                     allow={"body/floatingip/tags": "standard-attr-tag (recorded)"})
    assert report, report.explain()
    gone = send(replayer.session, root, "PUT", f"/v2.0/floatingips/{fip_id}",
                json_body={"floatingip": {"port_id": None}})
    assert gone.body["floatingip"]["port_details"] is None
    assert cloud.state.floating_ips.get(fip_id).status == "DOWN"  # type: ignore[union-attr]
