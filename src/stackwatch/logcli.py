"""``stackwatch logs …`` and ``stackwatch trace``: parse, backfill, block list, request story.

* ``logs parse FILE…`` — how each line of a file was understood: parsed, skipped
  (by reason) or unparsed (with a sample), and the requests found.
* ``logs backfill PATH…`` — rotated logs (``.gz`` too) into hourly aggregates;
  ``logs hourly`` shows them (requests per hour per API operation).
* ``logs blocklist`` — addresses brute-forcing keystone, as firewall/web-server rules.
* ``trace ID`` — one request id, global request id or instance uuid, across services.

Log content is printed through :func:`~stackwatch.terminal.printable`: control
characters and undecodable bytes show as escapes, never reach the terminal raw.
A file that cannot be read is reported and counted, the others still read;
``parse`` and ``backfill`` then exit 2. ``hourly`` and ``trace`` only read the
store: a store that is not there is an error, never created.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackwatch.errors import ConfigError
from stackwatch.store.existing import existing_store
from stackwatch.terminal import printable

if TYPE_CHECKING:
    from stackwatch.store.base import Store

#: Exit code of ``logs parse`` and ``logs backfill`` when a file could not be read.
UNREADABLE = 2

store_option = click.option(
    "--store", "store_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="SQLite store file (default: store.path of --config).")
config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml to use when --store is not given.")


def _store_path(store_path: Path | None, config_path: Path) -> Path:
    if store_path is not None:
        return store_path
    if not config_path.exists():
        raise ConfigError(f"{config_path}: not found; give --store or --config")
    from stackwatch.config import load_config  # pydantic: only when a config is read

    return load_config(config_path).store.path


def _existing_store_path(store_path: Path | None, config_path: Path) -> Path:
    """The store to read, which must be there (reading never creates one)."""
    return existing_store(_store_path(store_path, config_path),
                          "run stackwatch logs backfill or stackwatch server first")


def _trace_store(store_path: Path | None, config_path: Path) -> Store:
    """The store ``trace`` reads, which must be there: the SQLite file ``--store``, or the
    configuration's store (with ``store.url``, its PostgreSQL database, the request index
    staying in the local file ``store.path``)."""
    if store_path is None:
        from stackwatch.config import load_config
        from stackwatch.store.opening import open_store

        config = load_config(config_path).store
        if config.url is not None:
            return open_store(config, create=False, hint="is `stackwatch server` running?")
    from stackwatch.store.sqlite import SQLiteStore

    return SQLiteStore(_existing_store_path(store_path, config_path))


def _unreadable(errors: Sequence[str], files: int) -> None:
    """Each file that could not be read was reported; say how many, exit 2."""
    if errors:
        click.echo(f"stackwatch: {len(errors)} of {files} files could not be read", err=True)
        sys.exit(UNREADABLE)


@click.group()
def logs() -> None:
    """Read OpenStack log files: parse, backfill, block brute-force addresses."""


@logs.command("parse")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--service", default=None, help="Service label (default: from the file name).")
@click.option("--show", default=10, show_default=True, help="Unparsed lines to show per file.")
def parse_command(files: Sequence[Path], service: str | None, show: int) -> None:
    """Show how every line of FILES is understood.

    Exit 0 when every line was understood, 1 when a line was not, 2 when a file
    could not be read (each reported; the others are still parsed).
    """
    from stackwatch.sources.logs.backfill import parse_file, service_of

    unparsed_total = 0
    errors: list[str] = []
    for path in files:
        result = parse_file(path, service or service_of(path), "-", True)
        total = parse_total = 0
        reasons: dict[str, int] = {}
        outcomes: dict[str, int] = {}
        requests: dict[tuple[str, str, str], int] = {}
        for tally in result.hours.values():
            for (_, _, outcome), n in tally.lines.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
            for (_, reason), n in tally.skipped.items():
                reasons[reason] = reasons.get(reason, 0) + n
            for (_, _, method, url, status), n in tally.requests.items():
                requests[(method, url, status)] = requests.get((method, url, status), 0) + n
        total = sum(outcomes.values())
        parse_total = outcomes.get("parsed", 0)
        unparsed_total += outcomes.get("unparsed", 0)
        click.echo(f"{printable(str(path))}: {total} lines, {parse_total} parsed, "
                   f"{outcomes.get('skipped', 0)} skipped, {outcomes.get('unparsed', 0)} unparsed")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            click.echo(f"  skipped {printable(reason)}: {n}")
        for (method, url, status), n in sorted(requests.items(), key=lambda kv: -kv[1])[:20]:
            click.echo(f"  {n:>7} {printable(f'{method} {url} {status}')}")
        for line in result.unparsed_sample[:show]:
            click.echo(f"  unparsed: {printable(line)}")
        if result.error:
            errors.append(result.error)
            click.echo(f"  error: {printable(result.error)}", err=True)
    _unreadable(errors, len(files))
    sys.exit(1 if unparsed_total else 0)


@logs.command("backfill")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@store_option
@config_option
@click.option("--workers", type=int, default=None,
              help="Worker threads (compiled) or processes (python); default: cores.")
@click.option("--host", default=None, help="Host label (default: this host's name).")
@click.option("--force", is_flag=True, help="Ingest files already ingested before.")
@click.option("--engine", type=click.Choice(["compiled", "python"]), default="compiled",
              show_default=True,
              help="compiled: numba kernels, threads in one process (the reference parser "
                   "takes the lines they cannot vouch for); python: the reference parser "
                   "alone, in worker processes.")
def backfill_command(paths: Sequence[Path], store_path: Path | None, config_path: Path,
                     workers: int | None, host: str | None, force: bool, engine: str) -> None:
    """Ingest rotated log files (.gz too) into hourly aggregates in the store.

    Exit 2 when a file could not be read (each reported; the others are ingested).
    """
    from stackwatch.sources.logs.backfill import FileResult, backfill, collect_files
    from stackwatch.store.log_history import LogHistory

    history = LogHistory(_store_path(store_path, config_path))
    files = collect_files(paths)
    started = time.perf_counter()
    lines = unparsed = 0
    errors: list[str] = []
    size = sum(f.stat().st_size for f in files)
    skip = None if force else history.ingested
    if engine == "compiled":
        from stackwatch.sources.logs.compiled import backfill_compiled, warm_up

        compiled = warm_up()
        if compiled > 5:
            click.echo(f"stackwatch: backfill kernels compiled in {compiled:.0f}s (once on "
                       "this machine: cached)", err=True)
    with click.progressbar(length=len(files), label="backfill", file=sys.stderr) as bar:
        results: Iterable[FileResult]
        if engine == "compiled":
            results = backfill_compiled(paths, threads=workers, host=host, skip=skip)
        else:
            results = backfill(paths, workers=workers, host=host, skip=skip)
        for result in results:
            if result.error:
                errors.append(result.error)
                click.echo(f"stackwatch: {printable(result.error)}", err=True)
            history.add(result.hours, [(result.fingerprint, result.path, result.lines)])
            lines += result.lines
            unparsed += sum(t.outcome("unparsed") for t in result.hours.values())
            bar.update(1)
    elapsed = time.perf_counter() - started
    click.echo(f"{len(files)} files, {lines} lines ({unparsed} unparsed), {size / 1e6:.1f} MB "
               f"in {elapsed:.1f}s: {lines / max(elapsed, 1e-9):,.0f} lines/s")
    history.close()
    _unreadable(errors, len(files))


@logs.command("hourly")
@store_option
@config_option
@click.option("--service", default=None, help="One service only (nova, keystone...).")
@click.option("--top", default=10, show_default=True, help="Busiest operations per hour.")
def hourly_command(store_path: Path | None, config_path: Path, service: str | None,
                   top: int) -> None:
    """Requests per hour per API operation, from what ``logs backfill`` stored."""
    from stackwatch.store.log_history import LogHistory

    history = LogHistory(_existing_store_path(store_path, config_path))
    rows = history.requests_per_hour(service)
    history.close()
    if not rows:
        click.echo("no hourly aggregates: run stackwatch logs backfill first", err=True)
        sys.exit(1)
    by_hour: dict[float, list[tuple[int, str]]] = {}
    for row in rows:
        mean = f"{row.mean_seconds * 1000:8.1f} ms" if row.mean_seconds is not None else ""
        by_hour.setdefault(row.hour, []).append(
            (row.requests, printable(f"{row.requests:>8} {row.service:<10} {row.method:<6} "
                                     f"{row.url} {mean}")))
    for hour, entries in sorted(by_hour.items()):
        total = sum(n for n, _ in entries)
        click.echo(f"{time.strftime('%Y-%m-%d %H:00', time.gmtime(hour))}  {total} requests")
        for _, text in sorted(entries, key=lambda e: -e[0])[:top]:
            click.echo(f"  {text}")


@logs.command("blocklist")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--format", "fmt", default="ipset", show_default=True,
              type=click.Choice(["ipset", "iptables", "nftables", "nginx", "apache", "plain"]))
@click.option("--window", type=float, default=300.0, show_default=True,
              help="Sliding window in seconds.")
@click.option("--threshold", type=int, default=20, show_default=True,
              help="Failed authentications within the window that make an offender.")
@click.option("--at", "at", type=float, default=None,
              help="End of the window (epoch; default: the last failure in the files).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write here (atomically) instead of standard output.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Log root to take keystone's and HAProxy's files from when no FILES.")
def blocklist_command(files: Sequence[Path], fmt: str, window: float, threshold: int,
                      at: float | None, output: Path | None, root: Path | None) -> None:
    """Addresses with THRESHOLD+ failed keystone authentications in WINDOW seconds.

    Reads FILES (keystone access logs, HAProxy logs), or keystone's and HAProxy's
    files under --root (default /var/log).
    """
    from stackwatch.sources.logs.bruteforce import BruteForceDetector, blocklist, read_failures
    from stackwatch.sources.logs.globs import DEFAULT_GLOBS, DEFAULT_ROOT, expand

    if not files:
        base = root or DEFAULT_ROOT
        patterns = DEFAULT_GLOBS["keystone"] + DEFAULT_GLOBS["haproxy"]
        files = expand(base, patterns)
        if not files:
            # An empty block list would read as "no attacker": say nothing was read.
            raise ConfigError(f"no log files matched under {base} (looked for "
                              f"{', '.join(patterns)}); give the files as arguments")
    failures = read_failures(files)
    detector = BruteForceDetector(window, threshold)
    detector.add((f.timestamp, f.address) for f in failures)
    latest = max((f.timestamp for f in failures), default=0.0)
    offenders = detector.offenders(at if at is not None else latest)
    text = blocklist((o.address for o in offenders), fmt)
    for offender in offenders:
        click.echo(f"# {printable(offender.address)}: {offender.failures} failures", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(output)


@click.command("trace")
@click.argument("key")
@store_option
@config_option
@click.option("--limit", default=5000, show_default=True, help="Records to show at most.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: the same view as /api/v1/traces/{id}.")
def trace(key: str, store_path: Path | None, config_path: Path, limit: int,
          fmt: str) -> None:
    """The story of one request (request id, global request id) or instance (uuid).

    Log records from the request index, and the store's other events that carry the
    same request id or resource (notifications, instance actions and their events,
    faults, migrations), in time order across services. Each line says where it comes
    from: the service's logger for a log record, ``kind:type`` for an event
    (``instance_action:create``, ``fault:fault/500``, ``migration:migration/finished``,
    ``notification:compute.instance.create.end``).
    """
    from stackwatch.query.errors import QueryError
    from stackwatch.query.trace import timeline

    store = _trace_store(store_path, config_path)
    try:
        story = timeline(store, key, time.time(), limit)
    except QueryError as exc:
        click.echo(printable(str(exc)), err=True)
        sys.exit(1)
    finally:
        store.close()
    if fmt == "json":
        click.echo(story.model_dump_json(indent=1))
        return
    for step in story.steps:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(step.timestamp))
        if step.kind == "log":
            ids = step.request_id or "-"
            if step.global_request_id and step.global_request_id != step.request_id:
                ids += f" (global {step.global_request_id})"
            text = (f"{step.service:<10} {step.host:<12} {step.level:<8} {step.origin} "
                    f"[{ids}] {step.message}")
        else:
            text = (f"{step.service or '-':<10} {step.host or '-':<12} {step.level:<8} "
                    f"{step.kind}:{step.origin} [{step.request_id or '-'}] {step.message}")
        click.echo(f"{stamp}{f'{step.timestamp % 1:.3f}'[1:]} {printable(text)}")
        for line in step.detail:
            click.echo(f"    {printable(line)}")
