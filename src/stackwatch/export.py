"""``stackwatch export``: what stackwatch knows, in other tools' formats."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def export() -> None:
    """Export dashboards and alerting rules for other tools."""


@export.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON here (default: standard output).")
@click.option("--title", default="stackwatch: OpenStack", show_default=True,
              help="The dashboard's title.")
@click.option("--uid", default="stackwatch-openstack", show_default=True,
              help="The dashboard's uid (Grafana replaces a dashboard of the same uid).")
def grafana(output: Path | None, title: str, uid: str) -> None:
    """A Grafana dashboard (JSON model) over the metrics stackwatch exports on /metrics.

    Its datasource is a variable: pick the Prometheus that scrapes stackwatch when
    importing it (Dashboards > New > Import).
    """
    from stackwatch.grafana import dashboard

    text = json.dumps(dashboard(title, uid), indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


@export.command("prometheus-rules")
@click.option("--alarms", "file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The operator's alarm file merged over the defaults.")
@click.option("--interval", default=60.0, show_default=True,
              help="The rule group's evaluation interval (seconds).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write to this file (default: standard output).")
def prometheus_rules(file: Path | None, interval: float, output: Path | None) -> None:
    """The alarms as Prometheus alerting rules over stackwatch's /metrics names."""
    from stackwatch.alarms.definitions import load_alarms
    from stackwatch.alarms.prometheus import rules_document
    from stackwatch.catalog.loader import default_catalog

    loaded = load_alarms([file] if file else [], catalog=default_catalog())
    loaded.raise_problems()
    text = rules_document(loaded.alarms, interval)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
