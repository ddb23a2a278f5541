"""Take a backup: ``mariadb-dump`` of one database, gzipped and hashed as it streams, its
checksum file, then the manifest with the source's row counts (before and after).

The dump is consistent (``--single-transaction``, no table locks: what a read-only
account may do on InnoDB) and has no ``CREATE DATABASE``/``USE``, so it restores into
any database name. The files are written as ``.partial`` and renamed when complete.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from stackwatch.backup.archive import (
    Backup,
    Manifest,
    checksum_path,
    dump_path,
    load,
    manifest_path,
)
from stackwatch.backup.login import Login, defaults_file, login_of
from stackwatch.config import BackupConfig, Config
from stackwatch.errors import BackupError, StackwatchError

log = logging.getLogger(__name__)

DUMP_OPTIONS = ("--single-transaction", "--quick", "--skip-lock-tables", "--no-tablespaces",
                "--hex-blob", "--default-character-set=utf8mb4", "--skip-dump-date")


@dataclass(frozen=True)
class Target:
    """One database to back up: its cloud, name and login."""

    cloud: str
    database: str
    login: Login

    @property
    def key(self) -> str:
        return f"{self.cloud}/{self.database}"


def targets(config: Config) -> tuple[list[Target], list[str]]:
    """The databases ``backups`` covers, and the problems of those it cannot (not
    MariaDB/MySQL, a bad URL): each named, the rest still backed up."""
    settings = config.backups or BackupConfig()
    out: list[Target] = []
    problems: list[str] = []
    for cloud in config.clouds:
        urls = {**cloud.databases, **{d: u for d, u in settings.databases.items()
                                      if d in cloud.databases or not cloud.databases}}
        for database, url in sorted(urls.items()):
            if settings.only and database not in settings.only:
                continue
            try:
                out.append(Target(cloud.name, database, login_of(url, f"{cloud.name}/"
                                                                   f"{database}")))
            except StackwatchError as exc:
                problems.append(str(exc))
    return out, problems


def tool(name: str) -> str:
    """The client tool's path (``mariadb-dump``, else ``mysqldump``)."""
    fallback = {"mariadb-dump": "mysqldump", "mariadb": "mysql"}.get(name, name)
    found = shutil.which(name) or shutil.which(fallback)
    if found is None:
        raise BackupError(f"{name}: not found (Debian: apt-get install mariadb-client)")
    return found


@contextlib.contextmanager
def engine(login: Login) -> Iterator[sa.Engine]:
    made = sa.create_engine(login.sqlalchemy_url(), poolclass=sa.pool.NullPool)
    try:
        yield made
    finally:
        made.dispose()


def row_counts(login: Login) -> dict[str, int]:
    """The exact row count of every base table of the login's database."""
    try:
        with engine(login) as made, made.connect() as conn:
            names = [r[0] for r in conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :db "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"), {"db": login.database})]
            return {n: int(conn.execute(sa.text(
                        f"SELECT COUNT(*) FROM `{n.replace('`', '``')}`")).scalar_one())
                    for n in names}
    except sa.exc.SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc.__class__.__name__
        raise BackupError(f"{login.database}: cannot count rows: {reason}") from None


def drain(stream: IO[bytes] | None) -> tuple[list[bytes], threading.Thread]:
    """Read a child's stderr on a thread (its last 2,000 bytes kept), so that a chatty
    child never blocks on a full pipe."""
    kept: list[bytes] = []

    def read() -> None:
        if stream is not None:
            with stream:
                kept.append(stream.read()[-2000:])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return kept, reader


class _Hashing:
    """A binary file that hashes what is written to it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def run_backup(target: Target, settings: BackupConfig, now: float | None = None) -> Backup:
    """Dump ``target`` into ``settings.directory``; the complete backup, or BackupError
    (nothing but a ``.partial`` file left, removed)."""
    started = time.time() if now is None else now
    path = dump_path(settings.directory, target.cloud, target.database, started)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    dump = tool(settings.dump_command)
    before = row_counts(target.login)
    try:
        with defaults_file(target.login) as options, open(partial, "wb") as raw:
            hashing = _Hashing(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=hashing,
                               mtime=0) as packed:
                proc = subprocess.Popen(
                    [dump, f"--defaults-file={options}", *DUMP_OPTIONS, target.login.database],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                errors, reader = drain(proc.stderr)
                out = proc.stdout
                assert out is not None
                with out:
                    for block in iter(lambda: out.read(1 << 20), b""):
                        packed.write(block)
                try:
                    code = proc.wait(settings.timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise BackupError(f"{target.key}: {dump} took over {settings.timeout:g} s"
                                      ) from None
                reader.join(10)
            if code != 0:
                message = b"".join(errors).decode("utf-8", "replace").strip()
                raise BackupError(f"{target.key}: {Path(dump).name} exited {code}: {message}")
            raw.flush()
            os.fsync(raw.fileno())
        after = row_counts(target.login)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    digest = hashing.digest.hexdigest()
    checksum_path(path).write_text(f"{digest}  {path.name}\n", encoding="ascii")
    tables = {t: (min(before.get(t, n), n), max(before.get(t, n), n))
              for t, n in after.items()}
    manifest = Manifest(cloud=target.cloud, database=target.database, started=started,
                        finished=time.time() if now is None else max(now, started),
                        bytes=hashing.size, sha256=digest, tables=tables, tool=Path(dump).name)
    tmp = manifest_path(path).with_suffix(".json.partial")
    tmp.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    os.replace(tmp, manifest_path(path))
    log.info("backup %s: %s, %d bytes, %d tables", target.key, path, hashing.size, len(tables))
    return load(path)
