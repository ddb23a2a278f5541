"""swift's proxy-server request lines (the ``proxy_logging`` middleware's default template).

``log_msg_template``'s default is ``{client_ip} {remote_addr} {end_time.datetime}
{method} {path} {protocol} {status_int} {referer} {user_agent} {auth_token}
{bytes_recvd} {bytes_sent} {client_etag} {transaction_id} {headers} {request_time}
{source} {log_info} {start_time} {end_time} {policy_index} {access_user_id}``, every
field quoted (no spaces), ``-`` when empty, written through syslog (``Dec  5 12:00:00
host proxy-server: ...``) or to the console (``proxy-server: ...``), after the server's
``log_name``::

    proxy-server: 127.0.0.1 127.0.0.1 05/Dec/2026/12/00/00 GET /v1/AUTH_0ab1/c1 HTTP/1.0
    200 - python-swiftclient-4.6.0 gAAAA... - 120 - tx0b2c-0069... - 0.0123 - -
    1764936000.102 1764936000.114 0 -

Lines whose ``source`` is set (``FP``, ``SLO``...) are the subrequests middlewares make
on the client's behalf (the pipeline's second ``proxy_logging``): not client requests.
Paths become their swift type — ``/v1/{account}``, ``/v1/{account}/{container}``,
``/v1/{account}/{container}/{object}`` — since container and object names are the
users' own (a series per name would never end).
"""

from __future__ import annotations

import re

from stackwatch.logparse.numbers import decimal_seconds
from stackwatch.logparse.records import HttpRequest

#: the syslog header (optional), then the server's ``log_name`` (``proxy-server`` by
#: default; ``swift-proxy-server`` in some deployments), with a pid when syslog adds one
PREFIX = r"^(?:\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ )?[\w.-]*proxy-server(?:\[\d+\])?: "

PROXY = re.compile(
    PREFIX + r"(\S+) \S+ "
    r"(\d\d/\w{3}/\d{4}/\d\d/\d\d/\d\d) ([A-Z]+) (\S+) \S+ (\d{3}) \S+ \S+ \S+ (\S+) (\S+) "
    r"\S+ \S+ \S+ (\S+) (\S+) \S+ (\S+) (\S+)[^\n]*$",
    re.MULTILINE,
)
"""Groups: client, end time (``05/Dec/2026/12/00/00``), method, path (quoted, query
kept), status, bytes received, bytes sent, request time (seconds), source, start time,
end time (epoch seconds)."""

#: what a proxy-server line that is no request starts with (start-up, errors)
OTHER = re.compile(PREFIX)

_TYPES = ("/v1/{account}", "/v1/{account}/{container}", "/v1/{account}/{container}/{object}")


def swift_path(path: str) -> str:
    """The swift type of a request path (``/v1/{account}/{container}``); others as they
    are, the query string dropped (``?`` or its quoted ``%3F``)."""
    path = path.split("?", 1)[0]
    cut = path.find("%3F")
    if cut >= 0:
        path = path[:cut]
    parts = path.split("/", 4)  # '', 'v1', account, container, object (may hold '/')
    if len(parts) >= 3 and parts[1] == "v1" and parts[2]:
        depth = len([p for p in parts[3:] if p])
        return _TYPES[min(depth, 2)]
    return path


def parse_proxy(line: str) -> HttpRequest | None:
    """One client request of the proxy-server, or ``None`` (not one; a subrequest)."""
    match = PROXY.match(line.rstrip("\n"))
    if match is None:
        return None
    client, _, method, path, status, _, sent, seconds, source, _, end = match.groups()
    if source != "-":
        return None
    return HttpRequest(decimal_seconds(end) or 0.0, client, method, swift_path(path),
                       int(status), int(sent) if sent.isdecimal() else 0,
                       decimal_seconds(seconds))
