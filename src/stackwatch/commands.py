"""``stackwatch collect | status | server | demo``: thin commands over runner, store and web.

Exit codes follow Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (``status``
exits with the cloud's status; ``collect`` exits 3 when a source could not be
looked at). ``collect``, ``status`` and ``demo`` are :class:`NagiosCommand`:
their own failures (a bad option, a configuration or store error, a bug) exit
3, UNKNOWN, never 2, which a Nagios server would read as CRITICAL. ``status``
prints Nagios perfdata after ``|`` on its first line (:func:`status_perfdata`).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stackwatch import heap, stopping
from stackwatch.catalog.loader import Catalog, default_catalog
from stackwatch.config import Config, load_config
from stackwatch.errors import StackwatchError
from stackwatch.exposition import render
from stackwatch.health.evaluate import CloudHealth, evaluate, expire
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status
from stackwatch.nagios import NagiosCommand
from stackwatch.nagios import one_line as _one_line
from stackwatch.nagios import perf_label as _perf_label
from stackwatch.query.models import CheckView, EventView, HealthView, ItemView, SampleView
from stackwatch.runner import SOURCE_CHECK, Loop, Run, Runner, collect_once
from stackwatch.sources.base import Source
from stackwatch.sources.registry import build_sources
from stackwatch.stopping import stop_on_signals
from stackwatch.terminal import printable

if TYPE_CHECKING:  # the simulator is imported by `demo` only
    from stackwatch.sim.story import Storyteller

COLOURS = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "red",
           Status.UNKNOWN: "magenta"}
# Most urgent first, as Status.worst ranks them.
RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml to use (env STACKWATCH_CONFIG).")
source_option = click.option(
    "--source", "-s", "only", multiple=True, metavar="NAME",
    help="Only these sources, by name (api.compute) or kind (sql); repeatable.")


def _select(sources: Sequence[Source], only: Sequence[str]) -> list[Source]:
    if not only:
        return list(sources)
    chosen = [s for s in sources
              if any(s.name == o or s.name.rpartition("/")[2].split(".")[0] == o for o in only)]
    if not chosen:
        names = ", ".join(s.name for s in sources) or "none"
        raise click.BadParameter(f"no source matches {', '.join(only)} (configured: {names})",
                                 param_hint="--source")
    return chosen


def _label_text(labels: Sequence[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels)


def _styled(status: Status, text: str | None = None) -> str:
    return click.style(text or status.name, fg=COLOURS[status], bold=status != Status.OK)


def _padded(status: Status) -> str:
    """The status name padded to 8 columns, then coloured (padding a coloured name would
    count its escape codes, which click drops when the output is not a terminal)."""
    return _styled(status, f"{status.name:<8}")


def source_samples(run: Run) -> int:
    """How many samples the source itself gave: the runner's ``stackwatch_source_samples``,
    the count its message gives too (0 for a failed run)."""
    return next((int(s.value) for s in run.collection.samples
                 if s.name == "stackwatch_source_samples"), 0)


# ------------------------------------------------------------------ collect
def _print_table(runs: Sequence[Run], collection: Collection) -> None:
    click.echo(f"{'SOURCE':<24} {'STATUS':<8} {'SECONDS':>8} {'SAMPLES':>8}  REASON")
    for run in runs:
        status = Status.OK if run.ok else Status.UNKNOWN
        click.echo(f"{run.source:<24} {_padded(status)} {run.duration:>8.2f} "
                   f"{source_samples(run):>8}  {printable(run.reason)}")
    if collection.checks:
        click.echo("\nCHECKS")
        for check in sorted(collection.checks, key=lambda c: (-RANK[c.status], c.name)):
            click.echo(f"{_padded(check.status)} {check.name} "
                       + printable(f"{{{_label_text(check.labels)}}} {check.message}"))
    if collection.samples:
        click.echo("\nSAMPLES")
        for sample in sorted(collection.samples, key=lambda s: (s.name, s.labels)):
            click.echo(printable(f"{sample.name}{{{_label_text(sample.labels)}}} "
                                 f"{sample.value:g}"))
    if collection.events:
        click.echo(f"\nEVENTS: {len(collection.events)}")
    if collection.items:
        click.echo("\nITEMS")
        for item in collection.items:
            click.echo(printable(f"{item.kind} {item.id} {item.name} {item.status} "
                                 f"{item.host} {item.message}".rstrip()))


def _runs_json(runs: Sequence[Run], collection: Collection) -> dict[str, Any]:
    now = time.time()
    return {
        "sources": [{"source": r.source, "ok": r.ok, "partial": r.partial,
                     "duration_seconds": round(r.duration, 4), "reason": r.reason}
                    for r in runs],
        "samples": [SampleView.of(s, now).model_dump(mode="json") for s in collection.samples],
        "checks": [CheckView.of(c, now).model_dump(mode="json") for c in collection.checks],
        "events": [EventView.of(e).model_dump(mode="json") for e in collection.events],
        "items": [ItemView.of(i, now).model_dump(mode="json") for i in collection.items],
    }


def _emit(runs: Sequence[Run], fmt: str, catalog: Catalog) -> None:
    collection = sum((r.collection for r in runs), Collection())
    if fmt == "json":
        click.echo(json.dumps(_runs_json(runs, collection), indent=1))
    elif fmt == "prometheus":
        samples: tuple[Sample, ...] = collection.samples
        click.echo(render(samples, catalog).decode(), nl=False)
    else:
        _print_table(runs, collection)


@click.command(cls=NagiosCommand)
@click.option("--once", is_flag=True, help="One full collection, printed, then exit.")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "prometheus"]),
              default="table", show_default=True)
@source_option
def collect(once: bool, config_path: Path, fmt: str, only: tuple[str, ...]) -> None:
    """Collect from every configured source and print what was seen.

    With --once: one collection, exit 3 when a source could not be looked at.
    Without: keep collecting at each source's interval, printing every run.
    """
    config = load_config(config_path)
    sources = _select(build_sources(config), only)
    catalog = default_catalog()
    if once:
        runs = collect_once(sources, config.timeout, catalog)
        _emit(runs, fmt, catalog)
        sys.exit(0 if all(r.ok for r in runs) else int(Status.UNKNOWN))
    loop = Loop(Runner(sources, config.timeout, catalog=catalog), config.interval,
                lambda run: _emit([run], fmt, catalog))
    with heap.settled(), stop_on_signals(loop.stop):
        loop.run()


# ------------------------------------------------------------------- status
def failed_sources(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """The ``stackwatch_source`` checks that are not OK: failed (UNKNOWN), or delivered
    with a WARNING (partial, duplicate series left out)."""
    return [c for c in checks if c.name == SOURCE_CHECK and c.status != Status.OK]


DURATION_SAMPLE = "stackwatch_source_duration_seconds"


def status_perfdata(health: CloudHealth, checks: Sequence[CheckResult],
                    samples: Sequence[Sample] = ()) -> tuple[PerfDatum, ...]:
    """Nagios perfdata of the cloud: watched services per status, their members (all,
    down), sources that failed and those that delivered with a warning (partial), and
    each source's last run time (from ``samples``)."""
    watched = [s for s in health.services if s.watched]
    counts = [PerfDatum(f"services_{status.name.lower()}",
                        sum(1 for s in watched if s.status == status), minimum=0,
                        maximum=len(watched)) for status in Status]
    members = [m for s in watched for m in s.members]
    durations = {dict(s.labels).get("source", ""): s.value
                 for s in samples if s.name == DURATION_SAMPLE}
    not_ok = failed_sources(checks)
    return (*counts,
            PerfDatum("members", len(members), minimum=0),
            PerfDatum("members_down", sum(1 for m in members if m.status == Status.CRITICAL),
                      minimum=0, maximum=len(members)),
            PerfDatum("sources_failed", sum(1 for c in not_ok if c.status == Status.UNKNOWN),
                      minimum=0),
            PerfDatum("sources_warning", sum(1 for c in not_ok if c.status == Status.WARNING),
                      minimum=0),
            *(PerfDatum(f"duration_{_perf_label(name)}", round(seconds, 3), "s", minimum=0)
              for name, seconds in sorted(durations.items())))


def _shown(health: CloudHealth, checks: Sequence[CheckResult]
           ) -> tuple[CloudHealth, list[CheckResult]]:
    """Health and checks with every message and label made safe to print on one line."""
    def check(c: CheckResult) -> CheckResult:
        return replace(c, message=_one_line(c.message),
                       labels=tuple((k, _one_line(v)) for k, v in c.labels))

    services = tuple(replace(s, message=_one_line(s.message), members=tuple(
        replace(m, host=_one_line(m.host), message=_one_line(m.message)) for m in s.members))
        for s in health.services)
    return (replace(health, message=_one_line(health.message), services=services,
                    others=tuple(map(check, health.others))), [check(c) for c in checks])


def render_status(health: CloudHealth, checks: Sequence[CheckResult], show_all: bool = False,
                  members: bool = False, perfdata: Sequence[PerfDatum] = (),
                  catalog: Catalog | None = None) -> list[str]:
    """Lines of the at-a-glance view: summary (then ``| perfdata``, Nagios plugin output),
    one line per service, failed sources; with ``catalog``, the problems, causes first
    and what each explains indented under it."""
    health, checks = _shown(health, checks)
    first = f"STACKWATCH {_styled(health.status)} - {health.message}"
    lines = [first + (" | " + " ".join(p.render() for p in perfdata) if perfdata else "")]
    width = max((len(s.name) for s in health.services), default=10)
    for service in health.services:
        if not service.watched and not show_all:
            continue
        status = _styled(service.status, f"{service.status.name:<9}") if service.watched \
            else click.style(f"{service.verdict:<9}", dim=True)
        lines.append(f"  {status} {service.name:<{width}}  {service.ha.value:<14} "
                     f"{service.message}")
        if members:
            for member in service.members:
                lines.append(f"      {_styled(member.status, f'{member.status.name:<8}')} "
                             f"{member.host or 'endpoint':<20} {member.message}")
    if health.others:
        lines.append("other checks:")
        lines.extend(f"  {_styled(c.status, f'{c.status.name:<8}')} {c.name} "
                     f"{{{_label_text(c.labels)}}} {c.message}" for c in health.others)
    failed = failed_sources(checks)
    if failed:
        lines.append("sources:")
        lines.extend(f"  {_styled(c.status, f'{c.status.name:<8}')} {c.message}"
                     for c in failed)
    if catalog is not None:
        lines.extend(_problem_lines(health, catalog))
    return lines


def _problem_lines(health: CloudHealth, catalog: Catalog) -> list[str]:
    """``problems, causes first:`` and one line each (``*`` a cause, ``-`` a consequence,
    indented under its cause with ``because of ...``)."""
    from stackwatch.query.health import problems

    found = problems(HealthView.of(health), catalog)
    if not any(p.cause for p in found):
        return []  # nothing explains anything: the service lines say it all
    lines = ["problems, causes first:"]
    for p in found:
        status = Status[p.status]
        indent = "      - " if p.cause else "  * "
        where = f" on {', '.join(h or 'endpoint' for h in p.hosts)}" if p.hosts else ""
        lines.append(f"{indent}{_styled(status, f'{p.status:<8}')} {p.what}{where}: "
                     f"{_one_line(p.message)}" + (f" -- {p.because}" if p.because else ""))
    return lines


def _from_store(config: Config, max_age: float) -> tuple[list[CheckResult], list[Sample]]:
    """The latest checks (stale ones UNKNOWN) and source run times of an existing store."""
    from stackwatch.store.opening import open_store

    store = open_store(config.store, create=False,
                       hint="is `stackwatch server` running with this config?")
    try:
        return (expire(store.latest_checks(), time.time(), max_age),
                store.latest_samples(DURATION_SAMPLE))
    finally:
        store.close()


@click.command(cls=NagiosCommand)
@config_option
@click.option("--from-store", is_flag=True,
              help="Read the latest checks from the server's store instead of collecting.")
@click.option("--max-age", type=float, default=None,
              help="With --from-store: checks older than this many seconds count as UNKNOWN "
                   "(default: three times the longest interval).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Also list services nothing watches.")
@click.option("--members", is_flag=True, help="List each service's members (hosts).")
@source_option
def status(config_path: Path, from_store: bool, max_age: float | None, fmt: str,
           show_all: bool, members: bool, only: tuple[str, ...]) -> None:
    """The health of each service at a glance; exit 0/1/2/3 as Nagios (OK..UNKNOWN).

    The first line is a Nagios plugin's: status, message, ``|`` perfdata. A
    failure of the command itself (configuration, store, options) exits 3.
    """
    from stackwatch.server import stale_after

    config = load_config(config_path)
    catalog = default_catalog().deployed(config.network_backends)
    sources = _select(build_sources(config), only)
    if from_store:
        checks, samples = _from_store(config, max_age or stale_after(config, sources))
    else:
        runs = collect_once(sources, config.timeout, catalog)
        checks = [c for r in runs for c in r.collection.checks]
        samples = [s for r in runs for s in r.collection.samples]
    health = evaluate(catalog, checks)
    perfdata = status_perfdata(health, checks, samples)
    if fmt == "json":
        from stackwatch.query.health import problems

        view = HealthView.of(health)
        click.echo(json.dumps({**view.model_dump(mode="json"),
                               "problems": [p.model_dump(mode="json")
                                            for p in problems(view, catalog)],
                               "sources": [CheckView.of(c).model_dump(mode="json")
                                           for c in failed_sources(checks)],
                               "perfdata": [p.render() for p in perfdata]},
                              indent=1))
    else:
        for line in render_status(health, checks, show_all, members, perfdata, catalog):
            click.echo(line)
    sys.exit(int(health.status))


# ------------------------------------------------------------------- server
def _parse_listen(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{value!r} is not host:port", param_hint="--listen")
    return host, int(port)


@click.command()
@config_option
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Override web.listen of the configuration.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until SIGTERM / Ctrl-C).")
def server(config_path: Path, listen: str | None, duration: float | None) -> None:
    """Run the monitor: collect at each source's interval, store, serve /metrics and the API."""
    from stackwatch.server import Monitor

    config = load_config(config_path)
    sources = build_sources(config)
    stop = threading.Event()
    with heap.settled(), Monitor(config, sources, listen=_parse_listen(listen)) as monitor, \
            stop_on_signals(stop.set):
        click.echo(f"stackwatch server: {len(sources)} sources, store {config.store.location}, "
                   f"serving on {monitor.url}")
        stopping.wait(stop, duration)


# --------------------------------------------------------------------- demo
def demo_config(config: Config, workdir: Path, speed: float = 1.0) -> Config:
    """The simulator's config with the store in the workdir and brisk intervals.

    ``speed`` makes it collect that much more often and the brute-force window that
    much shorter, as the story it goes with (:mod:`stackwatch.sim.story`): each fault
    is seen within a collection of its injection and gone one after its clear.
    """
    from stackwatch.sim.story import HOLD_S, INTERVAL_S

    every = INTERVAL_S / speed
    intervals = {k: min(v, every) for k, v in config.intervals.items()}
    for kind in ("api", "sql", "logs", "infra"):
        intervals[kind] = min(intervals.get(kind, every), every)
    store = config.store.model_copy(update={"path": workdir / "stackwatch-store.sqlite"})
    # the storm is a burst the brute-force check remembers for its window: one act long
    clouds = [c.model_copy(update={"logs": c.logs.model_copy(
        update={"bruteforce_window": HOLD_S / speed})}) for c in config.clouds]
    return config.model_copy(update={"intervals": intervals, "store": store,
                                     "clouds": clouds})


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="stackwatch-demo-") as tmp:
        yield Path(tmp)


def _told(teller: Storyteller | None, shown: int) -> int:
    """Print the story's injects and clears done since ``shown`` of them were; the new
    count."""
    if teller is None:
        return shown
    state = teller.state()
    done = state.injected + state.cleared + state.failed
    for played in state.history[len(state.history) - min(done - shown,
                                                         len(state.history)):]:
        when = time.strftime("%H:%M:%S", time.localtime(played.at))
        outcome = played.message if played.ok else f"FAILED: {played.message}"
        click.echo(printable(f"{when} story: {played.action} {played.act.described()} "
                             f"({played.act.title}): {outcome}"))
    return done


def _live_status(
    monitor: Any, catalog: Catalog, max_age: float
) -> tuple[CloudHealth, list[CheckResult], str]:
    """Health from the store (stale checks UNKNOWN) and a line on how fresh the data is."""
    now = time.time()
    checks = expire(monitor.store.latest_checks(), now, max_age)
    runs = [c for c in checks if c.name == SOURCE_CHECK]
    if runs:
        ages = [now - c.timestamp for c in runs]
        ok = sum(1 for c in runs if c.status == Status.OK)
        fresh = (f"{ok} of {len(runs)} sources answered; data {min(ages):.0f}-{max(ages):.0f} s"
                 " old")
    else:
        fresh = "no source has run yet"
    return evaluate(catalog, checks), checks, fresh


@click.command(cls=NagiosCommand)
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the simulator and store keep their files (default: a temp dir).")
@click.option("--size", type=click.Choice(["small", "medium", "big"]), default="small",
              show_default=True)
@click.option("--listen", default="127.0.0.1:9550", show_default=True, metavar="HOST:PORT",
              help="Web address (a busy port falls back to a free one).")
@click.option("--once", is_flag=True, help="One collection, print status, exit with its code.")
@click.option("--duration", type=float, default=None, help="Stop after N seconds.")
@click.option("--refresh", type=float, default=2.0, show_default=True,
              help="Seconds between status refreshes.")
@click.option("--calm", is_flag=True,
              help="No story: the simulated cloud stays healthy (faults only by hand, with "
                   "`stackwatch sim fault`).")
@click.option("--story-speed", type=click.FloatRange(0, 60, min_open=True), default=1.0,
              show_default=True, envvar="STACKWATCH_STORY_SPEED", metavar="N",
              help="Play the story N times faster, collecting N times more often (tests, a "
                   "quick look; env STACKWATCH_STORY_SPEED).")
@click.option("--optional-services", is_flag=True,
              help="Also simulate heat, octavia, ironic, designate, manila, magnum, trove, "
                   "gnocchi and swift (its storage nodes' recon and proxy log too).")
def demo(workdir: Path | None, size: str, listen: str, once: bool, duration: float | None,
         refresh: float, calm: bool, story_speed: float, optional_services: bool) -> None:
    """Start the simulated cloud and the monitor against it; show live status until Ctrl-C.

    Unless --calm, faults come and go on a schedule (a compute node dies, keystone sees
    a password storm, a volume gets stuck deleting; each for a minute, every six
    minutes) so the monitor is seen finding and clearing them.
    """
    from stackwatch.server import Monitor
    from stackwatch.sim.cloud import SimulatedCloud
    from stackwatch.sim.story import (
        Storyteller,
        demo_story,
        first_compute_host,
        story_line,
        story_summary,
    )

    catalog = default_catalog()
    host, port = _parse_listen(listen) or ("127.0.0.1", 9550)
    stop = threading.Event()
    with heap.settled(), _workdir(workdir) as root, \
            SimulatedCloud(workdir=root / "sim", size=size, seed=1,
                           optional_services=optional_services) as cloud:
        config = demo_config(load_config(cloud.config_path), root, story_speed)
        catalog = catalog.deployed(config.network_backends)
        sources = build_sources(config)
        # made before the monitor, so what serves its state can be given it; started
        # after the first collection, so the calm first minute is seen
        teller = None if calm or once else \
            Storyteller(demo_story(first_compute_host(cloud), story_speed), cloud)
        extras: dict[str, Callable[[], object]] = (
            {} if teller is None else {"story": lambda: story_summary(teller.state())})
        monitor = Monitor(config, sources, catalog, listen=(host, port), extras=extras)
        try:
            monitor.start()
        except StackwatchError:
            monitor = Monitor(config, sources, catalog, listen=(host, 0), extras=extras)
            monitor.start()
        try:
            click.echo(f"monitor: {monitor.url}  (metrics {monitor.url}/metrics, "
                       f"health {monitor.url}/api/v1/health)")
            if teller is not None:
                click.echo(f"story: faults come and go on a schedule (--calm to turn off): "
                           f"{teller.story.summary()}")
            elif calm:
                click.echo("calm: no faults come and go (without --calm they do)")
            click.echo(f"stackwatch demo: simulated {size} cloud at {cloud.auth_url}")
            click.echo(f"config: {cloud.config_path}; Ctrl-C to stop")
            first_round = max((config.timeout(s.name) for s in sources), default=0.0) + 5
            monitor.wait_for_runs(len(sources), timeout=first_round)
            max_age = monitor.max_age
            if teller is not None:
                teller.start()
            if once:
                health, checks, _ = _live_status(monitor, catalog, max_age)
                perfdata = status_perfdata(health, checks,
                                           monitor.store.latest_samples(DURATION_SAMPLE))
                for line in render_status(health, checks, perfdata=perfdata, catalog=catalog):
                    click.echo(line)
                sys.exit(int(health.status))
            deadline = None if duration is None else time.monotonic() + duration
            interactive = sys.stdout.isatty()
            shown = 0
            with stop_on_signals(stop.set):
                while not stop.is_set():
                    health, checks, fresh = _live_status(monitor, catalog, max_age)
                    if interactive:
                        click.clear()
                        click.echo(f"stackwatch demo - {monitor.url} - "
                                   f"{time.strftime('%H:%M:%S')} (Ctrl-C to stop)")
                        click.echo(fresh)
                        if teller is not None:
                            click.echo(story_line(teller.state()))
                        for line in render_status(health, checks, catalog=catalog):
                            click.echo(line)
                    else:
                        shown = _told(teller, shown)
                        click.echo(f"{time.strftime('%H:%M:%S')} {health.status.name} - "
                                   f"{health.message}")
                    wait = refresh if deadline is None else min(refresh,
                                                                deadline - time.monotonic())
                    if wait <= 0 or stop.wait(wait):
                        break
        finally:
            if teller is not None:
                teller.stop()  # clears what it injected, while the cloud still runs
            monitor.stop()
