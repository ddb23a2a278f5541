"""``node.ports``: each service's bind ports listening here, and held by *that* service.

One ``node.port`` check per port of each service looked at (:mod:`.plan`), labelled
``service``, ``host`` and ``port`` (a member's check in health, like the process one):

* OK: a socket on the port is held by one of the service's processes, or by the Apache
  whose mod_wsgi daemons are the service (Apache's own processes accept the
  connections and hand them to the daemons);
* CRITICAL: nothing listens on it; or only other processes do, each named with its pid
  and command line ("port 8774/tcp is held by python3 (pid 123, 'nc -l 8774'), not
  nova-api") — a leftover instance, another service started on the wrong port;
* UNKNOWN: it listens, but the holder is a process stackwatch may not see (another
  user's socket while stackwatch is not root): said so, never guessed.

Sample: ``stackwatch_port_listening{service,port,host}``, 1 when the service holds it,
0 when nothing or another process does (none while UNKNOWN).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from stackwatch.catalog.loader import ServiceSpec
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.sources.node.match import base_name, group
from stackwatch.sources.node.plan import NodePlan, NodePort
from stackwatch.sources.node.table import (
    Held,
    Listener,
    ListenerTable,
    ProcessInfo,
    ProcessTable,
    complete,
    read_listeners,
    read_processes,
)
from stackwatch.sources.node.wording import command

PORT_CHECK = "node.port"
#: Web servers that host a service's code in daemons they start (mod_wsgi): their own
#: processes hold the service's port.
FRONT_SERVERS = frozenset({"apache2", "httpd"})


class _Holders:
    """Who holds what: the processes by pid and the service each belongs to."""

    def __init__(self, plan: NodePlan, rows: Sequence[ProcessInfo],
                 table: ProcessTable | None = None) -> None:
        self.processes = {p.pid: p for p in rows}
        self._table = table
        self.groups = group(plan.matcher, rows)
        self.owner = {p.pid: name for name, found in self.groups.items() for p in found.running}

    def serves(self, pid: int, service: str) -> bool:
        """Whether ``pid`` is the service's, or the Apache in front of its daemons."""
        if self.owner.get(pid) == service:
            return True
        holder = self.processes.get(pid)
        found = self.groups.get(service)
        if holder is None or found is None or pid in self.owner \
                or base_name(holder.name) not in FRONT_SERVERS:
            return False
        parents = {p.ppid for p in found.running} - {0, 1}
        return holder.pid in parents or holder.ppid in parents

    def describe(self, pid: int) -> str:
        proc = self.processes.get(pid)
        if proc is None:
            return f"pid {pid} (exited since)"
        if self._table is not None:
            proc = complete(self._table, proc)  # the table reads few command lines
        if not proc.command or proc.command == proc.name:  # a process title says it all
            return f"{proc.name} (pid {pid})"
        return f"{proc.name} (pid {pid}, {command(proc.command)!r})"


class PortsSource:
    """Checks this node's service ports (see the module docstring)."""

    name = "node.ports"

    def __init__(self, plan: NodePlan, table: ProcessTable = read_processes,
                 listeners: ListenerTable | None = None,
                 clock: Callable[[], float] = time.time,
                 uid: Callable[[], int] = os.geteuid) -> None:
        self.plan = plan
        self._table = table
        self._listeners = listeners
        self._clock = clock
        self._uid = uid
        self._held: Held = {}  # the sockets' holders at the last look

    def _listening(self, ports: set[int], holders: _Holders) -> list[Listener]:
        """The sockets on ``ports``: the injected table, else /proc, looking for their
        holders among the services' processes (and their parents: Apache) first."""
        if self._listeners is not None:
            return list(self._listeners())
        first = [p.pid for found in holders.groups.values() for p in found.running]
        first += [p.ppid for found in holders.groups.values() for p in found.running
                  if p.ppid > 1]
        return read_listeners(ports, first, self.plan.config.proc_root, self._held)

    def collect(self) -> Collection:
        holders = _Holders(self.plan, tuple(self._table()), self._table)
        wanted = [(looked.spec, port) for looked in self.plan.services(holders.groups)
                  for port in self.plan.ports(looked.spec)]
        listening = self._listening({port.port for _, port in wanted}, holders)
        now = self._clock()
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        for spec, port in wanted:
            sample, check = self._judge(spec, port, listening, holders, now)
            checks.append(check)
            if sample is not None:
                samples.append(sample)
        return Collection(tuple(samples), tuple(checks))

    def check(self, port: int, service: str | None = None) -> Collection:
        """One port (Nagios mode): judged for the service(s) that listen on it here, or,
        when no service of the catalog does, only whether it listens."""
        holders = _Holders(self.plan, tuple(self._table()), self._table)
        listening = self._listening({port}, holders)
        now = self._clock()
        if service is not None:
            spec = self.plan.catalog.service(service)
            if spec is None:
                raise KeyError(service)
            owners = [spec]
        else:
            owners = self.plan.owners_of_port(port)
        if not owners:
            return Collection(checks=(self._anyone(port, listening, holders, now),))
        samples: list[Sample] = []
        checks: list[CheckResult] = []
        for spec in owners:
            found = next((p for p in self.plan.ports(spec) if p.port == port), NodePort(port))
            sample, check = self._judge(spec, found, listening, holders, now)
            checks.append(check)
            if sample is not None:
                samples.append(sample)
        return Collection(tuple(samples), tuple(checks))

    # ------------------------------------------------------------------ judging
    def _judge(self, spec: ServiceSpec, port: NodePort, listening: Sequence[Listener],
               holders: _Holders, now: float) -> tuple[Sample | None, CheckResult]:
        labels = make_labels(service=spec.name, host=self.plan.host, port=str(port.port))
        what = f"port {port.port}/{port.protocol}"
        on = [s for s in listening if s.port == port.port and s.protocol == port.protocol]
        ours = [s for s in on if s.pid is not None and holders.serves(s.pid, spec.name)]
        hidden = [s for s in on if s.pid is None]
        others = [s for s in on if s.pid is not None and s not in ours]
        if ours:
            where = ", ".join(sorted({s.address for s in ours}))
            message = (f"{what} listening on {where}, held by "
                       f"{holders.describe(_first_pid(ours))}")
            if others:
                message += "; also " + ", ".join(sorted(
                    {f"{holders.describe(_pid(s))} on {s.address}" for s in others}))
            status, up = Status.OK, 1.0
        elif hidden:
            status, up = Status.UNKNOWN, None
            message = (f"{what} is listening, but stackwatch (uid {self._uid()}) may not see "
                       "which process holds it: only root sees other users' sockets")
        elif others:
            status, up = Status.CRITICAL, 0.0
            held = ", ".join(sorted({holders.describe(_pid(s)) for s in others}))
            message = f"{what} is held by {held}, not {spec.name}"
        else:
            status, up = Status.CRITICAL, 0.0
            purpose = f" ({port.purpose})" if port.purpose else ""
            message = f"{what}{purpose} is not listening"
        check = CheckResult(PORT_CHECK, status, f"{spec.name}: {message}", labels,
                            timestamp=now)
        sample = None if up is None else Sample("stackwatch_port_listening", up, labels, now)
        return sample, check

    def _anyone(self, port: int, listening: Sequence[Listener], holders: _Holders,
                now: float) -> CheckResult:
        labels = make_labels(host=self.plan.host, port=str(port))
        on = [s for s in listening if s.port == port]
        if not on:
            return CheckResult(PORT_CHECK, Status.CRITICAL, f"port {port} is not listening "
                               "(no catalog service listens on it here)", labels, timestamp=now)
        held = ", ".join(sorted({holders.describe(s.pid) if s.pid is not None
                                 else "a process stackwatch may not see" for s in on}))
        return CheckResult(PORT_CHECK, Status.OK, f"port {port} is listening, held by {held}",
                           labels, timestamp=now)


def _pid(listener: Listener) -> int:
    assert listener.pid is not None
    return listener.pid


def _first_pid(listeners: Sequence[Listener]) -> int:
    return min(_pid(s) for s in listeners)

