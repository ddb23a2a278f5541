"""The capacity, compute, network and storage pages."""

from __future__ import annotations

from pydantic import Field, field_validator

from stackwatch.query import capacity, compute, network, storage
from stackwatch.query.times import range_seconds
from stackwatch.web.pages.page import PageSpec, RangeParams


class CapacityParams(RangeParams):
    hosts: int = Field(capacity.HOSTS_SHOWN, ge=0, le=100000,
                       description="hosts listed, fullest first (0: all)")


class StorageParams(RangeParams):
    stuck: str = Field("30m", description="out of a resting status longer than this, a "
                                          "volume or snapshot is stuck: 10m, 2h, 1d...")

    @field_validator("stuck")
    @classmethod
    def _duration(cls, value: str) -> str:
        range_seconds(value)
        return value


PAGES = (
    PageSpec("/capacity", "capacity.html", "Capacity",
             lambda ctx, p: capacity.capacity_page(ctx, p.seconds, p.hosts), CapacityParams,
             nav="Capacity", key="a"),
    PageSpec("/compute", "compute.html", "Compute",
             lambda ctx, p: compute.compute_page(ctx, p.seconds), nav="Compute", key="c"),
    PageSpec("/network", "network.html", "Network",
             lambda ctx, p: network.network_page(ctx, p.seconds), nav="Network", key="n"),
    PageSpec("/storage", "storage.html", "Storage",
             lambda ctx, p: storage.storage_page(ctx, p.seconds, range_seconds(p.stuck)),
             StorageParams, nav="Storage", key="s"),
)
