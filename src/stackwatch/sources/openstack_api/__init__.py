"""OpenStack API sources: one module per service type, one shared client per cloud.

``api_sources(cloud, intervals)`` builds the six sources of one cloud around
one :class:`ApiClient` (one token, one bounded connection pool)::

    api.identity  api.compute  api.placement  api.network  api.image  api.block_storage
"""

from __future__ import annotations

from collections.abc import Mapping

from stackwatch.config import CloudConfig
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.block_storage import BlockStorageSource
from stackwatch.sources.openstack_api.client import ApiClient
from stackwatch.sources.openstack_api.compute import ComputeSource
from stackwatch.sources.openstack_api.identity import IdentitySource
from stackwatch.sources.openstack_api.image import ImageSource
from stackwatch.sources.openstack_api.network import NetworkSource
from stackwatch.sources.openstack_api.placement import PlacementSource

SOURCE_CLASSES: tuple[type[ApiSource], ...] = (
    IdentitySource, ComputeSource, PlacementSource, NetworkSource, ImageSource,
    BlockStorageSource,
)


def client_for(cloud: CloudConfig) -> ApiClient:
    """The shared client of one cloud of ``stackwatch.yaml``."""
    return ApiClient(cloud.name, clouds_yaml=cloud.clouds_yaml, region=cloud.region,
                     timeout=cloud.api_timeout, concurrency=cloud.api_concurrency,
                     verify_tls=cloud.verify_tls)


def api_sources(cloud: CloudConfig, intervals: Mapping[str, float] | None = None,
                client: ApiClient | None = None) -> list[ApiSource]:
    """The six API sources of one cloud, sharing one client.

    ``intervals`` is ``Config.intervals``; keys like ``api.compute.quotas``
    set a resource's own interval.
    """
    shared = client or client_for(cloud)
    off = cloud.disabled_metrics
    return [ComputeSource(shared, intervals, cloud.latency, cloud.heartbeat, cloud.lifecycle,
                          off)
            if cls is ComputeSource else cls(shared, intervals, cloud.latency, cloud.heartbeat,
                                             off)
            for cls in SOURCE_CLASSES]


__all__ = ["SOURCE_CLASSES", "ApiClient", "ApiSource", "api_sources", "client_for"]
