"""Keystone projects, shared by the identity source and the per-project quota reads."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackwatch.sources.openstack_api import fields as f
from stackwatch.sources.openstack_api.client import ApiClient, Json

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
    description: str = ""
    parent_id: str = ""
    tags: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Project:
        what = "keystone projects"
        return cls(f.text(d, "id", what), f.text(d, "name", what),
                   f.text(d, "domain_id", what, ""), f.flag(d, "enabled", what, True),
                   f.text(d, "description", what, ""), f.text(d, "parent_id", what, ""),
                   tuple(str(t) for t in f.items(d, "tags", what)))


def whole_list(client: ApiClient, path: str, key: str) -> list[Json]:
    body = client.get("identity", path)
    rows = f.items(body, key, f"keystone {path}")
    if body.get("truncated"):
        log.warning("keystone %s is truncated by list_limit: %d entries", path, len(rows))
    return [r for r in rows if isinstance(r, dict)]


def load_projects(client: ApiClient) -> list[Project]:
    """Every project (not domains acting as projects), shared between sources."""
    def load() -> list[Project]:
        return [Project.from_api(p) for p in whole_list(client, "projects", "projects")
                if not p.get("is_domain")]
    return client.shared("identity.projects", PROJECTS_MAX_AGE_S, load)


