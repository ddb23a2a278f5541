"""Every endpoint of the REST API, by group. A new group is one line here."""

from __future__ import annotations

from stackwatch.web.api import alarms, audit, core, ingest, inventory, logs, nodes, review
from stackwatch.web.api.endpoint import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *core.ENDPOINTS,
    *inventory.ENDPOINTS,
    *review.ENDPOINTS,
    *logs.ENDPOINTS,
    *nodes.ENDPOINTS,
    *ingest.ENDPOINTS,
    *audit.ENDPOINTS,
    *alarms.ENDPOINTS,
)
