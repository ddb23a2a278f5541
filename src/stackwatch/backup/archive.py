"""Backups on disk: ``<directory>/<cloud>/<database>/<database>-<stamp>.sql.gz`` with

* ``….sql.gz.sha256`` — ``sha256sum`` format, checked with ``sha256sum -c`` too;
* ``….json`` — the manifest, written last (a dump without one is incomplete): when, how
  big, the checksum, and the source's row count of every table before and after the
  dump (``[low, high]``: a table written to during the dump may hold either);
* ``….verify.json`` — the last verification's outcome.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

SUFFIX = ".sql.gz"
STAMP = "%Y%m%dT%H%M%SZ"


class Manifest(BaseModel):
    """What a backup is: its database, when it was taken, its size and checksum, and the
    source's row counts per table as ``[low, high]``."""

    cloud: str
    database: str
    started: float
    finished: float
    bytes: int
    sha256: str
    tables: dict[str, tuple[int, int]]
    tool: str


class Verification(BaseModel):
    """The outcome of one verification: ``ok``, when, what was found."""

    at: float
    ok: bool
    message: str
    tables: dict[str, int] = {}


@dataclass(frozen=True)
class Backup:
    """One backup: its dump file, and its manifest when complete."""

    path: Path
    manifest: Manifest | None
    verification: Verification | None

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(SUFFIX)

    @property
    def checksum_path(self) -> Path:
        return checksum_path(self.path)

    @property
    def finished(self) -> float:
        """When it was finished (for an incomplete one, the file's time)."""
        if self.manifest is not None:
            return self.manifest.finished
        return self.path.stat().st_mtime

    def files(self) -> list[Path]:
        """Every file of the backup that exists."""
        stem = self.path.with_name(self.name)
        return [p for p in (self.path, self.checksum_path, stem.with_suffix(".json"),
                            stem.with_suffix(".verify.json")) if p.exists()]


def checksum_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".sha256")


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name.removesuffix(SUFFIX) + ".json")


def verification_path(dump: Path) -> Path:
    return dump.with_name(dump.name.removesuffix(SUFFIX) + ".verify.json")


def dump_path(directory: Path, cloud: str, database: str, at: float) -> Path:
    """A new dump's path (a second taken already: ``-2``, ``-3``...)."""
    folder = directory / cloud / database
    stamp = time.strftime(STAMP, time.gmtime(at))
    path = folder / f"{database}-{stamp}{SUFFIX}"
    number = 2
    while path.exists() or manifest_path(path).exists():
        path = folder / f"{database}-{stamp}-{number}{SUFFIX}"
        number += 1
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksum(dump: Path) -> str:
    """The hex digest the ``.sha256`` file records ('' when missing or unreadable)."""
    try:
        text = checksum_path(dump).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return ""
    return text.split(maxsplit=1)[0] if text.strip() else ""


def _model(path: Path, model: type[Any]) -> Any:
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def load(dump: Path) -> Backup:
    return Backup(dump, _model(manifest_path(dump), Manifest),
                  _model(verification_path(dump), Verification))


def backups(directory: Path, cloud: str | None = None, database: str | None = None
            ) -> list[Backup]:
    """Every backup under ``directory`` (of one cloud, one database), oldest first."""
    if not directory.is_dir():
        return []
    pattern = f"{cloud or '*'}/{database or '*'}/*{SUFFIX}"
    found = [load(p) for p in directory.glob(pattern) if p.is_file()]
    return sorted(found, key=lambda b: (b.finished, b.path.name))


def groups(found: Iterable[Backup]) -> dict[tuple[str, str], list[Backup]]:
    """Backups by ``(cloud, database)`` (their folders), oldest first."""
    out: dict[tuple[str, str], list[Backup]] = {}
    for backup in found:
        key = (backup.path.parent.parent.name, backup.path.parent.name)
        out.setdefault(key, []).append(backup)
    return out
