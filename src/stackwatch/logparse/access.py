"""HTTP access logs: Apache/gunicorn combined plus a response time, and uWSGI.

Combined + time, as the reference APIs ran under gunicorn
(``%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s``)::

    127.0.0.1 - - [21/Nov/2026:06:19:36 +0000] "GET /v2.1/servers/detail HTTP/1.1" 500 224
    "-" "python-requests/2.32.5" 4.485598

Apache as devstack configures keystone adds ``%v:%p`` in front and ``%D(us)``
(microseconds) at the end; a bare integer at the end is taken as Apache's ``%D``
(microseconds), a decimal as seconds (gunicorn ``%(L)s``, Apache ``%{ms}T`` is not
supported). uWSGI's default request log::

    [pid: 9|app: 0|req: 1/1] 127.0.0.1 () {34 vars in 470 bytes} [Sat Nov 21 06:04:37 2026]
    POST /v3/auth/tokens => generated 2301 bytes in 45 msecs (HTTP/1.1 201) 6 headers in ...
"""

from __future__ import annotations

import calendar
import re
import time

from stackwatch.logparse.numbers import decimal_seconds, scaled
from stackwatch.logparse.records import HttpRequest
from stackwatch.logparse.timestamps import clf_epoch

COMBINED = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]\n]+)\] "([A-Z]+) ([^ "?\n]*)[^ "\n]*(?: HTTP/[\d.]+)?" '
    r"(\d{3}) (\d+|-)(.*)$",
    re.MULTILINE,
)
"""Groups: remote (or ``vhost:port``, see :func:`split_vhost`), time, method, path (no
query), status, length, the rest (referer, agent, response time: :func:`rest_duration`)."""

UWSGI = re.compile(
    r"^\[pid: \d+\|app: [^|\n]*\|req: [^\]\n]*\] (\S+) \([^)\n]*\) \{[^}\n]*\} "
    r"\[([^\]\n]+)\] ([A-Z]+) ([^ ?\n]*)\S* => generated (\d+) bytes in (\d+) msecs "
    r"\((?:HTTP/[\d.]+ )?(\d{3})\)[^\n]*$",
    re.MULTILINE,
)
"""Groups: remote, time (``Sat Nov 21 06:04:37 2026``), method, path, length, msecs,
status."""


VHOST = re.compile(r"^[\w.\-]+:\d+ (?=\S+ \S+ \S+ \[)")


def rest_duration(rest: str) -> float | None:
    """Seconds from the last field after the quoted agent: decimal seconds (gunicorn
    ``%(L)s``), or integer microseconds (Apache ``%D``, optionally written ``123(us)``).
    Nothing else is a time (:mod:`.numbers`)."""
    if not rest or rest[-1] == '"':
        return None
    value = rest[rest.rfind(" ") + 1:]
    if value.endswith("(us)"):
        value = value[:-4]
    if value.isdecimal():  # not isdigit: "²" is a digit int() refuses
        return scaled(value, 1e6)
    return decimal_seconds(value) if "." in value else None


def parse_combined(line: str) -> HttpRequest | None:
    """One combined (+ response time) access line, or ``None``."""
    match = COMBINED.match(VHOST.sub("", line.rstrip("\n"), count=1))
    if match is None:
        return None
    remote, stamp, method, path, status, length, rest = match.groups()
    return HttpRequest(
        clf_epoch(stamp), remote, method, path, int(status),
        0 if length == "-" else int(length), rest_duration(rest),
    )


def uwsgi_epoch(text: str) -> float:
    """``Sat Nov 21 06:04:37 2026`` (local time of the server, taken as UTC)."""
    try:
        return float(calendar.timegm(time.strptime(text, "%a %b %d %H:%M:%S %Y")))
    except ValueError:
        return 0.0


def parse_uwsgi(line: str) -> HttpRequest | None:
    """One uWSGI request-log line, or ``None``."""
    match = UWSGI.match(line.rstrip("\n"))
    if match is None:
        return None
    remote, stamp, method, path, length, msecs, status = match.groups()
    return HttpRequest(uwsgi_epoch(stamp), remote, method, path, int(status), int(length),
                       scaled(msecs, 1000))
