"""infra.memcached against real memcached servers (Debian's ``memcached``): hit ratio,
evictions, connections refused at the limit; and every way of failing to look."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from infra.faulty import serving
from servers import Memcached, free_port, start_memcached
from stackwatch.catalog.loader import default_catalog
from stackwatch.catalog.testing import assert_covered, assert_declared
from stackwatch.errors import InvalidResponse, SourceTimeout, SourceUnavailable
from stackwatch.health.evaluate import evaluate
from stackwatch.infra_config import MemcachedConfig
from stackwatch.model import CheckResult, Collection, Status
from stackwatch.sources.infra.memcached import MemcachedSource, parse_stats

pytestmark = pytest.mark.integration


@pytest.fixture
def memcached() -> Iterator[Memcached]:
    with start_memcached(max_connections=64, memory_mb=2) as server:
        yield server


def source_for(*servers: object, **options: object) -> MemcachedSource:
    return MemcachedSource(MemcachedConfig.model_validate({"servers": list(servers),
                                                           **options}))


def server_check(out: Collection, host: str = "mc1") -> CheckResult:
    [found] = [c for c in out.checks if c.name == "memcached.server"
               and dict(c.labels)["host"] == host]
    return found


def value(out: Collection, name: str) -> float:
    [found] = [s.value for s in out.samples if s.name == name]
    return found


def test_hit_ratio_since_start_then_since_the_last_run(memcached: Memcached) -> None:
    memcached.command(b"set token 0 0 5", b"hello", b"get token", b"get absent")
    source = source_for({"address": memcached.address, "host": "mc1"})
    out = source.collect()
    assert_declared(out, source="infra")
    assert_covered(out, "infra.memcached")
    assert value(out, "memcached_hit_ratio") == 0.5
    assert value(out, "memcached_get_hits_total") == 1
    assert value(out, "memcached_max_connections") == memcached.max_connections
    check = server_check(out)
    assert check.status is Status.OK and "hit ratio 50%" in check.message
    assert dict(check.labels) == {"service": "memcached", "host": "mc1"}
    memcached.command(b"get token", b"get token", b"get token")
    assert value(source.collect(), "memcached_hit_ratio") == 1.0
    memcached_health = evaluate(default_catalog(), out.checks).service("memcached")
    assert memcached_health is not None and memcached_health.status is Status.OK


def test_evictions_since_the_last_run_warn(memcached: Memcached) -> None:
    source = source_for({"address": memcached.address, "host": "mc1"})
    assert server_check(source.collect()).status is Status.OK
    value_10k = b"x" * 10_000
    for start in range(0, 600, 100):   # 6 MB into 2 MB
        memcached.command(*[line for n in range(start, start + 100)
                            for line in (b"set key%d 0 0 10000" % n, value_10k)])
    out = source.collect()
    check = server_check(out)
    assert check.status is Status.WARNING and "evicted since the last run" in check.message
    assert value(out, "memcached_evictions_total") > 0
    assert server_check(source.collect()).status is Status.OK   # none since


def test_connections_refused_at_the_limit_are_critical() -> None:
    with start_memcached(max_connections=16) as small:
        source = source_for({"address": small.address, "host": "mc1"})
        source.collect()
        held = [socket.create_connection(("127.0.0.1", small.port), timeout=5)
                for _ in range(24)]
        try:
            time.sleep(0.5)
            out = source.collect()
        finally:
            for conn in held:
                conn.close()
        time.sleep(0.5)
        after = source.collect()
    check = server_check(out)
    assert check.status is Status.CRITICAL
    # the monitor's own connection may be one of those refused
    if "refuses connections" in check.message:
        assert "Too many open connections" in check.message
    else:
        assert "connections refused since the last run (max_connections" in check.message
        assert value(out, "memcached_rejected_connections_total") > 0
    # once they are closed it is OK again: none refused since
    assert server_check(after).status is Status.OK


def test_connection_thresholds(memcached: Memcached) -> None:
    held = [socket.create_connection(("127.0.0.1", memcached.port)) for _ in range(6)]
    try:
        time.sleep(0.3)
        out = source_for({"address": memcached.address, "host": "mc1"},
                         connections={"warning": 5, "critical": 50}).collect()
    finally:
        for conn in held:
            conn.close()
    check = server_check(out)
    assert check.status is Status.WARNING and "of 64 connections" in check.message


@pytest.mark.parametrize(("answer", "error", "words"), [
    (None, SourceTimeout, "no answer within 1s"),
    (b"ERROR\r\n", InvalidResponse, "not a stats answer"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", InvalidResponse, "closed the connection"),
    (b"STAT curr_connections 1\r\ngarbage here\r\nEND\r\n", InvalidResponse,
     "not a STAT line"),
])
def test_hung_and_garbage_servers(answer: bytes | None, error: type[Exception],
                                  words: str) -> None:
    with serving(answer) as server, pytest.raises(error, match=words):
        source_for(f"127.0.0.1:{server.port}", timeout=1).collect()


def test_one_server_down_never_hides_the_other(memcached: Memcached) -> None:
    source = source_for({"address": memcached.address, "host": "mc1"},
                        {"address": f"127.0.0.1:{free_port()}", "host": "mc2"})
    out = source.collect()
    assert server_check(out, "mc1").status is Status.OK
    down = server_check(out, "mc2")
    assert down.status is Status.UNKNOWN and "cannot connect" in down.message
    health = evaluate(default_catalog(), out.checks).service("memcached")
    assert health is not None and health.status is Status.OK
    assert "not looked at: mc2" in health.message
    with pytest.raises(SourceUnavailable, match=r"no target could be read: mc1: .*mc2: "):
        source_for({"address": f"127.0.0.1:{free_port()}", "host": "mc1"},
                   {"address": f"127.0.0.1:{free_port()}", "host": "mc2"}).collect()


@pytest.mark.unit
def test_parse_stats_keeps_numbers() -> None:
    stats = parse_stats("STAT pid 1\r\nSTAT version 1.6.18\r\nSTAT curr_connections 2\r\n"
                        "END\r\n")
    assert stats == {"pid": 1.0, "curr_connections": 2.0}
    with pytest.raises(InvalidResponse, match="no END"):
        parse_stats("STAT pid 1\r\n")
