"""The safety of every fix (stackwatch.runbooks.fixer), shown with ``l3-failover`` on the
simulator: the dry run changes nothing and is audited; applying needs the fix enabled,
an operator, a recent dry run and unchanged targets, and refuses with a reason,
changing nothing, otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackwatch.errors import FixRefused
from stackwatch.runbooks import fixer, registry
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.base import Store

from .conftest import READER, ContextMaker

pytestmark = pytest.mark.integration

ENABLED = {"enabled": ["l3-failover"]}


def bindings(cloud: SimulatedCloud) -> dict[str, set[str]]:
    """Router id -> the ids of the agents hosting it, from the ground truth."""
    def read(state: object) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for b in state.router_bindings:  # type: ignore[attr-defined]
            out.setdefault(b.router_id, set()).add(b.l3_agent_id)
        return out
    return cloud.call(read, cloud.state)


def dead_agent(cloud: SimulatedCloud) -> str:
    return cloud.call(lambda s: next(iter(s.silent_services)), cloud.state)


@pytest.fixture
def l3_dead(cloud: SimulatedCloud) -> Iterator[str]:
    """An L3 agent dead with routers on it (its id); the routers put back after."""
    before = bindings(cloud)
    cloud.inject("l3-agent-dead")
    yield dead_agent(cloud)
    cloud.clear("l3-agent-dead")

    def restore(state: object) -> None:
        for binding in list(state.router_bindings):  # type: ignore[attr-defined]
            state.delete("router_binding", binding.id)  # type: ignore[attr-defined]
        from stackwatch.sim import records as r
        for router, agents in before.items():
            for index, agent in enumerate(sorted(agents), 1):
                state.add(r.RouterBinding(f"{router}:{agent}", router, agent, index))  # type: ignore[attr-defined]
    cloud.call(restore, cloud.state)


def test_the_registry_finds_each_runbook_by_name_or_fix() -> None:
    assert registry.runbook("l3-failover").name == "l3-failover"
    assert registry.fix("l3-failover").fix == "l3-failover"
    with pytest.raises(FixRefused, match="no fix named 'nope'"):
        registry.fix("nope")


def test_a_dry_run_changes_nothing_and_is_audited(cloud: SimulatedCloud, l3_dead: str,
                                                  contexts: ContextMaker, store: Store) -> None:
    before = bindings(cloud)
    stranded = {r for r, agents in before.items() if agents == {l3_dead}}
    assert stranded
    ctx = contexts()  # the fix not even enabled: a dry run needs nothing
    plan = fixer.dry_run(registry.fix("l3-failover"), ctx)
    assert {c.target for c in plan.changes} == stranded
    assert all(c.before.endswith(l3_dead) and not c.after.endswith(l3_dead)
               for c in plan.changes)
    assert any("not enabled" in n for n in plan.notes)
    assert bindings(cloud) == before
    entries = store.audit(0, ctx.now + 60, plan_id=plan.plan_id)
    assert {e.target for e in entries} == stranded
    assert all(e.dry_run and e.result == "dry run" and e.actor == "alice" for e in entries)


@pytest.mark.parametrize("case", ["not enabled", "not an operator", "no dry run",
                                  "changed since the dry run"])
def test_refusals_say_why_change_nothing_and_are_audited(
        case: str, cloud: SimulatedCloud, l3_dead: str, contexts: ContextMaker,
        store: Store) -> None:
    fix = registry.fix("l3-failover")
    ctx = contexts(READER, **ENABLED) if case == "not an operator" else \
        contexts(**({} if case == "not enabled" else ENABLED))
    if case != "no dry run":
        fixer.dry_run(fix, contexts(**ENABLED))
    if case == "changed since the dry run":
        # someone moves one stranded router by hand after the dry run
        router = next(r for r, a in bindings(cloud).items() if a == {l3_dead})
        live = cloud.call(lambda s: next(a.id for a in s.agents if a.agent_type == "L3 agent"
                                         and a.id != l3_dead), cloud.state)
        ctx.client.send("DELETE", "network", f"v2.0/agents/{l3_dead}/l3-routers/{router}")
        ctx.client.send("POST", "network", f"v2.0/agents/{live}/l3-routers",
                        {"router_id": router})
    before = bindings(cloud)
    with pytest.raises(FixRefused) as refused:
        fixer.apply(fix, ctx)
    words = {"not enabled": "is not enabled: add it to fixes.enabled",
             "not an operator": "bob has the read role",
             "no dry run": "no dry run of l3-failover",
             "changed since the dry run": "its targets changed since the dry run"}[case]
    assert words in str(refused.value)
    assert bindings(cloud) == before
    [entry] = [e for e in store.audit(0, ctx.now + 60) if not e.dry_run]
    assert entry.result.startswith("refused: ") and words in entry.result


def test_apply_moves_the_routers_checks_them_and_audits(
        cloud: SimulatedCloud, l3_dead: str, contexts: ContextMaker, store: Store) -> None:
    fix = registry.fix("l3-failover")
    assert fixer.diagnose(fix, contexts()).verdict == "CRITICAL"
    plan = fixer.dry_run(fix, contexts(**ENABLED))
    outcome = fixer.apply(fix, contexts(**ENABLED))
    assert outcome.ok and outcome.plan.plan_id == plan.plan_id
    assert [a.change for a in outcome.applied] == plan.changes
    after = bindings(cloud)
    for change in plan.changes:
        assert after[change.target] == {change.after.rsplit(" ", 1)[1]}
    diagnosis = fixer.diagnose(fix, contexts())
    assert diagnosis.verdict == "OK", diagnosis  # the agent is still dead, but strands none
    assert "no router stranded" in diagnosis.summary
    applied = [e for e in store.audit(0, plan.plan_id and contexts().now + 60,
                                      plan_id=plan.plan_id) if not e.dry_run]
    assert len(applied) == len(plan.changes)
    assert all(e.result == "applied" and e.actor == "alice" and e.before and e.after
               for e in applied)
    # a second application of the same dry run: its targets have moved since
    with pytest.raises(FixRefused, match="changed since the dry run"):
        fixer.apply(fix, contexts(**ENABLED), plan_id=plan.plan_id)
