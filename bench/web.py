"""The dashboard and the REST API against the "big" simulated cloud: paint, health, history.

    python3 bench/web.py [--size big] [--loads 10] [--requests 500] [--clients 4]
                         [--days 7] [--metrics vcpus_used,memory_used_bytes,...]
                         [--json results.json] [--artefacts DIR]

As a user runs it: ``stackwatch sim --size big`` in one process, ``stackwatch server``
with the stackwatch.yaml it wrote (default intervals) in another, one compute node
down (``stackwatch sim fault compute-down``) so the overview has a problem to show.
Once every source's first run is stored, measured:

* (a) the overview in Chromium (Debian's ``/usr/bin/chromium``, Playwright): first
  contentful paint (Paint Timing API) and the time until the problems list and the
  map are in the DOM, from the navigation's start; the median of ``--loads`` loads
  (the first, with a cold cache, printed apart); a screenshot kept.
* (b) ``GET /api/v1/health``: p50 and p99 of ``--requests`` requests one after
  another, then of as many spread over ``--clients`` concurrent clients.
* (c) a range query over a week of stored history: the big cloud's per-hypervisor
  capacity series (``--metrics``) at the 60 s interval for ``--days`` days, written
  through the store's write path with backdated timestamps (an hour of the cloud a
  write), then ``/api/v1/samples/range`` for one series and for the whole metric, at
  the step a chart over that range uses (its width / 240), each the median of 5.

Goals: (a) <= 1 s, (b) p99 <= 100 ms, (c) <= 500 ms. Figures depend on what else
the machine runs: the load average and CPU count are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from stackwatch.model import Collection, Sample
from stackwatch.store.sqlite import SQLiteStore
from subprocs import free_port, process_cpu, stop

CLI = [sys.executable, "-c", "from stackwatch.cli import main; main()"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: what a page records before any of its own script runs: when the problems list and
#: the map first are in the DOM (ms since the navigation's start)
IN_DOM = """
window.__seen = {};
new MutationObserver(() => {
  for (const [name, sel] of [["problems", "section[aria-labelledby=problems-h]"],
                             ["map", "#map"]]) {
    if (!(name in window.__seen) && document.querySelector(sel))
      window.__seen[name] = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
"""
METRICS = ("vcpus_used", "memory_used_bytes", "local_storage_used_bytes")
GOALS = {"paint": 1.0, "health_p99": 0.100, "range": 0.500}


@dataclass
class Results:
    """Everything measured, as written to ``--json``."""

    size: str
    cpus: int
    load: dict[str, list[float]] = field(default_factory=dict)
    cloud: dict[str, Any] = field(default_factory=dict)
    paint: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    screenshot: str = ""


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# ------------------------------------------------------------------ the cloud and server
def start_sim(workdir: Path, size: str) -> subprocess.Popen[str]:
    """``stackwatch sim`` in ``workdir``, returned once it serves."""
    sim = subprocess.Popen([*CLI, "sim", "--workdir", str(workdir), "--size", size],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert sim.stdout is not None
    line = " "
    while line and not line.startswith("export "):
        line = sim.stdout.readline()
    if not line:
        raise SystemExit("the simulated cloud did not start")
    return sim


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``stackwatch server`` with the simulator's stackwatch.yaml (its store moved to the
    bench's directory); its URL and store, once every source's first run is stored."""
    config = yaml.safe_load((workdir / "stackwatch.yaml").read_text())
    store = workdir / "bench-store.sqlite"
    config["store"] = {"path": str(store)}
    port = free_port()
    config["web"] = {"listen": f"127.0.0.1:{port}"}
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    server = subprocess.Popen([*CLI, "server", "--config", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        time.sleep(2)
        if server.poll() is not None or time.monotonic() - started > 900:
            raise SystemExit("stackwatch server stopped or took over 900 s to run every source")
        try:
            runs = requests.get(f"{url}/api/v1/sources", timeout=60).json()
        except requests.RequestException:
            continue
        if runs and all(r.get("checked_at") for r in runs):
            return server, url, store


def fault(workdir: Path, name: str) -> str:
    done = subprocess.run([*CLI, "sim", "fault", name, "--workdir", str(workdir)],
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip()


# ------------------------------------------------------------------ (a) paint
def paint(url: str, loads: int, screenshot: Path) -> dict[str, Any]:
    """First contentful paint and DOM times of the overview over ``loads`` loads."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(IN_DOM)
        for _ in range(loads):
            page = context.new_page()
            page.goto(f"{url}/overview", wait_until="load")
            page.wait_for_function("performance.getEntriesByName('first-contentful-paint')"
                                   ".length > 0")
            row = page.evaluate("""(() => {
              const nav = performance.getEntriesByType('navigation')[0];
              const fcp = performance.getEntriesByName('first-contentful-paint')[0];
              return {fcp: fcp.startTime, ttfb: nav.responseStart, response: nav.responseEnd,
                      bytes: nav.transferSize, problems: window.__seen.problems,
                      map: window.__seen.map, load: nav.loadEventEnd};
            })()""")
            rows.append({k: (v / 1000 if k != "bytes" and v is not None else v)
                         for k, v in row.items()})
            page.close()
        page = context.new_page()
        page.goto(f"{url}/overview", wait_until="load")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    warm = rows[1:] or rows

    def median(key: str) -> float:
        return statistics.median(r[key] for r in warm)

    return {"cold": rows[0], "loads": len(rows),
            **{f"{k}_median": median(k) for k in ("fcp", "ttfb", "response", "problems",
                                                  "map", "load")},
            "bytes": rows[-1]["bytes"], "meaningful_median": max(median("fcp"),
                                                                  median("problems"),
                                                                  median("map"))}


# ------------------------------------------------------------------ (b) health
def latencies(url: str, count: int, clients: int) -> list[float]:
    """Seconds of each of ``count`` GETs of ``url`` spread over ``clients`` threads."""
    out: list[float] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with requests.Session() as session:
            for _ in range(n):
                t0 = time.perf_counter()
                answer = session.get(url, timeout=60)
                took = time.perf_counter() - t0
                answer.raise_for_status()
                with lock:
                    out.append(took)

    threads = [threading.Thread(target=client, args=(count // clients,))
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def health(url: str, count: int, clients: int) -> dict[str, Any]:
    latencies(f"{url}/api/v1/health", 10, 1)  # warm up
    out: dict[str, Any] = {}
    for name, n in (("sequential", 1), ("concurrent", clients)):
        t0 = time.perf_counter()
        seen = latencies(f"{url}/api/v1/health", count, n)
        out[name] = {"clients": n, "requests": len(seen), "p50": percentile(seen, 0.5),
                     "p99": percentile(seen, 0.99), "max": max(seen),
                     "per_second": len(seen) / (time.perf_counter() - t0)}
    out["bytes"] = len(requests.get(f"{url}/api/v1/health", timeout=60).content)
    return out


# ------------------------------------------------------------------ (c) history
def fill(store_path: Path, url: str, metrics: list[str], days: float) -> dict[str, Any]:
    """``days`` of 60 s samples before the server's first for every current series of
    ``metrics``, written an hour of the cloud at a time; what was written and how fast."""
    series: list[tuple[str, dict[str, str], float]] = []
    first = time.time()
    for metric in metrics:
        for s in requests.get(f"{url}/api/v1/samples", params={"name": metric},
                              timeout=120).json():
            series.append((metric, s["labels"], s["value"]))
            first = min(first, s["timestamp"])
    if not series:
        raise SystemExit(f"no series of {', '.join(metrics)} stored")
    steps = int(days * 86400 // 60)
    start = first - steps * 60
    store = SQLiteStore(store_path)
    keys = [(name, tuple(sorted(labels.items())), value) for name, labels, value in series]
    written = 0
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        for hour in range(0, steps, 60):
            samples = [Sample(name, value * (0.6 + 0.4 * ((i + step) % 1440) / 1440), labels,
                              start + 60 * step)
                       for step in range(hour, min(hour + 60, steps))
                       for i, (name, labels, value) in enumerate(keys)]
            store.write(Collection(tuple(samples)))  # no source: added, as a backfill
            written += len(samples)
    finally:
        store.close()
    took = time.perf_counter() - t0
    return {"series": len(series), "samples": written, "start": start, "end": first,
            "seconds": took, "cpu_seconds": time.process_time() - c0,
            "per_second": written / took, "file_mb": store_path.stat().st_size / 2**20}


def timed_get(url: str, params: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    times, size, points = [], 0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = requests.get(url, params=params, timeout=600)
        times.append(time.perf_counter() - t0)
        answer.raise_for_status()
        size = len(answer.content)
        body = answer.json()
        points = sum(len(s["points"]) for s in body["series"])
        series = len(body["series"])
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "bytes": size, "series": series, "points": points, "step": body["step"]}


def history(url: str, filled: dict[str, Any], metric: str) -> dict[str, Any]:
    start, end = filled["start"], filled["end"]
    step = (end - start) / 240  # what a chart over the range asks for
    one = requests.get(f"{url}/api/v1/samples", params={"name": metric}, timeout=60).json()[0]
    base = {"name": metric, "start": start, "end": end, "step": step}
    return {"step": step,
            "one_series": timed_get(f"{url}/api/v1/samples/range",
                                    {**base, "labels": json.dumps(one["labels"])}),
            "whole_metric": timed_get(f"{url}/api/v1/samples/range", base),
            "one_series_raw": timed_get(f"{url}/api/v1/samples/range",
                                        {**base, "step": 0,
                                         "labels": json.dumps(one["labels"])})}


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="big")
    parser.add_argument("--loads", type=int, default=10, help="overview loads in Chromium")
    parser.add_argument("--requests", type=int, default=500, help="health API requests")
    parser.add_argument("--clients", type=int, default=4, help="concurrent health clients")
    parser.add_argument("--days", type=float, default=7.0, help="days of history to store")
    parser.add_argument("--metrics", default=",".join(METRICS),
                        help="per-hypervisor metrics (openstack_nova_ left off) to fill")
    parser.add_argument("--parts", default="abc",
                        help="which measurements: a (paint), b (health), c (history)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--artefacts", type=Path,
                        default=Path(os.environ.get("STACKWATCH_ARTEFACTS", "tests/artefacts")),
                        help="where the screenshot goes (env STACKWATCH_ARTEFACTS)")
    args = parser.parse_args()
    metrics = [f"openstack_nova_{m}" for m in args.metrics.split(",") if m]
    results = Results(size=args.size, cpus=os.cpu_count() or 0)
    args.artefacts.mkdir(parents=True, exist_ok=True)
    screenshot = (args.artefacts / f"bench-web-overview-{args.size}.png").resolve()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"starting the simulated cloud ({args.size}) and stackwatch server...",
              flush=True)
        t0 = time.monotonic()
        sim = start_sim(workdir, args.size)
        try:
            server, url, store = start_server(workdir)
            try:
                results.cloud["ready_seconds"] = time.monotonic() - t0
                results.cloud["fault"] = fault(workdir, "compute-down")
                while not any(p["what"] == "nova-compute" for p in requests.get(
                        f"{url}/api/v1/health", timeout=60).json()["problems"]):
                    time.sleep(5)  # the next api.compute run sees it
                report = requests.get(f"{url}/api/v1/health", timeout=60).json()
                results.cloud.update(
                    services=len(report["health"]["services"]),
                    nodes=len(report["health"]["nodes"]),
                    members=sum(len(s["members"]) for s in report["health"]["services"]),
                    problems=len(report["problems"]))
                results.load["start"] = list(os.getloadavg())
                if "b" in args.parts:
                    print("(b) the health API...", flush=True)
                    cpu, t0 = process_cpu(server.pid), time.monotonic()
                    results.health = health(url, args.requests, args.clients)
                    # the server collects the big cloud meanwhile, in the same process
                    results.health["server_cpu_share"] = (process_cpu(server.pid) - cpu) / (
                        time.monotonic() - t0)
                if "a" in args.parts:
                    print("(a) the overview in Chromium...", flush=True)
                    results.paint = paint(url, args.loads, screenshot)
                    results.screenshot = str(screenshot)
                results.load["after_web"] = list(os.getloadavg())
                if "c" in args.parts:
                    print(f"(c) {args.days:g} days of history for {', '.join(metrics)}...",
                          flush=True)
                    filled = fill(store, url, metrics, args.days)
                    results.history = {"fill": filled,
                                       **history(url, filled, metrics[0])}
                results.load["end"] = list(os.getloadavg())
            finally:
                stop(server, 60)  # type: ignore[arg-type]
        finally:
            if sim.poll() is None:
                sim.terminate()
                sim.wait(60)
    report_results(results)
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=1))
        print(f"results: {args.json}")


def report_results(r: Results) -> None:
    c, p, h, hi = r.cloud, r.paint, r.health, r.history
    print(f"\ncloud ({r.size}): {c['services']} services, {c['nodes']} nodes, "
          f"{c['members']} members, {c['problems']} problem(s) ({c['fault']}); "
          f"server ready in {c['ready_seconds']:.0f} s")
    if p:
        report_paint(r)
    if h:
        report_health(r)
    if hi:
        report_history(r)
    print(f"\nload average (1 min) {r.load['start'][0]:.1f} at the start, "
          f"{r.load['after_web'][0]:.1f} after (a) and (b), {r.load['end'][0]:.1f} at the "
          f"end, on {r.cpus} CPUs")
    print("\ngoals")
    if p:
        print(f"    overview meaningful paint <= 1 s     "
              f"{_goal(p['meaningful_median'], 1.0)}  ({_ms(p['meaningful_median']).strip()})")
    if h:
        for name, label in (("sequential", "sequential"),
                            ("concurrent", f"{h['concurrent']['clients']} clients")):
            print(f"    health p99 <= 100 ms ({label:10})   {_goal(h[name]['p99'], 0.1)}  "
                  f"({_ms(h[name]['p99']).strip()})")
    if hi:
        worst = max(hi["one_series"]["median"], hi["whole_metric"]["median"])
        print(f"    week range query <= 500 ms           {_goal(worst, 0.5)}  "
              f"(one series {_ms(hi['one_series']['median']).strip()}, whole metric "
              f"{_ms(hi['whole_metric']['median']).strip()})")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:7.0f} ms"


def _goal(value: float, limit: float) -> str:
    return "yes" if value <= limit else "NO"


def report_paint(r: Results) -> None:
    p = r.paint
    print(f"\n(a) overview in Chromium, {p['loads']} loads ({p['bytes'] / 1024:.0f} KiB "
          "transferred)")
    print(f"    {'':28} {'median':>10} {'cold':>10}")
    for key, label in (("ttfb", "server answer (TTFB)"), ("response", "whole HTML received"),
                       ("fcp", "first contentful paint"), ("problems", "problems in the DOM"),
                       ("map", "map in the DOM"), ("load", "load event")):
        print(f"    {label:28} {_ms(p[f'{key}_median']):>10} {_ms(p['cold'][key]):>10}")
    print(f"    screenshot: {r.screenshot}")


def report_health(r: Results) -> None:
    h = r.health
    print(f"\n(b) GET /api/v1/health ({h['bytes'] / 1024:.0f} KiB; the server used "
          f"{h['server_cpu_share']:.2f} CPU meanwhile, its collections included)")
    for name in ("sequential", "concurrent"):
        row = h[name]
        print(f"    {name:11} {row['clients']} client(s) {row['requests']:5d} requests  "
              f"p50 {_ms(row['p50'])}  p99 {_ms(row['p99'])}  max {_ms(row['max'])}  "
              f"{row['per_second']:.0f}/s")


def report_history(r: Results) -> None:
    hi = r.history
    f = hi["fill"]
    print(f"\n(c) history: {f['samples']:,} samples of {f['series']} series over "
          f"{(f['end'] - f['start']) / 86400:.1f} days, written in {f['seconds']:.0f} s "
          f"({f['per_second']:,.0f}/s, {f['cpu_seconds']:.0f} CPU-s); store "
          f"{f['file_mb']:.0f} MiB")
    print(f"    (asked with a chart's step over the range, {hi['step']:.0f} s; the answer's "
          "step is the one used)")
    for key, label in (("one_series", "one series"), ("whole_metric", "whole metric"),
                       ("one_series_raw", "one series, raw")):
        row = hi[key]
        print(f"    range, {label:17} step {row['step']:6.0f} s  median {_ms(row['median'])}  "
              f"({row['series']} series, {row['points']:,} points, "
              f"{row['bytes'] / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
