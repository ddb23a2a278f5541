"""``stackwatch alarms`` (active, root causes first), ``alarms history``, ``alarms ack``,
``alarms silence``, ``alarms check-config FILE`` (``stackwatch export prometheus-rules``
is in :mod:`stackwatch.export`). A thin layer over :mod:`stackwatch.query.alarms`: the state is the
store's (the server's engine writes it), read and acted on from here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from stackwatch.errors import ConfigError
from stackwatch.store.base import AlarmStateStore

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml whose store keeps the alarms' state.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@contextmanager
def _states(config_path: Path) -> Iterator[AlarmStateStore]:
    if not config_path.exists():
        raise ConfigError(f"{config_path}: not found; give --config")
    from stackwatch.config import load_config
    from stackwatch.store.opening import open_alarm_store

    states = open_alarm_store(load_config(config_path).store, create=False,
                              hint="start `stackwatch server` first")
    try:
        yield states
    finally:
        states.close()


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 30m, 2h, 1d") from None


@click.group(invoke_without_command=True)
@config_option
@json_option
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]), default=None,
              help="Only alarms at least this severe.")
@click.pass_context
def alarms(ctx: click.Context, config_path: Path, as_json: bool, severity: str | None) -> None:
    """Active alarms, root causes first (sub-commands: history, ack, silence,
    check-config)."""
    if ctx.invoked_subcommand is not None:
        return
    from stackwatch.catalog.loader import default_catalog
    from stackwatch.query.alarms import active

    with _states(config_path) as states:
        view = active(states, default_catalog(), time.time(), severity)
    if as_json:
        click.echo(view.model_dump_json(indent=1))
        return
    click.echo(f"{view.firing} firing, {view.insufficient_data} insufficient data, "
               f"{view.ok} ok")
    for a in view.alarms:
        mark = "  " if a.cause is None else "    <- "
        notes = [f"acked by {a.acknowledged_by}" if a.acknowledged_by else "",
                 f"silenced by {a.silenced_by}" if a.silenced_by else ""]
        extra = "".join(f" [{n}]" for n in notes if n)
        click.echo(f"{mark}{a.severity or a.state:9} {a.alarm} {{{_labels(a.labels)}}} "
                   f"since {_when(a.since)}: {a.reason}{extra}")


@alarms.command()
@config_option
@json_option
@click.option("--alarm", default=None, help="Only this alarm's transitions.")
@click.option("--since", "since", default="1d", show_default=True,
              help="How far back (90s, 30m, 2h, 1d).")
@click.option("--limit", default=200, show_default=True)
def history(config_path: Path, as_json: bool, alarm: str | None, since: str,
            limit: int) -> None:
    """Every transition, newest first, with its reason."""
    from stackwatch.query.alarms import history as read

    now = time.time()
    with _states(config_path) as states:
        found = read(states, now - _duration(since), now, alarm, limit)
    if as_json:
        click.echo(json.dumps([t.model_dump() for t in found], indent=1))
        return
    for t in found:
        click.echo(f"{_when(t.ts)} {t.alarm} {{{_labels(t.labels)}}} {t.previous} -> "
                   f"{t.current}: {t.reason}")


@alarms.command()
@config_option
@click.argument("alarm")
@click.argument("matchers", nargs=-1)
@click.option("--by", required=True, help="Who acknowledges.")
@click.option("--reason", required=True, help="Why (what is being done).")
def ack(config_path: Path, alarm: str, matchers: tuple[str, ...], by: str,
        reason: str) -> None:
    """Acknowledge the firing instances of ALARM matching MATCHERS (host=cmp1 ...): no
    repeats until it leaves the alarm state."""
    from stackwatch.query.alarms import acknowledge
    from stackwatch.query.errors import QueryError

    with _states(config_path) as states:
        try:
            done = acknowledge(states, alarm, matchers, by, reason, time.time())
        except QueryError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"acknowledged {done.acknowledged} instance(s) of {alarm}")


@alarms.command()
@config_option
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", required=True, help="How long (90s, 30m, 2h, 1d).")
@click.option("--by", required=True, help="Who silences.")
@click.option("--reason", required=True, help="Why (a maintenance...).")
def silence(config_path: Path, matchers: tuple[str, ...], duration: str, by: str,
            reason: str) -> None:
    """Hold back the actions of the instances MATCHERS select (alertname=disk-80
    host=~"cmp.*") for a time; their state is still followed."""
    from stackwatch.query.alarms import silence as add
    from stackwatch.query.errors import QueryError

    with _states(config_path) as states:
        try:
            made = add(states, matchers, _duration(duration), by, reason, time.time())
        except QueryError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"silence {made.id} until {_when(made.ends)}: {' '.join(made.matchers)}")


@alarms.command("check-config")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check_config(file: Path) -> None:
    """Validate an alarm file as the server would merge it over the defaults; exit 1
    with one line per bad alarm."""
    from stackwatch.alarms.definitions import load_alarms
    from stackwatch.catalog.loader import default_catalog

    loaded = load_alarms([file], catalog=default_catalog())
    for problem in loaded.problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(loaded.alarms)} alarms loaded, {len(loaded.problems)} with problems")
    if loaded.problems:
        raise SystemExit(1)
