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

SYSLOG_PREFIX = (
    r"(?:(\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) (\S+) )?"
)

HTTPLOG = re.compile(
    "^" + SYSLOG_PREFIX + r"(?:haproxy\[\d+\]: )?(\S+):\d+ \[([^\]\n]+)\] (\S+?)~? "
    r"(\S+)/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/\+?(-?\d+) (-?\d+) \+?(\d+) \S+ \S+ "
    r'(\S{4}) [^"\n]*"([A-Z]+) ([^ "?\n]*)[^\n]*$',
    re.MULTILINE,
)
"""Groups: syslog time, syslog host, client, accept time, frontend, backend, server,
TR, Tw, Tc, Tr, Ta, status, bytes, termination state, method, path."""

NOTICE = re.compile("^" + SYSLOG_PREFIX + r"haproxy\[\d+\]: ")


def parse_httplog(line: str) -> HaproxyRequest | None:
    """One HAProxy HTTP log line, or ``None``."""
    match = HTTPLOG.match(line.rstrip("\n"))
    if match is None:
        return None
    (_, host, client, accepted, frontend, backend, server, t_r, t_w, t_c, t_rs, t_a,
     status, length, termination, method, path) = match.groups()
    return HaproxyRequest(
        clf_epoch(accepted), host or "", client, frontend, backend, server,
        (int(t_r), int(t_w), int(t_c), int(t_rs), int(t_a)), int(status), int(length),
        termination, method, path,
    )
