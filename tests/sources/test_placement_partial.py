"""Placement's fan-out cut short at the deadline: the providers read are delivered, the
others counted in a ``stackwatch.partial`` check; inventories read are kept for the next
run, which reads only what is missing (simulated cloud, real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch import deadline as deadlines
from stackwatch.model import Status
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.base import PARTIAL_CHECK
from stackwatch.sources.openstack_api import ApiClient
from stackwatch.sources.openstack_api.placement import PlacementSource

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path, size="small", life=False, databases=False) as sim:
        yield sim


def test_providers_read_before_the_deadline_are_delivered_and_kept(
        cloud: SimulatedCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    client = ApiClient("stackwatch-sim", clouds_yaml=cloud.clouds_yaml, timeout=5,
                       concurrency=1)  # one lane: items are taken one after the other
    source = PlacementSource(client)
    try:
        providers = list(cloud.state.resource_providers)
        total = len(providers)
        measured = {rp.name for rp in providers if rp.inventories}  # nested ones have none
        assert total >= 4 and measured
        taken = {"n": 0}

        def after_three() -> bool:  # the deadline passes once three items were taken
            taken["n"] += 1
            return taken["n"] > 3

        monkeypatch.setattr(deadlines, "passed", after_three)
        first = source.collect_until(time.monotonic() + 60)
        monkeypatch.undo()
        hosts = {s.label("hostname") for s in first.samples
                 if s.name == "openstack_placement_resource_total"}
        assert hosts and hosts < measured, "the providers read whole are delivered"
        [partial] = [c for c in first.checks if c.name == PARTIAL_CHECK]
        assert partial.status is Status.UNKNOWN
        assert f"{total - 3} of {total} resource providers could not be read" in partial.message
        assert "deadline" in partial.message
        assert [s.value for s in first.samples
                if s.name == "openstack_placement_resource_providers"] == [total]

        calls = client.calls
        time.sleep(0.1)
        client.forget("placement.")  # a new cycle (prepare() does the same)
        second = source.collect()
        hosts = {s.label("hostname") for s in second.samples
                 if s.name == "openstack_placement_resource_total"}
        assert hosts == measured
        assert not [c for c in second.checks if c.name == PARTIAL_CHECK]
        # version document, provider list, the missing inventories, every usage; and the
        # allocations of every provider (the first run's had none read by the deadline)
        assert client.calls - calls == 2 + (total - 3) + total + total
    finally:
        client.close()
