"""``stackwatch agent`` and ``stackwatch install-units``."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import click

from stackwatch import heap, stopping
from stackwatch.agent.units import DEFAULT_EXEC, install
from stackwatch.stopping import stop_on_signals


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
              help="stackwatch.yaml with an agent: section (env STACKWATCH_CONFIG).")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until SIGTERM / Ctrl-C).")
def agent(config_path: Path, duration: float | None) -> None:
    """Run this node's sources and push every run to the server (docs/agent.md).

    Each run is written to the buffer directory first and removed once the server has
    it; a server away only makes the buffer grow (bounded: the oldest go first).
    """
    from stackwatch.agent.daemon import Agent, node_config
    from stackwatch.catalog.loader import default_catalog
    from stackwatch.config import load_config
    from stackwatch.sources.registry import build_sources

    config = node_config(load_config(config_path))
    sources = build_sources(config)
    stop = threading.Event()
    with heap.settled(), stop_on_signals(stop.set), \
            Agent(config, sources, default_catalog()) as running:
        waiting, size, _ = running.buffer.stats()
        click.echo(f"stackwatch agent {running.buffer.agent}: {len(sources)} sources as host "
                   f"{running.host}, pushing to {running.settings.server}; buffer "
                   f"{running.settings.buffer_dir} ({waiting} batches, {size} bytes waiting)")
        stopping.wait(stop, duration)


def _stackwatch() -> str:
    """The ``stackwatch`` program of this installation."""
    beside = Path(sys.executable).parent / "stackwatch"
    if beside.is_file():
        return str(beside)
    return shutil.which("stackwatch") or DEFAULT_EXEC


@click.command("install-units")
@click.option("--prefix", type=click.Path(path_type=Path, file_okay=False),
              default="/etc/systemd/system", show_default=True,
              help="Directory to write the unit files to.")
@click.option("--user", default=None, metavar="USER",
              help="Run as this user (default: a dynamic user systemd makes).")
@click.option("--exec", "executable", default=None, metavar="PATH",
              help="The stackwatch program to run (default: this installation's).")
def install_units(prefix: Path, user: str | None, executable: str | None) -> None:
    """Write stackwatch-agent.service and stackwatch-server.service (systemd)."""
    for path in install(prefix, executable or _stackwatch(), user):
        click.echo(f"wrote {path}")
    click.echo("then: systemctl daemon-reload && systemctl enable --now stackwatch-agent "
               "(on each node) or stackwatch-server (on the server)")
