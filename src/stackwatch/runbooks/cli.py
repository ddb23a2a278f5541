"""``stackwatch diagnose [NAME]`` and ``stackwatch fix NAME [--apply] [KEY=VALUE...]``.

``diagnose`` exits with the worst verdict, as Nagios (0 OK ... 3 UNKNOWN). ``fix``
without ``--apply`` is a dry run: it prints exactly what would change and records it in
the audit log; with ``--apply`` it carries out the latest such dry run (or ``--plan``),
after the checks of :mod:`stackwatch.runbooks.fixer`; a refusal exits 2 with the reason.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import Config, load_config
from stackwatch.errors import FixRefused, StackwatchError
from stackwatch.model import Status
from stackwatch.runbooks import fixer, registry
from stackwatch.runbooks.context import Actor, RunbookContext, cli_actor, pick_cloud
from stackwatch.runbooks.model import Diagnosis, Plan
from stackwatch.terminal import printable

COLOURS = {"OK": "green", "WARNING": "yellow", "CRITICAL": "red", "UNKNOWN": "magenta"}

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")
cloud_option = click.option("--cloud", default=None, metavar="NAME",
                            help="The cloud of stackwatch.yaml (default: the first).")


@contextmanager
def _context(config: Config, cloud: str | None, actor: Actor, *, store_needed: bool
             ) -> Iterator[RunbookContext]:
    """A runbook context over the configured store (opened only if it exists, unless
    ``store_needed``: a fix records in it)."""
    from stackwatch.store.opening import open_store

    store = None
    if store_needed:
        store = open_store(config.store)
    else:
        try:
            store = open_store(config.store, create=False)
        except StackwatchError:
            store = None  # no server wrote one yet: a diagnosis without history
    ctx = RunbookContext(config, pick_cloud(config, cloud),
                         default_catalog().deployed(config.network_backends), actor, store)
    try:
        yield ctx
    finally:
        ctx.close()
        if store is not None:
            store.close()


def diagnosis_lines(d: Diagnosis) -> list[str]:
    """A diagnosis as text: verdict and summary, evidence, advice."""
    verdict = click.style(d.verdict, fg=COLOURS[d.verdict], bold=d.verdict != "OK")
    lines = [f"{d.runbook}: {verdict} - {printable(d.summary)}"]
    width = max((len(e.label) for e in d.evidence), default=0)
    lines += [f"  {printable(e.label):<{width}}  {printable(e.value)}"
              + (click.style(f"  ({printable(e.source)})", dim=True) if e.source else "")
              for e in d.evidence]
    lines += [f"  -> {printable(a)}" for a in d.advice]
    return lines


def plan_lines(plan: Plan, applied: bool = False) -> list[str]:
    """A plan as text: each change, then the notes."""
    head = "applied" if applied else "dry run (nothing changed; --apply to apply)"
    lines = [f"{plan.runbook} plan {plan.plan_id}: {head}; {len(plan.changes)} change(s)"]
    lines += [f"  {printable(c.action)} {printable(c.target)}: {printable(c.before)} -> "
              f"{printable(c.after)}" for c in plan.changes]
    lines += [f"  note: {printable(n)}" for n in plan.notes]
    return lines


def _args(pairs: Sequence[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="ARGS")
        args[key] = value
    return args


@click.command()
@click.argument("name", required=False)
@config_option
@cloud_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def diagnose(name: str | None, config_path: Path, cloud: str | None, fmt: str) -> None:
    """Run every runbook's diagnosis (or NAME's); exit with the worst verdict (Nagios)."""
    config = load_config(config_path)
    chosen = [registry.runbook(name)] if name else list(registry.runbooks())
    with _context(config, cloud, cli_actor(config.fixes.cli_operators),
                  store_needed=False) as ctx:
        found = [fixer.diagnose(r, ctx) for r in chosen]
    if fmt == "json":
        click.echo(json.dumps([d.model_dump(mode="json") for d in found], indent=1))
    else:
        for d in found:
            for line in diagnosis_lines(d):
                click.echo(line)
    sys.exit(int(Status.worst(d.status for d in found)))


@click.command()
@click.argument("name")
@click.argument("args", nargs=-1, metavar="[KEY=VALUE]...")
@config_option
@cloud_option
@click.option("--apply", "do_apply", is_flag=True,
              help="Carry out the dry run (the latest with these arguments, or --plan).")
@click.option("--plan", "plan_id", default=None, metavar="ID",
              help="With --apply: the dry run to carry out (its plan id).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def fix(name: str, args: tuple[str, ...], config_path: Path, cloud: str | None,
        do_apply: bool, plan_id: str | None, fmt: str) -> None:
    """Show what fix NAME would change (a dry run, recorded), or --apply it."""
    config = load_config(config_path)
    chosen = registry.fix(name)
    asked = _args(args)
    with _context(config, cloud, cli_actor(config.fixes.cli_operators),
                  store_needed=True) as ctx:
        if not do_apply:
            plan = fixer.dry_run(chosen, ctx, asked)
            if fmt == "json":
                click.echo(plan.model_dump_json(indent=1))
            else:
                for line in plan_lines(plan):
                    click.echo(line)
            return
        try:
            outcome = fixer.apply(chosen, ctx, asked, plan_id)
        except FixRefused as refusal:
            raise StackwatchError(f"refused: {refusal}") from None
    if fmt == "json":
        click.echo(json.dumps({"plan": outcome.plan.model_dump(mode="json"),
                               "applied": [a.model_dump(mode="json") for a in outcome.applied],
                               "ok": outcome.ok}, indent=1))
    else:
        for line in plan_lines(outcome.plan, applied=True):
            click.echo(line)
        for a in outcome.applied:
            mark = click.style("ok", fg="green") if a.ok else click.style("FAILED", fg="red")
            click.echo(f"  {mark} {printable(a.change.action)} {printable(a.change.target)}: "
                       f"{printable(a.result)}")
    sys.exit(0 if outcome.ok else 1)
