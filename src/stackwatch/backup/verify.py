"""Prove a backup: its checksum, then a restore into a scratch database on the same
server and the row count of every table compared with the source's at dump time.

The scratch database is named ``<scratch_prefix><database>_<random>`` and dropped
afterwards, whatever happened. A dump that was corrupted after it was written fails the
checksum; one that was bad when written (cut short, damaged before it was hashed) fails
the restore (gzip or SQL error) or the comparison (a table missing, a count outside what
the source held during the dump).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import secrets
import subprocess
import time
import zlib

import sqlalchemy as sa

from stackwatch.backup.archive import (
    Backup,
    Verification,
    read_checksum,
    sha256_of,
    verification_path,
)
from stackwatch.backup.dump import Target, drain, engine, row_counts, tool
from stackwatch.backup.login import Login, defaults_file, login_of
from stackwatch.config import BackupConfig
from stackwatch.errors import BackupError

log = logging.getLogger(__name__)


def scratch_login(target: Target, settings: BackupConfig) -> Login:
    """Where to restore: ``scratch_url``'s server, or the target's, with a new name."""
    base = (login_of(settings.scratch_url, "backups.scratch_url")
            if settings.scratch_url else target.login)
    name = f"{settings.scratch_prefix}{target.database}_{secrets.token_hex(4)}"[:64]
    return base.with_database(name)


def _restore(backup: Backup, scratch: Login, settings: BackupConfig) -> None:
    client = tool(settings.client_command)
    with defaults_file(scratch) as options:
        proc = subprocess.Popen([client, f"--defaults-file={options}", "--batch",
                                 scratch.database], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errors, reader = drain(proc.stderr)
        assert proc.stdin is not None
        broken = ""
        try:
            with gzip.open(backup.path, "rb") as unpacked:
                for block in iter(lambda: unpacked.read(1 << 20), b""):
                    proc.stdin.write(block)
        except BrokenPipeError:
            pass  # the client stopped on an error: its message says which
        except (OSError, EOFError, zlib.error) as exc:
            broken = f"the dump does not decompress: {exc}"
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        try:
            code = proc.wait(settings.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BackupError(f"restore took over {settings.timeout:g} s") from None
        reader.join(10)
    if broken:  # the client may have failed on the half statement: the cause is this
        raise BackupError(broken)
    if code != 0:
        message = b"".join(errors).decode("utf-8", "replace").strip()
        raise BackupError(f"restore failed: {message}")


def compare(expected: dict[str, tuple[int, int]], restored: dict[str, int]) -> list[str]:
    """What differs between the source's counts and the restored ones, table by table."""
    problems = []
    for table, (low, high) in sorted(expected.items()):
        if table not in restored:
            problems.append(f"{table}: missing")
        elif not low <= restored[table] <= high:
            held = str(low) if low == high else f"{low}..{high}"
            problems.append(f"{table}: {restored[table]} rows, the source had {held}")
    problems += [f"{t}: not in the source" for t in sorted(set(restored) - set(expected))]
    return problems


def verify(backup: Backup, target: Target, settings: BackupConfig,
           now: float | None = None) -> Verification:
    """Check ``backup`` of ``target``; the outcome is also written beside it."""
    at = time.time() if now is None else now
    if backup.manifest is None:
        outcome = Verification(at=at, ok=False, message="incomplete: no manifest")
    else:
        outcome = _verify(backup, target, settings, at)
    verification_path(backup.path).write_text(outcome.model_dump_json(indent=1),
                                              encoding="utf-8")
    log.log(logging.INFO if outcome.ok else logging.WARNING, "verify %s: %s", backup.path,
            outcome.message)
    return outcome


def _verify(backup: Backup, target: Target, settings: BackupConfig, at: float
            ) -> Verification:
    assert backup.manifest is not None
    recorded = read_checksum(backup.path)
    actual = sha256_of(backup.path)
    if not recorded:
        return Verification(at=at, ok=False, message="no checksum file")
    if recorded != actual or actual != backup.manifest.sha256:
        return Verification(at=at, ok=False, message=f"checksum mismatch: the file's sha256 "
                            f"is {actual[:16]}…, recorded {recorded[:16]}…")
    scratch = scratch_login(target, settings)
    server = scratch.with_database("")
    try:
        with engine(server) as made, made.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{scratch.database}` "
                                 "CHARACTER SET utf8mb4"))
    except sa.exc.SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc.__class__.__name__
        raise BackupError(f"cannot create the scratch database {scratch.database}: "
                          f"{reason}") from None
    try:
        try:
            _restore(backup, scratch, settings)
        except BackupError as exc:
            return Verification(at=at, ok=False, message=str(exc))
        restored = row_counts(scratch)
    finally:
        try:
            with engine(server) as made, made.begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{scratch.database}`"))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("scratch database %s not dropped: %s", scratch.database,
                        getattr(exc, "orig", exc))
    problems = compare(backup.manifest.tables, restored)
    if problems:
        return Verification(at=at, ok=False, tables=restored,
                            message=f"row counts differ: {'; '.join(problems[:10])}")
    return Verification(at=at, ok=True, tables=restored,
                        message=f"restored {len(restored)} tables, "
                                f"{sum(restored.values())} rows, as the source")
