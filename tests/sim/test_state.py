"""The ground truth: tables and paging, the change feed, consistency, seeded generation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stackwatch.errors import SimulatorError
from stackwatch.sim import ops
from stackwatch.sim import records as r
from stackwatch.sim.events import Change, ChangeKind
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.state import Actor, CloudState, acting

pytestmark = pytest.mark.unit


def small(seed: int = 1, **knobs: int) -> CloudState:
    state = CloudState()
    generate(state, Sizing.for_size("small", **knobs), seed=seed, base_url="http://sim",
             admin_password="pw")
    return state


def test_generation_is_seeded_and_consistent() -> None:
    one, two, other = small(5), small(5), small(6)
    assert one.servers.ids() == two.servers.ids()
    assert [s.name for s in one.servers] == [s.name for s in two.servers]
    assert one.servers.ids() != other.servers.ids()
    for state in (one, other):
        assert state.check_consistency() == []


@pytest.mark.parametrize("knobs", [
    {"hypervisors": 1, "servers": 40},  # a full cloud: some fail with NoValidHost
    {"servers": 0, "volumes": 0, "ports": 0},
    {"projects": 30, "servers": 200, "ports": 150, "resource_providers": 20},
])
def test_knobs_keep_consistency(knobs: dict[str, int]) -> None:
    state = small(**knobs)
    assert state.check_consistency() == []
    assert len(state.servers) == knobs.get("servers", 24)
    assert len(state.hypervisors) == knobs.get("hypervisors", 4)


def test_bad_sizes() -> None:
    with pytest.raises(SimulatorError, match="unknown size"):
        Sizing.for_size("enormous")
    with pytest.raises(SimulatorError, match="must be >= 0"):
        Sizing.for_size("small", servers=-1)
    with pytest.raises(SimulatorError, match="at least one hypervisor"):
        Sizing.for_size("small", hypervisors=0)


def test_every_small_cloud_has_the_interesting_cases() -> None:
    state = small()
    vm_states = {(s.vm_state, s.host is None) for s in state.servers}
    assert {("active", False), ("stopped", False), ("error", False), ("error", True)} <= vm_states
    no_host = next(s for s in state.servers if s.host is None)
    assert no_host.fault is not None and no_host.cell == "cell0"
    assert any(v.attachments for v in state.volumes)
    assert state.router_bindings and state.floating_ips


def test_quota_overrides_cover_usage() -> None:
    state = small(projects=2, servers=60, hypervisors=8)
    for project in state.projects:
        used = state.quota_usage("compute", project.id)
        for resource in ("instances", "cores", "ram"):
            limit = state.quota_limit("compute", project.id, resource)
            assert limit == -1 or used[resource] <= limit


def test_paging_ascending_descending_filtered() -> None:
    state = small(servers=30)
    ids = [s.id for s in sorted(state.servers, key=lambda s: (s.created_at, s.id))]
    page = state.servers.page(limit=10)
    assert [s.id for s in page.items] == ids[:10] and page.more
    page = state.servers.page(marker=ids[9], limit=100)
    assert [s.id for s in page.items] == ids[10:] and not page.more
    newest = state.servers.page(limit=5, descending=True)
    assert [s.id for s in newest.items] == ids[::-1][:5]
    after = state.servers.page(marker=newest.items[-1].id, limit=5, descending=True)
    assert [s.id for s in after.items] == ids[::-1][5:10]
    project = state.servers.index_values("project_id")[0]
    mine = state.servers.page(where={"project_id": project}, descending=True)
    assert [s.id for s in mine.items] == [i for i in ids[::-1]
                                          if state.servers.get(i).project_id == project]
    with pytest.raises(KeyError):
        state.servers.page(marker="nope")


def test_changes_carry_before_after_and_actor() -> None:
    state = small()
    changes: list[Change] = []
    unsubscribe = state.subscribe(changes.append)
    server = next(s for s in state.servers if s.vm_state == "active")
    hyp = state.hypervisor_by_hostname(server.node or "")
    assert hyp is not None
    with acting(Actor(cause="api", request_id="req-1", user_id="u", project_id="p")):
        ops.delete_server(state, server.id, "req-1")
    kinds = [(c.resource, c.kind) for c in changes]
    assert ("server", ChangeKind.DELETED) in kinds
    assert ("allocation", ChangeKind.DELETED) in kinds
    assert ("hypervisor", ChangeKind.UPDATED) in kinds
    assert ("instance_action", ChangeKind.CREATED) in kinds
    assert all(c.request_id == "req-1" for c in changes)
    hyp_change = next(c for c in changes if c.resource == "hypervisor")
    assert hyp_change.before.vcpus_used - hyp_change.after.vcpus_used == server.flavor.vcpus
    assert "vcpus_used" in hyp_change.fields
    assert state.check_consistency() == []
    unsubscribe()
    count = len(changes)
    state.update("compute_service", next(iter(state.compute_services)).id, disabled=True)
    assert len(changes) == count


def test_a_failing_subscriber_does_not_break_writes() -> None:
    state = small()

    def broken(change: Change) -> None:
        raise RuntimeError("subscriber bug")

    state.subscribe(broken)
    svc = next(iter(state.compute_services))
    state.update("compute_service", svc.id, disabled=True)
    assert state.compute_services.get(svc.id).disabled  # type: ignore[union-attr]
    assert state.subscriber_errors == 1


def test_boot_lifecycle_keeps_consistency() -> None:
    import random

    state = small()
    rng = random.Random(1)
    project = next(p for p in state.projects if p.name == "demo")
    flavor = next(iter(state.flavors))
    server = ops.create_server(state, name="x", project_id=project.id, user_id="u",
                               flavor=flavor, image_id="", request_id="req-x", rng=rng)
    assert server.status() == "BUILD"
    built = ops.finish_build(state, server.id, rng)
    assert built is not None and built.status() == "ACTIVE" and built.addresses
    assert state.ports.by("device_id", server.id)
    stopped = ops.power(state, server.id, False, "req-y")
    assert stopped.status() == "SHUTOFF"
    failed = ops.set_error(state, server.id, "boom")
    assert failed is not None and failed.status() == "ERROR" and failed.fault is not None
    assert state.check_consistency() == []
    ops.delete_server(state, server.id, "req-z")
    assert not state.ports.by("device_id", server.id)
    assert state.check_consistency() == []


def test_service_state_follows_heartbeat() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    svc = r.ComputeService(id="s", legacy_id=1, binary="nova-compute", host="h", zone="nova",
                           updated_at=now, created_at=now)
    assert svc.is_up(now + timedelta(seconds=59))
    assert not svc.is_up(now + timedelta(seconds=61))
    assert not dataclasses.replace(svc, forced_down=True).is_up(now)


@dataclasses.dataclass(frozen=True)
class _Row:
    """Any record with an id and a creation time will do for a Table."""

    id: str
    created_at: int
    project_id: str


def test_paging_matches_a_sorted_list_under_any_inserts_and_deletes() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from stackwatch.sim.state import Table

    ops_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 5),
                                      st.sampled_from(["a", "b", "c"])), max_size=80)

    @settings(max_examples=150, deadline=None)
    @given(ops_strategy, st.integers(1, 9), st.booleans())
    def check(steps: list[tuple[bool, int, int, str]], limit: int, descending: bool) -> None:
        table: Table[Any] = Table("row", lambda row: (row.created_at,), ("project_id",))
        model: dict[str, _Row] = {}
        for add, i, created, project in steps:
            rid = f"id-{i:04d}"
            if add and rid not in model:
                row = _Row(rid, created, project)
                table._insert(row)
                model[rid] = row
            elif not add and rid in model:
                table._remove(model.pop(rid))
        want = sorted(model.values(), key=lambda row: (row.created_at, row.id),
                      reverse=descending)
        for where in ({}, {"project_id": "b"}):
            expected = [row.id for row in want if all(getattr(row, k) == v
                                                      for k, v in where.items())]
            got: list[str] = []
            marker = None
            while True:
                page = table.page(marker=marker, limit=limit, descending=descending,
                                  where=where)
                got.extend(row.id for row in page.items)
                if not page.more:
                    break
                marker = page.items[-1].id
            assert got == expected

    check()


def test_bigger_clouds_have_availability_zones() -> None:
    state = small(hypervisors=60, servers=120)
    zones = {s.zone for s in state.compute_services if s.binary == "nova-compute"}
    assert zones == {"az1", "az2", "az3"}
    for server in state.servers:
        if server.host:
            assert server.availability_zone == ops.zone_of(state, server.host)
            svc = state.compute_service(server.host)
            assert svc is not None and svc.zone == server.availability_zone
    assert state.check_consistency() == []
