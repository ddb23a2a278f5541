"""HAProxy ``option httplog`` lines, with or without the syslog prefix::

    Nov 21 06:04:37 lb1 haproxy[1234]: 10.0.0.5:51234 [21/Nov/2026:06:04:37.123]
    keystone_public~ keystone_public_back/ctl1 0/0/1/45/46 401 1234 - - ---- 10/5/0/0/0 0/0
    "POST /v3/auth/tokens HTTP/1.1"

Timers are ``TR/Tw/Tc/Tr/Ta`` (HAProxy ≥ 1.9; ``Tq/Tw/Tc/Tr/Tt`` before), in ms.
"""

from __future__ import annotations

import re

from stackwatch.logparse.records import HaproxyRequest
from stackwatch.logparse.timestamps import clf_epoch

HTTPLOG = re.compile(
    r"^(?:\S+ +\S+ \S+ (\S+) |\d{4}-\d\d-\d\dT\S+ (\S+) )?(?:haproxy\[\d+\]: )?"
    r"(\S+):\d+ \[(\S+)\] (\S+) ([^/ ]+)/(\S+) -?\d+/-?\d+/-?\d+/-?\d+/\+?(-?\d+) "
    r'(-?\d+) \+?\d+ \S+ \S+ \S{4} [^"\n]*"([A-Z]+) ([^ "?\n]*)[^\n]*$',
    re.MULTILINE,
)
"""Groups: syslog host (RFC 3164), syslog host (ISO stamp), client, accept time, frontend
(``~`` for TLS kept), backend, server, Ta (total time), status, method, path. Timers
other than Ta and the byte count are read by :func:`parse_httplog` only."""

TIMERS = re.compile(r" (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/\+?(-?\d+) -?\d+ \+?(\d+) \S+ \S+ (\S{4}) ")



def parse_httplog(line: str) -> HaproxyRequest | None:
    """One HAProxy HTTP log line, or ``None``."""
    match = HTTPLOG.match(line.rstrip("\n"))
    if match is None:
        return None
    (host, iso_host, client, accepted, frontend, backend, server, _, status, method,
     path) = match.groups()
    timers = TIMERS.search(line, match.end(7))
    assert timers is not None  # HTTPLOG matched the same fields
    t_r, t_w, t_c, t_rs, t_a, length, termination = timers.groups()
    return HaproxyRequest(
        clf_epoch(accepted), host or iso_host or "", client, frontend.rstrip("~"), backend,
        server, (int(t_r), int(t_w), int(t_c), int(t_rs), int(t_a)), int(status), int(length),
        termination, method, path,
    )
