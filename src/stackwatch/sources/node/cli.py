"""``stackwatch check`` and ``stackwatch nrpe-config``: the node checks the Nagios way.

``stackwatch check WHAT [NAME] [--warning W --critical C]`` runs one check once and
prints the plugin line, ``PROCESS CRITICAL - nova-compute: not running ... | ...``,
exiting 0/1/2/3::

    stackwatch check process nova-compute        --warning/--critical: fewest processes
    stackwatch check port 8774                   who holds it (the catalog's service?)
    stackwatch check disk [--mount /var]         --warning/--critical: % used (80/90)
    stackwatch check inodes | memory | swap      % used
    stackwatch check load                        5-minute load per CPU (2/4)
    stackwatch check disk-io                     kernel disk I/O errors in the last hour

``--config`` (or ``$STACKWATCH_CONFIG``) gives the ``node:`` section: host name, ports,
thresholds; without it the defaults hold. ``stackwatch nrpe-config --role compute``
writes an NRPE command definition for every check of the role.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from stackwatch.catalog.loader import Catalog, NetworkBackend, Role, default_catalog
from stackwatch.config import NodeConfig, Threshold, load_config
from stackwatch.model import Collection, PerfDatum, Status
from stackwatch.nagios import NagiosCommand, plugin_line
from stackwatch.sources.node.host import HostSource
from stackwatch.sources.node.plan import NodePlan, node_host
from stackwatch.sources.node.ports import PortsSource
from stackwatch.sources.node.processes import Minimum, ProcessesSource

#: What ``check`` can look at, and whether it takes a NAME.
KINDS: dict[str, bool] = {"process": True, "port": True, "disk": False, "inodes": False,
                          "memory": False, "swap": False, "load": False, "disk-io": False}
#: The host checks whose levels --warning/--critical replace (``thresholds.<name>``).
LEVELLED = ("disk", "inodes", "memory", "swap", "load")
_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml whose node: section to use (env STACKWATCH_CONFIG); "
         "default: no file, the defaults.")


def _node(config_path: Path | None) -> tuple[NodeConfig, frozenset[str] | None]:
    """The node section and the configured clouds' network backends (none: no file)."""
    if config_path is None:
        return NodeConfig(), None
    config = load_config(config_path)
    return config.node or NodeConfig(), config.network_backends


def _catalog(backends: frozenset[str] | None) -> Catalog:
    """The catalog for those backends; loaded only by the checks that need it (a host
    check need not pay for it: NRPE starts a process per check)."""
    catalog = default_catalog()
    return catalog if backends is None else catalog.deployed(backends)


def _with_levels(node: NodeConfig, what: str, warning: float | None, critical: float | None
                 ) -> NodeConfig:
    """``node`` with the levels of ``what`` replaced by the options given."""
    if warning is None and critical is None:
        return node
    if what not in LEVELLED:
        raise click.UsageError(f"{what} takes no --warning/--critical")
    given: Threshold = getattr(node.thresholds, what)
    try:
        level = Threshold(warning=given.warning if warning is None else warning,
                          critical=given.critical if critical is None else critical)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.UsageError(f"--warning/--critical: {problem}") from None
    thresholds = node.thresholds.model_copy(update={what: level})
    return node.model_copy(update={"thresholds": thresholds})


def _minimum(warning: float | None, critical: float | None) -> Minimum:
    for value in (warning, critical):
        if value is not None and (value < 0 or value != int(value)):
            raise click.UsageError(f"process: --warning/--critical are counts, not {value:g}")
    crit = 1 if critical is None else int(critical)
    warn = crit if warning is None else int(warning)
    if warn < crit:
        raise click.UsageError(f"process: --warning {warn} is fewer than --critical {crit}")
    return Minimum(warning=warn, critical=crit)


def run_check(what: str, name: str | None, node: NodeConfig,
              backends: frozenset[str] | None = None, warning: float | None = None,
              critical: float | None = None) -> Collection:
    """The collection of one ``check`` (raises ``click.UsageError`` on bad arguments)."""
    if KINDS[what] and not name:
        raise click.UsageError(f"check {what} needs a NAME")
    if not KINDS[what] and name:
        raise click.UsageError(f"check {what} takes no NAME (got {name!r})")
    if what in ("process", "port"):
        return _service_check(what, name, node, _catalog(backends), warning, critical)
    node = _with_levels(node, what, warning, critical)
    host = HostSource(node, node_host(node))
    if what in ("disk", "inodes"):
        found = host.filesystems()
        return Collection(found.samples, tuple(c for c in found.checks
                                               if c.name == f"node.{what}"))
    if what in ("memory", "swap"):
        found = host.memory()
        return Collection(found.samples, tuple(c for c in found.checks
                                               if c.name == f"node.{what}"))
    if what == "load":
        return host.load()
    if critical is not None or warning is not None:
        raise click.UsageError(f"{what} takes no --warning/--critical")
    return host.disk_io()


def _service_check(what: str, name: str | None, node: NodeConfig, catalog: Catalog,
                   warning: float | None, critical: float | None) -> Collection:
    """``check process NAME`` or ``check port PORT``."""
    assert name is not None
    plan = NodePlan(catalog, node)
    if what == "process":
        if catalog.service(name) is None:
            raise click.UsageError(f"{name!r} is not a service of the catalog; known: "
                                   + ", ".join(s.name for s in catalog.services))
        return ProcessesSource(plan).check(name, _minimum(warning, critical))
    if warning is not None or critical is not None:
        raise click.UsageError("port takes no --warning/--critical")
    if not name.isdigit() or not 1 <= int(name) <= 65535:
        raise click.UsageError(f"{name!r} is not a TCP port")
    return PortsSource(plan).check(int(name))


def render(what: str, found: Collection) -> tuple[Status, str]:
    """The plugin line of a check's results: the worst status, problems first."""
    checks = sorted(found.checks, key=lambda c: -_RANK[c.status])
    if not checks:
        return Status.UNKNOWN, plugin_line(what.upper().replace("-", "_"), Status.UNKNOWN,
                                           f"nothing to check for {what}")
    status = Status.worst(c.status for c in checks)
    message = "; ".join(c.message for c in checks)
    perfdata: list[PerfDatum] = [p for c in checks for p in c.perfdata]
    return status, plugin_line(what.upper().replace("-", "_"), status, message, perfdata)


@click.command(cls=NagiosCommand)
@click.argument("what", type=click.Choice(list(KINDS)))
@click.argument("name", required=False)
@click.option("--warning", "-w", type=float, default=None,
              help="WARNING level: % used, load per CPU, or fewest processes.")
@click.option("--critical", "-c", type=float, default=None,
              help="CRITICAL level: % used, load per CPU, or fewest processes.")
@click.option("--mount", "mounts", multiple=True, metavar="PATH",
              help="disk/inodes: only this mount point (repeatable).")
@config_option
def check(what: str, name: str | None, warning: float | None, critical: float | None,
          mounts: tuple[str, ...], config_path: Path | None) -> None:
    """Run one node check once, print the Nagios plugin line, exit 0/1/2/3.

    WHAT is process NAME, port PORT, disk, inodes, memory, swap, load or disk-io.
    """
    node, backends = _node(config_path)
    if mounts:
        if what not in ("disk", "inodes"):
            raise click.UsageError("--mount is for disk and inodes")
        node = node.model_copy(update={"mounts": list(mounts)})
    status, line = render(what, run_check(what, name, node, backends, warning, critical))
    click.echo(line)
    sys.exit(int(status))


def nrpe_lines(roles: list[Role], node: NodeConfig, catalog: Catalog, command: str,
               config_path: Path | None) -> list[str]:
    """NRPE ``command[...]`` definitions for every check of nodes with these roles."""
    plan = NodePlan(catalog, node.model_copy(update={"roles": roles}))
    base = shlex.quote(command) + " check"
    tail = f" --config {shlex.quote(str(config_path))}" if config_path is not None else ""
    roles_text = ", ".join(r.value for r in roles)
    lines = [f"# NRPE commands for a {roles_text} node, written by stackwatch nrpe-config"]
    for looked in plan.services({}):
        spec = looked.spec
        lines.append(f"command[stackwatch_process_{spec.name}]={base} process "
                     f"{spec.name}{tail}")
        for port in plan.ports(spec):
            if port.protocol == "tcp":
                lines.append(f"command[stackwatch_port_{spec.name}_{port.port}]={base} port "
                             f"{port.port}{tail}")
    for what in (*LEVELLED, "disk-io"):
        levels = ""
        if what in LEVELLED:
            level: Threshold = getattr(node.thresholds, what)
            levels = f" --warning {level.warning:g} --critical {level.critical:g}"
        lines.append(f"command[stackwatch_{what.replace('-', '_')}]={base} {what}{levels}{tail}")
    return lines


@click.command("nrpe-config")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice([r.value for r in Role]), help="The node's role (repeatable).")
@click.option("--network-backend", type=click.Choice([b.value for b in NetworkBackend]),
              default=None, help="neutron's ML2 backend (default: the config's, else ovn).")
@click.option("--command", "command", default=None, metavar="PATH",
              help="The stackwatch executable NRPE runs (default: this one).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write to this file (default: standard output).")
@config_option
def nrpe_config(roles: tuple[str, ...], network_backend: str | None, command: str | None,
                output: Path | None, config_path: Path | None) -> None:
    """Write NRPE command definitions for every process, port and host check of a role."""
    node, backends = _node(config_path)
    if network_backend is not None or backends is None:
        backends = frozenset([network_backend or NetworkBackend.OVN.value])
    catalog = _catalog(backends)
    executable = command or shutil.which("stackwatch") or str(Path(sys.argv[0]).resolve())
    text = "\n".join(nrpe_lines([Role(r) for r in roles], node, catalog, executable,
                                config_path.resolve() if config_path else None)) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {text.count('command[')} NRPE commands to {output}")
