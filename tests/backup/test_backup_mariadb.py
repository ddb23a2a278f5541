"""Backups of a real MariaDB holding the real control plane's nova and keystone schemas
and rows (tests/data/recorded/db), restored into scratch databases to prove them."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from servers import MariaDB
from sources.dbload import load
from stackwatch.backup import archive
from stackwatch.backup.dump import run_backup, targets
from stackwatch.backup.verify import verify
from stackwatch.cli import main
from stackwatch.config import Config, parse_config

pytestmark = pytest.mark.integration

PASSWORD = "Bk-s3cret-Pw#1"  # a password a leak would show
SOURCES = {"nova": "bk_nova", "keystone": "bk_keystone"}  # service db -> its name here
PREFIX = "swverify_"


@pytest.fixture(scope="module")
def server(mariadb: MariaDB) -> Iterator[MariaDB]:
    """The recorded nova and keystone databases, and a backup account with a password
    that may read them and make scratch databases ``swverify_*``."""
    for database, name in SOURCES.items():
        load(database, mariadb.create_database(name)).dispose()
    mariadb.execute(
        "DROP USER IF EXISTS 'bk'@'127.0.0.1'",
        f"CREATE USER 'bk'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
        *(f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{n}`.* TO 'bk'@'127.0.0.1'"
          for n in SOURCES.values()),
        f"GRANT ALL ON `{PREFIX}%`.* TO 'bk'@'127.0.0.1'")
    yield mariadb


def settings(server: MariaDB, directory: Path, **backups: Any) -> dict[str, Any]:
    url = "mysql+pymysql://bk:{pw}@127.0.0.1:{port}/{db}?charset=utf8mb4"
    pw = PASSWORD.replace("#", "%23")
    return {"clouds": [{"name": "c1", "databases": {
        d: url.format(pw=pw, port=server.port, db=n) for d, n in SOURCES.items()}}],
        "store": {"path": str(directory / "store.sqlite")},
        "backups": {"directory": str(directory / "backups"), "scratch_prefix": PREFIX,
                    **backups}}


def config_of(server: MariaDB, directory: Path, **backups: Any) -> Config:
    return parse_config(settings(server, directory, **backups))


def scratch_left(server: MariaDB) -> list[str]:
    import pymysql

    conn = pymysql.connect(host=server.host, port=server.port, user="root")
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW DATABASES LIKE '{PREFIX}%'")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def source_counts(server: MariaDB, name: str) -> dict[str, int]:
    import pymysql

    conn = pymysql.connect(host=server.host, port=server.port, user="root", database=name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'", (name,))
            tables = [r[0] for r in cur.fetchall()]
            out = {}
            for table in tables:
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                out[table] = int(cur.fetchone()[0])  # type: ignore[index]
            return out
    finally:
        conn.close()


def test_backup_and_verify_by_restoring(server: MariaDB, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    commands: list[list[str]] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        if Path(args[0]).name.startswith(("mariadb", "mysql")):
            commands.append(list(args))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    caplog.set_level(logging.DEBUG)
    config_file = tmp_path / "stackwatch.yaml"
    config_file.write_text(yaml.safe_dump(settings(server, tmp_path)))
    done = CliRunner().invoke(main, ["backup", "run", "--config", str(config_file),
                                     "--verify"])
    assert done.exit_code == 0, done.output
    assert done.output.count("verify: ok") == 2, done.output
    found = archive.groups(archive.backups(tmp_path / "backups"))
    assert set(found) == {("c1", "nova"), ("c1", "keystone")}
    for (_, database), [made] in found.items():
        assert made.manifest is not None and made.verification is not None
        assert made.verification.ok, made.verification.message
        counts = source_counts(server, SOURCES[database])
        assert {t: lo for t, (lo, _) in made.manifest.tables.items()} == counts
        assert made.verification.tables == counts
        assert sum(counts.values()) > 0
        checked = subprocess.run(["sha256sum", "-c", made.checksum_path.name],
                                 cwd=made.path.parent, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with gzip.open(made.path, "rt", encoding="utf-8") as dump:
            text = dump.read()
        assert "CREATE TABLE `instances`" in text or "CREATE TABLE `user`" in text
        assert "CREATE DATABASE" not in text and "\nUSE " not in text
    assert scratch_left(server) == []
    listed = CliRunner().invoke(main, ["backup", "list", "--config", str(config_file),
                                       "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert sorted(b["manifest"]["database"] for b in json.loads(listed.output)) == [
        "keystone", "nova"]
    kept = CliRunner().invoke(main, ["backup", "prune", "--dry-run", "--config",
                                     str(config_file)])
    assert kept.exit_code == 0 and kept.output == ""  # the newest of each: kept
    assert len(commands) == 4 and all(PASSWORD not in " ".join(c) for c in commands)
    assert all(any(a.startswith("--defaults-file=") for a in c) for c in commands)
    assert PASSWORD not in caplog.text and PASSWORD not in done.output
    assert not list(Path("/tmp").glob("stackwatch-login-*/client.cnf")) or all(
        PASSWORD not in p.read_text() for p in Path("/tmp").glob("stackwatch-login-*/*"))


def _made(server: MariaDB, tmp_path: Path) -> tuple[Config, archive.Backup]:
    config = config_of(server, tmp_path, only=["keystone"])
    assert config.backups is not None
    [target], _ = targets(config)
    return config, run_backup(target, config.backups)


def _verify(config: Config, backup: archive.Backup) -> archive.Verification:
    assert config.backups is not None
    [target], _ = targets(config)
    return verify(archive.load(backup.path), target, config.backups)


def test_one_flipped_byte_fails_the_checksum(server: MariaDB, tmp_path: Path) -> None:
    config, made = _made(server, tmp_path)
    data = bytearray(made.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    made.path.write_bytes(bytes(data))
    outcome = _verify(config, made)
    assert not outcome.ok and "checksum mismatch" in outcome.message
    assert archive.load(made.path).verification == outcome  # written beside it
    config_file = tmp_path / "stackwatch.yaml"
    config_file.write_text(yaml.safe_dump(settings(server, tmp_path, only=["keystone"])))
    done = CliRunner().invoke(main, ["backup", "verify", "--config", str(config_file)])
    assert done.exit_code == 2 and "FAILED: checksum mismatch" in done.output


def test_a_truncated_dump_fails_the_checksum(server: MariaDB, tmp_path: Path) -> None:
    config, made = _made(server, tmp_path)
    data = made.path.read_bytes()
    made.path.write_bytes(data[: len(data) * 2 // 3])
    outcome = _verify(config, made)
    assert not outcome.ok and "checksum mismatch" in outcome.message


def _rehash(backup: archive.Backup, data: bytes) -> None:
    """Replace the dump as if it had been written so: its checksum and manifest agree."""
    backup.path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    backup.checksum_path.write_text(f"{digest}  {backup.path.name}\n")
    assert backup.manifest is not None
    manifest = backup.manifest.model_copy(update={"sha256": digest, "bytes": len(data)})
    archive.manifest_path(backup.path).write_text(manifest.model_dump_json())


def test_a_dump_cut_short_when_written_fails_the_restore(server: MariaDB,
                                                         tmp_path: Path) -> None:
    config, made = _made(server, tmp_path)
    text = gzip.decompress(made.path.read_bytes())
    cut = text.index(b"INSERT INTO `user`")  # the rows of a table never made it
    _rehash(made, gzip.compress(text[:cut]))
    outcome = _verify(config, made)
    assert not outcome.ok and "row counts differ" in outcome.message
    assert "user: 0 rows" in outcome.message or "user: missing" in outcome.message
    _rehash(made, gzip.compress(text)[:-200])  # a gzip stream that ends early
    outcome = _verify(config, made)
    assert not outcome.ok and "does not decompress" in outcome.message
    assert scratch_left(server) == []


def test_scheduled_backups_dump_what_is_due_and_keep_the_retention(server: MariaDB,
                                                                   tmp_path: Path) -> None:
    from stackwatch.review.schedule import due_backups

    config = config_of(server, tmp_path, schedule=True, keep_count=1, keep_days=0,
                       verify=True, only=["keystone"])
    first = due_backups(config, time.time())
    assert len(first) == 1 and all("verify ok" in line for line in first), first
    assert due_backups(config, time.time()) == []  # not due again yet
    assert config.backups is not None
    later = time.time() + config.backups.every + 1
    again = due_backups(config, later)
    assert len(again) == 1
    kept = archive.groups(archive.backups(tmp_path / "backups"))
    assert all(len(members) == 1 for members in kept.values())  # keep_count 1, no age
    assert scratch_left(server) == []
