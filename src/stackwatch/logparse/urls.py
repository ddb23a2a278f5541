"""URL templates: request paths with ids replaced by ``{id}``.

``/v2.1/servers/8a90fa0e-.../action`` and ``/v2.1/servers/fake-vm-1`` both
become ``/v2.1/servers/{id}...``; the query string is dropped. A segment is an
id when it looks like one (UUID, 32 hex digits as keystone/cinder project ids,
a number, a ``req-`` id) or when it follows a known collection and is not a
known literal (``detail``, ``summary``...): names are ids too, since
``GET /v2.1/flavors/m1.fake`` is the same operation as a lookup by UUID.
"""

from __future__ import annotations

import re

ID = "{id}"

_ID_LIKE = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}|\d+|req-[0-9a-fA-F-]{36}"
)

# Segments whose next segment names one member (API references of nova, neutron,
# cinder, glance, keystone, placement).
COLLECTIONS = frozenset({
    "servers", "flavors", "images", "networks", "subnets", "ports", "routers",
    "floatingips", "network-ip-availabilities", "quotas", "os-quota-sets", "volumes",
    "snapshots", "types", "backups", "users", "projects", "domains", "roles", "groups",
    "regions", "services", "endpoints", "credentials", "os-hypervisors", "os-aggregates",
    "aggregates", "os-keypairs", "resource_providers", "allocations", "inventories", "traits",
    "resource_classes", "os-instance-actions", "os-simple-tenant-usage", "security-groups",
    "security-group-rules", "os-migrations", "os-volume_attachments", "os-interface",
    "extra_specs", "agents", "members", "tags", "attachments", "qos-specs", "group_types",
    "messages", "os-server-groups", "os-services", "subnetpools", "address-scopes",
    "trunks", "segments", "rbac-policies", "stores", "tasks", "limits", "registered_limits",
    "application_credentials", "os-instance_usage_audit_log", "migrations", "usages",
})

# Literals that follow a collection without naming a member.
LITERALS = frozenset({
    "detail", "summary", "statistics", "search", "action", "defaults", "default", "details",
    "count", "import", "discovery", "os-volume-transfer", "model",
})

MAX_CACHE = 200_000
MAX_TEMPLATES = 2000
"""Distinct templates per cache (one per service) before new ones become ``OTHER``: an API
with names the rules do not know (``/v1/{id}/stacks/mystack``) must not grow a series per
name."""
OTHER = "{other}"


def url_template(path: str) -> str:
    """The template of one request path (query string dropped, ids as ``{id}``)."""
    path = path.split("?", 1)[0]
    if path in ("", "/"):
        return "/"
    segments = path.split("/")
    previous = ""
    for index, segment in enumerate(segments):
        if segment and (
            _ID_LIKE.fullmatch(segment) is not None
            or (previous in COLLECTIONS and segment not in LITERALS)
        ):
            segments[index] = ID
        previous = segment
    return "/".join(segments)


class TemplateCache:
    """Memoised :func:`url_template`, bounded (cleared when it grows past ``limit``)."""

    __slots__ = ("_limit", "_max_templates", "_templates", "cache")

    def __init__(self, limit: int = MAX_CACHE, max_templates: int = MAX_TEMPLATES) -> None:
        self.cache: dict[str, str] = {}
        """Hot loops look here first (``cache.get(path) or templates(path)``)."""
        self._limit = limit
        self._templates: set[str] = set()
        self._max_templates = max_templates

    def known(self) -> frozenset[str]:
        """The templates handed out so far (``OTHER`` aside)."""
        return frozenset(self._templates)

    def room(self) -> int:
        """How many new templates may still come before they become ``OTHER``."""
        return self._max_templates - len(self._templates)

    def __call__(self, path: str) -> str:
        template = self.cache.get(path)
        if template is None:
            if len(self.cache) >= self._limit:
                self.cache.clear()
            template = url_template(path)
            if template not in self._templates:
                if len(self._templates) >= self._max_templates:
                    template = OTHER
                else:
                    self._templates.add(template)
            self.cache[path] = template
        return template
