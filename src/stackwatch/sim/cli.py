"""``stackwatch sim``: run the simulated cloud in the foreground, or act on a running one.

::

    stackwatch sim [--workdir DIR] [--size small|medium|big] [--scenario NAME]...
                   [--latency 20ms] [--port N] [--db-url URL] [--amqp-url URL]
                   [--processes] [--traffic-rate R] [--churn-rate R] [--servers N] ...
    stackwatch sim fault NAME [--param k=v]... [--clear] [--workdir DIR]
    stackwatch sim scenarios

Bad input (unknown scenario or size, a taken port, a bad database URL) is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from stackwatch.errors import SimulatorError, StackwatchError
from stackwatch.sim import faults
from stackwatch.sim.generate import SIZES
from stackwatch.sim.workdir import CLOUD_NAME, default_workdir, read_endpoint


def parse_latency(text: str) -> float:
    """``20ms`` -> 0.02, ``1.5s`` -> 1.5, ``0`` -> 0 (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", text)
    if match is None:
        raise SimulatorError(f"latency {text!r} is not a duration like 20ms or 0.5s")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def parse_scenarios(specs: tuple[str, ...]) -> tuple[tuple[str, ...],
                                                    dict[str, dict[str, str]]]:
    """``("compute-down:host=c1,minutes=3", "api-500")`` -> names and their parameters."""
    names: list[str] = []
    params: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, _, rest = spec.partition(":")
        names.append(name)
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise SimulatorError(f"--scenario {spec!r}: {item!r} is not K=V")
            params.setdefault(name, {})[key] = value
    return tuple(names), params


def _fail(exc: StackwatchError | str) -> NoReturn:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else "failed"
    click.echo(f"stackwatch sim: error: {message}", err=True)
    sys.exit(2)


@click.group(invoke_without_command=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where to write clouds.yaml, stackwatch.yaml, db/ and log/ "
                   "(default: $XDG_STATE_HOME/stackwatch/sim).")
@click.option("--size", default="small", show_default=True,
              help=f"Preset size: {', '.join(SIZES)}.")
@click.option("--scenario", "scenarios", multiple=True, metavar="NAME[:K=V,...]",
              help="Fault scenario to apply at start (repeatable), with optional parameters, "
                   "e.g. compute-down:host=compute-0002; see `stackwatch sim scenarios`.")
@click.option("--latency", default="0", show_default=True,
              help="Added to every API request, e.g. 20ms.")
@click.option("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one).")
@click.option("--db-url", default=None,
              help="Put the service databases on this server (SQLAlchemy URL).")
@click.option("--amqp-url", default=None, help="Publish notifications to this RabbitMQ.")
@click.option("--processes", is_flag=True, help="Start light processes named like the real ones.")
@click.option("--traffic-rate", type=float, default=0.0, show_default=True,
              help="Synthetic API requests per second written to the logs.")
@click.option("--churn-rate", type=float, default=0.0, show_default=True,
              help="Lifecycle events (boots, deletes, failures) per second.")
@click.option("--seed", type=int, default=1, show_default=True, help="Generation seed.")
@click.option("--optional-services", is_flag=True,
              help="Also serve heat, octavia, ironic, designate, manila, magnum, trove, "
                   "gnocchi and swift (in the catalog, with items of their own).")
@click.option("--hypervisors", type=int, default=None, help="Override the size's count.")
@click.option("--servers", type=int, default=None, help="Override the size's count.")
@click.option("--projects", type=int, default=None, help="Override the size's count.")
@click.option("--ports", type=int, default=None, help="Override the size's count.")
@click.option("--volumes", type=int, default=None, help="Override the size's count.")
@click.option("--images", type=int, default=None, help="Override the size's count.")
@click.option("--resource-providers", type=int, default=None, help="Override the size's count.")
@click.pass_context
def sim(ctx: click.Context, /, workdir: Path | None, size: str, scenarios: tuple[str, ...],
        latency: str, port: int, db_url: str | None, amqp_url: str | None, processes: bool,
        traffic_rate: float, churn_rate: float, seed: int, optional_services: bool,
        **knobs: int | None) -> None:
    """Run a simulated OpenStack cloud on 127.0.0.1 until stopped (Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"workdir": workdir}
        return
    from stackwatch.sim.cloud import SimulatedCloud

    where = workdir or default_workdir()
    try:
        names, params = parse_scenarios(scenarios)
        cloud = SimulatedCloud(
            workdir=where, size=size, scenarios=names, scenario_params=params,
            latency=parse_latency(latency),
            db_url=db_url, amqp_url=amqp_url, processes=processes, seed=seed, port=port,
            sizing=knobs, traffic_rate=traffic_rate, churn_rate=churn_rate,
            optional_services=optional_services)
        cloud.start()
    except StackwatchError as exc:
        _fail(exc)
    counts = cloud.state.tables()
    click.echo(f"# simulated cloud ({size}: {len(counts['hypervisor'])} hypervisors, "
               f"{len(counts['server'])} servers, {len(counts['project'])} projects) at "
               f"{cloud.base_url}, started in {cloud.startup_seconds.get('total', 0):.1f}s",
               err=True)
    click.echo(f"# work directory: {where}" + (" (the default; --workdir to choose)"
                                                if workdir is None else ""), err=True)
    click.echo(f"export OS_CLIENT_CONFIG_FILE={cloud.clouds_yaml}")
    click.echo(f"export OS_CLOUD={CLOUD_NAME}")
    sys.stdout.flush()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        cloud.wait()
    except KeyboardInterrupt:
        click.echo("# stopping", err=True)
    finally:
        cloud.stop()
        signal.signal(signal.SIGTERM, previous)


@sim.command("fault")
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Scenario parameter.")
@click.option("--clear", is_flag=True, help="Undo the scenario instead.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Work directory of the running simulator.")
@click.pass_context
def fault(ctx: click.Context, /, name: str, params: tuple[str, ...], clear: bool,
          workdir: Path | None) -> None:
    """Inject (or --clear) a fault scenario in the running simulator."""
    where = workdir or (ctx.obj or {}).get("workdir") or default_workdir()
    try:
        faults.get(name)
        values: dict[str, str] = {}
        for item in params:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise SimulatorError(f"--param {item!r} is not K=V")
            values[key] = value
        endpoint = read_endpoint(where)
        if clear:
            answer = _control(endpoint.base_url, endpoint.control_key, "DELETE",
                              f"/_sim/faults/{name}", None)
        else:
            answer = _control(endpoint.base_url, endpoint.control_key, "POST", "/_sim/faults",
                              {"name": name, "params": values})
    except StackwatchError as exc:
        _fail(exc)
    click.echo(str(answer.get("result", "")))


@sim.command("status")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Work directory of the running simulator.")
@click.pass_context
def status(ctx: click.Context, /, workdir: Path | None) -> None:
    """What the running simulator serves: URL, size, active faults, record counts."""
    where = workdir or (ctx.obj or {}).get("workdir") or default_workdir()
    try:
        endpoint = read_endpoint(where)
        answer = _control(endpoint.base_url, endpoint.control_key, "GET", "/_sim/status", None)
    except StackwatchError as exc:
        _fail(exc)
    click.echo(json.dumps(answer, indent=2, sort_keys=True))


@sim.command("scenarios")
def scenarios_command() -> None:
    """List the fault scenarios and their parameters."""
    for scenario in sorted(faults.SCENARIOS.values(), key=lambda s: s.name):
        params = " ".join(f"{k}={v!r}" for k, v in scenario.params.items())
        click.echo(f"{scenario.name:24} [{scenario.where}] {scenario.summary}"
                   + (f"\n{'':24}   params: {params}" if params else ""))


def _control(base_url: str, key: str, method: str, path: str,
             body: dict[str, Any] | None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base_url + path, data=data, method=method,
        headers={"Content-Type": "application/json", "X-Sim-Control-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            detail = exc.reason
        raise SimulatorError(str(detail)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise SimulatorError(f"the simulator at {base_url} does not answer ({exc})") from None
