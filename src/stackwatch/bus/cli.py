"""``stackwatch consume`` (the notification consumer alone) and ``stackwatch usage-audit``."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click

from stackwatch import stopping
from stackwatch.commands import config_option
from stackwatch.config import BusConfig, Config, load_config
from stackwatch.errors import ConfigError
from stackwatch.stopping import stop_on_signals


def bus_configs(config: Config) -> list[tuple[str, BusConfig]]:
    """(source name, bus) of each cloud whose ``bus.url`` is set: ``bus`` for one cloud,
    ``bus.<cloud>`` for several."""
    with_bus = [c for c in config.clouds if c.bus.url]
    if len(with_bus) == 1:
        return [("bus", with_bus[0].bus)]
    return [(f"bus.{c.name}", c.bus) for c in with_bus]


@click.command()
@config_option
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
def consume(config_path: Path, duration: float | None) -> None:
    """Consume the clouds' notifications into the store (what `server` does beside its
    collection), until Ctrl-C or SIGTERM."""
    from stackwatch.bus.consumer import NotificationConsumer
    from stackwatch.store.opening import open_store

    config = load_config(config_path)
    buses = bus_configs(config)
    if not buses:
        raise ConfigError(f"{config_path}: no cloud has bus.url: nothing to consume")
    store = open_store(config.store)
    stop = threading.Event()
    consumers = [NotificationConsumer(bus, store, source).start() for source, bus in buses]
    try:
        with stop_on_signals(stop.set):
            click.echo(f"stackwatch consume: {', '.join(c.where for c in consumers)} -> "
                       f"{config.store.location}")
            stopping.wait(stop, duration)
    finally:
        for consumer in consumers:
            consumer.stop()
        store.close()


@click.command("usage-audit")
@config_option
@click.option("--hours", type=float, default=24.0, show_default=True,
              help="The window of notifications to audit.")
@click.option("--period", type=float, default=3600.0, show_default=True,
              help="nova's instance_usage_audit_period, in seconds.")
def usage_audit(config_path: Path, hours: float, period: float) -> None:
    """Check compute.instance.exists against the instances' lifecycle (Nagios exit code)."""
    from stackwatch.bus.audit import audit, check
    from stackwatch.store.opening import open_store

    config = load_config(config_path)
    store = open_store(config.store, create=False,
                       hint="run `stackwatch server` or `stackwatch consume` first")
    now = time.time()
    try:
        events = store.events(now - hours * 3600, now, kinds=["notification"], limit=10_000_000)
    finally:
        store.close()
    found = audit(events, now, period)
    result = check(found, now)
    click.echo(result.nagios_line())
    for d in found:
        click.echo(f"  {d.instance_id}  {d.kind}: {d.detail}")
    sys.exit(int(result.status))
