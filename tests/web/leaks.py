"""Secrets must not appear in anything the monitor answers or logs.

A test gathers the secrets it used (the simulated cloud's password, database URL
passwords, tokens and their digests) and hands every reply and log record to
:func:`assert_no_secrets`, which names where a secret was found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

from .client import Reply


def variants(secret: str) -> set[str]:
    """How a secret may be spelled in a reply: as is, URL-quoted, JSON-escaped."""
    return {secret, quote(secret, safe=""), secret.replace("/", "\\/")}


def reply_text(reply: Reply) -> str:
    return "\n".join([*(f"{k}: {v}" for k, v in reply.headers), reply.body])


def found_in(secrets: Iterable[str], texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: secret`` for every secret (at least 4 characters) found in a text."""
    spellings = {v: s for s in secrets if len(s) >= 4 for v in variants(s)}
    return [f"{where}: {spellings[v]!r}" for where, text in texts
            for v in spellings if v in text]


def assert_no_secrets(secrets: Iterable[str], replies: Iterable[Reply] = (),
                      records: Iterable[logging.LogRecord] = ()) -> int:
    """Fail naming the reply or log record holding a secret; return how many texts
    were looked at (so a test can say it looked at something)."""
    texts = [(f"reply {i} ({r.status})", reply_text(r)) for i, r in enumerate(replies)]
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        texts.append((f"log {record.name} {record.levelname}", text))
    leaks = found_in(list(secrets), texts)
    assert not leaks, "secrets found:\n  " + "\n  ".join(leaks)
    return len(texts)
