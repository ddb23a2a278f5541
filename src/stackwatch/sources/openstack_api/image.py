"""``api.image``: glance images by status, their total size, and each image's size and age.

Calls per collection: ``/v2/images`` ceil(N/1000) (glance's ``api_limit_max``
is 1000; it always paginates, with a ``next`` link).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.resources import Resource


@dataclass(frozen=True, slots=True)
class Image:
    """What stackwatch keeps of an image."""

    status: str
    size: float
    id: str = ""
    name: str = ""
    owner: str = ""
    visibility: str = ""
    hidden: bool = False
    created: float | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Image:
        what = "glance images"
        return cls(f.text(d, "status", what, ""), f.number(d, "size", what, 0.0),
                   f.text(d, "id", what, ""), f.text(d, "name", what, ""),
                   f.text(d, "owner", what, ""), f.text(d, "visibility", what, ""),
                   f.flag(d, "os_hidden", what, False), f.timestamp(d, "created_at", what))


class ImageSource(ApiSource):
    """Glance through its API."""

    service_type = "image"
    codename = "glance"

    def resources(self) -> Sequence[Resource]:
        return (Resource("images", self.images, self.interval("images")),)

    def images(self) -> Collection:
        # visibility=all: every image an admin can see, community and shared ones included.
        images = [Image.from_api(i) for i in self.client.list_all(
            "image", "v2/images", "images", params={"visibility": "all"})]
        counts = Counter(i.status for i in images)
        sizes: defaultdict[str, float] = defaultdict(float)
        for i in images:
            sizes[i.status] += i.size
        samples = [self.sample("openstack_glance_images", len(images))]
        samples += [self.sample("openstack_glance_images_by_status", n, status=st)
                    for st, n in sorted(counts.items())]
        samples += [self.sample("openstack_glance_images_size_bytes", sizes[st], status=st)
                    for st in sorted(counts)]
        # openstack-exporter's per-image series (its owner as tenant_id)
        for i in images:
            samples.append(self.sample("openstack_glance_image_bytes", i.size, id=i.id,
                                       name=i.name, tenant_id=i.owner))
            if i.created is not None:
                samples.append(self.sample(
                    "openstack_glance_image_created_at", i.created, id=i.id, name=i.name,
                    tenant_id=i.owner, visibility=i.visibility,
                    hidden="true" if i.hidden else "false", status=i.status))
        return Collection(tuple(samples))
