"""oslo.log default format, with nova/placement ``requestlog`` and eventlet wsgi lines.

A record's first line::

    2026-11-21 06:19:36.304 590 INFO nova.api.openstack.requestlog [None req-317d... 5afa...
    de91... - - default default] 127.0.0.1 "GET /v2.1/servers/detail" status: 500 len: 224
    microversion: 2.103 time: 4.484147

The bracket is the context (``logging_context_format_string``):
``[global_request_id request_id user project domain user_domain project_domain]``,
``[-]`` outside a request; an optional ``[instance: <uuid>] `` follows. Lines of a
traceback repeat ``timestamp pid LEVEL logger`` without a context
(``logging_exception_prefix``); lines of a message with embedded newlines carry no
prefix at all. Both continue the record above them.
"""

from __future__ import annotations

import re

from stackwatch.logparse.records import Context, HttpRequest, OsloLine
from stackwatch.logparse.timestamps import iso_epoch

LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?) (\d+) ([A-Z]+) (\S+) ?(.*)$",
    re.MULTILINE,
)
"""Groups: time, pid, level, logger, the rest (see :func:`split_rest`). Kept simple on
purpose: the context is cut out with string methods, several times faster than in
the pattern."""

REQUEST = re.compile(
    r'(\S+) (?:- - \[[^\]]*\] )?"([A-Z]+) ([^ "?]*)[^ "]*(?: HTTP/[\d.]+)?" '
    r"status: (\d{3})\s+len: (\d+)(?: microversion: (\S+))?(?: time: (\d+(?:\.\d+)?))?"
)
"""nova/placement ``requestlog`` and eventlet wsgi messages; groups: remote, method,
path (no query), status, length, microversion, time."""

EVENTLET_DEFAULT = re.compile(
    r'(\S+) - - \[[^\]]*\] "([A-Z]+) ([^ "?]*)[^ "]*(?: HTTP/[\d.]+)?" (\d{3}) (\d+|-) '
    r"(\d+\.\d+)$"
)
"""eventlet.wsgi's default format inside an oslo.log message (glance-api); groups:
remote, method, path, status, length, time."""

REQUEST_MARK = '" status: '
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


LINE_FAST = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)? \d+ ([A-Z]+) (\S+) ?(.*)$", re.MULTILINE)
""":data:`LINE` capturing only level, logger and the rest (the chunk parser slices the
time out of the line when it needs it: fewer strings made per line)."""


def split_rest(rest: str) -> tuple[str | None, str, str]:
    """``(context, instance, message)`` of what follows the logger; context ``None``
    when the line carries none (a continuation line)."""
    context = None
    if rest[:1] == "[" and rest[:10] != "[instance:":
        end = rest.find("]")
        if end > 0:
            context = rest[1:end]
            rest = rest[end + 2:]
    instance = ""
    if rest[:11] == "[instance: " and rest[47:48] == "]":
        instance = rest[11:47]
        rest = rest[49:]
    return context, instance, rest


def parse_context(text: str) -> Context:
    """Split the bracketed context; ``-`` and ``None`` fields become empty strings."""
    fields = ["" if f in ("-", "None") else f for f in text.split(" ")]
    if len(fields) >= 7:
        return Context(fields[0], fields[1], fields[2], fields[3])
    if len(fields) == 6:  # older oslo.log without the global request id
        return Context("", fields[0], fields[1], fields[2])
    if len(fields) == 2:
        return Context(fields[0], fields[1])
    return Context(request_id=fields[0] if fields[0].startswith("req-") else "")


def parse_request(message: str, timestamp: float, request_id: str = "") -> HttpRequest | None:
    """The request in a ``requestlog`` / eventlet wsgi message (either format), or ``None``."""
    if REQUEST_MARK not in message:
        default = EVENTLET_DEFAULT.match(message) if " - - [" in message else None
        if default is None:
            return None
        remote, method, path, status, size, seconds = default.groups()
        return HttpRequest(timestamp, remote, method, path, int(status),
                           0 if size == "-" else int(size), float(seconds), "", request_id)
    match = REQUEST.match(message)
    if match is None:
        return None
    remote, method, path, status, length, microversion, duration = match.groups()
    return HttpRequest(
        timestamp, remote, method, path, int(status), int(length),
        float(duration) if duration else None, microversion or "", request_id,
    )


def parse_oslo(line: str) -> OsloLine | None:
    """One oslo.log line (first or continuation line of a record), or ``None``."""
    match = LINE.match(line.rstrip("\n"))
    if match is None:
        return None
    stamp, pid, level, logger, rest = match.groups()
    context_text, instance, message = split_rest(rest)
    timestamp = iso_epoch(stamp)
    context = None if context_text is None else parse_context(context_text)
    request = None
    if context is not None:
        request = parse_request(message, timestamp, context.request_id)
    return OsloLine(timestamp, int(pid), level, logger, context, instance, message, request)
