"""Secrets out of text: the password of a URL, and secret-looking query parameters.

What a source says about a failure reaches a check message, the API, the pages
and the log. A database or bus URL in it must not carry its password::

    >>> redact("cannot connect to mysql+pymysql://monitor:s3cret@db1/nova?charset=utf8")
    'cannot connect to mysql+pymysql://monitor:***@db1/nova?charset=utf8'

The match is deliberately greedy: the password runs to the *last* ``@`` before
white space, so an unescaped ``@`` or ``/`` in it (which URL parsers read as the
host, leaking the rest) is masked whole; masking a little too much of an odd URL
is the price. Query parameters whose name says password, secret or token are
masked too (``?password=``, ``&auth_token=``).
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:PASSWORD@ — the user part has no ':', '/', '@' or space
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@'\"<>]*:)"
                       r"[^\s'\"<>]*@")
_QUERY = re.compile(r"(?P<head>[?&;][^=&;\s'\"<>#]*(?:pass|pwd|secret|token)[^=&;\s'\"<>#]*=)"
                    r"[^&;\s'\"<>#]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every URL password and secret query parameter replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text  # the common case, without running either expression
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)
