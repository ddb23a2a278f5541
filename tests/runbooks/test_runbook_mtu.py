"""The MTU arithmetic against neutron's own (``get_mtu`` of each ML2 type driver)."""

from __future__ import annotations

import pytest

from stackwatch.model import Status
from stackwatch.runbooks.books.mtu import MtuSettings, NetworkMtu, check, from_api, judge

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("kind", "physnet", "settings", "largest"), [
    # neutron's defaults: 1500 physical, IPv4 outer header
    ("vxlan", None, MtuSettings(), 1450),
    ("gre", None, MtuSettings(), 1458),
    ("geneve", None, MtuSettings(), 1442),
    ("vlan", "physnet1", MtuSettings(), 1500),
    ("flat", "public", MtuSettings(), 1500),
    # jumbo frames underneath, a smaller path between the tunnel endpoints
    ("vxlan", None, MtuSettings(global_physnet_mtu=9000, path_mtu=1600), 1550),
    ("vxlan", None, MtuSettings(global_physnet_mtu=9000), 8950),
    # an IPv6 underlay costs 20 more
    ("vxlan", None, MtuSettings(overlay_ip_version=6), 1430),
    # the per-physnet MTU bounds flat and vlan, not the tunnels
    ("vlan", "physnet1", MtuSettings(physical_network_mtus={"physnet1": 1400}), 1400),
    ("vlan", "physnet2", MtuSettings(physical_network_mtus={"physnet1": 1400}), 1500),
    ("gre", None, MtuSettings(physical_network_mtus={"physnet1": 1400}), 1458),
    ("geneve", None, MtuSettings(geneve_max_header_size=30), 1450),
])
def test_largest_mtu_as_neutron_computes_it(kind: str, physnet: str | None,
                                            settings: MtuSettings, largest: int) -> None:
    assert settings.largest(kind, physnet) == largest


def test_a_too_big_overlay_network_is_named_with_what_to_set() -> None:
    net = NetworkMtu("n1", "private", "gre", None, 1500)
    found = judge(net, MtuSettings())
    assert found.status is Status.CRITICAL and found.to_set == 1458 and found.overhead == 42
    assert "MTU 1500 is above the 1458" in found.message and "set mtu 1458" in found.message
    assert "global_physnet_mtu 1500 - 42 of gre over IPv4" in found.message


def test_fitting_and_unknown_networks() -> None:
    settings = MtuSettings()
    assert judge(NetworkMtu("a", "a", "vxlan", None, 1450), settings).status is Status.OK
    assert judge(NetworkMtu("a", "a", "vxlan", None, 1400), settings).to_set is None
    assert judge(NetworkMtu("l", "l", "local", None, 9000), settings).status is Status.OK
    odd = judge(NetworkMtu("o", "o", "opflex", None, 1500), settings)
    assert odd.status is Status.UNKNOWN and "unknown network type" in odd.message


def test_check_puts_the_networks_that_drop_packets_first() -> None:
    nets = [NetworkMtu("1", "a-ok", "vxlan", None, 1450),
            NetworkMtu("2", "z-bad", "vxlan", None, 1500),
            NetworkMtu("3", "b-flat", "flat", "public", 1500),
            NetworkMtu("4", "c-bad", "geneve", None, 1500)]
    assert [f.network.name for f in check(nets, MtuSettings())] == [
        "c-bad", "z-bad", "a-ok", "b-flat"]


def test_from_api_reads_the_admin_listing_and_refuses_what_it_cannot_judge() -> None:
    body = {"id": "x", "name": "ext", "mtu": 1500, "provider:network_type": "flat",
            "provider:physical_network": "public"}
    assert from_api(body) == NetworkMtu("x", "ext", "flat", "public", 1500)
    with pytest.raises(ValueError, match="network x: no mtu field"):
        from_api({"id": "x"})
    with pytest.raises(ValueError, match="mtu is '1500', not an integer"):
        from_api({"id": "x", "mtu": "1500"})
