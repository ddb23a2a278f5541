"""``api.orchestration``: heat stacks by status (openstack-exporter's ``heat`` metrics).

Calls per collection: ``/stacks?global_tenant=True`` ceil(N/100) (heat's
``max_stacks_per_page`` is 100; it pages with a ``links`` next link). ``global_tenant``
(admin) lists every project's stacks, where openstack-exporter lists the monitor
project's only.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api.optional import OptionalApiSource, label_text, status_index
from stackwatch.sources.resources import Resource

#: openstack-exporter's stack statuses, in its order (the gauge's value is the position).
STACK_STATUSES = tuple(f"{action}_{state}" for action in (
    "INIT", "CREATE", "DELETE", "UPDATE", "ROLLBACK", "SUSPEND", "RESUME", "ADOPT",
    "SNAPSHOT", "CHECK") for state in ("IN_PROGRESS", "FAILED", "COMPLETE"))


class OrchestrationSource(OptionalApiSource):
    """Heat through its API."""

    service_type = "orchestration"
    codename = "heat"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("stacks", self.stacks, self.interval("stacks")),)

    def stacks(self) -> Collection:
        stacks = list(self.client.list_all("orchestration", "stacks", "stacks",
                                           params={"global_tenant": "True"}, page_size=100))
        samples = []
        for s in stacks:
            status = label_text(s.get("stack_status"))
            samples.append(self.metric(
                "stack_status", status_index(STACK_STATUSES, status), id=label_text(s.get("id")),
                name=label_text(s.get("stack_name")), project_id=label_text(s.get("project")),
                status=status))
        samples += self.counter("stack_status_counter", STACK_STATUSES,
                                (label_text(s.get("stack_status")) for s in stacks))
        return Collection(tuple(samples))
