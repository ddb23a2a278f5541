"""Which catalog service each process belongs to; its masters, workers and zombies; roles.

A process belongs to a service when its **name** fits (one of the service's
``processes``, the kernel's 15-character cut of one, or a generic name: an
interpreter, gunicorn, uWSGI, Apache, a wrapper) **and** its **command line**
holds one of the service's ``cmdline`` patterns; of the patterns found, the
longest wins (``ovsdb-server ... OVN_Northbound`` is the OVN northbound DB, not
Open vSwitch's). So ``vim /usr/bin/nova-compute`` is nobody's, while
``python3 /usr/bin/nova-compute``, ``gunicorn: worker [nova-api]``,
``keystoneuWSGI worker 1`` (uwsgi) and ``(wsgi:keystone-pu`` (apache2) are found.
The patterns are data: ``catalog/services.yaml``.

A zombie has no command line left: it belongs to its parent's service, else to
the one service whose ``processes`` name it. Among a service's running processes,
a *master* is one whose parent is not the service's (gunicorn's and uWSGI's
master, an eventlet service's only process, each mod_wsgi daemon under Apache);
the others are its workers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stackwatch.catalog.loader import GENERIC_PROCESS_NAMES, Catalog, Role, ServiceSpec
from stackwatch.sources.node.table import ProcessInfo

#: The kernel keeps this many characters of a process name (``comm``).
COMM_LENGTH = 15
_PYTHON = re.compile(r"python[\d.]*")
_CACHE_MAX = 20_000


def base_name(name: str) -> str:
    """The name without a process title's tail: ``gunicorn: worke`` -> ``gunicorn``."""
    return name.split(":", 1)[0].strip()


def is_generic(base: str) -> bool:
    """A name that says nothing of the service (``python3.11``, ``gunicorn``, ``sh``)."""
    return base in GENERIC_PROCESS_NAMES or _PYTHON.fullmatch(base) is not None


def name_fits(spec: ServiceSpec, base: str) -> bool:
    """Whether a process of this (base) name may be one of ``spec``'s."""
    if is_generic(base):
        return True
    return any(base == name or (len(base) == COMM_LENGTH and name.startswith(base))
               for name in spec.processes)


class ProcessMatcher:
    """Finds the service of a process; answers are kept per (name, command line)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        # longest first: the first pattern found whose service takes the name wins
        self._patterns = sorted(((pattern, spec) for spec in catalog.services
                                 for pattern in spec.cmdline), key=lambda p: -len(p[0]))
        self._known: dict[tuple[str, tuple[str, ...]], ServiceSpec | None] = {}
        self._names: dict[str, bool] = {}
        #: the last table grouped (a tuple) and its grouping (:func:`group`)
        self.last_grouping: tuple[tuple[ProcessInfo, ...], dict[str, ServiceProcesses]] | None \
            = None

    def may_be_ours(self, name: str) -> bool:
        """Whether a process of this name may be a service's (its command line then tells
        which): a generic name or one of a service's ``processes``. The process reader
        reads no other command line."""
        known = self._names.get(name)
        if known is None:
            base = base_name(name)
            known = is_generic(base) or any(name_fits(spec, base)
                                            for spec in self.catalog.services)
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            self._names[name] = known
        return known

    def service_of(self, name: str, cmdline: Sequence[str]) -> ServiceSpec | None:
        """The service of a running process, or ``None``."""
        key = (name, tuple(cmdline))
        if key in self._known:
            return self._known[key]
        text = " ".join(cmdline)
        base = base_name(name)
        found = next((spec for pattern, spec in self._patterns
                      if pattern in text and name_fits(spec, base)), None)
        if len(self._known) >= _CACHE_MAX:
            self._known.clear()
        self._known[key] = found
        return found

    def service_by_name(self, name: str) -> ServiceSpec | None:
        """The one service whose ``processes`` name this (specific) name, else ``None``."""
        base = base_name(name)
        if is_generic(base):
            return None
        owners = [spec for spec in self.catalog.services
                  if any(base == n or (len(base) == COMM_LENGTH and n.startswith(base))
                         for n in spec.processes)]
        return owners[0] if len(owners) == 1 else None


@dataclass(frozen=True, slots=True)
class ServiceProcesses:
    """A service's processes on this node."""

    service: str
    running: tuple[ProcessInfo, ...] = ()
    masters: tuple[ProcessInfo, ...] = ()
    zombies: tuple[ProcessInfo, ...] = ()

    @property
    def workers(self) -> int:
        return len(self.running) - len(self.masters)


def group(matcher: ProcessMatcher, table: Iterable[ProcessInfo]) -> dict[str, ServiceProcesses]:
    """Service name -> its processes, for every service with at least one process here.

    The grouping of the last tuple is kept: the node sources of a run share one read of
    the table (:class:`~stackwatch.sources.node.table.SharedTable`), so the second to
    ask gets it (a tuple of frozen rows cannot change; a list may, and is grouped anew).
    The result is shared: read it, do not change it."""
    last = matcher.last_grouping
    if isinstance(table, tuple) and last is not None and last[0] is table:
        return last[1]
    found = _group(matcher, table)
    if isinstance(table, tuple):
        matcher.last_grouping = (table, found)
    return found


def _group(matcher: ProcessMatcher, table: Iterable[ProcessInfo]
           ) -> dict[str, ServiceProcesses]:
    rows = list(table)
    owner: dict[int, str] = {}
    for proc in rows:
        if not proc.zombie:
            spec = matcher.service_of(proc.name, proc.cmdline)
            if spec is not None:
                owner[proc.pid] = spec.name
    running: dict[str, list[ProcessInfo]] = defaultdict(list)
    masters: dict[str, list[ProcessInfo]] = defaultdict(list)
    zombies: dict[str, list[ProcessInfo]] = defaultdict(list)
    for proc in rows:
        if proc.zombie:
            by_name = matcher.service_by_name(proc.name)
            service = owner.get(proc.ppid) or (by_name.name if by_name else None)
            if service is not None:
                zombies[service].append(proc)
            continue
        service = owner.get(proc.pid)
        if service is None:
            continue
        running[service].append(proc)
        if owner.get(proc.ppid) != service:
            masters[service].append(proc)
    names = set(running) | set(zombies)
    return {name: ServiceProcesses(name, tuple(running[name]), tuple(masters[name]),
                                   tuple(zombies[name])) for name in sorted(names)}


def detect_roles(catalog: Catalog, groups: dict[str, ServiceProcesses]) -> tuple[Role, ...]:
    """The roles whose own services run here: a service of one role only (nova-compute:
    compute; neutron-l3-agent: network) says the node has it; Open vSwitch, which
    network and compute nodes both run, says nothing."""
    found = set()
    for name, processes in groups.items():
        spec = catalog.service(name)
        if spec is not None and processes.running and len(spec.roles) == 1:
            found.add(spec.roles[0])
    return tuple(role for role in Role if role in found)
