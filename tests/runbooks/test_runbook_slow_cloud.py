"""The slow-cloud checklist's judgement on figures built here: each item's verdict and
evidence, and the first item not OK named as the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import parse_config
from stackwatch.model import Sample, Status
from stackwatch.runbooks import fixer, registry
from stackwatch.runbooks.books.slow_cloud import Observed, Probe, run
from stackwatch.runbooks.context import Actor, RunbookContext
from stackwatch.store.base import Role

pytestmark = pytest.mark.unit

FAST = {t: Probe(t, 0.05) for t in ("identity", "image", "block-storage", "network",
                                    "compute")}
HEALTHY = {
    "openstack_keystone_db_tokens": [Sample.of("openstack_keystone_db_tokens", 1200)],
    "rabbitmq_queues_without_consumers": [Sample.of("rabbitmq_queues_without_consumers", 0,
                                                    vhost="/")],
    "mysql_connections": [Sample.of("mysql_connections", 40, host="db1")],
    "mysql_max_connections": [Sample.of("mysql_max_connections", 4000, host="db1")],
}


def by_item(observed: Observed) -> dict[str, tuple[Status, tuple[str, ...], bool]]:
    return {v.item: (v.status, v.evidence, v.cause) for v in run(observed)}


def test_a_healthy_cloud_has_no_cause_and_says_why_each_item_is_ok() -> None:
    verdicts = run(Observed(HEALTHY, FAST))
    assert [v.item for v in verdicts] == ["identity", "image", "block storage", "message bus",
                                          "database", "network", "compute"]
    assert all(v.status is Status.OK and not v.cause for v in verdicts)
    found = by_item(Observed(HEALTHY, FAST))
    assert found["identity"][1] == ("keystone API answers in 50 ms now (warning at 2 s, "
                                    "critical at 10 s)", "token table: 1200 rows, 0 expired")
    assert found["message bus"][1] == ("every queue holding messages has a consumer; no "
                                       "backlog unacknowledged",)


def test_token_bloat_is_the_cause_even_when_every_api_is_slow_after_it() -> None:
    samples = dict(HEALTHY, openstack_keystone_db_tokens=[
        Sample.of("openstack_keystone_db_tokens", 1_200_000)],
        openstack_keystone_db_tokens_expired=[
            Sample.of("openstack_keystone_db_tokens_expired", 900_000)],
        openstack_keystone_db_tokens_per_user=[
            Sample.of("openstack_keystone_db_tokens_per_user", 1_080_000, user_id="u-nova"),
            Sample.of("openstack_keystone_db_tokens_per_user", 20, user_id="u-admin")])
    probes = {t: Probe(t, 3.0) for t in FAST}
    found = by_item(Observed(samples, probes))
    assert found["identity"][0] is Status.CRITICAL and found["identity"][2]
    assert found["identity"][1][1] == ("token table: 1200000 rows, 900000 expired; user u-nova"
                                       " holds 1080000 (90%)")
    assert found["compute"][0] is Status.WARNING and not found["compute"][2]


def test_a_queue_without_consumers_is_named_with_its_depth() -> None:
    samples = dict(HEALTHY, rabbitmq_queues_without_consumers=[
        Sample.of("rabbitmq_queues_without_consumers", 1, vhost="/")],
        rabbitmq_queue_messages_without_consumers=[
            Sample.of("rabbitmq_queue_messages_without_consumers", 42, vhost="/",
                      queue="notifications.info")])
    found = by_item(Observed(samples, FAST))
    assert [k for k, v in found.items() if v[2]] == ["message bus"]
    assert found["message bus"][0] is Status.WARNING
    assert "notifications.info (42 messages, vhost /)" in found["message bus"][1][0]


def test_database_locks_and_connections_and_what_could_not_be_seen() -> None:
    samples = dict(HEALTHY, mysql_lock_waits=[Sample.of("mysql_lock_waits", 3, host="db1")],
                   mysql_longest_lock_wait_seconds=[
                       Sample.of("mysql_longest_lock_wait_seconds", 45, host="db1")],
                   mysql_connections=[Sample.of("mysql_connections", 3900, host="db1")])
    found = by_item(Observed(samples, FAST))
    assert found["database"][0] is Status.CRITICAL and found["database"][2]
    assert found["database"][1] == ("3 transaction(s) waiting for a lock, longest 45 s",
                                    "db1: 3900 of 4000 connections in use")
    blind = by_item(Observed({}, {"identity": Probe("identity", None, "refused")}))
    assert blind["message bus"][0] is Status.UNKNOWN and not blind["message bus"][2]
    assert blind["identity"] == (Status.CRITICAL, ("keystone API did not answer: refused",),
                                 True)


def test_no_api_reachable_is_could_not_look_not_a_slow_identity(tmp_path: Path) -> None:
    config = parse_config({"clouds": [{"name": "c", "clouds_yaml": str(tmp_path / "no.yaml")}]})
    ctx = RunbookContext(config, config.clouds[0], default_catalog(),
                         Actor("a", Role.READ, "cli"))
    try:
        found = fixer.diagnose(registry.runbook("slow-cloud"), ctx)
    finally:
        ctx.close()
    assert found.verdict == "UNKNOWN"
    assert found.summary.startswith("could not look: no API could be probed: ")
