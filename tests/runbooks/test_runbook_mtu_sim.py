"""The ``mtu`` runbook and its ``network-mtu`` fix on the simulator's mtu-misconfigured
scenario: the diagnosis names the network and what to set, the dry run shows exactly
that change and changes nothing, the fix makes the check go OK, the audit holds it, and
a network changed since the dry run is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackwatch.errors import FixRefused
from stackwatch.runbooks import fixer, registry
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.store.base import Store

from .conftest import ContextMaker

pytestmark = pytest.mark.integration

ENABLED = {"enabled": ["network-mtu"]}


def mtus(cloud: SimulatedCloud) -> dict[str, int]:
    return cloud.call(lambda s: {n.id: n.mtu for n in s.networks}, cloud.state)


@pytest.fixture
def too_big(cloud: SimulatedCloud) -> Iterator[str]:
    """A VXLAN network given MTU 1500 (its id); put back after."""
    before = mtus(cloud)
    cloud.inject("mtu-misconfigured", mtu="1500")
    changed = [i for i, m in mtus(cloud).items() if m != before[i]]
    assert len(changed) == 1
    yield changed[0]
    cloud.clear("mtu-misconfigured")


def test_the_diagnosis_names_the_network_and_the_fix_sets_it(
        cloud: SimulatedCloud, too_big: str, contexts: ContextMaker, store: Store) -> None:
    ctx = contexts(**ENABLED)
    runbook = registry.runbook("mtu")
    healthy_before = fixer.diagnose(runbook, contexts())
    assert healthy_before.verdict == "CRITICAL"
    name = cloud.call(lambda s: s.networks.get(too_big).name, cloud.state)
    assert f"{name} 1500 > 1450" in healthy_before.summary
    shown = [e for e in healthy_before.evidence if e.source.endswith(too_big)]
    assert len(shown) == 1 and "set mtu 1450" in shown[0].value
    assert "VXLAN" not in shown[0].value and "vxlan over IPv4" in shown[0].value

    before = mtus(cloud)
    fix = registry.fix("network-mtu")
    plan = fixer.dry_run(fix, ctx)
    assert [(c.target, c.action, c.before, c.after) for c in plan.changes] == [
        (f"network {too_big}", "set mtu", "1500", "1450")]
    assert mtus(cloud) == before  # the dry run changed nothing

    outcome = fixer.apply(fix, ctx)
    assert outcome.ok and [a.result for a in outcome.applied] == ["applied"]
    assert mtus(cloud)[too_big] == 1450
    assert fixer.diagnose(runbook, contexts()).verdict == "OK"
    entries = store.audit(0, ctx.now + 60, runbook="network-mtu")
    applied = [e for e in entries if not e.dry_run]
    assert [(e.target, e.before, e.after, e.result, e.actor) for e in applied] == [
        (f"network {too_big}", "1500", "1450", "applied", "alice")]
    assert any(e.dry_run and e.plan_id == plan.plan_id for e in entries)


def test_a_network_changed_since_the_dry_run_is_refused(
        cloud: SimulatedCloud, too_big: str, contexts: ContextMaker) -> None:
    ctx = contexts(**ENABLED)
    fix = registry.fix("network-mtu")
    fixer.dry_run(fix, ctx, {"network": too_big})
    cloud.inject("mtu-misconfigured", network=too_big, mtu="1480")  # someone else's change
    with pytest.raises(FixRefused, match="changed since the dry run"):
        fixer.apply(fix, ctx, {"network": too_big})
    assert mtus(cloud)[too_big] == 1480


def test_bad_arguments_are_refused_by_name(contexts: ContextMaker) -> None:
    fix = registry.fix("network-mtu")
    for args, said in (({"mtu": "big"}, "mtu='big' is not a whole number"),
                       ({"mtu": "40"}, "at least 68"),
                       ({"network": "no-such-net"}, "no network 'no-such-net'"),
                       ({"colour": "red"}, "unknown argument")):
        with pytest.raises(FixRefused, match=said):
            fixer.dry_run(fix, contexts(), args)
