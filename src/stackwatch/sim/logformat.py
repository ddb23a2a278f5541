"""Pure formatters for the log lines a real OpenStack node writes (no I/O, no clocks).

Each function follows a real format, checked against ``shared/reference/logs/``:

- :func:`oslo_line` / :func:`oslo_block`: oslo.log's default
  ``logging_context_format_string``::

    2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog \
        [None req-317d... USER PROJECT - - default default] 127.0.0.1 "GET ...

  a traceback repeats ``time pid LEVEL logger`` on every line, without the context;
  service-internal lines carry ``[None req-... - - - - - -]``, start-up lines ``[-]``.
- :func:`requestlog_message`: nova's and placement's ``requestlog`` middleware
  (``127.0.0.1 "GET /v2.1/servers/detail" status: 200 len: 3759 microversion: 2.100
  time: 1.935390``; placement writes no ``time``).
- :func:`eventlet_message`: oslo.service's eventlet ``wsgi_log_format``
  (``127.0.0.1 "GET /v2.0/ports HTTP/1.1" status: 200  len: 1834 time: 0.0823250``,
  two spaces before ``len``), as neutron and cinder wrote it before WSGI-only.
- :func:`eventlet_default_message`: eventlet's own default, as glance-api writes it.
- :func:`access_line`: Apache ``combined`` plus ``%D`` (microseconds), keystone's vhost.
- :func:`haproxy_line`: HAProxy ``option httplog`` through rsyslog.
- :func:`libvirt_line`: libvirtd's ``log_outputs`` file format.
- :func:`swift_proxy_line`: swift's ``proxy_logging`` default ``log_msg_template``
  through rsyslog (``Dec  5 12:00:00 controller proxy-server: 10.0.0.12 10.0.0.12
  05/Dec/2026/12/00/00 GET /v1/AUTH_0ab1/c1%3Fformat%3Djson HTTP/1.0 200 - ...``), every
  field quoted, ``-`` when empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Context:
    """oslo.context's log context. ``request_id=None`` renders ``[-]`` (no request).

    After the ids comes oslo.context's ``logging_user_identity_format``:
    ``user project domain system_scope user_domain project_domain``.
    """

    request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    global_request_id: str | None = None
    domain: str | None = None
    system_scope: str | None = None
    user_domain: str | None = "default"
    project_domain: str | None = "default"

    def render(self) -> str:
        if self.request_id is None:
            return "[-]"
        if self.user_id is None:
            return f"[{self.global_request_id} {self.request_id} - - - - - -]"
        fields = (
            self.global_request_id,
            self.request_id,
            self.user_id,
            self.project_id or "-",
            self.domain or "-",
            self.system_scope or "-",
            self.user_domain or "-",
            self.project_domain or "-",
        )
        return "[" + " ".join(str(f) for f in fields) + "]"


NO_CONTEXT = Context()


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC) if t.tzinfo is not None else t


def oslo_time(t: datetime) -> str:
    """``2026-11-21 06:19:36.304`` (milliseconds, as oslo.log's ``%(msecs)03d``)."""
    t = _utc(t)
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}"


def oslo_line(
    t: datetime,
    pid: int,
    level: str,
    logger: str,
    message: str,
    context: Context = NO_CONTEXT,
    instance: str | None = None,
) -> str:
    """One oslo.log line (no trailing newline); ``instance`` adds ``[instance: UUID] ``."""
    inst = f"[instance: {instance}] " if instance else ""
    return f"{oslo_time(t)} {pid} {level} {logger} {context.render()} {inst}{message}"


def oslo_block(
    t: datetime,
    pid: int,
    level: str,
    logger: str,
    message: str,
    context: Context,
    detail: Sequence[str],
    instance: str | None = None,
) -> list[str]:
    """A multi-line record: the first line with context, then each ``detail`` line
    (a traceback) with the same ``time pid LEVEL logger`` prefix and no context."""
    prefix = f"{oslo_time(t)} {pid} {level} {logger}"
    return [oslo_line(t, pid, level, logger, message, context, instance)] + [
        f"{prefix} {line}" for line in detail
    ]


def traceback_lines(frames: Sequence[tuple[str, int, str, str]], error: str) -> list[str]:
    """``Traceback (most recent call last):`` + ``File "...", line N, in f`` + code + error."""
    lines = ["Traceback (most recent call last):"]
    for path, lineno, func, code in frames:
        lines.append(f'  File "{path}", line {lineno}, in {func}')
        lines.append(f"    {code}")
    lines.append(error)
    return lines


def requestlog_message(
    remote: str,
    method: str,
    path: str,
    status: int,
    length: int,
    microversion: str | None,
    seconds: float | None,
) -> str:
    """nova/placement ``requestlog``; ``seconds=None`` leaves out ``time`` (placement)."""
    text = (
        f'{remote} "{method} {path}" status: {status} len: {length} '
        f"microversion: {microversion or '-'}"
    )
    return text if seconds is None else f"{text} time: {seconds:.6f}"


def eventlet_message(
    remote: str, method: str, path: str, status: int, length: int, seconds: float
) -> str:
    """oslo.service ``wsgi_log_format`` (neutron, cinder under eventlet)."""
    return (
        f'{remote} "{method} {path} HTTP/1.1" status: {status}  len: {length} time: {seconds:.7f}'
    )


def eventlet_default_message(
    remote: str, t: datetime, method: str, path: str, status: int, length: int, seconds: float
) -> str:
    """eventlet.wsgi's default format (glance-api): ``- - [21/Nov/2026 06:19:36]``."""
    t = _utc(t)
    stamp = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year:04d} {t:%H:%M:%S}"
    return f'{remote} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {length} {seconds:.6f}'


def clf_time(t: datetime) -> str:
    """Common Log Format time: ``21/Nov/2026:06:19:36 +0000``."""
    t = _utc(t)
    return f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year:04d}:{t:%H:%M:%S} +0000"


def access_line(
    remote: str,
    t: datetime,
    method: str,
    path: str,
    status: int,
    length: int,
    agent: str,
    seconds: float,
    referer: str = "-",
) -> str:
    """Apache ``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D``."""
    size = str(length) if length else "-"
    return (
        f'{remote} - - [{clf_time(t)}] "{method} {path} HTTP/1.1" {status} {size} '
        f'"{referer}" "{agent}" {round(seconds * 1e6)}'
    )


def haproxy_line(
    t: datetime,
    host: str,
    pid: int,
    client: str,
    client_port: int,
    frontend: str,
    backend: str,
    server: str,
    timers: tuple[int, int, int, int, int],
    status: int,
    length: int,
    method: str,
    path: str,
    termination: str = "----",
    conns: tuple[int, int, int, int, int] = (1, 1, 0, 0, 0),
) -> str:
    """HAProxy ``option httplog`` via rsyslog; ``timers`` are TR/Tw/Tc/Tr/Ta in ms."""
    t = _utc(t)
    syslog = f"{MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"
    accept = (
        f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year:04d}:{t:%H:%M:%S}.{t.microsecond // 1000:03d}"
    )
    tr, tw, tc, trs, ta = timers
    return (
        f"{syslog} {host} haproxy[{pid}]: {client}:{client_port} [{accept}] {frontend} "
        f"{backend}/{server} {tr}/{tw}/{tc}/{trs}/{ta} {status} {length} - - {termination} "
        f'{"/".join(str(c) for c in conns)} 0/0 "{method} {path} HTTP/1.1"'
    )


def libvirt_line(t: datetime, thread: int, level: str, function: str, message: str) -> str:
    """libvirtd's file output: ``2026-11-21 06:04:37.123+0000: 1234: error : fn:12 : msg``."""
    t = _utc(t)
    stamp = f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}+0000"
    return f"{stamp}: {thread}: {level} : {function} : {message}"


def syslog_time(t: datetime) -> str:
    """rsyslog's traditional time: ``Dec  5 12:00:00`` (the day padded with a space)."""
    t = _utc(t)
    return f"{MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"


@dataclass(frozen=True, slots=True)
class SwiftRequest:
    """The fields of one swift proxy-server request line (``proxy_logging``)."""

    client: str  # client_ip and remote_addr ("-" for a middleware's subrequest)
    method: str
    path: str  # with its query string, unquoted
    status: int
    user_agent: str
    token: str  # what is shown of the token: its first 16 characters and "...", or "-"
    bytes_recvd: int
    bytes_sent: int
    transaction_id: str
    start: float  # epoch seconds
    end: float
    source: str = "-"  # the middleware that made a subrequest (VW, SLO...), else "-"
    policy_index: str = "-"
    user: str = "-"  # access_user_id


def swift_proxy_line(host: str, r: SwiftRequest) -> str:
    """One request line of swift's proxy-server as rsyslog writes it on ``host``."""
    def q(value: str) -> str:
        return quote(value, safe="/") or "-"

    def size(n: int) -> str:
        return str(n) if n else "-"

    end = datetime.fromtimestamp(r.end, UTC)
    fields = (
        r.client, r.client, f"{end:%d}/{MONTHS[end.month - 1]}/{end:%Y/%H/%M/%S}", r.method,
        q(r.path), "HTTP/1.0", str(r.status), "-", q(r.user_agent), r.token,
        size(r.bytes_recvd), size(r.bytes_sent), "-", r.transaction_id, "-",
        f"{r.end - r.start:.4f}", r.source, "-", f"{r.start:.9f}", f"{r.end:.9f}",
        r.policy_index, r.user)
    return f"{syslog_time(end)} {host} proxy-server: " + " ".join(fields)


def swift_proxy_text(t: datetime, host: str, message: str) -> str:
    """Any other proxy-server line through rsyslog (start-up, errors)."""
    return f"{syslog_time(t)} {host} proxy-server: {message}"
