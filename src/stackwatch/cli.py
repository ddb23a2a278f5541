"""The ``stackwatch`` command: a thin layer over the service modules.

Each sub-command lives beside the component it drives and is imported only
when invoked, so ``stackwatch --help`` stays fast and one component's missing
optional dependency never breaks another's command. Errors derived from
:class:`~stackwatch.errors.StackwatchError` are printed on one line and exit 2
(Nagios-style commands choose their own exit codes).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from stackwatch import __version__, heap
from stackwatch.errors import StackwatchError

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "sim": "stackwatch.sim.cli:sim",
    "collect": "stackwatch.commands:collect",
    "status": "stackwatch.commands:status",
    "server": "stackwatch.commands:server",
    "demo": "stackwatch.commands:demo",
    "logs": "stackwatch.logcli:logs",
    "trace": "stackwatch.logcli:trace",
    "check": "stackwatch.sources.node.cli:check",
    "nrpe-config": "stackwatch.sources.node.cli:nrpe_config",
    "token": "stackwatch.tokencli:token",
    "agent": "stackwatch.agent.cli:agent",
    "install-units": "stackwatch.agent.cli:install_units",
    "consume": "stackwatch.bus.cli:consume",
    "usage-audit": "stackwatch.bus.cli:usage_audit",
    "diagnose": "stackwatch.runbooks.cli:diagnose",
    "fix": "stackwatch.runbooks.cli:fix",
    "report": "stackwatch.runbooks.report:report",
    "trends": "stackwatch.review.cli:trends_command",
    "backup": "stackwatch.backup.cli:backup",
    "export": "stackwatch.export:export",
    "alarms": "stackwatch.alarms.cli:alarms",
    "synthetic": "stackwatch.synthetic.cli:synthetic",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # not built yet
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StackwatchError as exc:
            click.echo(f"stackwatch: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="stackwatch")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Watch an OpenStack cloud: health, metrics, alarms and diagnosis."""
    # Parsing logs keeps hundreds of thousands of small tuples (request-index rows):
    # the cyclic collector's default (a pass every 700 new objects, surviving ones
    # traversed again and again) took about 0.4 of the 6.8 CPU-s of `collect -s logs` on
    # 2M lines; see stackwatch.heap.
    heap.tune()
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
