"""Access tokens of the web app: made, checked and listed; kept only as digests.

A token is ``sw_`` and 32 random bytes (URL-safe base64), shown once when it is
made. The store keeps its SHA-256 digest. A plain hash is enough here, unlike
for passwords: a password is guessable, so its hash must be salted and slow; a
token is 256 random bits, so neither a dictionary nor a precomputed table can
find one from its digest, and a fast hash keeps each request cheap.

:func:`verify` compares the presented token's digest with every stored one with
:func:`hmac.compare_digest`, all of them every time, so how long it takes tells
nothing about how close a guess came.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from stackwatch.errors import StackwatchError
from stackwatch.store.base import Role, TokenRecord, TokenStore

PREFIX = "sw_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def digest(token: str) -> str:
    """The SHA-256 digest (hex) of a token: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(store: TokenStore, name: str, role: Role, now: float,
          expires_days: float | None = None) -> str:
    """Make a token, keep its digest under ``name`` and return the token (never kept)."""
    if not _NAME.match(name):
        raise StackwatchError(f"token name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit")
    if expires_days is not None and expires_days <= 0:
        raise StackwatchError(f"--expires {expires_days:g}: a number of days above 0")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = None if expires_days is None else now + expires_days * 86400
    store.add(TokenRecord(name, role, digest(token), now, expires))
    return token


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`verify` found: the token's record, and whether it may be used."""

    token: TokenRecord | None
    reason: str = ""  # "" when valid, else "invalid" or "expired"

    @property
    def valid(self) -> bool:
        return not self.reason


def find(store: TokenStore, wanted: str) -> TokenRecord | None:
    """The stored token whose digest is ``wanted``, comparing with every one in
    constant time per comparison."""
    found = None
    for record in store.tokens():
        if hmac.compare_digest(record.digest, wanted):
            found = record  # no early exit: every digest is compared
    return found


def verify(store: TokenStore, token: str, now: float) -> Verdict:
    """Whether ``token`` is a stored token that has not expired."""
    record = find(store, digest(token))
    if record is None:
        return Verdict(None, "invalid")
    if record.expired(now):
        return Verdict(record, "expired")
    return Verdict(record)
