"""What every Nagios-style command shares: exit codes 0-3 and the plugin output line.

A plugin prints one line, ``SERVICE STATUS - message | perfdata``, and exits with the
status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Its own failures (a bad option, a
configuration error, a bug) are UNKNOWN, never 2, which a Nagios server would read as
CRITICAL (:class:`NagiosCommand`). Imports nothing heavy: ``stackwatch check`` runs it
on every node.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from stackwatch.errors import StackwatchError
from stackwatch.model import PerfDatum, Status
from stackwatch.terminal import printable


class NagiosCommand(click.Command):
    """A command whose own failures exit 3 (UNKNOWN), as the Nagios plugin guidelines ask.

    Usage errors (click exits 2), :class:`StackwatchError` (the CLI's edge exits 2)
    and unexpected exceptions (Python exits 1, read as WARNING) become one line on
    standard error (a bug: with its traceback) and exit 3.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            exc.exit_code = int(Status.UNKNOWN)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.exit_code = int(Status.UNKNOWN)
            raise
        except (click.exceptions.Exit, click.Abort):
            raise  # ctx.exit(code) and Ctrl-C keep their own meaning
        except StackwatchError as exc:
            click.echo(f"stackwatch: error: {exc}", err=True)
        except Exception as exc:  # a bug: still UNKNOWN for Nagios, with its traceback
            traceback.print_exc(file=sys.stderr)
            click.echo(f"stackwatch: internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(int(Status.UNKNOWN))


def perf_label(text: str) -> str:
    """A perfdata label part: no quote, equals sign or space (Nagios plugin guidelines)."""
    return "".join("_" if c in "'= " else c for c in printable(text))


def one_line(text: str) -> str:
    """Log-borne text made safe, and no ``|``: Nagios reads perfdata after one."""
    return printable(text).replace("|", "/")


def plugin_line(service: str, status: Status, message: str,
                perfdata: Sequence[PerfDatum] = ()) -> str:
    """``SERVICE STATUS - message | perfdata``, the first line a plugin prints."""
    line = f"{service} {status.name} - {one_line(message)}"
    if perfdata:
        line += " | " + " ".join(p.render() for p in perfdata)
    return line
