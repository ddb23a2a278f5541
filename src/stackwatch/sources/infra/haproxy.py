"""``infra.haproxy``: each HAProxy's statistics as CSV, from its stats page or its socket.

``GET <url>;csv`` (basic authentication) or ``show stat`` on the stats socket
(``stats socket ... level user``) give one CSV row per frontend, backend and
server, read by header name (the columns grow with HAProxy versions). Checks:

* ``haproxy.instance`` {service=haproxy, host}: OK when the statistics were read
  (the member of the ``haproxy`` service), saying how many backends and servers
  are down.
* ``haproxy.frontend`` {instance, proxy}: CRITICAL when ``FULL`` (its session limit
  reached: new connections wait in the kernel) or ``STOP``; sessions against the
  ``sessions`` thresholds of its limit (``slim``).
* ``haproxy.backend`` {instance, proxy}: CRITICAL with no server up; WARNING with
  some servers down (named, with their last check), requests queued waiting for a
  server (its servers at their maxconn), or 5xx answers at ``http_5xx_percent`` of the
  answers since the last run (given ``http_5xx_min_responses``).
* ``haproxy.server`` {service, host, instance, proxy} for the servers of the
  backends ``backends`` maps to a catalog service (``nova_api: nova-api``): each
  server is that service's member on the host it is named after — DOWN is
  CRITICAL, MAINT/DRAIN/NOLB WARNING — so a nova-api down behind HAProxy is a
  nova-api member down in health.
"""

from __future__ import annotations

import csv
import io
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackwatch.errors import (
    InvalidResponse,
    SourceAuthError,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)
from stackwatch.infra_config import HAProxyConfig, HAProxyInstance
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
from stackwatch.sources.infra.http import HttpGetter, excerpt

log = logging.getLogger(__name__)

#: CSV column -> metric, for every row (frontend, backend, server) that has it.
FIELDS: tuple[tuple[str, str], ...] = (
    ("scur", "haproxy_current_sessions"),
    ("smax", "haproxy_max_sessions"),
    ("slim", "haproxy_limit_sessions"),
    ("stot", "haproxy_sessions_total"),
    ("qcur", "haproxy_current_queue"),
    ("econ", "haproxy_connection_errors_total"),
    ("eresp", "haproxy_response_errors_total"),
    ("act", "haproxy_active_servers"),
    ("downtime", "haproxy_downtime_seconds_total"),
)
#: HTTP answers by class: CSV column -> ``code`` label of haproxy_http_responses_total.
RESPONSES: tuple[tuple[str, str], ...] = (
    ("hrsp_1xx", "1xx"), ("hrsp_2xx", "2xx"), ("hrsp_3xx", "3xx"), ("hrsp_4xx", "4xx"),
    ("hrsp_5xx", "5xx"), ("hrsp_other", "other"))
KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}
NEEDED = ("pxname", "svname", "status", "type")
MAX_ANSWER = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the statistics: a frontend, a backend or a server."""

    proxy: str
    name: str                   # FRONTEND, BACKEND or the server's name
    kind: str                   # frontend, backend, server, listener
    status: str                 # OPEN, FULL, STOP, UP, DOWN, MAINT, "UP 1/3", no check...
    values: Mapping[str, float]
    check: str = ""             # the last health check: "L4CON Connection refused"

    @property
    def up(self) -> bool:
        """Serving: OPEN, UP (also while going down, "UP 1/3"), or not checked."""
        return self.status.split(" ")[0] in ("OPEN", "UP", "no", "NOLB", "DRAIN")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_csv(text: str) -> list[Row]:
    """HAProxy's statistics CSV (``# pxname,svname,...`` header) -> rows."""
    if not text.startswith("# "):
        raise InvalidResponse(f"haproxy stats: not CSV statistics: {excerpt(text)}")
    reader = csv.reader(io.StringIO(text[2:]))
    header = next(reader, [])
    missing = [n for n in NEEDED if n not in header]
    if missing:
        raise InvalidResponse(f"haproxy stats: no column {', '.join(missing)} in the header")
    index = {name: i for i, name in enumerate(header)}
    numeric = [f for f, _ in FIELDS] + [f for f, _ in RESPONSES]
    rows = []
    for line in reader:
        if not line:
            continue
        if len(line) < len(NEEDED) or len(line) < max(index[n] for n in NEEDED) + 1:
            raise InvalidResponse(f"haproxy stats: a short line: {excerpt(','.join(line))}")
        cell = {name: line[i] if i < len(line) else "" for name, i in index.items()}
        values = {f: v for f in numeric if (v := _float(cell.get(f, ""))) is not None}
        last = " ".join(p for p in (cell.get("check_status", ""), cell.get("last_chk", ""))
                        if p)
        rows.append(Row(cell["pxname"], cell["svname"], KINDS.get(cell["type"], "other"),
                        cell["status"], values, last))
    return rows


def _responses(row: Row, before: Row | None) -> tuple[float, float]:
    """(5xx, all answers) of a row since ``before`` (since start without it)."""
    total = sum(row.values.get(f, 0.0) for f, _ in RESPONSES)
    errors = row.values.get("hrsp_5xx", 0.0)
    if before is not None:
        total_before = sum(before.values.get(f, 0.0) for f, _ in RESPONSES)
        errors_before = before.values.get("hrsp_5xx", 0.0)
        if total >= total_before and errors >= errors_before:
            return errors - errors_before, total - total_before
    return errors, total


def _sessions(row: Row, config: HAProxyConfig) -> tuple[Status, str]:
    current, limit = row.values.get("scur", 0.0), row.values.get("slim", 0.0)
    status = percent_status(current, limit, config.sessions.warning, config.sessions.critical)
    return status, f"{current:.0f} of {limit:.0f} sessions" if limit else ""


def judge_frontend(row: Row, config: HAProxyConfig) -> tuple[Status, str]:
    """A frontend's status and why."""
    judged = [_sessions(row, config)]
    if row.status == "FULL":
        judged.append((Status.CRITICAL, "FULL: session limit reached, new connections wait"))
    elif row.status == "STOP":
        judged.append((Status.CRITICAL, "STOP: not accepting connections"))
    status, reason = worst(*judged)
    return status, f"frontend {row.proxy} {row.status}" + (f": {reason}" if reason else "")


def judge_backend(row: Row, servers: Sequence[Row], before: Row | None,
                  config: HAProxyConfig) -> tuple[Status, str]:
    """A backend's status and why, from its own row and its servers'."""
    up = [s for s in servers if s.up]
    down = [s for s in servers if not s.up]
    # a backend's slim is its fullconn (a tuning knob, not a limit): not judged
    judged: list[tuple[Status, str]] = [(Status.OK, "")]
    if not up and (servers or not row.up):
        judged.append((Status.CRITICAL, "no server up" + (
            f": {named([_down(s) for s in down], 5)}" if down else "")))
    elif down:
        judged.append((Status.WARNING, f"{len(up)} of {len(servers)} servers up; down: "
                       + named([_down(s) for s in down], 5)))
    queued = row.values.get("qcur", 0.0)
    if queued:
        judged.append((Status.WARNING, f"{queued:.0f} requests queued waiting for a server"))
    errors, total = _responses(row, before)
    if total >= config.http_5xx_min_responses and 100 * errors / total >= config.http_5xx_percent:
        since = "since the last run" if before is not None else "since start"
        judged.append((Status.WARNING, f"{errors:.0f} of {total:.0f} answers 5xx {since}"))
    status, reason = worst(*judged)
    summary = f"backend {row.proxy} {row.status}, {len(up)} of {len(servers)} servers up"
    return status, (f"backend {row.proxy}: {reason}" if status is not Status.OK else summary)


def _down(server: Row) -> str:
    return f"{server.name} {server.status}" + (f" ({server.check})" if server.check else "")


def judge_server(row: Row) -> tuple[Status, str]:
    """A server of a mapped backend: its member's status."""
    word = row.status.split(" ")[0]
    if word in ("DOWN",):
        return Status.CRITICAL, f"{_down(row)} behind {row.proxy}"
    if word in ("MAINT", "DRAIN", "NOLB") or word.startswith("MAINT"):
        return Status.WARNING, f"{row.name} {row.status} behind {row.proxy}"
    return Status.OK, f"{row.name} {row.status} behind {row.proxy}"


def instance_results(instance: str, rows: Sequence[Row], before: Mapping[str, Row],
                     config: HAProxyConfig) -> Collection:
    """Samples and checks of one HAProxy's statistics."""
    samples: list[Sample] = []
    checks: list[CheckResult] = []
    for row in rows:
        labels = {"host": instance, "proxy": row.proxy, "server": row.name}
        samples.append(sample("haproxy_up", 1 if row.up else 0, labels))
        samples += [sample(metric, row.values[f], labels)
                    for f, metric in FIELDS if f in row.values]
        samples += [sample("haproxy_http_responses_total", row.values[f], {**labels, "code": c})
                    for f, c in RESPONSES if f in row.values]
    servers_of: dict[str, list[Row]] = {}
    for row in rows:
        if row.kind == "server":
            servers_of.setdefault(row.proxy, []).append(row)
    down_backends = 0
    for row in rows:
        where = {"instance": instance, "proxy": row.proxy}
        if row.kind == "frontend":
            status, message = judge_frontend(row, config)
            checks.append(check("haproxy.frontend", status, message, **where))
        elif row.kind == "backend":
            servers = servers_of.get(row.proxy, [])
            status, message = judge_backend(row, servers, before.get(row.proxy), config)
            down_backends += status is Status.CRITICAL
            checks.append(check("haproxy.backend", status, message,
                                service=config.backends.get(row.proxy, ""), **where))
        elif row.kind == "server" and row.proxy in config.backends:
            status, message = judge_server(row)
            checks.append(check("haproxy.server", status, message,
                                service=config.backends[row.proxy], host=row.name, **where))
    backends = [r for r in rows if r.kind == "backend"]
    servers = [r for r in rows if r.kind == "server"]
    down = [r for r in servers if not r.up]
    checks.append(check("haproxy.instance", Status.OK,
                        f"{instance}: {len([r for r in rows if r.kind == 'frontend'])} "
                        f"frontends, {len(backends)} backends ({down_backends} without a "
                        f"server up), {len(servers)} servers ({len(down)} down)",
                        service="haproxy", host=instance))
    return Collection(tuple(samples), tuple(checks))


def read_socket(path: str, timeout: float) -> str:
    """``show stat`` on a stats socket (non-interactive: it closes after answering)."""
    started = time.monotonic()
    deadline = started + timeout
    data = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(b"show stat\n")
            while chunk := conn.recv(65536):
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise InvalidResponse(f"haproxy show stat on {path}: answer too long")
                conn.settimeout(max(0.01, deadline - time.monotonic()))
    except SourceError:
        raise
    except TimeoutError:
        raise SourceTimeout(f"haproxy show stat on {path}: no answer within "
                            f"{timeout:g}s") from None
    except PermissionError:
        raise SourceAuthError(f"haproxy show stat on {path}: permission denied") from None
    except OSError as exc:
        raise SourceUnavailable(f"haproxy show stat on {path}: cannot connect "
                                f"({exc.strerror or type(exc).__name__})") from None
    log.info("haproxy show stat on %s: %d bytes in %.3fs", path, len(data),
             time.monotonic() - started)
    return data.decode("utf-8", "replace")


class HAProxySource(InfraSource[HAProxyInstance]):
    """Every configured HAProxy in turn."""

    piece = "haproxy"

    def __init__(self, config: HAProxyConfig, local_host: str) -> None:
        super().__init__(config.instances)
        self.config = config
        self.local_host = local_host
        self._before: dict[str, dict[str, Row]] = {}
        self._http = {id(i): HttpGetter(config.timeout, i.user, i.secret(), i.verify_tls)
                      for i in config.instances if i.url}

    def target_name(self, target: HAProxyInstance) -> str:
        return target.member() or self.local_host

    def unreadable(self, target: HAProxyInstance, reason: str) -> tuple[CheckResult, ...]:
        host = self.target_name(target)
        return (check("haproxy.instance", Status.UNKNOWN, f"{host}: {reason}",
                      service="haproxy", host=host),)

    def read(self, target: HAProxyInstance) -> Collection:
        host = self.target_name(target)
        if target.url:
            url = target.url if target.url.endswith(";csv") else target.url + ";csv"
            text = self._http[id(target)].get(url, f"haproxy stats {host}").decode(
                "utf-8", "replace")
        else:
            text = read_socket(str(target.socket), self.config.timeout)
        rows = parse_csv(text)
        out = instance_results(host, rows, self._before.get(host, {}), self.config)
        self._before[host] = {r.proxy: r for r in rows if r.kind == "backend"}
        return out


def build(config: HAProxyConfig, context: Context) -> HAProxySource:
    """``infra.haproxy`` for the section ``config``."""
    return HAProxySource(config, context.host)
