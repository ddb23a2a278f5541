"""Collection at scale: the "big" simulated cloud, stackwatch and Canonical's exporter.

    python3 bench/collect_scale.py [--size big] [--latency 20ms] [--concurrency 16]
                                   [--change 0.01] [--no-databases]
                                   [--exporter PATH | --no-exporter] [--exporter-venv DIR]

The simulator runs in its own process (as a real cloud would be elsewhere), with
``--latency`` added to every answer, and serves its service databases (SQLite files;
``--no-databases``: none, every figure through the APIs). Requests are counted by the
simulator. In one run, against that one cloud, printed:

* stackwatch in process: one full collection of the six API sources run side by side
  (as the runner runs them, the garbage collector set up as the ``stackwatch`` command
  sets it: ``stackwatch/heap.py``), with the cloud's databases configured (placement's
  providers, nova's and cinder's quotas read from them: ``sources/sql/shortcuts.py``):
  wall time, requests, tokens, peak memory, CPU of collector and simulator; then
  ``--change`` of the servers are changed (powered off or on) and a steady
  collection runs (servers read by ``changes-since``; quotas, usage, flavors and
  aggregates not due). Both are checked against the simulator's own state (servers by
  status, placement usage per class, quota usage, volumes): "exact" or what differs.
* stackwatch through its CLI, as a user runs it: ``stackwatch server`` (store, web)
  with a stackwatch.yaml for the cloud and its databases (the SQL sources run too),
  from its start until every API source's first run is stored, plus one scrape of
  its ``/metrics``; requests.
* Canonical's prometheus-openstack-exporter itself (its upstream Python 3 script;
  see ``bench/peer_exporter.py`` for how to get it: it is not on PyPI and nothing of
  it is in this repository), from its start until its cache is written (its first
  complete cache), plus one scrape of its ``/metrics``; requests; the ratios.
* the load average, and each goal of issue 16 met or not.

"Pages the API-only path needs": every listing page at the service's largest page
(nova, cinder, glance 1000 — a full page needs one more, empty, request to
know it is the last; neutron unlimited — one page; keystone and placement
whole lists), one request per project and service that has no bulk quota API
(nova, cinder), two for neutron's (overrides, defaults), two per placement
provider, one per L3 agent, one version document per service and one token.
"""

from __future__ import annotations

import argparse
import json
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
from stackwatch import heap
from stackwatch.config import SQL_DATABASES, CloudConfig
from stackwatch.model import Collection
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient, api_sources
from subprocs import free_port, process_cpu, stop

SIM = """
import json, random, sys
from collections import Counter
from pathlib import Path
from stackwatch.sim import ops
from stackwatch.sim.cloud import SimulatedCloud
cloud = SimulatedCloud(workdir=Path(sys.argv[1]), size=sys.argv[2], latency=float(sys.argv[3]),
                       life=False, databases=sys.argv[4] == "1")
cloud.start()
print(json.dumps({"clouds_yaml": str(cloud.clouds_yaml), "databases": cloud.db_urls}), flush=True)
spent = Counter()  # path -> seconds beyond the added latency, bytes; since the last "paths"
sent = Counter()

def note(served):
    path = "/".join("{id}" if len(p) >= 32 or p.isdigit() else p for p in served.path.split("/"))
    spent[path] += max(0.0, served.duration - cloud.latency)
    sent[path] += served.length

cloud.on_request(note)

rng = random.Random(7)

def change(state, share):
    # power a share of the servers off (or on when stopped), as operators and users do
    chosen = rng.sample(sorted(s.id for s in state.servers), int(len(state.servers) * share))
    for sid in chosen:
        ops.power(state, sid, state.servers.get(sid).vm_state == "stopped",
                  ops.new_request_id())
    return len(chosen)

def truth(state):
    used = Counter()
    for alloc in state.allocations:
        for resources in alloc.resources.values():
            used.update(resources)
    projects = [p.id for p in state.projects if not p.is_domain]
    nova = [state.quota_usage("compute", p) for p in projects]
    cinder = [state.quota_usage("block-storage", p) for p in projects]
    return {"servers": len(state.servers),
            "servers_by_status": Counter(s.status() for s in state.servers),
            "placement_usage": used, "volumes": len(state.volumes),
            "nova_cores_used": sum(u["cores"] for u in nova),
            "nova_ram_used": sum(u["ram"] for u in nova),
            "nova_instances_used": sum(u["instances"] for u in nova),
            "cinder_gigabytes_used": sum(u["gigabytes"] for u in cinder)}

for line in sys.stdin:
    word, _, arg = line.strip().partition(" ")
    if word == "served":
        answer = cloud.server.served
    elif word == "change":
        answer = cloud.call(change, cloud.state, float(arg))
        cloud.flush()
    elif word == "truth":
        answer = cloud.call(truth, cloud.state)
    elif word == "paths":
        answer = [(p, round(t, 2), sent[p]) for p, t in spent.most_common(int(arg))]
        spent.clear()
        sent.clear()
    else:
        break
    print(json.dumps(answer), flush=True)
cloud.stop()
"""


class Sim:
    """The simulator's process, asked over its stdin: requests served, a change, the truth."""

    def __init__(self, workdir: str, size: str, latency: float, databases: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SIM, workdir, size, str(latency), "1" if databases else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started = json.loads(self._line())
        self.pid = self.proc.pid
        self.clouds_yaml = Path(started["clouds_yaml"])
        self.databases: dict[str, str] = started["databases"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the simulated cloud stopped")
        return line

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def served(self) -> int:
        return int(self.ask("served"))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(120)


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
    calls: int              # counted by the client
    served: int             # counted by the simulator
    tokens: int
    collections: dict[str, Collection]
    cpu: float = 0.0        # CPU seconds of this process (the collector)
    sim_cpu: float = 0.0    # CPU seconds of the simulator process


def collect_all(client: ApiClient, sources: Sequence[object], sim: Sim) -> Run:
    """Run every source in its own thread, as the runner does; time the whole."""
    out: dict[str, Collection] = {}
    calls, tokens, served = client.calls, client.tokens_issued, sim.served()
    cpu, sim_cpu = time.process_time(), process_cpu(sim.pid)

    def one(source: object) -> None:
        out[source.name] = source.collect()  # type: ignore[attr-defined]
        heap.settle()  # as the server's run loop does after each run

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return Run(wall, client.calls - calls, sim.served() - served - 1,
               client.tokens_issued - tokens, out, time.process_time() - cpu,
               process_cpu(sim.pid) - sim_cpu)


def mismatches(run: Run, truth: dict[str, Any]) -> list[str]:
    """What the collection says against the simulator's state; a figure the run did not
    read (a resource not due) is left out."""
    samples = [s for part in run.collections.values() for s in part.samples]
    names = {s.name for s in samples}

    def total(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name
                   and all(s.label(k) == v for k, v in labels.items()))

    expected: dict[str, tuple[str, dict[str, str], float]] = {
        "servers": ("openstack_nova_total_vms", {}, truth["servers"]),
        "volumes": ("openstack_cinder_volumes", {}, truth["volumes"]),
        "nova cores used": ("openstack_nova_limits_vcpus_used", {}, truth["nova_cores_used"]),
        "nova RAM used": ("openstack_nova_limits_memory_used", {}, truth["nova_ram_used"]),
        "nova instances used": ("openstack_nova_limits_instances_used", {},
                                truth["nova_instances_used"]),
        "cinder GB used": ("openstack_cinder_limits_volume_used_gb", {},
                           truth["cinder_gigabytes_used"]),
    }
    for status, n in truth["servers_by_status"].items():
        expected[f"servers {status}"] = ("openstack_nova_servers", {"status": status}, n)
    for rc, n in truth["placement_usage"].items():
        expected[f"placement {rc} used"] = ("openstack_placement_resource_usage",
                                            {"resourcetype": rc}, n)
    wrong = []
    for what, (name, labels, want) in expected.items():
        if name in names and total(name, **labels) != want:
            wrong.append(f"{what}: {total(name, **labels):g}, truth {want:g}")
    missing = [what for what, (name, _, _) in expected.items() if name not in names]
    return wrong + [f"not read: {', '.join(missing)}"] * bool(missing)


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


def through_cli(clouds_yaml: Path, databases: dict[str, str], workdir: Path,
                limit: float = 600.0) -> CliRun:
    """The user's way: ``stackwatch server`` (store, web) with a stackwatch.yaml for the
    API sources (and the service databases, when given: the SQL sources run too), timed
    until every API source's first run is stored, plus one scrape."""
    port = free_port()
    config = workdir / "stackwatch-api.yaml"
    config.write_text(yaml.safe_dump({
        "clouds": [{"name": "stackwatch-sim", "clouds_yaml": str(clouds_yaml),
                    "region": "RegionOne", "databases": databases}],
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
            time.sleep(0.2)
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


def compiled() -> None:
    """Compile stackwatch's modules, as ``pip install`` does: where PYTHONDONTWRITEBYTECODE
    is set (a CI or sandbox habit), ``stackwatch server`` would otherwise compile its
    whole source at every start (1-3 s of CPU)."""
    import compileall

    import stackwatch

    compileall.compile_dir(str(Path(stackwatch.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="big")
    parser.add_argument("--latency", default="20ms")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="in-process run (the CLI run uses the config default, 16)")
    parser.add_argument("--change", type=float, default=0.01,
                        help="share of the servers changed before the steady collection")
    parser.add_argument("--no-databases", action="store_true",
                        help="API requests only: no service database configured")
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

    heap.tune()  # the interpreter as the ``stackwatch`` command sets it up
    with heap.settled(), tempfile.TemporaryDirectory() as tmp:
        print(f"starting the simulated cloud ({args.size}, latency {latency * 1000:.0f} ms, "
              f"service databases {'no' if args.no_databases else 'yes'})...", flush=True)
        sim = Sim(tmp, args.size, latency, not args.no_databases)
        try:
            databases = {db: url for db, url in sim.databases.items() if db in SQL_DATABASES}
            load = os.getloadavg()
            cloud = CloudConfig(name="stackwatch-sim", clouds_yaml=sim.clouds_yaml,
                                region="RegionOne", databases=databases)
            client = ApiClient("stackwatch-sim", clouds_yaml=sim.clouds_yaml, timeout=120,
                               concurrency=args.concurrency, region="RegionOne")
            sources = api_sources(cloud, client=client)
            sim.ask("paths 0")
            full = collect_all(client, sources, sim)
            full_paths = sim.ask("paths 5")
            full_wrong = mismatches(full, sim.ask("truth"))
            memory = peak_rss_mb()
            changed = sim.ask(f"change {args.change}")
            sim.ask("paths 0")
            steady = collect_all(client, sources, sim)
            steady_paths = sim.ask("paths 5")
            steady_wrong = mismatches(steady, sim.ask("truth"))
            client.close()
            needed, items = pages_needed(full)
            unknown = [c.message for part in full.collections.values() for c in part.checks
                       if c.name == "stackwatch.resource" and c.status.name != "OK"]
            print(f"\ncloud: {', '.join(f'{k} {v:g}' for k, v in items.items())}")
            print(f"service databases read instead of per-item requests: "
                  f"{', '.join(sorted(databases)) or 'none'}")
            if unknown:
                print(f"WARNING: {len(unknown)} resources UNKNOWN, first: {unknown[0]}")
            print(f"\nstackwatch in process (concurrency {args.concurrency}, page 1000):")
            print(f"  full collection     {full.wall:8.1f} s   {full.served:6d} requests "
                  f"(simulator; {full.calls} by the client)   {full.tokens} token(s)   "
                  f"peak memory {memory:.0f} MB")
            print(f"  pages the API-only path needs {needed:6d}")
            print(f"  steady collection   {steady.wall:8.1f} s   {steady.served:6d} requests "
                  f"({changed} servers changed before it: {args.change:.0%})")
            print(f"  CPU, full: collector {full.cpu:.1f} s, simulator {full.sim_cpu:.1f} s; "
                  f"steady: {steady.cpu:.1f} s, {steady.sim_cpu:.1f} s")
            for name, wrong in (("full", full_wrong), ("steady", steady_wrong)):
                print(f"  {name} against the simulator's truth: "
                      f"{'exact' if not wrong else '; '.join(wrong)}")
            for name, paths in (("full", full_paths), ("steady", steady_paths)):
                print(f"  simulator, {name}: seconds beyond the latency (queueing in its one "
                      f"event loop included), bytes: " + ", ".join(
                          f"{path} {took:.1f} s {size / 1e6:.1f} MB" for path, took, size in paths))

            print("\nstackwatch through its CLI (`stackwatch server`: store, /metrics; "
                  "default config)...", flush=True)
            compiled()
            sim_cpu, served = process_cpu(sim.pid), sim.served()
            cli = through_cli(sim.clouds_yaml, databases, Path(tmp))
            cli_sim_cpu, cli_served = process_cpu(sim.pid) - sim_cpu, sim.served() - served - 1
            cli_total = cli.ready + cli.scrape
            print(f"  first runs stored   {cli.ready:8.1f} s   /metrics {cli.scrape:.1f} s, "
                  f"{cli.series} series   end to end {cli_total:.1f} s   {cli_served} requests")
            print(f"  CPU: stackwatch {cli.cpu:.1f} s, simulator {cli_sim_cpu:.1f} s")
            for _, run in sorted(cli.runs.items()):
                print(f"    {run['status']:<8} {run.get('message', '')[:110]}")

            if not args.no_exporter:
                print("\nCanonical's prometheus-openstack-exporter (cinder, neutron, nova "
                      "collectors)...", flush=True)
                sim_cpu, served = process_cpu(sim.pid), sim.served()
                peer = run_exporter(script, python, sim.clouds_yaml, "stackwatch-sim")
                peer_sim_cpu = process_cpu(sim.pid) - sim_cpu
                peer_served = sim.served() - served - 1
                print(f"  from {peer.version}")
                print(f"  cache written       {peer.ready:8.1f} s   /metrics {peer.scrape:.1f} s, "
                      f"{peer.series} series   {peer_served} requests (until the scrape)   "
                      f"(its own refresh duration {peer.refresh:.1f} s)")
                print(f"  CPU: exporter {peer.cpu:.1f} s, simulator {peer_sim_cpu:.1f} s")
                print("\nratios (the exporter timed to its first complete cache)")
                print(f"  exporter / stackwatch CLI  {peer.ready / cli.ready:6.1f} x   "
                      f"({peer.ready:.0f} s against {cli.ready:.1f} s; end to end with a "
                      f"scrape {peer.ready + peer.scrape:.0f} s against {cli_total:.1f} s)")
                print(f"  exporter / stackwatch in process  {peer.ready / full.wall:6.1f} x")
                print(f"  requests: stackwatch CLI {cli_served}, in process {full.served}; "
                      f"exporter {peer_served}")
            print(f"\nload average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at "
                  f"the end, on {os.cpu_count()} CPUs")
            print("\ngoals")
            print(f"  full <= 10 s (CLI, first runs stored)  "
                  f"{'yes' if cli.ready <= 10 else 'NO'}  ({cli.ready:.1f} s)")
            print(f"  steady <= 2 s (in process)             "
                  f"{'yes' if steady.wall <= 2 else 'NO'}  ({steady.wall:.1f} s)")
            print(f"  exact, full and steady                 "
                  f"{'yes' if not full_wrong and not steady_wrong else 'NO'}")
            if not args.no_exporter:
                print(f"  >= 10 x faster than the exporter       "
                      f"{'yes' if peer.ready >= 10 * cli.ready else 'NO'}  "
                      f"({peer.ready / cli.ready:.1f} x)")
                print(f"  no more requests than the exporter     "
                      f"{'yes' if cli_served <= peer_served else 'NO'}  "
                      f"({cli_served} against {peer_served})")
            print(f"  one token per cycle                    "
                  f"{'yes' if full.tokens == 1 else 'NO'}")
            print(f"  peak memory <= 500 MB                  {'yes' if memory <= 500 else 'NO'}"
                  f"  ({memory:.0f} MB)")
        finally:
            sim.close()


if __name__ == "__main__":
    main()
