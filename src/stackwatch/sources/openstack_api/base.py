"""What the six API sources share: endpoint probe, per-resource intervals, labels.

Each collection starts with the service's version document (one request):
it negotiates the microversion and is the endpoint check
(``api.endpoint``: OK when it answered correctly, CRITICAL when it did not;
slowness never makes it down) and ``openstack_<codename>_up``. Its latency
is judged apart, over several collections (``api.latency``, see
:mod:`.latency`). Bad credentials or a service missing from the catalog raise
(nothing can be looked at), but keystone not answering the token request (5xx,
refused) makes the identity source's endpoint check CRITICAL; an endpoint that does
not answer makes every resource UNKNOWN with that reason, without trying them.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, TypeVar

from stackwatch.config import HeartbeatConfig, LatencyConfig
from stackwatch.errors import SourceAuthError, SourceError
from stackwatch.model import (
    CheckResult,
    Collection,
    Item,
    Labels,
    PerfDatum,
    Sample,
    Status,
    make_labels,
)
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.openstack_api.identity_projects import Project, load_projects
from stackwatch.sources.openstack_api.latency import LatencyJudge
from stackwatch.sources.resources import ResourceSource

if TYPE_CHECKING:  # a runtime import would be circular (sql.nova imports .compute)
    from stackwatch.sources.sql.shortcuts import Shortcuts

ENDPOINT_CHECK = "api.endpoint"

T = TypeVar("T")


class ApiSource(ResourceSource):
    """Base of ``api.<service_type>`` sources."""

    service_type: ClassVar[str]   # catalog service type: "block-storage"
    codename: ClassVar[str]       # "cinder": used in openstack-exporter metric names
    #: the service databases read instead of per-provider or per-project requests
    #: (``api_sources`` sets it when the cloud has their URLs)
    shortcuts: Shortcuts | None = None

    def __init__(self, client: ApiClient, intervals: Mapping[str, float] | None = None,
                 latency: LatencyConfig | None = None,
                 heartbeat: HeartbeatConfig | None = None,
                 disabled_metrics: Sequence[str] = ()) -> None:
        super().__init__(f"api.{self.service_type.replace('-', '_')}", parallel=True)
        self.client = client
        self._disabled = tuple(disabled_metrics)
        self._wanted: dict[str, bool] = {}
        self.heartbeat = heartbeat or HeartbeatConfig()
        self._intervals = dict(intervals or {})
        #: label sets by the labels given to :meth:`sample`: this cycle's, the last one's
        self._labels: dict[tuple[tuple[str, object], ...], Labels] = {}
        self._labels_before: dict[tuple[tuple[str, object], ...], Labels] = {}
        self.latency = LatencyJudge(self.service_type, self.codename,
                                    latency or LatencyConfig())

    @property
    def region_label(self) -> str:
        return self.client.region_label

    def interval(self, resource: str, default: float = 0.0) -> float:
        """``intervals["api.compute.quotas"]`` from the config, else ``default``."""
        return self._intervals.get(f"{self.name}.{resource}", default)

    def wants(self, *names: str) -> bool:
        """Whether any of these metrics is exported (not disabled by ``disabled_metrics``)."""
        return any(self._wants(name) for name in names)

    def _wants(self, name: str) -> bool:
        wanted = self._wanted.get(name)
        if wanted is None:
            wanted = not any(fnmatch.fnmatchcase(name, p) for p in self._disabled)
            self._wanted[name] = wanted
        return wanted

    def kept(self, collection: Collection) -> Collection:
        if not self._disabled:
            return collection
        return replace(collection, samples=tuple(
            s for s in collection.samples if self._wants(s.name)))

    def sample(self, name: str, value: float, /, **labels: object) -> Sample:
        """A sample with the region label every API metric carries.

        Label sets are kept from one cycle to the next (those used in the last two):
        most of a big cloud's per-item series name the same labels every cycle, and
        sorting them anew was a tenth of a steady cycle's CPU."""
        try:
            key = tuple(labels.items())
            made = self._labels.get(key) or self._labels_before.get(key)
        except TypeError:  # a value that cannot be hashed (none today): made each time
            return Sample(name, float(value), make_labels(labels, region=self.region_label))
        if made is None:
            made = make_labels(labels, region=self.region_label)
        self._labels[key] = made
        return Sample(name, float(value), made)

    def heartbeat_age(self, updated: float | None) -> float | None:
        """Seconds since ``updated`` on the service's clock (its ``Date`` header), or on
        ours when it sent none; None when never; 0 at least (the header has whole
        seconds)."""
        if updated is None:
            return None
        now = self.client.cloud_now(self.service_type)
        return max(0.0, (time.time() if now is None else now) - updated)

    def item(self, kind: str, item_id: str, /, *, name: str = "", status: str = "",
             host: str = "", project: str = "", message: str = "",
             since: float | None = None, **attributes: object) -> Item:
        """An inventory item with the region among its attributes, as on every sample."""
        return Item(kind, item_id, name, status, host, project, message, since,
                    make_labels(attributes, region=self.region_label))

    def from_databases(self, what: str, usable: Callable[[Shortcuts], bool],
                       by_sql: Callable[[Shortcuts], T], by_api: Callable[[], T]) -> T:
        """``by_sql`` over the cloud's databases when they hold what it reads (``usable``),
        else ``by_api()``; ``by_api()`` too when they fail (why logged once:
        :meth:`Shortcuts.read`)."""
        shortcuts = self.shortcuts
        if shortcuts is None or not usable(shortcuts):
            return by_api()
        found: Shortcuts = shortcuts
        return found.read(what, lambda: by_sql(found), by_api)

    def per_project(self, resource: str, read: Callable[[Project], T]
                    ) -> tuple[list[T], tuple[CheckResult, ...]]:
        """``read`` every project in parallel (no bulk API): what could be read, and an
        UNKNOWN ``stackwatch.partial`` check when some projects could not; raise when none."""
        projects = load_projects(self.client)
        results = self.client.map(read, projects)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0]
        checks: tuple[CheckResult, ...] = ()
        if errors:
            checks = (CheckResult(
                "stackwatch.partial", Status.UNKNOWN,
                f"{self.name} {resource}: {len(errors)} of {len(results)} projects could not "
                f"be read, first: {errors[0]}",
                make_labels(source=self.name, resource=resource, region=self.region_label)),)
        return [r for r in results if not isinstance(r, BaseException)], checks

    def prepare(self) -> tuple[Collection, SourceError | None]:
        # A new cycle reads afresh what this source shares (servers, providers, projects).
        self.client.forget(f"{self.service_type}.")
        self._labels_before, self._labels = self._labels, {}
        labels = {"service": self.codename, "service_type": self.service_type,
                  "region": self.region_label}
        up = f"openstack_{self.codename}_up"
        try:
            self.client.catalog_url(self.service_type)  # raises when auth or catalog fail
        except SourceAuthError:
            raise
        except SourceError as exc:
            if self.service_type != "identity":
                raise
            # keystone itself not answering the token request (5xx, refused, timeout):
            # its endpoint is down, which is what explains the other sources failing
            check = CheckResult(ENDPOINT_CHECK, Status.CRITICAL,
                                f"{self.codename} API unusable: {exc}", make_labels(labels))
            return Collection((self.sample(up, 0),), (check,)), exc
        try:
            endpoint = self.client.endpoint(self.service_type, refresh=True)
        except SourceAuthError:
            raise
        except SourceError as exc:
            check = CheckResult(ENDPOINT_CHECK, Status.CRITICAL,
                                f"{self.codename} API unusable: {exc}", make_labels(labels))
            return Collection((self.sample(up, 0),), (check,)), exc
        latency = endpoint.latency
        version = (f", microversion {endpoint.microversion[0]}.{endpoint.microversion[1]}"
                   if endpoint.microversion else "")
        # It answered correctly: up, however long it took (slowness is api.latency's).
        check = CheckResult(
            ENDPOINT_CHECK, Status.OK,
            f"{self.codename} API answers HTTP {endpoint.status} in {latency * 1000:.0f} ms"
            f"{version}",
            make_labels(labels),
            (PerfDatum("latency", round(latency, 4), "s", minimum=0),),
        )
        slow = self.latency.add(latency, self.region_label)
        samples = (
            self.sample(up, 1),
            self.sample("openstack_api_endpoint_latency_seconds", latency,
                        service=self.codename),
            self.sample("openstack_api_endpoint_status_code", endpoint.status,
                        service=self.codename),
        )
        return Collection(samples, (check,) if slow is None else (check, slow)), None
