"""The fault matrix over HTTP: every fault gives UNKNOWN with a clear reason, others go on."""

from __future__ import annotations

import pytest

from sources.replay import ReplayCloud, recorded_body
from sources.test_api_replay import client_of, resource_status, source, value
from stackwatch.errors import SourceAuthError, SourceUnavailable
from stackwatch.model import Status
from stackwatch.sources.openstack_api import SOURCE_CLASSES

pytestmark = pytest.mark.integration


def unknown_reasons(replay: ReplayCloud, codename: str) -> dict[str, str]:
    out = source(replay, codename).collect()
    return {dict(c.labels)["resource"]: c.message for c in out.checks
            if c.name == "stackwatch.resource" and c.status is Status.UNKNOWN}


@pytest.mark.parametrize(("kind", "status", "reason"), [
    ("status", 401, "SourceAuthError"),
    ("status", 403, "SourceForbidden"),
    ("status", 404, "SourceUnavailable"),
    ("status", 500, "HTTP 500: injected 500"),
    ("truncate", 0, "InvalidResponse"),
    ("slow", 0, "SourceTimeout"),
])
def test_a_failing_resource_is_unknown_and_the_others_still_produce(
        replay: ReplayCloud, kind: str, status: int, reason: str) -> None:
    replay.inject("compute", kind, status=status, delay=2.5, path="os-services")
    client = client_of(replay, timeout=1.0)
    out = source(replay, "nova", client).collect()
    states = resource_status(out)
    assert states.pop("services") is Status.UNKNOWN
    assert all(s is Status.OK for s in states.values()), out.checks
    message = next(c.message for c in out.checks if c.name == "stackwatch.resource"
                   and dict(c.labels)["resource"] == "services")
    assert reason in message and "os-services" in message, message
    assert value(out, "stackwatch_resource_up", resource="services") == 0
    assert value(out, "stackwatch_resource_up", resource="servers") == 1
    assert not [s for s in out.samples if s.name == "openstack_nova_agent_state"]
    # and the other services are not disturbed
    assert value(source(replay, "neutron", client).collect(), "openstack_neutron_networks") == 2


def test_an_endpoint_that_is_down_is_critical_and_its_resources_unknown(
        replay: ReplayCloud) -> None:
    replay.inject("block-storage", "down")
    client = client_of(replay)
    out = source(replay, "cinder", client).collect()
    endpoint = next(c for c in out.checks if c.name == "api.endpoint")
    assert endpoint.status is Status.CRITICAL and "cannot connect" in endpoint.message
    assert value(out, "openstack_cinder_up") == 0
    states = resource_status(out)
    assert set(states.values()) == {Status.UNKNOWN}
    assert all("cannot connect" in c.message for c in out.checks
               if c.name == "stackwatch.resource")
    for cls in SOURCE_CLASSES:
        if cls.codename != "cinder":
            other = cls(client).collect()
            assert all(s is Status.OK for s in resource_status(other).values()), cls.codename
    replay.clear("block-storage")
    again = source(replay, "cinder", client).collect()
    assert value(again, "openstack_cinder_up") == 1


def test_bad_credentials_raise_an_auth_error_naming_the_cloud(replay: ReplayCloud) -> None:
    replay.inject("identity", "status", status=401, path="/v3/auth/tokens")
    with pytest.raises(SourceAuthError, match="replay"):
        source(replay, "nova").collect()


def test_a_service_missing_from_the_catalog_is_unavailable(replay: ReplayCloud) -> None:
    replay.missing.add("placement")
    client = client_of(replay)
    with pytest.raises(SourceUnavailable, match="'placement' is missing from the catalog"):
        source(replay, "placement", client).collect()
    # nova's capacity needs placement at 2.88+: that resource alone is UNKNOWN
    out = source(replay, "nova", client).collect()
    states = resource_status(out)
    assert states.pop("capacity") is Status.UNKNOWN
    assert all(s is Status.OK for s in states.values())


def test_one_token_for_many_collections_of_every_source(replay: ReplayCloud) -> None:
    client = client_of(replay)
    for _ in range(3):
        for cls in SOURCE_CLASSES:
            cls(client).collect()
    assert client.tokens_issued == 1 == replay.tokens_issued


def test_listings_follow_every_page(replay: ReplayCloud) -> None:
    client = client_of(replay)
    networks = list(client.list_all("network", "v2.0/networks", "networks", page_size=1))
    recorded = recorded_body("network", "GET___v2.0__networks.json")["networks"]
    assert [n["id"] for n in networks] == [n["id"] for n in recorded] and len(recorded) == 2
    images = list(client.list_all("image", "v2/images", "images", page_size=1))
    assert len(images) == 2
    pages = [r[2] for r in replay.requests if "images" in r[2]]
    # glance links a next page whenever a page is full: the third answer is empty
    assert len(pages) == 3 and all("marker=" in p for p in pages[1:])


def test_microversion_is_negotiated_and_capped(replay: ReplayCloud) -> None:
    client = client_of(replay)
    assert client.endpoint("compute").microversion == (2, 103)
    assert client.endpoint("block-storage").microversion == (3, 71)
    assert client.endpoint("placement").microversion == (1, 39)
    assert client.endpoint("network").microversion is None
