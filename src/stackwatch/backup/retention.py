"""What a retention keeps: the newest ``keep_count`` complete backups of each database,
and every backup younger than ``keep_days`` (complete or not: one may be under way).

An incomplete backup (no manifest: the dump failed or was cut) older than that goes; it
never counts among the newest N, so a run of failures cannot push good backups out.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.backup.archive import Backup, groups


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
