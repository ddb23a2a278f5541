"""``api.orchestration``: heat stacks by status (openstack-exporter's ``heat`` metrics).

Calls per collection: ``/stacks?global_tenant=True`` ceil(N/100) (heat's
``max_stacks_per_page`` is 100; it pages with a ``links`` next link). ``global_tenant``
lists every project's stacks, where openstack-exporter lists the monitor project's only.
A stock heat forbids that to everyone (policy ``stacks:global_index`` is
``deny_everybody``): on its 403 the plain listing is read instead (one more call), as
openstack-exporter reads it, and the change is logged once. Heat scopes that listing to
the token's project, unless the token is an admin's (heat's ``context_is_admin``): then
it holds every project's stacks too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from stackwatch.errors import SourceForbidden
from stackwatch.model import Collection
from stackwatch.sources.openstack_api.optional import OptionalApiSource, label_text, status_index
from stackwatch.sources.resources import Resource

log = logging.getLogger(__name__)

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

    #: whether heat let the monitor list every project's stacks at the last collection
    every_project = True

    def _list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return list(self.client.list_all("orchestration", "stacks", "stacks", params=params,
                                         page_size=100))

    def stacks(self) -> Collection:
        try:
            stacks, every_project = self._list({"global_tenant": "True"}), True
        except SourceForbidden as exc:
            stacks, every_project = self._list({}), False
            if self.every_project:
                log.warning("%s: heat's policy does not allow listing every project's "
                            "stacks (stacks:global_index); reading the plain listing, "
                            "the monitor project's only unless it is an admin: %s",
                            self.name, exc)
        if every_project and not self.every_project:
            log.warning("%s: heat now lists every project's stacks", self.name)
        self.every_project = every_project
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
