"""Readers open a store that is there; they never create one by opening it."""

from __future__ import annotations

from pathlib import Path

from stackwatch.errors import StoreError

#: The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"


def existing_store(path: Path, hint: str = "") -> Path:
    """``path`` when it is a SQLite file; otherwise :class:`StoreError` saying what it is.

    Opening a missing path with sqlite3 would create an empty database, and an
    empty file would become one: a command that only reads must say instead.
    ``hint`` (how a store comes to be) ends the message.
    """
    tail = f"; {hint}" if hint else ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise StoreError(f"{path}: no store{tail}") from None
    except IsADirectoryError:
        raise StoreError(f"{path}: a directory, not a store") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the store: {exc.strerror}") from None
    if head != SQLITE_HEADER:
        what = "an empty file" if not head else "not a SQLite file"
        raise StoreError(f"{path}: {what}, not a store{tail}")
    return path
