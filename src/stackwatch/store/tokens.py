"""The web's access tokens, in a table of the SQLite store file::

    tokens (name PRIMARY KEY, role, digest UNIQUE, created, expires, last_used)

Only each token's SHA-256 digest is kept (:mod:`stackwatch.tokens` says why that
suffices for random tokens). The table shares the store's file, so ``stackwatch
token`` and a running server see the same tokens: a token created or revoked
from the command line counts at the server's next request. One connection under
a lock: a handful of rows, read once per authenticated request.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from stackwatch.errors import StoreError
from stackwatch.store.base import Role, TokenRecord
from stackwatch.store.sqlite import open_tables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    expires REAL,
    last_used REAL
);
"""


class SQLiteTokenStore:
    """:class:`~stackwatch.store.base.TokenStore` in the SQLite store file."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = open_tables(self.path, timeout, _SCHEMA, "the token table")

    def add(self, token: TokenRecord) -> None:
        """Keep a new token; :class:`StoreError` when its name is taken."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO tokens (name, role, digest, created, expires, last_used) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (token.name, token.role.value, token.digest, token.created, token.expires,
                     token.last_used))
            except sqlite3.IntegrityError:
                raise StoreError(f"a token named {token.name!r} exists; revoke it first "
                                 "or choose another name") from None
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot add a token: {exc}") from exc

    def tokens(self) -> list[TokenRecord]:
        """Every token, by name."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT name, role, digest, created, expires, last_used FROM tokens "
                    "ORDER BY name").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot read the tokens: {exc}") from exc
        return [TokenRecord(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def revoke(self, name: str) -> bool:
        """Delete the token of that name; False when there was none."""
        with self._lock:
            try:
                return self._conn.execute("DELETE FROM tokens WHERE name = ?",
                                          (name,)).rowcount > 0
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot revoke a token: {exc}") from exc

    def touch(self, name: str, when: float) -> None:
        """Note the token's last use (kept when a later one is already noted)."""
        with self._lock:
            try:
                self._conn.execute(
                    "UPDATE tokens SET last_used = ?2 WHERE name = ?1 "
                    "AND (last_used IS NULL OR last_used < ?2)", (name, when))
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot note a token's use: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
