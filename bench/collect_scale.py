"""Full API collection against the "big" simulated cloud, and the exporters' way beside it.

    python3 bench/collect_scale.py [--size big] [--latency 20ms] [--concurrency 64]
                                   [--baseline-sample 0.1] [--no-baseline]

The simulator runs in its own process (as a real cloud would be elsewhere), with
``--latency`` added to every answer. Printed:

* stackwatch: one full collection of the six API sources run side by side (as
  the runner runs them): wall time, API calls, tokens issued, peak memory
  (RSS of this process), calls against the pages the data needs; then a
  steady-state collection, where the slow resources (quotas every 600 s, usage
  every 3600 s, flavors and aggregates every 300 s, placement inventories every
  600 s) are not due.
* baseline: the same data collected the way the common Python exporters do:
  one request at a time, 100 items per page, one quota call per project and
  service (nova, cinder, neutron), inventories and usages per provider. With
  ``--baseline-sample F`` only a fraction F of the per-project and
  per-provider requests is sent and their time is extrapolated (printed as
  such); ``--baseline-sample 1`` runs it all.

"Pages the data needs": every listing page at the service's largest page
(nova, cinder, glance 1000 — a full page needs one more, empty, request to
know it is the last; neutron unlimited — one page; keystone and placement
whole lists), one request per project and service that has no bulk quota API
(nova, cinder), two for neutron's (overrides, defaults), two per placement
provider, one per L3 agent, one version document per service and one token.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwatch.errors import SourceError
from stackwatch.model import Collection
from stackwatch.sources.openstack_api import SOURCE_CLASSES, ApiClient

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


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collect_all(client: ApiClient, sources: list[object], sim_pid: int) -> Run:
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


def baseline(clouds_yaml: Path, sample: float) -> tuple[float, int, str]:
    """The exporters' way: sequential, 100 per page, a quota call per project and service."""
    client = ApiClient("stackwatch-sim", clouds_yaml=clouds_yaml, timeout=120, concurrency=1,
                       page_size=100)
    spent_time = 0.0      # what the sampled fan-out really took
    spent_calls = 0
    fanout_time = 0.0     # what the whole fan-out would take
    fanout_calls = 0
    started = time.monotonic()

    failures: list[str] = []

    def listing(service: str, path: str, key: str, **params: object) -> list[dict[str, object]]:
        try:
            return list(client.list_all(service, path, key, params=params or None))
        except SourceError as exc:  # counted and shown; the baseline goes on like ours
            failures.append(str(exc))
            return []

    def get(service: str, path: str, **params: object) -> dict[str, Any]:
        try:
            return client.get(service, path, params=params or None)
        except SourceError as exc:
            failures.append(str(exc))
            return {}

    def fan(items: list[str], fn: Callable[[str], object]) -> None:
        nonlocal spent_time, spent_calls, fanout_time, fanout_calls
        chosen = items[: max(1, math.ceil(len(items) * sample))] if items else []
        before, clock = client.calls, time.monotonic()
        for item in chosen:
            fn(item)
        spent, made = time.monotonic() - clock, client.calls - before
        scale = len(items) / len(chosen) if chosen else 0
        spent_time += spent
        spent_calls += made
        fanout_time += spent * scale
        fanout_calls += round(made * scale)

    for st in ("identity", "compute", "placement", "network", "image", "block-storage"):
        client.endpoint(st)
    for key in ("users", "projects", "domains", "regions"):
        get("identity", key)
    projects = [str(p["id"]) for p in get("identity", "projects").get("projects", [])]
    get("compute", "os-services")
    listing("compute", "servers/detail", "servers", all_tenants=1)
    listing("compute", "os-hypervisors/detail", "hypervisors")
    listing("compute", "flavors/detail", "flavors", is_public="None")
    get("compute", "os-aggregates")
    get("compute", "os-availability-zone")
    fan(projects, lambda p: get("compute", f"os-quota-sets/{p}/detail"))
    providers = [str(r["uuid"]) for r in
                 get("placement", "resource_providers").get("resource_providers", [])]
    fan(providers, lambda u: (get("placement", f"resource_providers/{u}/inventories"),
                              get("placement", f"resource_providers/{u}/usages")))
    for path, key in (("networks", "networks"), ("subnets", "subnets"), ("routers", "routers"),
                      ("ports", "ports"), ("floatingips", "floatingips"),
                      ("security-groups", "security_groups"),
                      ("network-ip-availabilities", "network_ip_availabilities")):
        listing("network", f"v2.0/{path}", key)
    agents = listing("network", "v2.0/agents", "agents")
    l3 = [str(a["id"]) for a in agents if a.get("agent_type") == "L3 agent"]
    fan(l3, lambda a: get("network", f"v2.0/agents/{a}/l3-routers"))
    fan(projects, lambda p: get("network", f"v2.0/quotas/{p}"))
    listing("image", "v2/images", "images")
    listing("block-storage", "volumes/detail", "volumes", all_tenants=1)
    listing("block-storage", "snapshots/detail", "snapshots", all_tenants=1)
    get("block-storage", "os-services")
    get("block-storage", "scheduler-stats/get_pools", detail="True")
    fan(projects, lambda p: get("block-storage", f"os-quota-sets/{p}", usage="True"))
    wall = time.monotonic() - started - spent_time + fanout_time
    calls = client.calls - spent_calls + fanout_calls
    note = "measured" if sample >= 1 else f"fan-out extrapolated from a {sample:.0%} sample"
    if failures:
        note += f"; {len(failures)} requests failed, first: {failures[0][:150]}"
    client.close()
    return wall, calls, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="big")
    parser.add_argument("--latency", default="20ms")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--baseline-sample", type=float, default=0.1)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    latency = parse_latency(args.latency)

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
            client = ApiClient("stackwatch-sim", clouds_yaml=clouds_yaml, timeout=120,
                               concurrency=args.concurrency)
            sources = [cls(client) for cls in SOURCE_CLASSES]
            full = collect_all(client, sources, sim.pid)
            memory = peak_rss_mb()
            steady = collect_all(client, sources, sim.pid)
            needed, items = pages_needed(full)
            unknown = [c.message for part in full.collections.values() for c in part.checks
                       if c.name == "stackwatch.resource" and c.status.name != "OK"]
            print(f"\ncloud: {', '.join(f'{k} {v:g}' for k, v in items.items())}")
            if unknown:
                print(f"WARNING: {len(unknown)} resources UNKNOWN, first: {unknown[0]}")
            print(f"\nstackwatch (concurrency {args.concurrency}, page 1000):")
            print(f"  full collection     {full.wall:8.1f} s   {full.calls:6d} API calls   "
                  f"{full.tokens} token(s)   peak memory {memory:.0f} MB")
            print(f"  pages the data needs {needed:6d}   calls/needed {full.calls / needed:.2f}")
            print(f"  steady collection   {steady.wall:8.1f} s   {steady.calls:6d} API calls   "
                  f"{steady.tokens} token(s)")
            print(f"  CPU, full: collector {full.cpu:.1f} s, simulator {full.sim_cpu:.1f} s; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            client.close()
            if not args.no_baseline:
                print("\nbaseline (one request at a time, 100 per page, a quota call per "
                      "project and service)...", flush=True)
                wall, calls, note = baseline(clouds_yaml, args.baseline_sample)
                print(f"  full collection     {wall:8.1f} s   {calls:6d} API calls   ({note})")
                print("\nratios")
                print(f"  speed-up            {wall / full.wall:8.1f} x   (goal >= 10)")
                print(f"  calls baseline/ours {calls / full.calls:8.2f}")
            print("\ngoals")
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
