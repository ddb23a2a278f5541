"""``api.identity``: keystone users, projects, domains, regions.

Calls per collection: ``/v3/users``, ``/v3/projects``, ``/v3/domains``,
``/v3/regions``, one each (keystone returns whole lists; a deployment's
``list_limit`` truncates them, which the answer flags and we report).
The project list is shared with the quota resources of ``api.compute`` and
``api.block_storage``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackwatch.model import Collection
from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.base import ApiSource
from stackwatch.sources.openstack_api.client import ApiClient, Json
from stackwatch.sources.resources import Resource

log = logging.getLogger(__name__)

#: How long the shared project list is reused by the quota resources (seconds).
PROJECTS_MAX_AGE_S = 60.0


@dataclass(frozen=True, slots=True)
class Project:
    """A keystone project."""

    id: str
    name: str
    domain_id: str
    enabled: bool

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Project:
        what = "keystone projects"
        return cls(f.text(d, "id", what), f.text(d, "name", what),
                   f.text(d, "domain_id", what, ""), f.flag(d, "enabled", what, True))


def _whole_list(client: ApiClient, path: str, key: str) -> list[Json]:
    body = client.get("identity", path)
    rows = f.items(body, key, f"keystone {path}")
    if body.get("truncated"):
        log.warning("keystone %s is truncated by list_limit: %d entries", path, len(rows))
    return [r for r in rows if isinstance(r, dict)]


def load_projects(client: ApiClient) -> list[Project]:
    """Every project (not domains acting as projects), shared between sources."""
    def load() -> list[Project]:
        return [Project.from_api(p) for p in _whole_list(client, "projects", "projects")
                if not p.get("is_domain")]
    return client.shared("identity.projects", PROJECTS_MAX_AGE_S, load)


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
        rows = _whole_list(self.client, "users", "users")
        return Collection((self.sample("openstack_identity_users", len(rows)),))

    def projects(self) -> Collection:
        projects = load_projects(self.client)
        enabled = sum(1 for p in projects if p.enabled)
        return Collection((self.sample("openstack_identity_projects", len(projects)),
                           self.sample("openstack_identity_projects_enabled", enabled)))

    def domains(self) -> Collection:
        rows = _whole_list(self.client, "domains", "domains")
        return Collection((self.sample("openstack_identity_domains", len(rows)),))

    def regions(self) -> Collection:
        rows = _whole_list(self.client, "regions", "regions")
        return Collection((self.sample("openstack_identity_regions", len(rows)),))
