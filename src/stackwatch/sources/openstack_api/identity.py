"""``api.identity``: keystone users, projects, domains, regions.

Calls per collection: ``/v3/users``, ``/v3/projects``, ``/v3/domains``,
``/v3/regions``, one each (keystone returns whole lists; a deployment's
``list_limit`` truncates them, which the answer flags and we report).
The project list is shared with the quota resources of ``api.compute`` and
``api.block_storage``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.identity_projects import load_projects, whole_list
from stackwatch.sources.resources import Resource


class IdentitySource(ApiSource):
    """Keystone through its API."""

    service_type = "identity"
    codename = "identity"

    def resources(self) -> Sequence[Resource]:
        return (
            Resource("users", self.users, self.interval("users")),
            Resource("projects", self.projects, self.interval("projects")),
            Resource("domains", self.domains, self.interval("domains", 300)),
            Resource("regions", self.regions, self.interval("regions", 300)),
        )

    def users(self) -> Collection:
        rows = whole_list(self.client, "users", "users")
        return Collection((self.sample("openstack_identity_users", len(rows)),))

    def projects(self) -> Collection:
        projects = load_projects(self.client)
        enabled = sum(1 for p in projects if p.enabled)
        return Collection((self.sample("openstack_identity_projects", len(projects)),
                           self.sample("openstack_identity_projects_enabled", enabled)))

    def domains(self) -> Collection:
        rows = whole_list(self.client, "domains", "domains")
        return Collection((self.sample("openstack_identity_domains", len(rows)),))

    def regions(self) -> Collection:
        rows = whole_list(self.client, "regions", "regions")
        return Collection((self.sample("openstack_identity_regions", len(rows)),))
