"""Lines recognised but carrying no metric, and the reason each is skipped.

gunicorn's error log, RabbitMQ, MariaDB, Python's default logging format (alembic
in ``*-db-manage.log``), Apache's error log, haproxy notices, swift proxy-server lines
that are no request (start-up, errors), blank lines.
"""

from __future__ import annotations

import re

from stackwatch.logparse import swift

GUNICORN = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)$", re.MULTILINE)
"""gunicorn error log; groups: time, pid, level, message."""

RECOGNISERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gunicorn", GUNICORN),
    ("rabbitmq", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d \[\w+\] <")),
    ("mariadb", re.compile(r"^\d{4}-\d\d-\d\d [ \d]\d:\d\d:\d\d \d+ \[\w+\] ")),
    ("python-logging", re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) +\[[\w.]+\] ")),
    ("apache-error", re.compile(r"^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4}\] \[")),
    ("haproxy-notice", re.compile(r"^(?:\S+ +\S+ \S+ \S+ )?haproxy\[\d+\]: ")),
    ("swift-proxy-text", swift.OTHER),
)


def recognise(line: str) -> str:
    """The skip reason of a line no primary parser took, or ``""`` when unknown."""
    if not line.strip():
        return "blank"
    for reason, pattern in RECOGNISERS:
        if pattern.match(line) is not None:
            return reason
    return ""
