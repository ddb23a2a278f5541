"""``stackwatch backup run|list|verify|prune`` over the ``backups`` section of the config.

A database that cannot be backed up or verified is reported on its own line and the
others go on; the command then exits 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from stackwatch.backup import archive, retention
from stackwatch.backup.dump import Target, run_backup, targets
from stackwatch.backup.verify import verify
from stackwatch.config import BackupConfig, Config, load_config
from stackwatch.errors import BackupError, ConfigError, StackwatchError
from stackwatch.query.times import iso
from stackwatch.terminal import printable

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")
database_option = click.option("--database", "chosen", multiple=True, metavar="[CLOUD/]NAME",
                               help="Only this database (repeatable).")


def _settings(config: Config) -> BackupConfig:
    if config.backups is None:
        raise ConfigError("no backups section in the configuration (docs/backups.md)")
    return config.backups


def _targets(config: Config, chosen: tuple[str, ...]) -> list[Target]:
    found, problems = targets(config)
    for problem in problems:
        click.echo(f"stackwatch: backup: {printable(problem)}", err=True)
    if chosen:
        found = [t for t in found if t.database in chosen or t.key in chosen]
        if not found:
            raise ConfigError(f"{', '.join(chosen)}: not among the databases backed up")
    return found


@click.group()
def backup() -> None:
    """Dump the service databases, verify the dumps by restoring them, keep a few."""


@backup.command()
@config_option
@database_option
@click.option("--verify/--no-verify", "check", default=None,
              help="Restore each new backup into a scratch database (default: backups.verify).")
@click.option("--prune/--no-prune", "do_prune", default=True, show_default=True,
              help="Apply the retention afterwards.")
def run(config_path: Path, chosen: tuple[str, ...], check: bool | None, do_prune: bool
        ) -> None:
    """Back up every configured database (gzip, sha256, manifest)."""
    config = load_config(config_path)
    settings = _settings(config)
    failed = 0
    for target in _targets(config, chosen):
        try:
            made = run_backup(target, settings)
            size = made.manifest.bytes if made.manifest else 0
            line = f"{target.key}: {made.path} ({size} bytes)"
            if settings.verify if check is None else check:
                outcome = verify(made, target, settings)
                line += f"; verify: {'ok' if outcome.ok else 'FAILED'}: {outcome.message}"
                failed += not outcome.ok
            click.echo(printable(line))
        except StackwatchError as exc:
            failed += 1
            click.echo(f"stackwatch: backup {target.key}: {printable(str(exc))}", err=True)
    if do_prune:
        _prune(settings, dry_run=False)
    sys.exit(2 if failed else 0)


@backup.command("list")
@config_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def list_command(config_path: Path, fmt: str) -> None:
    """The backups kept, oldest first, with their verification."""
    settings = _settings(load_config(config_path))
    found = archive.backups(settings.directory)
    if fmt == "json":
        click.echo(json.dumps([{
            "path": str(b.path), "finished": b.finished,
            "manifest": b.manifest.model_dump(mode="json") if b.manifest else None,
            "verification": b.verification.model_dump(mode="json") if b.verification else None,
        } for b in found], indent=1))
        return
    for b in found:
        state = ("incomplete" if b.manifest is None else
                 "not verified" if b.verification is None else
                 f"verified {iso(b.verification.at)}" if b.verification.ok else
                 f"FAILED: {b.verification.message}")
        size = b.manifest.bytes if b.manifest else b.path.stat().st_size
        click.echo(printable(f"{iso(b.finished)}  {size:>12}  {b.path}  {state}"))


@backup.command("verify")
@config_option
@database_option
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, dir_okay=False,
                                                   exists=True))
def verify_command(config_path: Path, chosen: tuple[str, ...], paths: tuple[Path, ...]
                   ) -> None:
    """Verify PATHS (default: the newest backup of each database): checksum, restore into
    a scratch database, row counts against the source; exit 2 when one fails."""
    config = load_config(config_path)
    settings = _settings(config)
    by_key = {(t.cloud, t.database): t for t in _targets(config, chosen)}
    if paths:
        picked = [archive.load(p) for p in paths]
    else:
        groups = archive.groups(archive.backups(settings.directory))
        picked = [groups[k][-1] for k in by_key if k in groups]
        for key in sorted(set(by_key) - set(groups)):
            click.echo(f"stackwatch: verify {'/'.join(key)}: no backup", err=True)
    failed = len(by_key) - len(picked) if not paths else 0
    for b in picked:
        key = (b.path.parent.parent.name, b.path.parent.name)
        target = by_key.get(key)
        try:
            if target is None:
                raise BackupError(f"{'/'.join(key)} is not among the databases backed up")
            outcome = verify(b, target, settings)
        except StackwatchError as exc:
            failed += 1
            click.echo(f"stackwatch: verify {b.path}: {printable(str(exc))}", err=True)
            continue
        failed += not outcome.ok
        click.echo(printable(f"{b.path}: {'ok' if outcome.ok else 'FAILED'}: "
                             f"{outcome.message}"))
    sys.exit(2 if failed else 0)


def _prune(settings: BackupConfig, dry_run: bool) -> list[archive.Backup]:
    found = archive.backups(settings.directory)
    now = time.time()
    gone = (retention.to_remove if dry_run else retention.prune)(
        found, now, settings.keep_count, settings.keep_days)
    for b in gone:
        click.echo(f"{'would remove' if dry_run else 'removed'} {b.path}")
    if not dry_run:
        for path in retention.remove_partials(settings.directory, now):
            click.echo(f"removed {path} (a dump that never finished)")
    return gone


@backup.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
def prune(config_path: Path, dry_run: bool) -> None:
    """Apply the retention: keep the newest keep_count of each database and any younger
    than keep_days."""
    _prune(_settings(load_config(config_path)), dry_run)
