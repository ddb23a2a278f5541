"""``api.metric``: gnocchi's backlog of measures and its size (openstack-exporter's
``gnocchi`` metrics, and ``total_resources``).

Calls per collection: ``/v1/status?details=true`` (one), ``/v1/metric`` and
``/v1/resource/generic`` ceil(N/1000) each (``max_limit``; JSON arrays, paged by
``marker``).
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.errors import InvalidResponse
from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.optional import OptionalApiSource
from stackwatch.sources.resources import Resource


class MetricSource(OptionalApiSource):
    """Gnocchi through its API."""

    service_type = "metric"
    codename = "gnocchi"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("status", self.status, self.interval("status")),
                Resource("metrics", self.metrics, self.interval("metrics")),
                Resource("resources", self.resources_count, self.interval("resources")))

    def status(self) -> Collection:
        what = "gnocchi status"
        body = self.client.get("metric", "v1/status", params={"details": "true"})
        summary = f.obj(f.obj(body, "storage", what), "summary", what)
        processors = f.obj(body, "metricd", what).get("processors")
        if processors is not None and not isinstance(processors, list):
            raise InvalidResponse(f"{what}: metricd.processors is not a list")
        return Collection((
            self.metric("status_metricd_processors", len(processors or ())),
            self.metric("status_metric_having_measures_to_process",
                        f.number(summary, "metrics", what)),
            self.metric("status_measures_to_process", f.number(summary, "measures", what)),
        ))

    def metrics(self) -> Collection:
        total = sum(1 for _ in self.client.list_array("metric", "v1/metric", "id"))
        return Collection((self.metric("total_metrics", total),))

    def resources_count(self) -> Collection:
        total = sum(1 for _ in self.client.list_array("metric", "v1/resource/generic", "id"))
        return Collection((self.metric("total_resources", total),))
