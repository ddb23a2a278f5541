"""What the parsers return: one typed record per recognised line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Context:
    """The oslo.log request context ``[global req user project domain udomain pdomain]``."""

    global_request_id: str = ""
    request_id: str = ""
    user_id: str = ""
    project_id: str = ""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One served HTTP request, from any access-log format."""

    timestamp: float
    remote: str
    method: str
    path: str
    status: int
    length: int
    duration: float | None
    """Seconds; ``None`` where the format has no time (placement's requestlog)."""
    microversion: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class OsloLine:
    """One line of an oslo.log file; ``context`` is ``None`` on continuation lines."""

    timestamp: float
    pid: int
    level: str
    logger: str
    context: Context | None
    instance: str
    message: str
    request: HttpRequest | None = None
    """The request when this is a ``requestlog`` or eventlet wsgi line."""


@dataclass(frozen=True, slots=True)
class HaproxyRequest:
    """One HAProxy ``option httplog`` line."""

    timestamp: float
    host: str
    client: str
    frontend: str
    backend: str
    server: str
    timers: tuple[int, int, int, int, int]
    """TR/Tw/Tc/Tr/Ta in milliseconds (-1 where HAProxy did not get that far)."""
    status: int
    length: int
    termination: str
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class SystemLine:
    """A libvirtd or syslog/kernel line; ``device`` is set when it reports a disk I/O error."""

    timestamp: float
    host: str
    program: str
    level: str
    message: str
    device: str = ""
