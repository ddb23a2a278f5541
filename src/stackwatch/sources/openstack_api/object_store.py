"""``api.object_store``: swift usage of the monitor's account: per container
(openstack-exporter's ``object_store`` metrics) and in total (stackwatch's own).

Calls per collection: the account listing ``GET /v1/AUTH_<project>?format=json``
ceil(N/10000) (swift's ``container_listing_limit``; a JSON array, paged by ``marker``).
The totals are the listing's sums (the account's ``X-Account-*`` headers say the same,
as eventually consistent).
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.optional import OptionalApiSource
from stackwatch.sources.resources import Resource

PAGE = 10000


class ObjectStoreSource(OptionalApiSource):
    """Swift through its API."""

    service_type = "object-store"
    codename = "object_store"  # openstack-exporter's name

    def readers(self) -> Sequence[Resource]:
        return (Resource("containers", self.containers, self.interval("containers")),)

    def containers(self) -> Collection:
        what = "swift containers"
        account = self.client.endpoint("object-store").url
        samples = []
        objects = size = 0.0
        containers = list(self.client.list_array("object-store", account, "name",
                                                 params={"format": "json"}, page_size=PAGE))
        for c in containers:
            name = f.text(c, "name", what)
            count, used = f.number(c, "count", what, 0.0), f.number(c, "bytes", what, 0.0)
            objects, size = objects + count, size + used
            samples += [self.metric("objects", count, container_name=name),
                        self.metric("bytes", used, container_name=name)]
        samples += [self.sample("openstack_swift_account_containers", len(containers)),
                    self.sample("openstack_swift_account_objects", objects),
                    self.sample("openstack_swift_account_bytes", size)]
        return Collection(tuple(samples))
