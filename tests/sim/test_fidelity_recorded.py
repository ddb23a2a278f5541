"""The simulator answers like the real 2026.1 services recorded in ``tests/data/recorded``
(the realcloud fidelity test's former known differences, now checked without a cloud)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
from fidelity import Replayer, login_from_clouds_yaml

from stackwatch.sim.cloud import SimulatedCloud

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "api"
USAGE_PAGE1 = ("GET___v2.1__os-simple-tenant-usage~start={start}&end={end}&detailed=1"
               "&limit=1@2.103.page1.json")
USAGE_PAGE2 = ("GET___v2.1__os-simple-tenant-usage~detailed=1&end={end}&limit=1"
               "&start={start}&marker={marker}@2.103.page2.json")
L3_ROUTERS = "GET___v2.0__agents__{agent_id}__l3-routers.json"


@pytest.fixture(scope="module")
def window() -> dict[str, str]:
    """The recorded one-day window moved to end now, where the simulated servers (made
    within the last 400 days) have run: every project has usage in it, whatever the date."""
    end = datetime.now(UTC).replace(tzinfo=None)
    return {"start": quote((end - timedelta(days=1)).isoformat()), "end": quote(end.isoformat())}


@pytest.fixture(scope="module")
def replayer(cloud: SimulatedCloud) -> Replayer:
    return Replayer(login_from_clouds_yaml(Path(cloud.clouds_yaml)), reference=RECORDED)


# the window is today's, not the recording's: the links' dates differ by that alone
# (their query, dates included, is asserted against the request's in the test)
MOVED_WINDOW = {"body/tenant_usages_links/*/href": "the window moved to end now",
                "body/tenant_usages/*/server_usages/*/ended_at":
                    "null for a server still there, a time for one deleted in the window"}


def _next_query(body: dict[str, object]) -> list[tuple[str, str]]:
    links = body["tenant_usages_links"]
    assert isinstance(links, list) and links[0]["rel"] == "next"
    return parse_qsl(urlsplit(links[0]["href"]).query)


def test_tenant_usage_next_links_sort_the_query(replayer: Replayer,
                                                window: dict[str, str]) -> None:
    page1 = replayer.recording("compute", USAGE_PAGE1)
    answer = replayer.replay(page1, ids=window)
    assert answer.status == 200, answer.body
    # nova: the request's query sorted by key, then marker appended
    keys = [k for k, _ in _next_query(answer.body)]
    assert keys == ["detailed", "end", "limit", "start", "marker"]
    sent = {k: unquote(v) for k, v in window.items()}
    assert {k: v for k, v in _next_query(answer.body) if k in sent} == sent
    report = replayer.check("compute", USAGE_PAGE1, ids=window, allow=MOVED_WINDOW)
    assert report, report.explain()

    marker = dict(_next_query(answer.body))["marker"]
    page2 = replayer.replay(replayer.recording("compute", USAGE_PAGE2),
                            ids={**window, "marker": marker})
    assert page2.status == 200, page2.body
    # marker already in the query: it keeps its sorted place, with the new value
    query = _next_query(page2.body)
    assert [k for k, _ in query] == ["detailed", "end", "limit", "marker", "start"]
    assert dict(query)["marker"] != marker  # the last instance of page 2
    assert {k: v for k, v in query if k in sent} == sent
    report = replayer.check("compute", USAGE_PAGE2, ids={**window, "marker": marker},
                            allow=MOVED_WINDOW)
    assert report, report.explain()


def test_agent_l3_routers_carry_the_database_fields(cloud: SimulatedCloud,
                                                    replayer: Replayer) -> None:
    state = cloud.state
    router = next(x for x in state.routers if x.external_gateway is not None
                  and state.router_bindings.count_by("router_id", x.id))
    agent_id = state.router_bindings.by("router_id", router.id)[0].l3_agent_id
    report = replayer.check("network", L3_ROUTERS, ids={"agent_id": agent_id})
    assert report, report.explain()

    routers = replayer.get("network", f"/v2.0/agents/{agent_id}/l3-routers").body["routers"]
    got = next(x for x in routers if x["id"] == router.id)
    gw_port = next(p for p in state.ports.by("device_id", router.id)
                   if p.device_owner == "network:router_gateway")
    assert got["gw_port_id"] == gw_port.id
    assert got["enable_snat"] is got["external_gateway_info"]["enable_snat"] is True
    assert got["ha_vr_id"] == 0 and got["ha"] is False
    assert got["enable_default_route_bfd"] is got["enable_default_route_ecmp"] is False
    # the plain router listing keeps neutron's public view
    shown = replayer.get("network", f"/v2.0/routers/{router.id}").body["router"]
    assert not {"gw_port_id", "ha_vr_id", "enable_snat"} & set(shown)
