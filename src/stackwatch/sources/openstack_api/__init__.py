"""OpenStack API sources: one module per service type, one shared client per cloud.

``api_sources(cloud, intervals)`` builds the sources of one cloud around
one :class:`ApiClient` (one token, one bounded connection pool): the six every cloud has::

    api.identity  api.compute  api.placement  api.network  api.image  api.block_storage

and those of the services a cloud may run, each watched only while the catalog lists
it (:mod:`.optional`)::

    api.orchestration (heat)  api.load_balancer (octavia)  api.baremetal (ironic)
    api.dns (designate)  api.shared_file_system (manila)
    api.container_infrastructure_management (magnum)  api.database (trove)
    api.metric (gnocchi)  api.object_store (swift)
"""

from __future__ import annotations

from collections.abc import Mapping

from stackwatch.config import CloudConfig
from stackwatch.sources.openstack_api.baremetal import BaremetalSource
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.openstack_api.container_infra import ContainerInfraSource
from stackwatch.sources.openstack_api.database import DatabaseSource
from stackwatch.sources.openstack_api.dns import DnsSource
from stackwatch.sources.openstack_api.identity import IdentitySource
from stackwatch.sources.openstack_api.image import ImageSource
from stackwatch.sources.openstack_api.load_balancer import LoadBalancerSource
from stackwatch.sources.openstack_api.metric import MetricSource
from stackwatch.sources.openstack_api.network import NetworkSource
from stackwatch.sources.openstack_api.object_store import ObjectStoreSource
from stackwatch.sources.openstack_api.optional import OptionalApiSource
from stackwatch.sources.openstack_api.orchestration import OrchestrationSource
from stackwatch.sources.openstack_api.placement import PlacementSource
from stackwatch.sources.openstack_api.shared_file_system import SharedFileSystemSource

SOURCE_CLASSES: tuple[type[ApiSource], ...] = (
    IdentitySource, ComputeSource, PlacementSource, NetworkSource, ImageSource,
    BlockStorageSource,
)
#: The services a cloud may run: watched only while the catalog lists them.
OPTIONAL_SOURCE_CLASSES: tuple[type[OptionalApiSource], ...] = (
    OrchestrationSource, LoadBalancerSource, BaremetalSource, DnsSource,
    SharedFileSystemSource, ContainerInfraSource, DatabaseSource, MetricSource,
    ObjectStoreSource,
)


def client_for(cloud: CloudConfig) -> ApiClient:
    """The shared client of one cloud of ``stackwatch.yaml``."""
    return ApiClient(cloud.name, clouds_yaml=cloud.clouds_yaml, region=cloud.region,
                     timeout=cloud.api_timeout, concurrency=cloud.api_concurrency,
                     verify_tls=cloud.verify_tls)


def api_sources(cloud: CloudConfig, intervals: Mapping[str, float] | None = None,
                client: ApiClient | None = None) -> list[ApiSource]:
    """The API sources of one cloud (the six, then the optional ones), sharing one client.

    ``intervals`` is ``Config.intervals``; keys like ``api.compute.quotas``
    set a resource's own interval. The cloud's ``databases``, when it has them, spare
    the per-provider and per-project requests (:mod:`stackwatch.sources.sql.shortcuts`).
    """
    shared = client or client_for(cloud)
    off = cloud.disabled_metrics
    sources = [ComputeSource(shared, intervals, cloud.latency, cloud.heartbeat,
                             cloud.lifecycle, off)
               if cls is ComputeSource else cls(shared, intervals, cloud.latency, cloud.heartbeat,
                                                off)
               for cls in SOURCE_CLASSES]
    sources += [cls(shared, intervals, cloud.latency, cloud.heartbeat, off)
                for cls in OPTIONAL_SOURCE_CLASSES]
    if cloud.databases:
        from stackwatch.sources.sql.shortcuts import Shortcuts
        # placement's providers, nova's and cinder's quotas: a few queries instead of a
        # request per provider or project (sources/sql/shortcuts.py)
        shortcuts = Shortcuts(cloud.databases, cloud.sql_timeout)
        for source in sources:
            source.shortcuts = shortcuts
    return sources


__all__ = ["OPTIONAL_SOURCE_CLASSES", "SOURCE_CLASSES", "ApiClient", "ApiSource",
           "OptionalApiSource", "api_sources", "client_for"]
