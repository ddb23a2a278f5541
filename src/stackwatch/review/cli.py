"""``stackwatch trends`` and ``stackwatch report daily|weekly|monthly``, read from the
store the server writes (never created by looking)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import click

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.query.context import Context
from stackwatch.query.times import iso, range_seconds
from stackwatch.review import report as reports
from stackwatch.review.trends import TrendsView, trends
from stackwatch.store.log_history import HourlyRequests

HINT = "the history is stored by `stackwatch server`"

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")


def backfilled(path: Path, start: float = 0.0) -> list[HourlyRequests]:
    """The hours per service ``stackwatch logs backfill`` stored in the SQLite file
    ``path`` (the store's, or beside a PostgreSQL store) from ``start`` on; none when
    there is no such file."""
    from stackwatch.store.existing import existing_store
    from stackwatch.store.log_history import LogHistory

    try:
        found = existing_store(path)
    except StackwatchError:
        return []
    history = LogHistory(found)
    try:
        return history.service_hours(start)
    finally:
        history.close()


@contextlib.contextmanager
def context(config: Config, now: float | None = None) -> Iterator[Context]:
    """The store (and the alarm engine's state, when there) as a read context."""
    from stackwatch.store.opening import open_alarm_store, open_store

    store = open_store(config.store, create=False, hint=HINT)
    try:
        try:
            states = open_alarm_store(config.store, create=False, hint=HINT)
        except StackwatchError:
            states = None
        try:
            yield Context(store, default_catalog(), alarm_states=states,
                          now=time.time() if now is None else now)
        finally:
            if states is not None:
                states.close()
    finally:
        store.close()


def trend_lines(view: TrendsView) -> list[str]:
    """The trends as text: per chart, each line's last value, rate per day, R² and
    (capacity) forecast."""
    from stackwatch.web.format import human_bytes, human_number

    def qty(value: float | None, unit: str) -> str:
        return human_bytes(value) if unit == "bytes" else human_number(value)

    out = [f"trends {iso(view.start)} .. {iso(view.end)}, {view.step / 3600:g} h buckets"]
    for chart in view.charts:
        more = (f" ({chart.lines_total - len(chart.lines)} more)"
                if chart.lines_total > len(chart.lines) else "")
        out.append(f"{chart.title}{more}")
        if not chart.lines:
            out.append("  no history")
        for ln in chart.lines:
            name = ", ".join(ln.labels.values()) or chart.name
            rate = ""
            if ln.rate_per_day is not None:
                sign = "+" if ln.rate_per_day >= 0 else "-"
                rate = f"  {sign}{qty(abs(ln.rate_per_day), chart.unit)}/day (R² {ln.r2:.2f})"
            tail = f"  {ln.forecast.summary()}" if ln.forecast is not None else ""
            out.append(f"  {name:<24} {qty(ln.last, chart.unit):>10}{rate}{tail}")
    return out


@click.command("trends")
@config_option
@click.option("--range", "window", default="30d", show_default=True,
              help="How far back: 7d, 30d, 90d...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def trends_command(config_path: Path, window: str, fmt: str, as_json: bool) -> None:
    """Trends over the stored history and when capacity runs out at the current rate."""
    try:
        seconds = range_seconds(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--range") from None
    config = load_config(config_path)
    with context(config) as ctx:
        view = trends(ctx, seconds, backfilled(config.store.path, ctx.now - seconds - 3600))
    if fmt == "json" or as_json:
        click.echo(view.model_dump_json(indent=1))
    else:
        click.echo("\n".join(trend_lines(view)))


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def report_command(kind: str) -> click.Command:
    """``stackwatch report KIND``."""

    @click.command(kind)
    @config_option
    @click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="text",
                  show_default=True)
    @click.option("--end", type=click.FloatRange(0, 4_102_444_800), default=None,
                  metavar="EPOCH",
                  help="End of the period (default: now).")
    @click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="Write here (atomically) instead of standard output.")
    def command(config_path: Path, fmt: str, end: float | None, output: Path | None) -> None:
        config = load_config(config_path)
        with context(config) as ctx:
            text = reports.render(reports.build(ctx, kind, end), fmt)
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomically(output, text)

    command.help = (f"The {kind} review ({reports.DAYS[kind]} day(s) to --end): failed "
                    "servers, usage and quotas, capacity and its trend, alarms, top API "
                    "errors; text, JSON or printable HTML.")
    return command
