"""Compute maintenance's judgement on figures built here: room elsewhere from placement,
instances that can move, and the guide's after-work checks."""

from __future__ import annotations

import pytest

from stackwatch.runbooks.books.compute_maintenance import Guest, after_work, room_elsewhere
from stackwatch.sources.openstack_api.compute import NovaService
from stackwatch.sources.openstack_api.placement import Inventory, Provider

pytestmark = pytest.mark.unit


def service(host: str, state: str = "up", status: str = "enabled", reason: str = ""
            ) -> NovaService:
    return NovaService(f"id-{host}", "nova-compute", host, "nova", status, state, False, reason)


def provider(name: str, vcpu_free: float, ram_free: float, disk_free: float) -> Provider:
    def inv(free: float) -> Inventory:
        return Inventory(total=free + 10, reserved=0, allocation_ratio=1.0, used=10)
    return Provider(f"uuid-{name}", name, {"VCPU": inv(vcpu_free), "MEMORY_MB": inv(ram_free),
                                           "DISK_GB": inv(disk_free)})


GUESTS = [Guest("g1", "web-1", "ACTIVE", "cmp1", 4, 8192, 40, volume_backed=False),
          Guest("g2", "db-1", "ACTIVE", "cmp1", 8, 16384, 80, volume_backed=True)]


def test_room_elsewhere_counts_only_hosts_up_and_enabled() -> None:
    services = [service("cmp1"), service("cmp2"), service("cmp3", state="down"),
                service("cmp4", status="disabled")]
    providers = [provider("cmp1.example", 100, 100_000, 1000),
                 provider("cmp2.example", 12, 30_000, 50),
                 provider("cmp3.example", 100, 100_000, 1000),
                 provider("cmp4.example", 100, 100_000, 1000)]
    nodes = {f"cmp{i}.example": f"cmp{i}" for i in range(1, 5)}
    room = room_elsewhere("cmp1", GUESTS, services, nodes, providers)
    # the volume-backed db-1 takes no disk elsewhere
    assert dict(room.needed) == {"VCPU": 12, "MEMORY_MB": 24576, "DISK_GB": 40}
    assert dict(room.free) == {"VCPU": 12, "MEMORY_MB": 30_000, "DISK_GB": 50}
    assert room.hosts == ("cmp2",) and room.fits


def test_no_room_names_the_guest_no_host_can_take() -> None:
    services = [service("cmp1"), service("cmp2"), service("cmp3")]
    providers = [provider("cmp2", 6, 20_000, 100), provider("cmp3", 6, 20_000, 100)]
    room = room_elsewhere("cmp1", GUESTS, services, {}, providers)
    # 12 vCPUs free in all, but db-1's 8 fit on neither host
    assert room.free["VCPU"] == 12 and room.unplaceable == ("db-1",) and not room.fits


def test_after_work_checks() -> None:
    ok = after_work(service("cmp1"), GUESTS, {"cmp1": 1})
    assert [(e.label, e.value) for e in ok] == [
        ("cmp1 service", "ok: nova-compute is up"),
        ("cmp1 AMQP consumer", "ok: 1 consumer(s) on compute.cmp1"),
        ("cmp1 instances", "ok: all 2 running")]
    stopped = [GUESTS[0], Guest("g3", "batch", "SHUTOFF", "cmp1", 1, 512, 1, False)]
    bad = after_work(service("cmp1", state="down"), stopped, {"cmp1": 0})
    assert [e.value for e in bad] == [
        "NOT up: nova-compute is down", "NOT back: no consumer on its queue on compute.cmp1",
        "ok: 1 of 2 running; stopped: batch SHUTOFF (start those that ran before the work)"]
    broken = after_work(service("cmp1"), [*stopped, Guest("g4", "x", "ERROR", "cmp1", 1, 1,
                                                          1, False)], {})
    assert broken[2].value == "NOT all running: 1 of 3 broken (x ERROR)"
    unknown = after_work(service("cmp1"), [], {})
    assert unknown[1].value == "not known: no compute.cmp1 figure in the store"


def test_guest_from_the_api() -> None:
    body = {"id": "s1", "name": "vm", "status": "ACTIVE", "OS-EXT-SRV-ATTR:host": "cmp1",
            "image": "", "flavor": {"vcpus": 2, "ram": 2048, "disk": 20}}
    assert Guest.from_api(body) == Guest("s1", "vm", "ACTIVE", "cmp1", 2, 2048, 20, True)
    local = dict(body, image={"id": "img"})
    assert not Guest.from_api(local).volume_backed
    assert Guest.from_api(local).needs() == {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}
