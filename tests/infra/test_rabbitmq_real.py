"""infra.rabbitmq against a real RabbitMQ with the management plugin (tests/servers.py):
compute consumers seen and lost, idle queues, real memory and disk alarms, and every
way of failing to look."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kombu import Connection, Consumer, Exchange, Queue

from infra.faulty import http_answer, serving
from servers import RabbitMQ, free_port
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceAuthError, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import RabbitMQConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.rabbitmq import RabbitMQSource

pytestmark = pytest.mark.integration

VHOST = "infra-test"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something (the node's statistics lag seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:.0f}s: {what}")
        time.sleep(0.5)


def source_for(rabbitmq: RabbitMQ, **options: Any) -> RabbitMQSource:
    options = {"user": "guest", "password": "guest", **options}
    return RabbitMQSource(RabbitMQConfig(url=f"http://127.0.0.1:{rabbitmq.mgmt_port}",
                                         **options))


def checks(out: Collection, name: str, **labels: str) -> list[CheckResult]:
    return [c for c in out.checks if c.name == name
            and all(dict(c.labels).get(k) == v for k, v in labels.items())]


@pytest.fixture(scope="module")
def vhost(rabbitmq: RabbitMQ) -> str:
    rabbitmq.ctl("add_vhost", VHOST)
    rabbitmq.ctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    return VHOST


@pytest.fixture
def compute_queues(rabbitmq: RabbitMQ, vhost: str) -> Iterator[dict[str, Connection]]:
    """``compute.cmp1`` and ``compute.cmp2`` each consumed by its own connection (as each
    nova-compute has), and ``notifications.info`` holding messages nobody consumes."""
    url = f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/{vhost}"
    nova = Exchange("nova", type="topic", durable=False)
    consumers: dict[str, Connection] = {}
    for host in ("cmp1", "cmp2"):
        conn = Connection(url)
        queue = Queue(f"compute.{host}", nova, routing_key=f"compute.{host}", durable=False,
                      auto_delete=False)
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda body, message: None])
        consumer.consume()
        consumers[host] = conn
    with Connection(url) as publisher:
        idle = Queue("notifications.info", nova, routing_key="notifications.info",
                     durable=False, auto_delete=False)
        idle(publisher.channel()).declare()
        producer = publisher.Producer()
        for n in range(5):
            producer.publish({"n": n}, exchange=nova, routing_key="notifications.info")
    try:
        yield consumers
    finally:
        for conn in consumers.values():
            conn.release()
        with Connection(url) as admin:
            channel = admin.channel()
            for name in ("compute.cmp1", "compute.cmp2", "notifications.info"):
                Queue(name, nova, durable=False)(channel).delete()


def test_compute_consumers_seen_then_one_lost(rabbitmq: RabbitMQ,
                                              compute_queues: dict[str, Connection]) -> None:
    source = source_for(rabbitmq)

    def settled() -> Collection | None:
        out = source.collect()
        idle = [s for s in out.samples if s.name == "rabbitmq_queue_messages_without_consumers"
                and s.label("vhost") == VHOST]
        fd = [s for s in out.samples if s.name == "rabbitmq_node_fd_used"]
        return out if idle and idle[0].value == 5 and fd else None

    out = wait_for("the node's statistics", settled)
    assert_declared(out, source="infra")
    assert_covered(out, "infra.rabbitmq")
    for host in ("cmp1", "cmp2"):
        [result] = checks(out, "rabbitmq.compute_consumer", host=host, vhost=VHOST)
        assert result.status is Status.OK, result
    [node] = checks(out, "rabbitmq.node")
    assert node.status is Status.OK and dict(node.labels)["node"] == rabbitmq.nodename
    [queues] = checks(out, "rabbitmq.queues")
    assert queues.status is Status.WARNING and f"{VHOST}:notifications.info (5)" in queues.message

    compute_queues["cmp2"].release()  # nova-compute on cmp2 loses its AMQP connection

    def lost() -> Collection | None:
        out = source.collect()
        [result] = checks(out, "rabbitmq.compute_consumer", host="cmp2", vhost=VHOST)
        return out if result.status is Status.CRITICAL else None

    out = wait_for("cmp2 without consumer", lost)
    [kept] = checks(out, "rabbitmq.compute_consumer", host="cmp1", vhost=VHOST)
    assert kept.status is Status.OK
    compute = evaluate(default_catalog(), out.checks).service("nova-compute")
    assert compute is not None
    assert {m.host: m.status for m in compute.members} == {"cmp1": Status.OK,
                                                           "cmp2": Status.CRITICAL}


@pytest.mark.parametrize(("setting", "reset", "words"), [
    (["set_vm_memory_high_watermark", "absolute", "1MB"],
     ["set_vm_memory_high_watermark", "0.4"], "memory alarm"),
    (["set_disk_free_limit", "100000GB"], ["set_disk_free_limit", "50MB"], "disk free alarm"),
])
def test_real_alarms_make_the_node_critical(rabbitmq: RabbitMQ, setting: list[str],
                                            reset: list[str], words: str) -> None:
    source = source_for(rabbitmq)
    rabbitmq.ctl(*setting)
    try:
        def alarmed() -> CheckResult | None:
            [node] = checks(source.collect(), "rabbitmq.node")
            return node if node.status is Status.CRITICAL else None

        node = wait_for(words, alarmed)
        assert words in node.message and "publishers blocked" in node.message
    finally:
        rabbitmq.ctl(*reset)
    wait_for("the alarm cleared", lambda: True if checks(
        source.collect(), "rabbitmq.node")[0].status is Status.OK else None)


def test_bad_password_is_an_auth_error_that_never_shows_the_password(
        rabbitmq: RabbitMQ, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-never-shown"
    source = source_for(rabbitmq, password=secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceAuthError, match="HTTP 401") as info:
        source.collect()
    assert secret not in str(info.value) and secret not in repr(source.__dict__)
    assert secret not in caplog.text
    assert secret not in repr(source.config) and secret not in str(source.config)


def test_a_user_without_the_management_tag_is_refused(rabbitmq: RabbitMQ) -> None:
    rabbitmq.ctl("add_user", "plain-user", "plain-pass")
    try:
        with pytest.raises(SourceAuthError):
            source_for(rabbitmq, user="plain-user", password="plain-pass").collect()
    finally:
        rabbitmq.ctl("delete_user", "plain-user")


@pytest.mark.parametrize(("answer", "error", "words"), [
    (None, SourceTimeout, "no answer within 1s"),
    (http_answer(200, b"<html>hello</html>", "text/html"), InvalidResponse, "not JSON"),
    (http_answer(200, b'[{"name": "rabbit@x"', length=400), InvalidResponse, "cut short"),
    (http_answer(500, b"{}"), SourceUnavailable, "HTTP 500"),
    (http_answer(404, b"{}"), SourceUnavailable, "HTTP 404"),
    (http_answer(403, b"{}"), SourceAuthError, "HTTP 403"),
    (b"\x00\x01garbage\r\n\r\n", InvalidResponse, "not a valid HTTP answer"),
])
def test_every_failure_is_a_clear_source_error(answer: bytes | None, error: type[Exception],
                                               words: str) -> None:
    with serving(answer) as server:
        config = RabbitMQConfig(url=f"http://127.0.0.1:{server.port}", user="u",
                                password="pw-not-shown", timeout=1)
        with pytest.raises(error, match=words) as info:
            RabbitMQSource(config).collect()
    assert "pw-not-shown" not in str(info.value)
    assert "/api/overview" in str(info.value)


def test_nothing_listening_is_unavailable() -> None:
    config = RabbitMQConfig(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        RabbitMQSource(config).collect()


def test_the_simulators_queue_without_consumer_is_seen(rabbitmq: RabbitMQ) -> None:
    """The simulator's ``queue-no-consumers`` fault (a telemetry consumer died): its
    notifications.info fills up with nobody reading, and infra.rabbitmq names it."""
    from stackwatch.sim.bus import NotificationBus
    from stackwatch.sim.generate import Sizing, generate
    from stackwatch.sim.state import CloudState

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=5, base_url="http://x", admin_password="p")
    bus = NotificationBus(state, rabbitmq.url).start()
    source = source_for(rabbitmq)
    try:
        bus.inject("queue-no-consumers", {})
        assert bus.audit() > 0
        bus.flush()

        def named_idle() -> CheckResult | None:
            [queues] = checks(source.collect(), "rabbitmq.queues")
            return queues if "notifications.info (" in queues.message else None

        queues = wait_for("notifications.info without consumer", named_idle)
        assert queues.status is Status.WARNING
    finally:
        bus.clear("queue-no-consumers")
        bus.close()
    def gone() -> bool | None:
        idle = [s for s in source.collect().samples
                if s.name == "rabbitmq_queue_messages_without_consumers"
                and s.label("vhost") == "/" and s.label("queue") == "notifications.info"]
        return True if not idle else None

    wait_for("the fault cleared", gone)
