"""infra.rabbitmq's parsers on the management API answers of the real control plane,
and on those answers changed into each failure state."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.errors import InvalidResponse
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import Percent
from stackwatch.model import Collection, Status
from stackwatch.sources.infra.rabbitmq import (
    QUEUE_SERVICES,
    compute_host,
    node_results,
    overview_results,
    parse_nodes,
    parse_queues,
    queue_results,
    queue_service,
)

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "infra"
LIMITS = Percent(warning=80, critical=90)


def recorded(name: str) -> Any:
    return json.loads((RECORDED / f"rabbitmq-api-{name}.json").read_text())


def value(out: Collection, name: str, **labels: str) -> float:
    found = [s.value for s in out.samples if s.name == name
             and all(s.label(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def only(out: Collection, name: str, **labels: str) -> Any:
    found = [c for c in out.checks if c.name == name
             and all(dict(c.labels).get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, out.checks)
    return found[0]


def test_recorded_node_is_running_and_its_figures_are_read() -> None:
    raw = recorded("nodes")[0]
    out = node_results(parse_nodes(recorded("nodes")), LIMITS)
    node = raw["name"]
    assert value(out, "rabbitmq_node_running", node=node) == 1
    assert value(out, "rabbitmq_node_partitions", node=node) == len(raw["partitions"]) == 0
    assert value(out, "rabbitmq_node_fd_used", node=node) == raw["fd_used"]
    assert value(out, "rabbitmq_node_fd_limit", node=node) == raw["fd_total"]
    assert value(out, "rabbitmq_node_sockets_limit", node=node) == raw["sockets_total"]
    assert value(out, "rabbitmq_node_mem_limit_bytes", node=node) == raw["mem_limit"]
    assert value(out, "rabbitmq_node_uptime_seconds", node=node) == raw["uptime"] / 1000
    assert value(out, "rabbitmq_node_mem_alarm", node=node) == 0
    result = only(out, "rabbitmq.node")
    assert result.status is Status.OK
    assert dict(result.labels) == {"service": "rabbitmq", "host": "localhost", "node": node}
    assert f"fd {raw['fd_used']}/{raw['fd_total']}" in result.message


def _node(**changes: Any) -> list[dict[str, Any]]:
    node = copy.deepcopy(recorded("nodes")[0])
    node.update(changes)
    return [node]


@pytest.mark.parametrize(("changes", "status", "words"), [
    ({"running": False}, Status.CRITICAL, "not running"),
    ({"partitions": ["rabbit@ctl2"]}, Status.CRITICAL, "partitioned from rabbit@ctl2"),
    ({"mem_alarm": True}, Status.CRITICAL, "memory alarm: publishers blocked"),
    ({"disk_free_alarm": True}, Status.CRITICAL, "disk free alarm: publishers blocked"),
    ({"fd_used": 830}, Status.WARNING, "file descriptors 830 of 1024 used"),
    ({"fd_used": 1000}, Status.CRITICAL, "file descriptors 1000 of 1024 used"),
    ({"sockets_used": 760}, Status.CRITICAL, "sockets 760 of 832 used"),
    ({"sockets_used": 700}, Status.WARNING, "sockets 700 of 832 used"),
])
def test_each_node_failure(changes: dict[str, Any], status: Status, words: str) -> None:
    out = node_results(parse_nodes(_node(**changes)), LIMITS)
    result = only(out, "rabbitmq.node")
    assert result.status is status
    assert words in result.message


def test_a_stopped_node_lists_only_its_name_and_is_critical() -> None:
    # what the API lists for a stopped cluster member: its name, type and running
    out = node_results(parse_nodes([{"name": "rabbit@ctl3", "type": "disc",
                                     "running": False}]), LIMITS)
    assert only(out, "rabbitmq.node", host="ctl3").status is Status.CRITICAL
    assert value(out, "rabbitmq_node_running", node="rabbit@ctl3") == 0
    assert not [s for s in out.samples if s.name == "rabbitmq_node_fd_used"]


def test_recorded_queues_depth_per_service_and_compute_consumers() -> None:
    raw = recorded("queues")
    out = queue_results(parse_queues(raw), QUEUE_SERVICES, "compute")
    notifications = [q for q in raw if q["name"].split(".")[0] in
                     ("notifications", "versioned_notifications")]
    assert value(out, "rabbitmq_service_queue_messages", vhost="/",
                 service="notifications") == sum(q["messages"] for q in notifications)
    assert value(out, "rabbitmq_service_queues", vhost="/", service="nova-compute") == len(
        [q for q in raw if q["name"].startswith(("compute.", "compute_", "compute-alt"))
         or q["name"] == "compute"])
    assert value(out, "rabbitmq_service_queues", vhost="/", service="rpc-replies") == len(
        [q for q in raw if q["name"].startswith("reply_")])
    assert sum(s.value for s in out.samples if s.name == "rabbitmq_service_queues") == len(raw)
    hosts = sorted(q["name"].split(".", 1)[1] for q in raw if q["name"].startswith("compute."))
    assert hosts == ["fake-compute-1", "fake-compute-2"]
    for host in hosts:
        result = only(out, "rabbitmq.compute_consumer", host=host)
        assert result.status is Status.OK
        assert dict(result.labels)["service"] == "nova-compute"
        assert value(out, "rabbitmq_compute_queue_consumers", vhost="/", host=host) == 1
    # notifications nobody consumed while recording (its capture queue was deleted)
    idle = sorted(q["name"] for q in raw if q["consumers"] == 0 and q["messages"] > 0)
    assert idle and all(name.split(".")[0].endswith("notifications") for name in idle)
    queues = only(out, "rabbitmq.queues")
    assert queues.status is Status.WARNING
    assert all(name in queues.message for name in idle)
    assert value(out, "rabbitmq_queues_without_consumers", vhost="/") == len(idle)
    ignored = queue_results(parse_queues(raw), QUEUE_SERVICES, "compute",
                            ignore=["*notifications.*"])
    assert only(ignored, "rabbitmq.queues").status is Status.OK


def test_a_compute_queue_without_consumer_makes_that_nova_compute_critical() -> None:
    raw = copy.deepcopy(recorded("queues"))
    lost = next(q for q in raw if q["name"] == "compute.fake-compute-2")
    lost["consumers"], lost["messages"] = 0, 3
    out = queue_results(parse_queues(raw), QUEUE_SERVICES, "compute")
    result = only(out, "rabbitmq.compute_consumer", host="fake-compute-2")
    assert result.status is Status.CRITICAL
    assert "lost its AMQP connection" in result.message and "3 messages" in result.message
    assert only(out, "rabbitmq.compute_consumer", host="fake-compute-1").status is Status.OK
    health = evaluate(default_catalog(), out.checks)
    compute = health.service("nova-compute")
    assert compute is not None
    members = {m.host: m.status for m in compute.members}
    assert members == {"fake-compute-1": Status.OK, "fake-compute-2": Status.CRITICAL}
    assert compute.status is Status.WARNING and "down: fake-compute-2" in compute.message


def test_nodes_make_rabbitmq_watched_in_health() -> None:
    out = node_results(parse_nodes(_node()) + parse_nodes([
        {"name": "rabbit@ctl2", "running": False}]), LIMITS)
    rabbit = evaluate(default_catalog(), out.checks).service("rabbitmq")
    assert rabbit is not None and rabbit.watched
    # two members, one down: quorum (a majority) is lost
    assert rabbit.status is Status.CRITICAL and "ctl2" in rabbit.message


def test_recorded_overview_objects() -> None:
    raw = recorded("overview")
    out = overview_results(raw)
    for kind, count in raw["object_totals"].items():
        assert value(out, "rabbitmq_objects", kind=kind) == count


@pytest.mark.parametrize(("name", "expected"), [
    ("compute", "nova-compute"), ("compute.cmp1", "nova-compute"),
    ("compute_fanout_56a887cc", "nova-compute"), ("compute-alt.cmp1", "nova-compute"),
    ("computer", "other"), ("conductor.vm", "nova-conductor"),
    ("cinder-volume.vm@fake.vm", "cinder-volume"), ("cinder-scheduler", "cinder-scheduler"),
    ("q-agent-notifier-port-update_fanout_1f2e", "neutron-openvswitch-agent"),
    ("q-reports-plugin", "neutron-server"), ("dhcp_agent.net1", "neutron-dhcp-agent"),
    ("l3_agent_fanout_9a", "neutron-l3-agent"), ("reply_0bbe61f8", "rpc-replies"),
    ("notifications.info", "notifications"), ("versioned_notifications.error", "notifications"),
    ("unrelated", "other"),
])
def test_queue_service(name: str, expected: str) -> None:
    assert queue_service(name, QUEUE_SERVICES) == expected


@pytest.mark.parametrize(("name", "host"), [
    ("compute.cmp1", "cmp1"), ("compute.cmp1.example.org", "cmp1.example.org"),
    ("compute", None), ("compute.", None), ("compute_fanout_x", None),
    ("compute-alt.cmp1", None),
])
def test_compute_host(name: str, host: str | None) -> None:
    assert compute_host(name, "compute") == host


@pytest.mark.parametrize("data", [{"not": "a list"}, [1, 2], [{"running": True}],
                                  "garbage"])
def test_unexpected_node_shapes_are_invalid_responses(data: Any) -> None:
    with pytest.raises(InvalidResponse):
        parse_nodes(data)


@pytest.mark.parametrize("data", [None, [{"name": "q"}], [[]]])
def test_unexpected_queue_shapes_are_invalid_responses(data: Any) -> None:
    with pytest.raises(InvalidResponse):
        parse_queues(data)
