"""``stackwatch report quotas|daily|weekly|monthly``: reports from the server's store.

Per project, quota against usage for compute, volume and network resources, the ones
nearest their limit first, as a table, JSON or CSV (``runbooks.books.quotas`` lays it
out; ``query.quotas`` reads it). The reviews of the operations guide's rhythm
(``daily``, ``weekly``, ``monthly``) are :mod:`stackwatch.review.report`'s.
"""

from __future__ import annotations

from pathlib import Path

import click

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import load_config
from stackwatch.query.context import Context
from stackwatch.query.quotas import quotas as read_quotas
from stackwatch.runbooks.books.quotas import FORMATS, lines, render
from stackwatch.store.opening import open_store


@click.group()
def report() -> None:
    """Reports from what the server has stored."""


@report.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
              help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True)
@click.option("--project", default="", metavar="NAME|ID", help="One project only.")
@click.option("--area", type=click.Choice(["compute", "volume", "network"]), default=None,
              help="One area only.")
def quotas(config_path: Path, fmt: str, project: str, area: str | None) -> None:
    """Quota against usage per project and resource, nearest the limit first."""
    config = load_config(config_path)
    store = open_store(config.store, create=False,
                       hint="the quotas are stored by `stackwatch server`")
    try:
        rows = lines(read_quotas(Context(store, default_catalog()), project=project))
    finally:
        store.close()
    if area:
        rows = [r for r in rows if r.area == area]
    click.echo(render(rows, fmt), nl=False)


def _reviews() -> None:
    from stackwatch.review.cli import report_command
    from stackwatch.review.report import KINDS

    for kind in KINDS:
        report.add_command(report_command(kind))


_reviews()
