"""What a retention keeps: the newest ``keep_count`` complete backups of each database,
and every backup younger than ``keep_days`` (complete or not: one may be under way).

An incomplete backup (no manifest: the dump failed or was cut) older than that goes; it
never counts among the newest N, so a run of failures cannot push good backups out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stackwatch.backup.archive import Backup, groups

#: a ``.partial`` file (a dump cut by a crash or a kill) this old is removed
PARTIAL_MAX_AGE_S = 86400.0


def to_remove(found: Sequence[Backup], now: float, keep_count: int, keep_days: float
              ) -> list[Backup]:
    """The backups a retention removes, per database, oldest first."""
    young = now - keep_days * 86400
    out: list[Backup] = []
    for members in groups(found).values():
        complete = [b for b in members if b.manifest is not None]
        newest = {id(b) for b in sorted(complete, key=lambda b: b.finished)[-keep_count:]}
        out += [b for b in members if id(b) not in newest and b.finished < young]
    return sorted(out, key=lambda b: (b.finished, str(b.path)))


def prune(found: Sequence[Backup], now: float, keep_count: int, keep_days: float
          ) -> list[Backup]:
    """Remove what :func:`to_remove` says (every file of each); return them."""
    gone = to_remove(found, now, keep_count, keep_days)
    for backup in gone:
        for path in backup.files():
            path.unlink(missing_ok=True)
    return gone


def remove_partials(directory: Path, now: float, older_than: float = PARTIAL_MAX_AGE_S
                    ) -> list[Path]:
    """Remove the ``.partial`` files of dumps that never finished (the process was killed),
    once older than ``older_than`` seconds (a younger one may be a dump under way)."""
    gone = []
    for path in directory.glob("*/*/*.partial") if directory.is_dir() else ():
        if path.is_file() and now - path.stat().st_mtime > older_than:
            path.unlink(missing_ok=True)
            gone.append(path)
    return sorted(gone)
