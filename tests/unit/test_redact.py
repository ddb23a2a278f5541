"""Passwords in URLs and secret query parameters never leave in a message."""

from __future__ import annotations

import pytest

from stackwatch.redact import redact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "shown"), [
    ("mysql+pymysql://monitor:s3cret@db1:3306/nova?charset=utf8",
     "mysql+pymysql://monitor:***@db1:3306/nova?charset=utf8"),
    ("cannot connect to amqp://guest:pw@rabbit:5672// (refused)",
     "cannot connect to amqp://guest:***@rabbit:5672// (refused)"),
    # an unescaped '@' or '/' in the password: masked whole, not cut at the first one
    ("mysql://u:p@ss/w0rd@h/db", "mysql://u:***@h/db"),
    ("'postgresql://u:pw@h/db' and 'mysql://v:pw2@h/db'",
     "'postgresql://u:***@h/db' and 'mysql://v:***@h/db'"),
    ("mysql://u:pw@h/db?password=pw2&ssl=1&auth_token=t", "mysql://u:***@h/db?password=***&ssl=1&auth_token=***"),
    # nothing to hide
    ("postgresql://monitor@h/db", "postgresql://monitor@h/db"),
    ("sqlite:////var/lib/nova.sqlite", "sqlite:////var/lib/nova.sqlite"),
    ("http://[::1]:8774/v2.1", "http://[::1]:8774/v2.1"),
    ("GET /v3/auth/tokens -> 401", "GET /v3/auth/tokens -> 401"),
    ("a=b, c=d", "a=b, c=d"),
])
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown
