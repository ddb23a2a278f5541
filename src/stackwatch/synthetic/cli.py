"""``stackwatch synthetic run``: the synthetic transactions once, now.

Prints a line per step as it ends (the Nagios way: ``STATUS - message``), then the
cleanup; ``--format json`` prints the run as one JSON object instead. Exit code: the
worst status, Nagios's 0/1/2/3 (a run that cannot start at all, 3).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from stackwatch.config import load_config
from stackwatch.errors import StackwatchError
from stackwatch.model import Status
from stackwatch.nagios import NagiosCommand
from stackwatch.synthetic.source import step_check, to_collection
from stackwatch.synthetic.steps import StepResult
from stackwatch.terminal import printable


@click.group()
def synthetic() -> None:
    """Synthetic transactions: the cloud used as a user would (docs/synthetic.md)."""


@synthetic.command(cls=NagiosCommand)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
              help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def run(config_path: Path, fmt: str) -> None:
    """Run every synthetic transaction once and clean up; Nagios exit code."""
    from stackwatch.synthetic.run import run_synthetic

    settings = load_config(config_path).synthetic

    def show(result: StepResult) -> None:
        if fmt == "text":
            click.echo(printable(f"synthetic.{result.step}: "
                                 + step_check(settings, result, 0.0).nagios_line()))

    try:
        result = run_synthetic(settings, on_step=show)
    except StackwatchError as exc:
        click.echo(f"UNKNOWN - synthetic run not started: {printable(str(exc))}", err=True)
        sys.exit(Status.UNKNOWN.value)
    found = to_collection(settings, result)
    checks = found.checks
    if fmt == "json":
        click.echo(json.dumps({
            "run_id": result.run_id, "started": result.started, "seconds": result.seconds,
            "steps": [{"step": s.step, "transaction": s.transaction, "ok": s.ok,
                       "seconds": round(s.seconds, 3), "message": s.message}
                      for s in result.steps],
            "earlier": list(result.earlier), "left": list(result.left),
            "checks": [{"name": c.name, "status": c.status.name, "message": c.message}
                       for c in checks]}, indent=2))
    else:
        for check in checks:
            if check.name == "synthetic.cleanup":
                click.echo(printable(f"{check.name}: {check.nagios_line()}"))
        click.echo(f"run {result.run_id}: {result.seconds:.1f}s")
    worst = Status.worst(c.status for c in checks)
    sys.exit(worst.value)
