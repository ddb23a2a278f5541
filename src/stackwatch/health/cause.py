"""Root cause: which problems follow from which, listed causes first.

:func:`explain` takes what is wrong now (:class:`Symptom`: a service, a member, a
check, a part a source could not read) and says for each one whether another one
explains it, from the catalog's ``depends_on`` (``catalog/services.yaml``):

* a symptom is a *consequence* of another when its service needs the other's,
  directly or through others (nova-compute needs nova-conductor, which needs mysql),
  and the other is a problem that can cause (:data:`CAUSING`: down, degraded, late)
  at least as grave (a degraded dependency does not explain a dependent that
  is wholly down); keystone, the database or the message bus down explains every
  service that needs them, nova-conductor down the nova-computes that stopped
  reporting on any host, neutron-server down nova-api's 5xx (nova's server list asks
  neutron for the ports);
* what could not be looked at (``unknown``) follows from its own service down, and
  from keystone down when it is read through the APIs (they all take its tokens);
* services that need each other (the DHCP agent and its dnsmasq) explain neither;
* transitive causes resolve to the deepest root: with mysql and nova-conductor both
  down, the nova-computes are mysql's consequences, as nova-conductor is;
* a symptom that began more than :data:`BEFORE_SLACK` seconds before its supposed
  cause is not its consequence (``since``; 0 means "not known" and never excludes).

Roots are listed in the operations guide's restoration order
(:data:`RESTORATION_ORDER`: what to bring back first), each followed by its
consequences. Pure functions: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackwatch.catalog.loader import Catalog, Role, ServiceSpec

#: The operations guide's order of restoration after an outage: the network first,
#: then storage, the message queue and database, keystone, the schedulers, the APIs and
#: the dashboard. Services in none of these (compute nodes, agents) come after.
RESTORATION_ORDER: tuple[str, ...] = (
    "network", "storage", "message queue and database", "keystone", "schedulers", "APIs",
    "dashboard")

#: infrastructure services and their stage (the OpenStack ones follow from their names)
_STAGES: dict[str, str] = {
    "haproxy": "network", "pacemaker": "network", "keepalived": "network",
    "ovsdb-server": "network", "ovs-vswitchd": "network", "ovn-ovsdb-server-nb": "network",
    "ovn-ovsdb-server-sb": "network", "ovn-northd": "network",
    "ceph-mon": "storage", "ceph-osd": "storage", "glusterfs": "storage",
    "cinder-volume": "storage",
    "rabbitmq": "message queue and database", "mysql": "message queue and database",
    "memcached": "message queue and database",
    "keystone": "keystone", "horizon": "dashboard",
}

#: how grave each kind of symptom is; those of 1 and more can cause others
GRAVITY: dict[str, int] = {"down": 2, "degraded": 1, "late": 1, "failing": 1, "unknown": 0}
#: kinds that can explain others: a service or member down, degraded or late to report
#: ("failing": a check on a service as a whole, 5xx or brute force, is only explained)
CAUSING = frozenset({"down", "degraded", "late"})
#: the service every API source authenticates with
IDENTITY = "keystone"
#: other words for the kinds (an alarm's severity or state): "" (not said) is "down"
KIND_ALIASES: dict[str, str] = {
    "": "down", "critical": "down", "alarm": "down", "warning": "degraded",
    "insufficient data": "unknown", "insufficient_data": "unknown"}
#: a consequence may be seen this much before its cause (collection intervals differ)
BEFORE_SLACK = 120.0


@dataclass(frozen=True, slots=True)
class Symptom:
    """One thing wrong now: ``key`` names it uniquely (``service:nova-compute``); ``kind``
    one of :data:`GRAVITY` (or an alias, :data:`KIND_ALIASES`: not said is "down");
    ``since`` when it began (epoch seconds, 0: not known)."""

    key: str
    service: str
    member: str = ""
    host: str = ""
    kind: str = ""
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class Explained:
    """A symptom with the key of the root that explains it (None: it is a root), why,
    and its stage's rank in :data:`RESTORATION_ORDER` (its length: in none)."""

    symptom: Symptom
    cause: str | None
    reason: str
    rank: int


def stage(spec: ServiceSpec | None) -> str:
    """The restoration stage of a service ("" when in none: computes, agents)."""
    if spec is None:
        return ""
    if spec.name in _STAGES:
        return _STAGES[spec.name]
    if spec.name.endswith(("-scheduler", "-conductor")):
        return "schedulers"
    if spec.service_type or spec.name.endswith("-api"):
        return "APIs"
    if Role.STORAGE in spec.roles and spec.project == "infrastructure":
        return "storage"
    return ""


def rank(spec: ServiceSpec | None) -> int:
    """The index of the service's stage in :data:`RESTORATION_ORDER` (its length: none)."""
    found = stage(spec)
    return RESTORATION_ORDER.index(found) if found else len(RESTORATION_ORDER)


def needs(catalog: Catalog, service: str) -> frozenset[str]:
    """Every service ``service`` needs, directly or through others (catalog names)."""
    seen: set[str] = set()
    spec = catalog.service(service)
    todo = list(spec.depends_on) if spec else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dep = catalog.service(name)
        if dep is not None:
            todo.extend(dep.depends_on)
    return frozenset(seen)


def kind_of(symptom: Symptom) -> str:
    """The symptom's kind, one of :data:`GRAVITY` (aliases resolved; any other word is
    "failing": explained, causing nothing)."""
    kind = symptom.kind.strip().lower()
    kind = KIND_ALIASES.get(kind, kind)
    return kind if kind in GRAVITY else "failing"


class _Graph:
    """The catalog's needs, looked up once per service for one :func:`explain`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._needs: dict[str, frozenset[str]] = {}
        self._names: dict[str, str] = {}
        self.through_apis = {IDENTITY} | self.needs(IDENTITY)

    def name(self, service: str) -> str:
        """The catalog's name of a service (its alias or endpoint type resolved)."""
        found = self._names.get(service)
        if found is None:
            spec = self.catalog.service(service) if service else None
            found = self._names[service] = spec.name if spec else service
        return found

    def needs(self, service: str) -> frozenset[str]:
        found = self._needs.get(service)
        if found is None:
            found = self._needs[service] = needs(self.catalog, service)
        return found

    def read_through_apis(self, service: str) -> bool:
        spec = self.catalog.service(service)
        return spec is not None and any(src.startswith("api.") for src in spec.sources)

    def suspects(self, effect: Symptom) -> set[str]:
        """The services whose symptoms may explain ``effect`` (then :meth:`explains`)."""
        service = self.name(effect.service)
        found = set(self.needs(service))
        if kind_of(effect) == "unknown":
            found.add(service)
            if self.read_through_apis(service):
                found |= self.through_apis
        return found

    def explains(self, cause: Symptom, effect: Symptom) -> bool:
        cause_kind, effect_kind = kind_of(cause), kind_of(effect)
        if cause.key == effect.key or cause_kind not in CAUSING or not cause.service:
            return False
        if GRAVITY[cause_kind] < GRAVITY[effect_kind]:
            return False
        cause_service, effect_service = self.name(cause.service), self.name(effect.service)
        if effect_kind == "unknown" and cause_kind == "down" and (
                cause_service == effect_service
                or (cause_service in self.through_apis
                    and self.read_through_apis(effect_service))):
            # what could not be read of a service that is down, or through APIs whose
            # token keystone (down) cannot give
            return True
        if cause_service == effect_service or cause_service not in self.needs(effect_service):
            return False
        if effect_service in self.needs(cause_service):
            return False  # they need each other (the DHCP agent and its dnsmasq): neither first
        # one that began long before its supposed cause does not follow from it
        return not (cause.since and effect.since and effect.since < cause.since - BEFORE_SLACK)

    def why(self, effect: Symptom, root: Symptom) -> str:
        effect_service, root_service = self.name(effect.service), self.name(root.service)
        if effect_service == root_service:
            return "what it serves cannot be read"
        if root_service not in self.needs(effect_service):
            return f"{effect.service} is read through the APIs, which need {root.service}"
        return f"{effect.service} needs {root.service}"


def explain(symptoms: Sequence[Symptom], catalog: Catalog) -> list[Explained]:
    """Roots first, in restoration order (then by key), each followed by the symptoms it
    explains (by rank, then key)."""
    graph = _Graph(catalog)
    ranks = {s.key: rank(catalog.service(s.service) if s.service else None) for s in symptoms}
    causing: dict[str, list[Symptom]] = {}
    for symptom in symptoms:
        if kind_of(symptom) in CAUSING and symptom.service:
            causing.setdefault(graph.name(symptom.service), []).append(symptom)
    candidates = {s.key: [c for service in graph.suspects(s) for c in causing.get(service, ())
                          if graph.explains(c, s)] for s in symptoms}

    def root_of(symptom: Symptom) -> Symptom | None:
        """The deepest cause: follow the causes until one has none (a cycle stops)."""
        seen = {symptom.key}
        current: Symptom | None = None
        options = candidates[symptom.key]
        while options:
            # prefer a cause that has no cause of its own, then the earliest stage
            options = sorted(options, key=lambda c: (bool(candidates[c.key]), ranks[c.key],
                                                     c.key))
            nxt = next((c for c in options if c.key not in seen), None)
            if nxt is None:
                break
            current = nxt
            seen.add(nxt.key)
            options = candidates[nxt.key]
        return current

    roots: list[Symptom] = []
    followers: dict[str, list[Explained]] = {}
    for symptom in symptoms:
        root = root_of(symptom)
        if root is None:
            roots.append(symptom)
            continue
        via = [c.service for c in candidates[symptom.key] if c.key != root.key]
        reason = f"because of {root.service}"
        if root.member or root.host:
            reason += f" ({root.member or root.host})"
        reason += f" {kind_of(root)}: " + graph.why(symptom, root)
        if via and root.service not in via:
            reason += f" (also {', '.join(sorted(set(via)))})"
        followers.setdefault(root.key, []).append(
            Explained(symptom, root.key, reason, ranks[symptom.key]))
    out: list[Explained] = []
    for root in sorted(roots, key=lambda s: (ranks[s.key], s.key)):
        consequences = sorted(followers.get(root.key, []),
                              key=lambda e: (e.rank, e.symptom.key))
        reason = (f"root: explains {len(consequences)}" if consequences
                  else "nothing known that it needs is wrong")
        out.append(Explained(root, None, reason, ranks[root.key]))
        out.extend(consequences)
    return out
