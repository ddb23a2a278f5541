"""Full API collection against the "big" simulated cloud, and Canonical's exporter beside it.

    python3 bench/collect_scale.py [--size big] [--latency 20ms] [--concurrency 16]
                                   [--exporter PATH | --no-exporter] [--exporter-venv DIR]

The simulator runs in its own process (as a real cloud would be elsewhere), with
``--latency`` added to every answer. In one run, against that one cloud, printed:

* stackwatch in process: one full collection of the six API sources run side by
  side (as the runner runs them): wall time, API calls, tokens issued, peak memory
  (RSS of this process), calls against the pages the data needs; then a
  steady-state collection, where the slow resources (quotas every 600 s, usage
  every 3600 s, flavors and aggregates every 300 s, placement inventories every
  600 s) are not due.
* stackwatch through its CLI, as a user runs it: ``stackwatch server`` with the
  default config for the API sources (store, web), from its start until every API
  source's first run is stored, plus one scrape of its ``/metrics``.
* Canonical's prometheus-openstack-exporter itself (its upstream Python 3 script;
  see ``bench/peer_exporter.py`` for how to get it: it is not on PyPI and nothing of
  it is in this repository), from its start until its cache is written, plus one
  scrape of its ``/metrics``; and the ratio of the two end-to-end times.

"Pages the data needs": every listing page at the service's largest page
(nova, cinder, glance 1000 — a full page needs one more, empty, request to
know it is the last; neutron unlimited — one page; keystone and placement
whole lists), one request per project and service that has no bulk quota API
(nova, cinder), two for neutron's (overrides, defaults), two per placement
provider, one per L3 agent, one version document per service and one token.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from peer_exporter import ENV_VAR, UPSTREAM, ensure_venv, find_script, run_exporter
from stackwatch.model import Collection
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient
from subprocs import free_port, process_cpu, stop

SIM = """
import sys
from pathlib import Path
from stackwatch.sim.cloud import SimulatedCloud
cloud = SimulatedCloud(workdir=Path(sys.argv[1]), size=sys.argv[2], latency=float(sys.argv[3]),
                       life=False, databases=False)
cloud.start()
print(cloud.clouds_yaml, flush=True)
sys.stdin.read()
cloud.stop()
"""


def parse_latency(text: str) -> float:
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.rstrip("s"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Run:
    wall: float
    calls: int
    tokens: int
    collections: dict[str, Collection]
    cpu: float = 0.0        # CPU seconds of this process (the collector)
    sim_cpu: float = 0.0    # CPU seconds of the simulator process



def collect_all(client: ApiClient, sources: Sequence[object], sim_pid: int) -> Run:
    """Run every source in its own thread, as the runner does; time the whole."""
    out: dict[str, Collection] = {}
    calls, tokens = client.calls, client.tokens_issued
    cpu, sim_cpu = time.process_time(), process_cpu(sim_pid)

    def one(source: object) -> None:
        out[source.name] = source.collect()  # type: ignore[attr-defined]

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run(time.monotonic() - started, client.calls - calls,
               client.tokens_issued - tokens, out, time.process_time() - cpu,
               process_cpu(sim_pid) - sim_cpu)


def count(run: Run, name: str) -> float:
    total = Collection()
    for part in run.collections.values():
        total = total + part
    return sum(s.value for s in total.samples if s.name == name)


def pages_needed(run: Run) -> tuple[int, dict[str, float]]:
    """Requests the data needs at the largest pages, from the item counts collected."""
    n = {
        "servers": count(run, "openstack_nova_total_vms"),
        "hypervisors": count(run, "openstack_nova_hypervisors"),
        "flavors": count(run, "openstack_nova_flavors"),
        "projects": count(run, "openstack_identity_projects"),
        "providers": count(run, "openstack_placement_resource_providers"),
        "l3_agents": len([s for c in run.collections.values() for s in c.samples
                          if s.name == "openstack_neutron_l3_agent_routers"]),
        "images": count(run, "openstack_glance_images"),
        "volumes": count(run, "openstack_cinder_volumes"),
        "snapshots": count(run, "openstack_cinder_snapshots"),
    }

    def linked(items: float, size: int = 1000) -> int:
        return int(items // size) + 1  # a full last page needs one more request

    needed = (
        1 + 6                                   # token, version documents
        + 4                                     # keystone users, projects, domains, regions
        + 1 + linked(n["servers"]) + linked(n["hypervisors"]) + linked(n["flavors"])
        + 2 + int(n["projects"]) + linked(n["projects"])  # aggregates, AZ, quotas, usage
        + 1 + 2 * int(n["providers"])           # placement
        + 8 + n["l3_agents"]                    # neutron listings, routers per L3 agent
        + 2                                     # neutron quotas: overrides, defaults
        + linked(n["images"])
        + linked(n["volumes"]) + linked(n["snapshots"]) + 2 + int(n["projects"])
    )
    return int(needed), n



@dataclass
class CliRun:
    """``stackwatch server`` from its start until its first /metrics holds every API figure."""

    ready: float
    scrape: float
    series: int
    cpu: float
    runs: dict[str, dict[str, Any]]


def through_cli(clouds_yaml: Path, workdir: Path, limit: float = 600.0) -> CliRun:
    """The user's way: ``stackwatch server`` (store, web) with a stackwatch.yaml for the
    API sources, timed until every API source's first run is stored, plus one scrape."""
    port = free_port()
    config = workdir / "stackwatch-api.yaml"
    config.write_text(yaml.safe_dump({
        "clouds": [{"name": "stackwatch-sim", "clouds_yaml": str(clouds_yaml),
                    "region": "RegionOne"}],
        "store": {"path": str(workdir / "stackwatch.sqlite")},
        "web": {"listen": f"127.0.0.1:{port}"},
    }))
    names = {f"api.{cls.service_type.replace('-', '_')}" for cls in SOURCE_CLASSES}
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-c", "from stackwatch.cli import main; main()", "server",
         "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        runs: dict[str, dict[str, Any]] = {}
        while not names <= set(runs):
            if server.poll() is not None or time.monotonic() - started > limit:
                raise SystemExit(f"stackwatch server stopped or took over {limit:.0f} s: "
                                 f"{(server.communicate()[1] or '')[-2000:]}")
            time.sleep(0.5)
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/api/v1/sources", timeout=30)
            except requests.ConnectionError:
                continue
            if answer.status_code == 200:
                runs = {r["source"]: r for r in answer.json() if "status" in r}
        ready = time.monotonic() - started
        clock = time.monotonic()
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=600)
        scrape = time.monotonic() - clock
        metrics.raise_for_status()
        series = sum(1 for line in metrics.text.splitlines() if line and line[0] != "#")
        return CliRun(ready, scrape, series, process_cpu(server.pid), runs)
    finally:
        stop(server, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="big")
    parser.add_argument("--latency", default="20ms")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="in-process run (the CLI run uses the config default, 16)")
    parser.add_argument("--exporter", default=None,
                        help=f"Canonical's exporter: a checkout of {UPSTREAM} or its script "
                             f"(default: ${ENV_VAR})")
    parser.add_argument("--exporter-venv", type=Path,
                        default=Path.home() / ".cache" / "stackwatch" / "bench-exporter-venv")
    parser.add_argument("--no-exporter", action="store_true")
    args = parser.parse_args()
    latency = parse_latency(args.latency)
    if not args.no_exporter:  # before the long part: a missing exporter is said at once
        script = find_script(args.exporter)
        python = ensure_venv(args.exporter_venv)

    with tempfile.TemporaryDirectory() as tmp:
        print(f"starting the simulated cloud ({args.size}, latency {latency * 1000:.0f} ms)...",
              flush=True)
        sim = subprocess.Popen([sys.executable, "-c", SIM, tmp, args.size, str(latency)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert sim.stdout is not None
            clouds_yaml = Path(sim.stdout.readline().strip())
            if not clouds_yaml.name:
                raise SystemExit("the simulated cloud did not start")
            load = os.getloadavg()
            client = ApiClient("stackwatch-sim", clouds_yaml=clouds_yaml, timeout=120,
                               concurrency=args.concurrency)
            sources = [cls(client) for cls in SOURCE_CLASSES]
            full = collect_all(client, sources, sim.pid)
            memory = peak_rss_mb()
            steady = collect_all(client, sources, sim.pid)
            client.close()
            needed, items = pages_needed(full)
            unknown = [c.message for part in full.collections.values() for c in part.checks
                       if c.name == "stackwatch.resource" and c.status.name != "OK"]
            print(f"\ncloud: {', '.join(f'{k} {v:g}' for k, v in items.items())}")
            if unknown:
                print(f"WARNING: {len(unknown)} resources UNKNOWN, first: {unknown[0]}")
            print(f"\nstackwatch in process (concurrency {args.concurrency}, page 1000):")
            print(f"  full collection     {full.wall:8.1f} s   {full.calls:6d} API calls   "
                  f"{full.tokens} token(s)   peak memory {memory:.0f} MB")
            print(f"  pages the data needs {needed:6d}   calls/needed {full.calls / needed:.2f}")
            print(f"  steady collection   {steady.wall:8.1f} s   {steady.calls:6d} API calls   "
                  f"{steady.tokens} token(s)")
            print(f"  CPU, full: collector {full.cpu:.1f} s, simulator {full.sim_cpu:.1f} s")

            print("\nstackwatch through its CLI (`stackwatch server`: store, /metrics; "
                  "default config)...", flush=True)
            sim_cpu = process_cpu(sim.pid)
            cli = through_cli(clouds_yaml, Path(tmp))
            cli_sim_cpu = process_cpu(sim.pid) - sim_cpu
            cli_total = cli.ready + cli.scrape
            print(f"  first runs stored   {cli.ready:8.1f} s   /metrics {cli.scrape:.1f} s, "
                  f"{cli.series} series   end to end {cli_total:.1f} s")
            print(f"  CPU: stackwatch {cli.cpu:.1f} s, simulator {cli_sim_cpu:.1f} s")
            for _, run in sorted(cli.runs.items()):
                print(f"    {run['status']:<8} {run.get('message', '')[:110]}")

            if not args.no_exporter:
                print("\nCanonical's prometheus-openstack-exporter (cinder, neutron, nova "
                      "collectors)...", flush=True)
                sim_cpu = process_cpu(sim.pid)
                peer = run_exporter(script, python, clouds_yaml, "stackwatch-sim")
                peer_sim_cpu = process_cpu(sim.pid) - sim_cpu
                peer_total = peer.ready + peer.scrape
                print(f"  from {peer.version}")
                print(f"  cache written       {peer.ready:8.1f} s   /metrics {peer.scrape:.1f} s, "
                      f"{peer.series} series   end to end {peer_total:.1f} s   (its own "
                      f"refresh duration {peer.refresh:.1f} s)")
                print(f"  CPU: exporter {peer.cpu:.1f} s, simulator {peer_sim_cpu:.1f} s")
                print("\nratio, end to end")
                print(f"  exporter / stackwatch  {peer_total / cli_total:6.1f} x   "
                      f"({peer_total:.0f} s against {cli_total:.0f} s; stackwatch also reads "
                      "placement, glance, keystone and cinder pools the exporter does not)")
            print(f"\nload average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at "
                  f"the end, on {os.cpu_count()} CPUs")
            print("\ngoals (in process)")
            print(f"  full collection <= 30 s         {'yes' if full.wall <= 30 else 'NO'}"
                  f"  ({full.wall:.1f} s)")
            print(f"  one token per cycle             {'yes' if full.tokens == 1 else 'NO'}")
            print(f"  calls <= 1.2 x pages needed     "
                  f"{'yes' if full.calls <= 1.2 * needed else 'NO'}  "
                  f"({full.calls / needed:.2f})")
            print(f"  peak memory <= 500 MB           {'yes' if memory <= 500 else 'NO'}"
                  f"  ({memory:.0f} MB)")
        finally:
            if sim.stdin is not None:
                sim.stdin.close()
            sim.wait(60)


if __name__ == "__main__":
    main()
