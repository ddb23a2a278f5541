"""``infra.memcached``: each memcached server's ``stats`` over its text protocol.

One TCP connection per server and run: ``stats`` answers ``STAT <name> <value>``
lines and ``END``. Per server, a ``memcached.server`` check ``{service=memcached,
host}``:

* CRITICAL when it refuses our connection (``ERROR Too many open connections``),
  when it refused connections since the last run (``rejected_connections``
  or ``listen_disabled_num`` grew: ``max_connections`` reached, clients such as
  keystone's token cache fail) or its connections are at ``connections.critical``
  % of ``max_connections``; WARNING at ``connections.warning`` %;
* WARNING when it evicted items since the last run (``warn_on_evictions``): the
  cache is too small for what is put in it, so tokens are validated again and
  again.

The hit ratio is that of the gets since the last run (since the server started on
the first run). Counters that went back (the server restarted) start afresh.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping

from stackwatch.errors import InvalidResponse, SourceError, SourceTimeout, SourceUnavailable
from stackwatch.infra_config import MemcachedConfig, MemcachedServer
from stackwatch.model import CheckResult, Collection, Sample, Status
from stackwatch.sources.infra.base import (
    Context,
    InfraSource,
    check,
    percent_status,
    sample,
    worst,
)
from stackwatch.sources.infra.http import excerpt

log = logging.getLogger(__name__)

#: ``stats`` field -> metric.
STAT_FIELDS: tuple[tuple[str, str], ...] = (
    ("curr_connections", "memcached_connections"),
    ("max_connections", "memcached_max_connections"),
    ("total_connections", "memcached_connections_total"),
    ("rejected_connections", "memcached_rejected_connections_total"),
    ("listen_disabled_num", "memcached_listen_disabled_total"),
    ("get_hits", "memcached_get_hits_total"),
    ("get_misses", "memcached_get_misses_total"),
    ("evictions", "memcached_evictions_total"),
    ("curr_items", "memcached_items"),
    ("bytes", "memcached_bytes"),
    ("limit_maxbytes", "memcached_limit_bytes"),
    ("uptime", "memcached_uptime_seconds"),
)
MAX_ANSWER = 1024 * 1024
#: What a server at max_connections answers a new connection (memcached 1.5+), then closes.
FULL = b"ERROR Too many open connections"


def parse_stats(text: str) -> dict[str, float]:
    """``STAT name value`` lines up to ``END`` -> numbers (non-numeric values left out)."""
    stats: dict[str, float] = {}
    lines = text.split("\r\n")
    if "END" not in lines:
        raise InvalidResponse(f"memcached stats: no END line in {excerpt(text)}")
    for line in lines[:lines.index("END")]:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "STAT":
            raise InvalidResponse(f"memcached stats: not a STAT line: {excerpt(line)}")
        try:
            stats[parts[1]] = float(parts[2])
        except ValueError:
            continue  # version, libevent: words, not numbers
    if "curr_connections" not in stats:
        raise InvalidResponse("memcached stats: no curr_connections")
    return stats


def _grew(now: Mapping[str, float], before: Mapping[str, float] | None, name: str) -> float:
    """How much counter ``name`` grew since ``before`` (0 without it, or after a restart)."""
    if before is None or name not in now or name not in before or now[name] < before[name]:
        return 0.0
    return now[name] - before[name]


def hit_ratio(now: Mapping[str, float], before: Mapping[str, float] | None) -> float | None:
    """Hits of the gets since ``before`` (or since start); None without any get."""
    hits, misses = now.get("get_hits", 0.0), now.get("get_misses", 0.0)
    if before is not None and hits >= before.get("get_hits", 0) and misses >= before.get(
            "get_misses", 0) and now.get("uptime", 0) >= before.get("uptime", 0):
        hits -= before.get("get_hits", 0)
        misses -= before.get("get_misses", 0)
    total = hits + misses
    return hits / total if total else None


def judge(host: str, now: Mapping[str, float], before: Mapping[str, float] | None,
          config: MemcachedConfig) -> tuple[Status, str]:
    """The server's status and why (see the module docstring)."""
    judged: list[tuple[Status, str]] = [(Status.OK, "")]
    current, limit = now.get("curr_connections", 0.0), now.get("max_connections", 0.0)
    refused = (_grew(now, before, "rejected_connections")
               + _grew(now, before, "listen_disabled_num"))
    if refused:
        judged.append((Status.CRITICAL, f"{refused:.0f} connections refused since the last "
                       "run (max_connections reached)"))
    if limit:
        status = percent_status(current, limit, config.connections.warning,
                                config.connections.critical)
        judged.append((status, f"{current:.0f} of {limit:.0f} connections"))
    evicted = _grew(now, before, "evictions")
    if evicted and config.warn_on_evictions:
        judged.append((Status.WARNING, f"{evicted:.0f} items evicted since the last run "
                       "(the cache is too small)"))
    status, reason = worst(*judged)
    if status is Status.OK:
        ratio = hit_ratio(now, before)
        shown = f", hit ratio {100 * ratio:.0f}%" if ratio is not None else ""
        return status, f"{host}: {current:.0f} of {limit:.0f} connections{shown}"
    return status, f"{host}: {reason}"


def server_results(host: str, now: Mapping[str, float], before: Mapping[str, float] | None,
                   config: MemcachedConfig) -> Collection:
    """Samples and the check of one server."""
    labels = {"host": host}
    samples: list[Sample] = [sample(metric, now[field], labels)
                             for field, metric in STAT_FIELDS if field in now]
    ratio = hit_ratio(now, before)
    if ratio is not None:
        samples.append(sample("memcached_hit_ratio", ratio, labels))
    status, message = judge(host, now, before, config)
    checks: tuple[CheckResult, ...] = (check("memcached.server", status, message,
                                             service="memcached", host=host),)
    return Collection(tuple(samples), checks)


def read_stats(address: tuple[str, int], timeout: float) -> str:
    """Send ``stats`` and read the answer up to ``END``."""
    where = f"{address[0]}:{address[1]}"
    started = time.monotonic()
    deadline = started + timeout
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = conn.recv(65536)
                if not chunk:
                    raise InvalidResponse(f"memcached stats on {where}: the server closed "
                                          f"the connection after {excerpt(data)}")
                data += chunk
                if data.startswith(FULL) and data.endswith(b"\r\n"):
                    break  # it refused us too: judged, not an error
                if len(data) > MAX_ANSWER or data.startswith((b"ERROR", b"CLIENT_ERROR",
                                                             b"SERVER_ERROR")):
                    raise InvalidResponse(f"memcached stats on {where}: not a stats "
                                          f"answer: {excerpt(data)}")
    except SourceError:
        raise
    except TimeoutError:
        raise SourceTimeout(f"memcached stats on {where}: no answer within "
                            f"{timeout:g}s") from None
    except OSError as exc:
        raise SourceUnavailable(f"memcached stats on {where}: cannot connect "
                                f"({exc.strerror or type(exc).__name__})") from None
    log.info("memcached stats on %s: %d bytes in %.3fs", where, len(data),
             time.monotonic() - started)
    return data.decode("utf-8", "replace")


class MemcachedSource(InfraSource[MemcachedServer]):
    """Every configured server in turn."""

    piece = "memcached"

    def __init__(self, config: MemcachedConfig) -> None:
        super().__init__(config.servers)
        self.config = config
        self._before: dict[str, dict[str, float]] = {}

    def target_name(self, target: MemcachedServer) -> str:
        return target.member()

    def unreadable(self, target: MemcachedServer, reason: str) -> tuple[CheckResult, ...]:
        host = target.member()
        return (check("memcached.server", Status.UNKNOWN, f"{host}: {reason}",
                      service="memcached", host=host),)

    def read(self, target: MemcachedServer) -> Collection:
        host = target.member()
        text = read_stats(target.endpoint(), self.config.timeout)
        if text.encode().startswith(FULL):
            # what it refused meanwhile is this run's news; the next run starts afresh
            self._before.pop(host, None)
            return Collection(checks=(check(
                "memcached.server", Status.CRITICAL, f"{host}: refuses connections "
                f"({FULL.decode()}): max_connections reached", service="memcached",
                host=host),))
        stats = parse_stats(text)
        out = server_results(host, stats, self._before.get(host), self.config)
        self._before[host] = stats
        return out


def build(config: MemcachedConfig, context: Context) -> MemcachedSource:
    """``infra.memcached`` for the section ``config``."""
    return MemcachedSource(config)
