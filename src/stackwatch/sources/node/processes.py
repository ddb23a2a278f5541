"""``node.processes``: the catalog processes of this node, counted; restarts and zombies.

One ``node.process`` check per service looked at (:mod:`.plan`), labelled ``service``
and ``host``: health counts it for that service's member on this node, as it counts
nova's own service list (``docs/health.md``).

* CRITICAL: expected here and not running — for an active/passive service too (the
  passive nodes' members are down, which is what health's rule wants: exactly one up);
  with a minimum (``stackwatch check process``), fewer processes than the critical one.
* WARNING: restarted since the last run (a master with a new pid or start time; for
  that run only), zombies its parent has left unreaped since the last run (a child
  that has just exited is a zombie for an instant, and RabbitMQ's disk checks make
  several a minute: one look is no fault), more than one master of an active/passive
  service here, fewer processes than the warning minimum.
* OK: how many processes, masters and workers, and how long the oldest master is up.

Samples per service: ``stackwatch_process_count{service,process,host}`` (per process
name; ``process=""`` 0 when none runs), ``stackwatch_process_zombies``,
``stackwatch_process_restarts_total`` (seen by this source since it started),
``stackwatch_process_cpu_seconds_total`` and ``stackwatch_process_resident_memory_bytes``
(of its running processes); and ``stackwatch_node_role{host,role}`` per role.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from stackwatch.catalog.loader import HAMode
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status, make_labels
from stackwatch.sources.node.match import ServiceProcesses, base_name, group
from stackwatch.sources.node.plan import Looked, NodePlan
from stackwatch.sources.node.table import ProcessInfo, ProcessTable, read_processes
from stackwatch.sources.node.wording import plural, span

PROCESS_CHECK = "node.process"
ZOMBIE_SECOND_LOOK = 1.0  # seconds between a one-shot check's two looks at its zombies


@dataclass(frozen=True, slots=True)
class Minimum:
    """Fewest processes before WARNING / CRITICAL (``stackwatch check process``)."""

    warning: int = 0
    critical: int = 1


class ProcessesSource:
    """Counts this node's catalog processes (see the module docstring)."""

    name = "node.processes"

    def __init__(self, plan: NodePlan, table: ProcessTable = read_processes,
                 clock: Callable[[], float] = time.time) -> None:
        self.plan = plan
        self._table = table
        self._clock = clock
        self._masters: dict[str, frozenset[tuple[int, float]]] = {}
        self._zombies: dict[str, frozenset[tuple[int, float]]] = {}
        self._restarts: Counter[str] = Counter()

    def collect(self) -> Collection:
        groups = group(self.plan.matcher, self._table())
        now = self._clock()
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        for looked in self.plan.services(groups):
            found = groups.get(looked.spec.name, ServiceProcesses(looked.spec.name))
            more, check = self._judge(looked, found, now, Minimum(critical=1))
            samples.extend(more)
            checks.append(check)
        roles, _ = self.plan.roles(groups)
        samples.extend(Sample("stackwatch_node_role", 1.0,
                              make_labels(host=self.plan.host, role=role.value), now)
                       for role in roles)
        return Collection(tuple(samples), tuple(checks))

    def check(self, service: str, minimum: Minimum = Minimum()) -> Collection:
        """One service, expected here whatever the roles (Nagios mode)."""
        spec = self.plan.catalog.service(service)
        if spec is None:
            raise KeyError(service)
        found = self._look(spec.name)
        if found.zombies:  # one look cannot tell a lingering zombie from one being reaped
            self._lingering(spec.name, found)
            time.sleep(ZOMBIE_SECOND_LOOK)
            found = self._look(spec.name)
        samples, check = self._judge(Looked(spec, True), found, self._clock(), minimum)
        return Collection(tuple(samples), (check,))

    def _look(self, service: str) -> ServiceProcesses:
        """One service's processes, read from the table now."""
        return group(self.plan.matcher, self._table()).get(service, ServiceProcesses(service))

    # ------------------------------------------------------------------ judging
    def _lingering(self, service: str, found: ServiceProcesses) -> list[ProcessInfo]:
        """Zombies that were already zombies at the last look (none on the first)."""
        current = frozenset((p.pid, p.create_time) for p in found.zombies)
        previous = self._zombies.get(service, frozenset())
        self._zombies[service] = current
        return [p for p in found.zombies if (p.pid, p.create_time) in previous]

    def _restarted(self, service: str, found: ServiceProcesses) -> list[ProcessInfo]:
        """Masters new since the last run (none on the first look at a service)."""
        current = frozenset((p.pid, p.create_time) for p in found.masters)
        previous = self._masters.get(service)
        self._masters[service] = current
        if previous is None:
            return []
        started = [p for p in found.masters if (p.pid, p.create_time) not in previous]
        self._restarts[service] += len(started)
        return started

    def _judge(self, looked: Looked, found: ServiceProcesses, now: float, minimum: Minimum
               ) -> tuple[list[Sample], CheckResult]:
        spec = looked.spec
        host = self.plan.host
        started = self._restarted(spec.name, found)
        lingering = self._lingering(spec.name, found)
        count = len(found.running)
        problems: list[tuple[Status, str]] = []
        if count < minimum.critical:
            problems.append((Status.CRITICAL, _absent(looked) if count == 0 else
                             f"fewer than {minimum.critical} processes"))
        elif count < minimum.warning:
            problems.append((Status.WARNING, f"fewer than {minimum.warning} processes"))
        if spec.ha is HAMode.ACTIVE_PASSIVE and len(found.masters) > 1:
            problems.append((Status.WARNING, f"{len(found.masters)} instances here; "
                             "active/passive runs one"))
        if started:
            problems.append((Status.WARNING, "restarted: " + ", ".join(
                f"pid {p.pid} up {span(now - p.create_time)}" for p in started)))
        if lingering:
            pids = ", ".join(str(p.pid) for p in lingering[:5])
            problems.append((Status.WARNING, f"{plural(len(lingering), 'zombie')} not "
                             f"reaped (pid {pids})"))
        status = Status.worst(s for s, _ in problems)
        said = [text for _, text in sorted(problems, key=lambda p: -_RANK[p[0]])]
        if count:
            said.append(_running(found, now))
        elif not said:
            said.append("no process (none required)")
        message = f"{spec.name}: " + "; ".join(said)
        perfdata = (PerfDatum("processes", count, minimum=0),
                    PerfDatum("workers", found.workers, minimum=0),
                    PerfDatum("zombies", len(found.zombies), minimum=0),
                    PerfDatum("restarts", self._restarts[spec.name], "c", minimum=0))
        labels = make_labels(service=spec.name, host=host)
        check = CheckResult(PROCESS_CHECK, status, message, labels, perfdata, now)
        return self._samples(spec.name, found, now), check

    def _samples(self, service: str, found: ServiceProcesses, now: float) -> list[Sample]:
        host = self.plan.host
        by_name = Counter(base_name(p.name) for p in found.running)
        samples = [Sample("stackwatch_process_count", float(n),
                          make_labels(service=service, process=name, host=host), now)
                   for name, n in sorted(by_name.items())]
        if not by_name:
            samples.append(Sample("stackwatch_process_count", 0.0,
                                  make_labels(service=service, process="", host=host), now))
        labels = make_labels(service=service, host=host)
        samples += [
            Sample("stackwatch_process_zombies", float(len(found.zombies)), labels, now),
            Sample("stackwatch_process_restarts_total", float(self._restarts[service]),
                   labels, now),
            Sample("stackwatch_process_cpu_seconds_total",
                   sum(p.cpu_seconds for p in found.running), labels, now),
            Sample("stackwatch_process_resident_memory_bytes",
                   float(sum(p.rss_bytes for p in found.running)), labels, now),
        ]
        return samples


_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}



def _absent(looked: Looked) -> str:
    spec = looked.spec
    if spec.ha is HAMode.ACTIVE_PASSIVE:
        return "not running here (active/passive: one node of the group runs it)"
    roles = "/".join(role.value for role in spec.roles)
    return f"not running (expected on {roles} nodes)"


def _running(found: ServiceProcesses, now: float) -> str:
    count = len(found.running)
    text = plural(count, "process", "processes")
    if found.workers:
        text += (f" ({plural(len(found.masters), 'master')}, "
                 f"{plural(found.workers, 'worker')})")
    oldest = min(found.masters or found.running, key=lambda p: p.create_time)
    return f"{text}, pid {oldest.pid} up {span(now - oldest.create_time)}"
