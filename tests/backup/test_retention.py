"""Retention keeps exactly the newest N complete backups of each database and every one
younger than the age; the ``backup`` source's metrics and ``backup.age`` check. Backups
here are made-up files with made-up times."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwatch.backup import archive
from stackwatch.backup.retention import prune, to_remove
from stackwatch.config import parse_config
from stackwatch.model import Status
from stackwatch.sources.backup import BackupSource

pytestmark = pytest.mark.unit

DAY = 86400.0


def fake(directory: Path, database: str, finished: float, *, complete: bool = True,
         verified: bool | None = None, cloud: str = "c1") -> Path:
    """A backup file of ``database`` finished at ``finished`` (its manifest says so)."""
    path = archive.dump_path(directory, cloud, database, finished)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"dump")
    archive.checksum_path(path).write_text(f"{'0' * 64}  {path.name}\n")
    if complete:
        archive.manifest_path(path).write_text(archive.Manifest(
            cloud=cloud, database=database, started=finished - 5, finished=finished,
            bytes=4, sha256="0" * 64, tables={"t": (1, 1)}, tool="mariadb-dump",
        ).model_dump_json())
    else:  # a dump cut by a crash: only its file, as old as it is
        import os

        os.utime(path, (finished, finished))
    if verified is not None:
        archive.verification_path(path).write_text(archive.Verification(
            at=finished + 10, ok=verified, message="made up").model_dump_json())
    return path


def names(found: list[archive.Backup]) -> list[str]:
    return [b.path.name for b in found]


def test_keeps_the_newest_n_and_all_younger_than_the_age(tmp_path: Path) -> None:
    now = 1_750_000_000.0  # any moment: retention is given its now
    ages = [0.2, 1.5, 2.5, 3.5, 4.5, 6.0, 9.0]  # days
    nova = {age: fake(tmp_path, "nova", now - age * DAY) for age in ages}
    keystone = {age: fake(tmp_path, "keystone", now - age * DAY) for age in (10.0, 20.0)}
    cut = fake(tmp_path, "nova", now - 8 * DAY, complete=False)
    young_cut = fake(tmp_path, "nova", now - 0.1 * DAY, complete=False)
    found = archive.backups(tmp_path)
    # keep_days 3: 0.2, 1.5, 2.5 by age; keep_count 4: also 3.5 (the 4th newest)
    gone = to_remove(found, now, keep_count=4, keep_days=3)
    assert names(gone) == [nova[9.0].name, cut.name, nova[6.0].name, nova[4.5].name]
    # keystone's two are old but the newest of their database: kept
    assert all(p.name not in names(gone) for p in keystone.values())
    assert young_cut.name not in names(gone)  # maybe a dump under way
    # a younger-than-age window wider than the history keeps everything
    assert to_remove(found, now, keep_count=1, keep_days=30) == []
    # count only: the newest one of each database
    only = to_remove(found, now, keep_count=1, keep_days=0)
    assert sorted(names(only)) == sorted(
        [p.name for a, p in nova.items() if a != 0.2] + [keystone[20.0].name, cut.name,
                                                          young_cut.name])
    removed = prune(found, now, keep_count=4, keep_days=3)
    assert names(removed) == names(gone)
    left = archive.backups(tmp_path)
    assert sorted(names(left)) == sorted(
        [nova[a].name for a in (0.2, 1.5, 2.5, 3.5)] + [p.name for p in keystone.values()]
        + [young_cut.name])
    assert not nova[9.0].exists() and not archive.manifest_path(nova[9.0]).exists()
    assert not archive.checksum_path(nova[9.0]).exists()


def test_failures_never_push_good_backups_out(tmp_path: Path) -> None:
    now = 1_750_000_000.0
    good = fake(tmp_path, "nova", now - 10 * DAY)
    for day in range(1, 6):
        fake(tmp_path, "nova", now - day * DAY, complete=False)
    gone = to_remove(archive.backups(tmp_path), now, keep_count=1, keep_days=2)
    # days 1 and 2 are not older than keep_days; 3, 4 and 5 go
    assert good.name not in names(gone) and len(gone) == 3


def test_dumps_cut_by_a_kill_go_after_a_day(tmp_path: Path) -> None:
    import os

    from stackwatch.backup.retention import remove_partials

    now = 1_750_000_000.0
    folder = tmp_path / "c1" / "nova"
    folder.mkdir(parents=True)
    old, young = folder / "nova-a.sql.gz.partial", folder / "nova-b.sql.gz.partial"
    for path, age in ((old, 2 * DAY), (young, 600)):
        path.write_bytes(b"half a dump")
        os.utime(path, (now - age, now - age))
    assert remove_partials(tmp_path, now) == [old]
    assert not old.exists() and young.exists()


def _source(tmp_path: Path) -> BackupSource:
    config = parse_config({"clouds": [{"name": "c1", "databases": {
        "nova": "mysql+pymysql://m:pw@127.0.0.1/nova",
        "keystone": "mysql+pymysql://m:pw@127.0.0.1/keystone",
        "cinder": "sqlite:////var/lib/cinder.sqlite"}}],
        "backups": {"directory": str(tmp_path), "warning_age": 3600,
                    "critical_age": 7200}})
    return BackupSource(config)


def test_the_age_of_the_last_good_backup(tmp_path: Path) -> None:
    now = time.time()
    fake(tmp_path, "nova", now - 1800, verified=True)
    fake(tmp_path, "nova", now - 600, verified=False)     # proven bad: not good
    fake(tmp_path, "keystone", now - 5000)
    collected = _source(tmp_path).collect()
    checks = {dict(c.labels).get("database", ""): c for c in collected.checks}
    assert checks["nova"].status is Status.OK
    assert checks["keystone"].status is Status.WARNING
    assert "sqlite" in checks[""].message and checks[""].status is Status.UNKNOWN
    age = {dict(s.labels)["database"]: s.value for s in collected.samples
           if s.name == "stackwatch_backup_age_seconds"}
    assert age["nova"] == pytest.approx(1800, abs=60)
    assert age["keystone"] == pytest.approx(5000, abs=60)
    verified = {dict(s.labels)["database"]: s.value for s in collected.samples
                if s.name == "stackwatch_backup_last_verified_timestamp_seconds"}
    assert verified["nova"] == pytest.approx(now - 1790, abs=1)
    assert verified["keystone"] == 0
    from stackwatch.catalog.testing import assert_covered

    assert_covered(collected, source="backup")  # every metric the catalog gives it


def test_none_or_too_old_is_critical(tmp_path: Path) -> None:
    fake(tmp_path, "nova", time.time() - 8000)
    collected = _source(tmp_path).collect()
    checks = {dict(c.labels).get("database", ""): c for c in collected.checks}
    assert checks["nova"].status is Status.CRITICAL
    assert checks["keystone"].status is Status.CRITICAL
    assert "no good backup" in checks["keystone"].message
    from stackwatch.catalog.loader import default_catalog
    from stackwatch.catalog.testing import assert_declared

    assert_declared(collected, default_catalog())
