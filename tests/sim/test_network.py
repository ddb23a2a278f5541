"""The simulated neutron: pagination, filters, the L3 agent scheduler, errors, writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fidelity import Session, follow, login_from_clouds_yaml, send

from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.fidelity import pagination_problems

pytestmark = pytest.mark.integration

COLLECTIONS = [
    ("networks", "/v2.0/networks", "networks"),
    ("subnets", "/v2.0/subnets", "subnets"),
    ("ports", "/v2.0/ports", "ports"),
    ("routers", "/v2.0/routers", "routers"),
    ("floatingips", "/v2.0/floatingips", "floating_ips"),
    ("security_groups", "/v2.0/security-groups", "security_groups"),
    ("agents", "/v2.0/agents", "agents"),
]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("net"), size="small", seed=3) as c:
        yield c


@pytest.fixture(scope="module")
def admin(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml))


@pytest.fixture(scope="module")
def member(cloud: SimulatedCloud) -> Session:
    return login_from_clouds_yaml(Path(cloud.clouds_yaml), username="demo", project_name="demo")


def get(session: Session | None, url: str, root_of: Session) -> Any:
    return send(session, root_of.root("network"), "GET", url)


@pytest.mark.parametrize("limit", [1, 7, 50])
@pytest.mark.parametrize(("key", "path", "table"), COLLECTIONS)
def test_pages_cover_the_state_once_in_id_order(
    cloud: SimulatedCloud, admin: Session, key: str, path: str, table: str, limit: int
) -> None:
    pages = follow(admin, "network", f"{path}?limit={limit}", key)
    ids = [item["id"] for page in pages for item in page]
    assert ids == sorted(getattr(cloud.state, table).ids())
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages[-1]) < limit or not pages[-1]
    middle = get(admin, f"{path}?limit={limit}&marker={ids[len(ids) // 2]}", admin).body
    assert pagination_problems(middle, key) == []


@pytest.mark.parametrize("limit", [1, 3])
def test_ip_availability_pages_are_keyed_on_network_id(
    cloud: SimulatedCloud, admin: Session, limit: int
) -> None:
    pages = follow(admin, "network", f"/v2.0/network-ip-availabilities?limit={limit}",
                   "network_ip_availabilities")
    assert [a["network_id"] for page in pages for a in page] == cloud.state.networks.ids()
    everything = get(admin, "/v2.0/network-ip-availabilities", admin).body
    assert "network_ip_availabilities_links" not in everything
    ports = {n: 0 for n in cloud.state.networks.ids()}
    for port in cloud.state.ports:
        ports[port.network_id] += len(port.fixed_ips)
    assert {a["network_id"]: a["used_ips"] for a in everything["network_ip_availabilities"]} \
        == ports


def test_links_are_built_as_neutron_builds_them(admin: Session) -> None:
    first = get(admin, "/v2.0/ports?limit=2&device_owner=compute:nova", admin).body
    ports, links = first["ports"], {x["rel"]: x["href"] for x in first["ports_links"]}
    root = admin.root("network")
    assert links["next"] == (f"{root}/v2.0/ports?limit=2&device_owner=compute%3Anova"
                             f"&marker={ports[-1]['id']}")
    assert links["previous"] == (f"{root}/v2.0/ports?limit=2&device_owner=compute%3Anova"
                                 f"&marker={ports[0]['id']}&page_reverse=True")
    back = get(admin, links["previous"].removeprefix(root), admin).body
    assert back["ports"] == []  # nothing before the first page
    second = get(admin, links["next"].removeprefix(root), admin).body
    reverse = get(admin, f"/v2.0/ports?limit=2&device_owner=compute:nova&page_reverse=True"
                         f"&marker={second['ports'][0]['id']}", admin).body
    assert [p["id"] for p in reverse["ports"]] == [p["id"] for p in ports]


def test_no_limit_means_everything_and_no_links(cloud: SimulatedCloud, admin: Session) -> None:
    body = get(admin, "/v2.0/ports", admin).body
    assert len(body["ports"]) == len(cloud.state.ports)
    assert "ports_links" not in body


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        ("device_owner=network:router_gateway", "device_owner", "network:router_gateway"),
        ("agent_type=L3 agent", "agent_type", "L3 agent"),
        ("status=ACTIVE", "status", "ACTIVE"),
    ],
)
def test_filters_select_exactly_the_matching_records(
    cloud: SimulatedCloud, admin: Session, query: str, field: str, expected: str
) -> None:
    collection = "agents" if field == "agent_type" else "ports"
    items = get(admin, f"/v2.0/{collection}?{query}", admin).body[collection]
    table = cloud.state.agents if collection == "agents" else cloud.state.ports
    want = sorted(x.id for x in table if getattr(x, field) == expected)
    assert want and [i["id"] for i in items] == want
    assert all(i[field] == expected for i in items)


def test_project_boolean_and_repeated_filters(cloud: SimulatedCloud, admin: Session) -> None:
    project = next(iter(cloud.state.routers)).project_id
    routers = get(admin, f"/v2.0/routers?project_id={project}", admin).body["routers"]
    assert routers and all(r["project_id"] == project for r in routers)
    external = get(admin, "/v2.0/networks?router:external=True", admin).body["networks"]
    assert [n["name"] for n in external] == ["public"]
    both = get(admin, "/v2.0/agents?agent_type=L3 agent&agent_type=DHCP agent", admin)
    assert {a["agent_type"] for a in both.body["agents"]} == {"L3 agent", "DHCP agent"}
    fields = get(admin, "/v2.0/networks?fields=id&fields=name", admin).body["networks"]
    assert fields and all(set(n) == {"id", "name"} for n in fields)


def test_unknown_filter_and_bad_limit_are_400(admin: Session) -> None:
    bad = get(admin, "/v2.0/networks?color=blue", admin)
    assert bad.status == 400 and bad.body["NeutronError"]["type"] == "HTTPBadRequest"
    limit = get(admin, "/v2.0/networks?limit=x", admin)
    assert limit.status == 400 and "Limit must be an integer" in \
        limit.body["NeutronError"]["message"]


@pytest.mark.parametrize("body", [{"network": "x"}, ["network"], {}])
def test_bad_bodies_are_400(admin: Session, body: object) -> None:
    answer = send(admin, admin.root("network"), "POST", "/v2.0/networks", json_body=body)
    assert answer.status == 400 and answer.body["NeutronError"]["type"] == "HTTPBadRequest"
    raw = send(admin, admin.root("network"), "POST", "/v2.0/ports", data=b"{not json",
               headers={"Content-Type": "application/json"})
    assert raw.status == 400


def test_a_member_sees_its_project_only_and_no_agents(
    cloud: SimulatedCloud, member: Session
) -> None:
    assert get(member, "/v2.0/agents", member).body == {"agents": []}
    ports = get(member, "/v2.0/ports", member).body["ports"]
    assert ports and {p["project_id"] for p in ports} == {member.project_id}
    networks = get(member, "/v2.0/networks", member).body["networks"]
    assert {n["project_id"] == member.project_id or n["router:external"] for n in networks} \
        == {True}
    assert all("provider:network_type" not in n for n in networks)
    avail = get(member, "/v2.0/network-ip-availabilities", member).body
    assert avail == {"network_ip_availabilities": []}
    pages = follow(member, "network", "/v2.0/ports?limit=2", "ports")
    assert [p["id"] for page in pages for p in page] == sorted(
        p.id for p in cloud.state.ports if p.project_id == member.project_id)


def test_error_bodies(admin: Session, member: Session) -> None:
    no_token = get(None, "/v2.0/networks", admin)
    assert no_token.status == 401
    assert no_token.body["error"]["title"] == "Unauthorized"
    missing = get(admin, "/v2.0/networks/00000000-0000-0000-0000-000000000000", admin)
    assert missing.status == 404
    assert missing.body == {"NeutronError": {
        "type": "NetworkNotFound", "detail": "",
        "message": "Network 00000000-0000-0000-0000-000000000000 could not be found."}}
    denied = send(member, member.root("network"), "POST", "/v2.0/networks",
                  json_body={"network": {"name": "x", "provider:network_type": "vlan"}})
    assert denied.status == 403
    assert denied.body["NeutronError"]["type"] == "PolicyNotAuthorized"
    assert get(admin, "/v2.0/agents/nope/l3-routers", admin).status == 404


def _l3(cloud: SimulatedCloud) -> tuple[str, str, str]:
    """A router and the L3 agent it is on, and another live L3 agent."""
    state = cloud.state
    agents = sorted(a.id for a in state.agents if a.agent_type == "L3 agent")
    binding = next(b for b in state.router_bindings)
    other = next(a for a in agents if a != binding.l3_agent_id)
    return binding.router_id, binding.l3_agent_id, other


def test_moving_a_router_between_l3_agents_changes_the_state(
    cloud: SimulatedCloud, admin: Session
) -> None:
    router, here, there = _l3(cloud)
    root = admin.root("network")
    on_here = get(admin, f"/v2.0/agents/{here}/l3-routers", admin).body["routers"]
    assert router in {r["id"] for r in on_here}
    assert {r["id"] for r in on_here} == {
        b.router_id for b in cloud.state.router_bindings.by("l3_agent_id", here)}
    busy = send(admin, root, "POST", f"/v2.0/agents/{there}/l3-routers",
                json_body={"router_id": router})
    assert busy.status == 409
    assert busy.body["NeutronError"]["type"] == "RouterHostedByL3Agent"
    removed = send(admin, root, "DELETE", f"/v2.0/agents/{here}/l3-routers/{router}")
    assert removed.status == 204
    assert cloud.state.router_bindings.by("router_id", router) == []
    assert get(admin, f"/v2.0/routers/{router}/l3-agents", admin).body == {"agents": []}
    again = send(admin, root, "DELETE", f"/v2.0/agents/{here}/l3-routers/{router}")
    assert again.status == 409
    added = send(admin, root, "POST", f"/v2.0/agents/{there}/l3-routers",
                 json_body={"router_id": router})
    assert (added.status, added.body) == (201, None)
    assert [b.l3_agent_id for b in cloud.state.router_bindings.by("router_id", router)] \
        == [there]
    agents = get(admin, f"/v2.0/routers/{router}/l3-agents", admin).body["agents"]
    assert [a["id"] for a in agents] == [there] and agents[0]["ha_state"] is None
    twice = send(admin, root, "POST", f"/v2.0/agents/{there}/l3-routers",
                 json_body={"router_id": router})
    assert twice.status == 201
    assert len(cloud.state.router_bindings.by("router_id", router)) == 1


def test_a_dead_l3_agent_takes_no_routers(cloud: SimulatedCloud, admin: Session) -> None:
    cloud.inject("l3-agent-dead")
    try:
        dead = [a for a in get(admin, "/v2.0/agents?agent_type=L3 agent", admin).body["agents"]
                if not a["alive"]]
        assert len(dead) == 1
        router = next(iter(cloud.state.routers)).id
        for binding in cloud.state.router_bindings.by("router_id", router):
            send(admin, admin.root("network"), "DELETE",
                 f"/v2.0/agents/{binding.l3_agent_id}/l3-routers/{router}")
        refused = send(admin, admin.root("network"), "POST",
                       f"/v2.0/agents/{dead[0]['id']}/l3-routers", json_body={"router_id": router})
        assert refused.status == 400
        assert refused.body["NeutronError"]["type"] == "InvalidL3Agent"
    finally:
        cloud.clear("l3-agent-dead")


def test_create_and_delete_a_topology(cloud: SimulatedCloud, admin: Session) -> None:
    root = admin.root("network")
    net = send(admin, root, "POST", "/v2.0/networks", json_body={"network": {"name": "t"}})
    assert net.status == 201 and net.body["network"]["is_default"] is False
    net_id = net.body["network"]["id"]
    subnet = send(admin, root, "POST", "/v2.0/subnets", json_body={"subnet": {
        "name": "t-sub", "network_id": net_id, "ip_version": 4, "cidr": "10.99.0.0/24"}})
    assert subnet.status == 201
    assert subnet.body["subnet"]["allocation_pools"] == [
        {"start": "10.99.0.2", "end": "10.99.0.254"}]
    port = send(admin, root, "POST", "/v2.0/ports",
                json_body={"port": {"name": "t-port", "network_id": net_id}})
    assert port.status == 201
    assert port.body["port"]["fixed_ips"][0]["ip_address"] == "10.99.0.2"
    assert port.body["port"]["id"] in cloud.state.ports
    avail = get(admin, f"/v2.0/network-ip-availabilities/{net_id}", admin).body
    assert avail["network_ip_availability"]["used_ips"] == 1
    assert avail["network_ip_availability"]["total_ips"] == 253
    router = send(admin, root, "POST", "/v2.0/routers", json_body={"router": {"name": "t-r"}})
    assert router.status == 201
    router_id = router.body["router"]["id"]
    assert len(cloud.state.router_bindings.by("router_id", router_id)) == 1  # scheduled
    def revision() -> int:
        routers = get(admin, f"/v2.0/routers?id={router_id}", admin).body["routers"]
        return int(routers[0]["revision_number"])

    before = revision()  # the listing's encoded payload is cached from here on
    iface = send(admin, root, "PUT", f"/v2.0/routers/{router_id}/add_router_interface",
                 json_body={"subnet_id": subnet.body["subnet"]["id"]})
    assert revision() == before + 1  # a changed record is never answered from the cache
    assert iface.status == 200 and iface.body["subnet_ids"] == [subnet.body["subnet"]["id"]]
    assert send(admin, root, "DELETE", f"/v2.0/routers/{router_id}").status == 409
    send(admin, root, "PUT", f"/v2.0/routers/{router_id}/remove_router_interface",
         json_body={"subnet_id": subnet.body["subnet"]["id"]})
    for path in (f"/v2.0/routers/{router_id}", f"/v2.0/ports/{port.body['port']['id']}",
                 f"/v2.0/networks/{net_id}"):
        assert send(admin, root, "DELETE", path).status == 204, path
    assert net_id not in cloud.state.networks
    assert router_id not in cloud.state.routers
    assert cloud.state.router_bindings.by("router_id", router_id) == []


def test_quota_details_count_what_the_project_has(
    cloud: SimulatedCloud, admin: Session
) -> None:
    project = next(iter(cloud.state.routers)).project_id
    quota = get(admin, f"/v2.0/quotas/{project}/details", admin).body["quota"]
    assert quota["router"]["used"] == cloud.state.routers.count_by("project_id", project)
    assert quota["port"]["used"] == cloud.state.ports.count_by("project_id", project)
    assert quota["port"]["limit"] == cloud.state.quota_limit("network", project, "port")


def test_a_disabled_l3_agent_takes_no_routers(cloud: SimulatedCloud, admin: Session) -> None:
    root = admin.root("network")
    agent = next(a for a in cloud.state.agents if a.agent_type == "L3 agent")
    router = next(iter(cloud.state.routers)).id
    for binding in cloud.state.router_bindings.by("router_id", router):
        send(admin, root, "DELETE", f"/v2.0/agents/{binding.l3_agent_id}/l3-routers/{router}")
    off = send(admin, root, "PUT", f"/v2.0/agents/{agent.id}",
               json_body={"agent": {"admin_state_up": False}})
    assert off.status == 200 and off.body["agent"]["admin_state_up"] is False
    assert cloud.state.agents.get(agent.id).admin_state_up is False  # type: ignore[union-attr]
    refused = send(admin, root, "POST", f"/v2.0/agents/{agent.id}/l3-routers",
                   json_body={"router_id": router})
    assert refused.status == 400
    send(admin, root, "PUT", f"/v2.0/agents/{agent.id}",
         json_body={"agent": {"admin_state_up": True}})
    back = send(admin, root, "POST", f"/v2.0/agents/{agent.id}/l3-routers",
                json_body={"router_id": router})
    assert back.status == 201
    assert [b.l3_agent_id for b in cloud.state.router_bindings.by("router_id", router)] \
        == [agent.id]


def test_dhcp_agents_and_their_networks(cloud: SimulatedCloud, admin: Session) -> None:
    tenant = next(n for n in cloud.state.networks if not n.router_external)
    agents = get(admin, f"/v2.0/networks/{tenant.id}/dhcp-agents", admin).body["agents"]
    assert agents and {a["agent_type"] for a in agents} == {"DHCP agent"}
    served = get(admin, f"/v2.0/agents/{agents[0]['id']}/dhcp-networks", admin).body
    assert tenant.id in {n["id"] for n in served["networks"]}
    hosts = {p.binding_host_id for p in cloud.state.ports.by("network_id", tenant.id)
             if p.device_owner == "network:dhcp"}
    assert {a["host"] for a in agents} == hosts


def test_availability_zones_follow_the_agents_admin_state(
    cloud: SimulatedCloud, admin: Session
) -> None:
    root = admin.root("network")
    zones = get(admin, "/v2.0/availability_zones", admin)
    assert zones.status == 200
    assert {(z["name"], z["resource"], z["state"]) for z in zones.body["availability_zones"]} \
        == {("nova", "network", "available"), ("nova", "router", "available")}
    l3 = cloud.state.agents.by("agent_type", "L3 agent")
    try:
        for agent in l3:
            send(admin, root, "PUT", f"/v2.0/agents/{agent.id}",
                 json_body={"agent": {"admin_state_up": False}})
        routers = get(admin, "/v2.0/availability_zones?resource=router", admin)
        assert routers.body["availability_zones"] == [
            {"name": "nova", "resource": "router", "state": "unavailable"}]
    finally:
        for agent in l3:
            send(admin, root, "PUT", f"/v2.0/agents/{agent.id}",
                 json_body={"agent": {"admin_state_up": True}})
    assert get(admin, "/v2.0/availability_zones?state=unavailable", admin).body == {
        "availability_zones": []}
    assert get(admin, "/v2.0/availability_zones?zone=x", admin).status == 400


COUNTS = ("routers", "ex_gw_ports", "interfaces", "floating_ips")


def _reported(admin: Session, agent_id: str) -> dict[str, int]:
    config = get(admin, f"/v2.0/agents/{agent_id}", admin).body["agent"]["configurations"]
    return {k: config[k] for k in COUNTS}


def test_l3_agent_counts_follow_a_router_that_moves(cloud: SimulatedCloud,
                                                    admin: Session) -> None:
    state = cloud.state
    # a router with a gateway, an interface and a floating IP, so every count moves
    router = next(rt for rt in state.routers if rt.external_gateway is not None
                  and state.floating_ips.count_by("router_id", rt.id) > 0
                  and state.router_bindings.by("router_id", rt.id))
    here = state.router_bindings.by("router_id", router.id)[0].l3_agent_id
    there = next(a.id for a in state.agents.by("agent_type", "L3 agent") if a.id != here)
    moved = {"routers": 1, "ex_gw_ports": 1, "floating_ips": state.floating_ips.count_by(
        "router_id", router.id), "interfaces": sum(
        1 for p in state.ports.by("device_id", router.id)
        if p.device_owner == "network:router_interface")}
    assert moved["interfaces"] >= 1
    before = {a: _reported(admin, a) for a in (here, there)}
    hosted = [state.routers.get(b.router_id) for b in state.router_bindings.by(
        "l3_agent_id", here)]
    assert before[here]["routers"] == len(hosted)
    assert before[here]["ex_gw_ports"] == sum(
        1 for rt in hosted if rt is not None and rt.external_gateway is not None)
    root = admin.root("network")
    assert send(admin, root, "DELETE",
                f"/v2.0/agents/{here}/l3-routers/{router.id}").status == 204
    assert send(admin, root, "POST", f"/v2.0/agents/{there}/l3-routers",
                json_body={"router_id": router.id}).status == 201
    after = {a: _reported(admin, a) for a in (here, there)}
    assert after[here] == {k: before[here][k] - moved[k] for k in COUNTS}
    assert after[there] == {k: before[there][k] + moved[k] for k in COUNTS}
    # the service database holds what the agent reports with its next heartbeat
    cloud.call(lambda: state.update("agent", there, heartbeat_timestamp=state.now()))
    cloud.flush()
    with cloud.world["db"].engine("neutron").connect() as conn:
        row = conn.exec_driver_sql("SELECT configurations FROM agents WHERE id = ?",
                                   (there,)).scalar_one()
    assert {k: json.loads(row)[k] for k in COUNTS} == after[there]


def test_dhcp_agent_counts_are_its_networks(cloud: SimulatedCloud, admin: Session) -> None:
    for agent in cloud.state.agents.by("agent_type", "DHCP agent"):
        config = get(admin, f"/v2.0/agents/{agent.id}", admin).body["agent"]["configurations"]
        served = get(admin, f"/v2.0/agents/{agent.id}/dhcp-networks", admin).body["networks"]
        assert config["networks"] == len(served) > 0
        assert config["subnets"] == sum(len(n["subnets"]) for n in served)
        assert config["ports"] == sum(
            len(get(admin, f"/v2.0/ports?network_id={n['id']}", admin).body["ports"])
            for n in served)
