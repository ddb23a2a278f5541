"""``compute-maintenance`` on the simulator: the dry run says what disabling a host
means (its instances, whether they can move, room elsewhere) and changes nothing; the
fix disables it with the reason through os-services and enables it again after the
after-work checks; the diagnosis names the host and reason between; the audit log
holds both actions."""

from __future__ import annotations

import pytest

from stackwatch.errors import FixRefused
from stackwatch.runbooks import fixer, registry
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.base import Store

from .conftest import READER, ContextMaker

pytestmark = pytest.mark.integration

ENABLED = {"enabled": ["compute-maintenance"]}
REASON = "maintenance: DIMM replacement"


def nova_compute(cloud: SimulatedCloud, host: str) -> tuple[bool, str | None]:
    def read(state: object) -> tuple[bool, str | None]:
        svc = state.compute_service(host, "nova-compute")  # type: ignore[attr-defined]
        return svc.disabled, svc.disabled_reason
    return cloud.call(read, cloud.state)


def busy_host(cloud: SimulatedCloud) -> tuple[str, int]:
    """The compute host with the most servers and none in ERROR, and how many."""
    def read(state: object) -> tuple[str, int]:
        counts: dict[str, int] = {}
        broken = set()
        for s in state.servers:  # type: ignore[attr-defined]
            if s.host:
                counts[s.host] = counts.get(s.host, 0) + 1
                if s.vm_state == "error":
                    broken.add(s.host)
        return max(((h, n) for h, n in counts.items() if h not in broken),
                   key=lambda kv: (kv[1], kv[0]))
    return cloud.call(read, cloud.state)


def test_disable_for_maintenance_and_enable_again(cloud: SimulatedCloud, contexts: ContextMaker,
                                                  store: Store) -> None:
    host, count = busy_host(cloud)
    fix = registry.fix("compute-maintenance")
    ctx = contexts(**ENABLED)
    assert fixer.diagnose(fix, ctx).verdict == "OK"
    try:
        plan = fixer.dry_run(fix, ctx, {"host": host, "reason": REASON})
        assert [(c.action, c.target, c.before, c.after) for c in plan.changes] == [
            ("disable", f"nova-compute {host}", "enabled", f"disabled: {REASON}")]
        assert plan.notes[0].startswith(f"{count} instance(s) on {host}: ")
        assert any(n.startswith("room elsewhere: yes") for n in plan.notes), plan.notes
        assert nova_compute(cloud, host) == (False, None)  # nothing changed yet

        done = fixer.apply(fix, ctx, {"host": host, "reason": REASON})
        assert done.ok, done.applied
        assert nova_compute(cloud, host) == (True, REASON)
        between = fixer.diagnose(fix, contexts())
        assert between.verdict == "WARNING" and host in between.summary
        assert any(e.label == f"{host} disabled" and e.value.startswith(REASON)
                   for e in between.evidence)

        back = fixer.dry_run(fix, ctx, {"host": host, "enable": "yes"})
        assert [(c.action, c.before, c.after) for c in back.changes] == [
            ("enable", f"disabled: {REASON}", "enabled")]
        assert f"after-work check: {host} service: ok: nova-compute is up" in back.notes
        assert any(n.startswith(f"after-work check: {host} instances: ok: ")
                   for n in back.notes), back.notes
        assert fixer.apply(fix, ctx, {"host": host, "enable": "yes"}).ok
        assert nova_compute(cloud, host) == (False, None)
        assert fixer.diagnose(fix, contexts()).verdict == "OK"
    finally:
        cloud.call(lambda s: s.update("compute_service",
                                      s.compute_service(host, "nova-compute").id,
                                      disabled=False, disabled_reason=None), cloud.state)
    applied = [(e.action, e.after, e.result) for e in
               store.audit(0, ctx.now + 600, runbook="compute-maintenance") if not e.dry_run]
    assert sorted(applied) == [("disable", f"disabled: {REASON}", "applied"),
                               ("enable", "enabled", "applied")]


def test_refusals(cloud: SimulatedCloud, contexts: ContextMaker) -> None:
    fix = registry.fix("compute-maintenance")
    host, _ = busy_host(cloud)
    with pytest.raises(FixRefused, match="reason=TEXT is required"):
        fixer.dry_run(fix, contexts(), {"host": host})
    with pytest.raises(FixRefused, match="no nova-compute service on host 'nowhere'"):
        fixer.dry_run(fix, contexts(), {"host": "nowhere", "reason": REASON})
    fixer.dry_run(fix, contexts(READER, **ENABLED), {"host": host, "reason": REASON})
    with pytest.raises(FixRefused, match="needs an operator"):
        fixer.apply(fix, contexts(READER, **ENABLED), {"host": host, "reason": REASON})
    assert nova_compute(cloud, host) == (False, None)
