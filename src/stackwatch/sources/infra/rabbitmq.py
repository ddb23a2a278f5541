"""``infra.rabbitmq``: the RabbitMQ cluster through its management HTTP API.

Three GETs a run, asking only the columns read (``?columns=``: a big cloud has
thousands of queues, each some 3 kB in full)::

    /api/overview   object totals
    /api/nodes      per node: running, partitions, alarms, descriptors, sockets, memory, disk
    /api/queues     per queue: vhost, name, messages, consumers

Checks (labels say whose member they are, see ``docs/health.md``):

* ``rabbitmq.node`` {service=rabbitmq, host} per cluster node: CRITICAL when not
  running, partitioned, or under a memory or disk alarm (publishers are blocked);
  file descriptors or sockets at the ``descriptors`` thresholds of their limit.
* ``rabbitmq.queues`` {service=rabbitmq}: WARNING naming the queues holding
  messages with no consumer (a dead consumer: notifications piling up, an RPC
  server gone).
* ``rabbitmq.compute_consumer`` {service=nova-compute, host, vhost} per
  ``compute.<host>`` queue: CRITICAL when it has no consumer — that nova-compute
  lost its AMQP connection (or is down) and takes no request.

Depth per service: each queue belongs to the service that consumes its topic
(:data:`QUEUE_SERVICES`, longest prefix first: ``compute.node1`` and
``compute_fanout_...`` are nova-compute's, ``reply_...`` are RPC replies). Newly
started nodes report their statistics a few seconds later: a field not there
yet is left out, not taken for zero.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from stackwatch.errors import InvalidResponse
from stackwatch.infra_config import Percent, RabbitMQConfig
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import (
    Context,
    InfraSource,
    check,
    named,
    percent_status,
    sample,
    worst,
)
from stackwatch.sources.infra.http import HttpGetter

#: Node fields -> (metric, scale): the management API's ``/api/nodes`` (uptime in ms).
NODE_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("mem_used", "rabbitmq_node_mem_used_bytes", 1.0),
    ("mem_limit", "rabbitmq_node_mem_limit_bytes", 1.0),
    ("disk_free", "rabbitmq_node_disk_free_bytes", 1.0),
    ("disk_free_limit", "rabbitmq_node_disk_free_limit_bytes", 1.0),
    ("fd_used", "rabbitmq_node_fd_used", 1.0),
    ("fd_total", "rabbitmq_node_fd_limit", 1.0),
    ("sockets_used", "rabbitmq_node_sockets_used", 1.0),
    ("sockets_total", "rabbitmq_node_sockets_limit", 1.0),
    ("proc_used", "rabbitmq_node_erlang_processes", 1.0),
    ("proc_total", "rabbitmq_node_erlang_processes_limit", 1.0),
    ("uptime", "rabbitmq_node_uptime_seconds", 0.001),
)
#: Boolean node fields -> metric (1 when true).
NODE_FLAGS: tuple[tuple[str, str], ...] = (
    ("running", "rabbitmq_node_running"),
    ("mem_alarm", "rabbitmq_node_mem_alarm"),
    ("disk_free_alarm", "rabbitmq_node_disk_free_alarm"),
)
NODE_COLUMNS = ("name", "running", "partitions",
                *(f for f, _, _ in NODE_FIELDS), *(f for f, _ in NODE_FLAGS[1:]))
QUEUE_COLUMNS = ("name", "vhost", "messages", "messages_ready", "messages_unacknowledged",
                 "consumers")
#: ``/api/overview`` ``object_totals`` keys, the ``kind`` label of rabbitmq_objects.
OBJECT_KINDS = ("connections", "channels", "consumers", "queues", "exchanges")

#: Topic (queue name prefix) -> the service consuming it. oslo.messaging names a
#: server's queues ``<topic>``, ``<topic>.<host>`` and ``<topic>_fanout_<id>``;
#: RPC replies ``reply_<id>``; notifications ``notifications.<priority>``.
QUEUE_SERVICES: Mapping[str, str] = {
    "compute": "nova-compute", "compute-alt": "nova-compute",
    "conductor": "nova-conductor", "scheduler": "nova-scheduler",
    "consoleauth": "nova-consoleauth",
    "cinder-scheduler": "cinder-scheduler", "cinder-volume": "cinder-volume",
    "cinder-backup": "cinder-backup",
    "q-plugin": "neutron-server", "q-reports-plugin": "neutron-server",
    "q-l3-plugin": "neutron-server", "q-server-resource-versions": "neutron-server",
    "q-agent-notifier": "neutron-openvswitch-agent", "neutron-vo": "neutron-openvswitch-agent",
    "dhcp_agent": "neutron-dhcp-agent", "l3_agent": "neutron-l3-agent",
    "q-metering-plugin": "neutron-server", "metering_agent": "neutron-metering-agent",
    "engine": "heat-engine", "heat-engine-listener": "heat-engine",
    "octavia_prov": "octavia", "magnum-conductor": "magnum-conductor",
    "notifications": "notifications", "versioned_notifications": "notifications",
    "reply": "rpc-replies",
}
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Node:
    """One cluster node as ``/api/nodes`` lists it."""

    name: str
    running: bool
    partitions: tuple[str, ...] = ()
    flags: Mapping[str, bool] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """``ctl1`` of ``rabbit@ctl1``."""
        return self.name.rpartition("@")[2] or self.name


@dataclass(frozen=True, slots=True)
class Queue:
    """One queue: where, how many messages, how many consumers."""

    vhost: str
    name: str
    messages: float | None
    ready: float | None
    unacked: float | None
    consumers: int


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _list_of_objects(data: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise InvalidResponse(f"{what}: expected a list of objects, got {type(data).__name__}")
    return data


def parse_nodes(data: Any) -> list[Node]:
    """``/api/nodes`` -> nodes; fields not reported (yet) are left out."""
    nodes = []
    for raw in _list_of_objects(data, "rabbitmq nodes"):
        name = raw.get("name")
        if not isinstance(name, str):
            raise InvalidResponse("rabbitmq nodes: a node without a name")
        partitions = raw.get("partitions") or []
        values = {f: v for f, _, _ in NODE_FIELDS if (v := _number(raw.get(f))) is not None}
        flags = {f: bool(raw[f]) for f, _ in NODE_FLAGS[1:] if isinstance(raw.get(f), bool)}
        nodes.append(Node(name, raw.get("running") is True,
                          tuple(str(p) for p in partitions), flags, values))
    return nodes


def parse_queues(data: Any) -> list[Queue]:
    """``/api/queues`` -> queues (messages unknown while the node has not reported them)."""
    queues = []
    for raw in _list_of_objects(data, "rabbitmq queues"):
        name, vhost = raw.get("name"), raw.get("vhost")
        if not isinstance(name, str) or not isinstance(vhost, str):
            raise InvalidResponse("rabbitmq queues: a queue without name or vhost")
        consumers = _number(raw.get("consumers"))
        queues.append(Queue(vhost, name, _number(raw.get("messages")),
                            _number(raw.get("messages_ready")),
                            _number(raw.get("messages_unacknowledged")),
                            int(consumers or 0)))
    return queues


def queue_service(name: str, services: Mapping[str, str]) -> str:
    """The service consuming queue ``name``: the longest topic it is named after."""
    best, length = OTHER, -1
    for topic, service in services.items():
        if (len(topic) > length and name.startswith(topic)
                and (len(name) == len(topic) or name[len(topic)] in "._-")):
            best, length = service, len(topic)
    return best


def compute_host(name: str, topic: str) -> str | None:
    """``node1`` of ``compute.node1`` (``topic`` ``compute``); None for other queues."""
    prefix = topic + "."
    if not name.startswith(prefix):
        return None
    return name[len(prefix):] or None


def judge_node(node: Node, limits: Percent) -> tuple[Status, str]:
    """A node's status and why (see the module docstring)."""
    if not node.running:
        return Status.CRITICAL, f"{node.name} not running"
    problems: list[tuple[Status, str]] = [(Status.OK, "")]
    if node.partitions:
        problems.append((Status.CRITICAL, f"partitioned from {', '.join(node.partitions)}"))
    if node.flags.get("mem_alarm"):
        problems.append((Status.CRITICAL, "memory alarm: publishers blocked "
                         f"({_size(node.values.get('mem_used'))} used of "
                         f"{_size(node.values.get('mem_limit'))})"))
    if node.flags.get("disk_free_alarm"):
        problems.append((Status.CRITICAL, "disk free alarm: publishers blocked "
                         f"({_size(node.values.get('disk_free'))} free, limit "
                         f"{_size(node.values.get('disk_free_limit'))})"))
    for used, total, what in (("fd_used", "fd_total", "file descriptors"),
                              ("sockets_used", "sockets_total", "sockets")):
        if used in node.values and total in node.values:
            u, t = node.values[used], node.values[total]
            status = percent_status(u, t, limits.warning, limits.critical)
            problems.append((status, f"{what} {u:.0f} of {t:.0f} used"))
    status, reason = worst(*problems)
    if status is Status.OK:
        shown = [f"{w} {node.values[u]:.0f}/{node.values[t]:.0f}" for u, t, w in
                 (("fd_used", "fd_total", "fd"), ("sockets_used", "sockets_total", "sockets"))
                 if u in node.values and t in node.values]
        return status, f"{node.name} running" + (f" ({', '.join(shown)})" if shown else "")
    return status, f"{node.name}: {reason}"


def _size(value: float | None) -> str:
    if value is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns


def node_results(nodes: Iterable[Node], limits: Percent) -> Collection:
    """Samples and ``rabbitmq.node`` checks of the nodes."""
    samples: list[Sample] = []
    checks: list[CheckResult] = []
    for node in nodes:
        labels = {"node": node.name}
        samples.append(sample("rabbitmq_node_running", 1 if node.running else 0, labels))
        for flag, metric in NODE_FLAGS[1:]:
            if flag in node.flags:
                samples.append(sample(metric, 1 if node.flags[flag] else 0, labels))
        samples.append(sample("rabbitmq_node_partitions", len(node.partitions), labels))
        for fld, metric, scale in NODE_FIELDS:
            if fld in node.values:
                samples.append(sample(metric, node.values[fld] * scale, labels))
        status, message = judge_node(node, limits)
        checks.append(check("rabbitmq.node", status, message, service="rabbitmq",
                            host=node.host, node=node.name))
    return Collection(tuple(samples), tuple(checks))


def queue_results(queues: Sequence[Queue], services: Mapping[str, str], compute_topic: str,
                  ignore: Sequence[str] = ()) -> Collection:
    """Depth per service, idle queues, and each compute host's consumer."""
    samples: list[Sample] = []
    checks: list[CheckResult] = []
    depth: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    idle: list[Queue] = []
    for q in queues:
        totals = depth[(q.vhost, queue_service(q.name, services))]
        totals[0] += 1
        totals[1] += q.messages or 0
        totals[2] += q.consumers
        totals[3] += q.unacked or 0
        if (q.consumers == 0 and (q.messages or 0) > 0
                and not any(fnmatch.fnmatchcase(q.name, pattern) for pattern in ignore)):
            idle.append(q)
        host = compute_host(q.name, compute_topic)
        if host is not None:
            labels = {"vhost": q.vhost, "host": host}
            samples.append(sample("rabbitmq_compute_queue_consumers", q.consumers, labels))
            if q.messages is not None:
                samples.append(sample("rabbitmq_compute_queue_messages", q.messages, labels))
            if q.consumers:
                checks.append(check("rabbitmq.compute_consumer", Status.OK,
                                    f"nova-compute on {host} consumes {q.name} "
                                    f"({q.consumers} consumer{'s' * (q.consumers > 1)})",
                                    service="nova-compute", host=host, vhost=q.vhost))
            else:
                waiting = f"; {q.messages:.0f} messages waiting" if q.messages else ""
                checks.append(check("rabbitmq.compute_consumer", Status.CRITICAL,
                                    f"nova-compute on {host} has no consumer on {q.name}: it "
                                    f"lost its AMQP connection or is down{waiting}",
                                    service="nova-compute", host=host, vhost=q.vhost))
    for (vhost, service), (count, messages, consumers, unacked) in sorted(depth.items()):
        labels = {"vhost": vhost, "service": service}
        samples += [sample("rabbitmq_service_queues", count, labels),
                    sample("rabbitmq_service_queue_messages", messages, labels),
                    sample("rabbitmq_service_queue_messages_unacked", unacked, labels),
                    sample("rabbitmq_service_queue_consumers", consumers, labels)]
    by_vhost = dict.fromkeys((q.vhost for q in queues), 0)
    for q in idle:
        by_vhost[q.vhost] += 1
        samples.append(Sample.of("rabbitmq_queue_messages_without_consumers", q.messages or 0,
                                 vhost=q.vhost, queue=q.name))
    samples += [Sample.of("rabbitmq_queues_without_consumers", n, vhost=v)
                for v, n in sorted(by_vhost.items())]
    idle.sort(key=lambda q: -(q.messages or 0))
    if idle:
        names = [f"{q.name} ({q.messages:.0f})" if q.vhost == "/" else
                 f"{q.vhost}:{q.name} ({q.messages:.0f})" for q in idle]
        checks.append(check("rabbitmq.queues", Status.WARNING,
                            f"{len(idle)} queue{'s' * (len(idle) > 1)} with messages and no "
                            f"consumer: {named(names)}", service="rabbitmq"))
    else:
        checks.append(check("rabbitmq.queues", Status.OK,
                            f"{len(queues)} queues, none with messages and no consumer",
                            service="rabbitmq"))
    return Collection(tuple(samples), tuple(checks))


def overview_results(data: Any) -> Collection:
    """``rabbitmq_objects{kind}`` from ``/api/overview``'s ``object_totals``."""
    if not isinstance(data, dict):
        raise InvalidResponse("rabbitmq overview: expected an object")
    totals = data.get("object_totals")
    if not isinstance(totals, dict):
        return Collection()
    return Collection(tuple(Sample.of("rabbitmq_objects", v, kind=kind)
                            for kind in OBJECT_KINDS
                            if (v := _number(totals.get(kind))) is not None))


class RabbitMQSource(InfraSource[RabbitMQConfig]):
    """The cluster as one management API endpoint sees it."""

    piece = "rabbitmq"

    def __init__(self, config: RabbitMQConfig) -> None:
        super().__init__([config])
        self.config = config
        self.base = config.url.rstrip("/")
        if not self.base.endswith("/api"):
            self.base += "/api"
        self.services = {**QUEUE_SERVICES, **config.queue_services}
        self._http = HttpGetter(config.timeout, config.user, config.secret(), config.verify_tls)

    def target_name(self, target: RabbitMQConfig) -> str:
        return self.base.removesuffix("/api").split("://", 1)[1]

    def _get(self, path: str, columns: Sequence[str] = ()) -> Any:
        query = f"?columns={quote(','.join(columns), safe=',')}" if columns else ""
        return self._http.get_json(f"{self.base}/{path}{query}", f"rabbitmq GET /api/{path}")

    def read(self, target: RabbitMQConfig) -> Collection:
        overview = self._get("overview", ("object_totals", "cluster_name"))
        nodes = parse_nodes(self._get("nodes", NODE_COLUMNS))
        queues = parse_queues(self._get("queues", QUEUE_COLUMNS))
        return (overview_results(overview)
                + node_results(nodes, self.config.descriptors)
                + queue_results(queues, self.services, self.config.compute_topic,
                                self.config.ignore_queues))

    def close(self) -> None:
        self._http.close()


def build(config: RabbitMQConfig, context: Context) -> RabbitMQSource:
    """``infra.rabbitmq`` for the section ``config``."""
    return RabbitMQSource(config)
