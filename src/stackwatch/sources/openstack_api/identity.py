"""``api.identity``: keystone users, groups, projects, domains, regions.

Calls per collection: ``/v3/users``, ``/v3/groups``, ``/v3/projects``, ``/v3/domains``,
``/v3/regions``, one each (keystone returns whole lists; a deployment's
``list_limit`` truncates them, which the answer flags and we report).
The project list is shared with the quota resources of ``api.compute`` and
``api.block_storage``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
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
            Resource("groups", self.groups, self.interval("groups", 300)),
            Resource("projects", self.projects, self.interval("projects")),
            Resource("domains", self.domains, self.interval("domains", 300)),
            Resource("regions", self.regions, self.interval("regions", 300)),
        )

    def users(self) -> Collection:
        rows = whole_list(self.client, "users", "users")
        return Collection((self.sample("openstack_identity_users", len(rows)),))

    def groups(self) -> Collection:
        rows = whole_list(self.client, "groups", "groups")
        return Collection((self.sample("openstack_identity_groups", len(rows)),))

    def projects(self) -> Collection:
        projects = load_projects(self.client)
        enabled = sum(1 for p in projects if p.enabled)
        # openstack-exporter's info series, one per project, booleans as Go writes them
        info = [self.sample("openstack_identity_project_info", 1, is_domain="false",
                            description=p.description, domain_id=p.domain_id,
                            enabled=_go_bool(p.enabled), id=p.id, name=p.name,
                            parent_id=p.parent_id, tags=",".join(p.tags)) for p in projects]
        return Collection((self.sample("openstack_identity_projects", len(projects)),
                           self.sample("openstack_identity_projects_enabled", enabled),
                           *info))

    def domains(self) -> Collection:
        rows = whole_list(self.client, "domains", "domains")
        what = "keystone domains"
        info = [self.sample("openstack_identity_domain_info", 1,
                            description=f.text(d, "description", what, ""),
                            enabled=_go_bool(f.flag(d, "enabled", what, True)),
                            id=f.text(d, "id", what), name=f.text(d, "name", what))
                for d in rows]
        return Collection((self.sample("openstack_identity_domains", len(rows)), *info))

    def regions(self) -> Collection:
        rows = whole_list(self.client, "regions", "regions")
        return Collection((self.sample("openstack_identity_regions", len(rows)),))


def _go_bool(value: bool) -> str:
    """A boolean label value as openstack-exporter writes it (Go's FormatBool)."""
    return "true" if value else "false"
