"""What a Prometheus scrape of ``/metrics`` costs with 100,000 and 1,000,000 series.

    python3 bench/metrics_scrape.py [--series 100000,1000000] [--scrapes 20]
                                    [--store-url postgresql://...] [--json FILE]

For each size, as a user gets it: a store holding that many series, written through
the store's own write path (per-server and per-port series of an OpenStack cloud:
five to seven labels each, uuids among them), and a real ``stackwatch server``
(the CLI, in its own process) over it. Measured over HTTP from this process:

* the first scrape after the server started: the rendering it pays once per store
  change (a running server renders after its own writes, so its scrapes find the body
  ready; this is the figure for a store written by someone else);
* then ``--scrapes`` scrapes: median and p99 (the steady state a Prometheus sees between
  two collections), plain and with ``Accept-Encoding: gzip``;
* in this process, on the same series read from the same store: prometheus_client's own
  rendering (its ``Metric`` families and ``generate_latest``, what ``/metrics`` did
  before) beside stackwatch's :func:`~stackwatch.exposition.render`, each the median
  of three.

The body's series are counted against what was written. Goal (issue 16): a scrape of
100,000 series in <= 200 ms, p99 of scrapes as Prometheus makes them (it asks for gzip by
default); the plain ones are printed beside, their time mostly the client reading
24 MB. The machine's load is printed beside the figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import StoreConfig
from stackwatch.exposition import render, render_rows, render_with_prometheus_client
from stackwatch.model import Collection, Sample, make_labels
from stackwatch.store.opening import open_store
from subprocs import free_port, stop

CLI = [sys.executable, "-c", "from stackwatch.cli import main; main()"]
GOAL_MS = 200.0
STATUSES = ("ACTIVE", "SHUTOFF", "ERROR", "BUILD")


def uuid_like(n: int, salt: int) -> str:
    digits = f"{n * 2654435761 + salt:032x}"[-32:]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"


def cloud_series(count: int, now: float) -> list[Sample]:
    """Per-server status and per-port series, as a cloud of ``count`` / 2 servers has."""
    out: list[Sample] = []
    for n in range(count // 2):
        server, project = uuid_like(n, 1), uuid_like(n % 500, 2)
        out.append(Sample("openstack_nova_server_status", float(n % 4), make_labels(
            id=server, name=f"vm-{n}", tenant_id=project, status=STATUSES[n % 4],
            hypervisor_hostname=f"cmp{n % 1000:04d}", flavor_id=f"m1.{n % 5}"), now))
        out.append(Sample("openstack_neutron_port", 1.0, make_labels(
            uuid=uuid_like(n, 3), network_id=uuid_like(n % 300, 4), device_id=server,
            device_owner="compute:nova", mac_address=f"fa:16:3e:{n >> 16 & 255:02x}:"
            f"{n >> 8 & 255:02x}:{n & 255:02x}", admin_state_up="true", binding_vif_type="ovs"),
            now))
    return out[:count]


def write_store(config: StoreConfig, samples: list[Sample]) -> float:
    store = open_store(config)
    started = time.perf_counter()
    try:
        for i in range(0, len(samples), 50_000):  # writes without a source stay current
            store.write(Collection(tuple(samples[i:i + 50_000])))
    finally:
        store.close()
    return time.perf_counter() - started


def get(url: str, zipped: bool = False) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if zipped else {})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    elapsed = time.perf_counter() - started
    return elapsed, gzip.decompress(body) if zipped else body


def start_server(workdir: Path, store: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {"clouds": [{"name": "bench", "disable": ["api", "sql", "logs", "infra"]}],
              "store": store, "web": {"listen": f"127.0.0.1:{port}"},
              # series stay current for three intervals: the written ones must not age
              # out while the bench scrapes (a million take minutes to write)
              "intervals": {"api": 3600}}
    path = workdir / "stackwatch.yaml"
    path.write_text(yaml.safe_dump(config))
    server = subprocess.Popen([*CLI, "server", "--config", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v1/sources", timeout=5).read()
            return server, url
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise SystemExit("stackwatch server did not answer within 120 s")


def median_of(runs: int, work: Any) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(count: int, scrapes: int, store_url: str | None) -> dict[str, Any]:
    catalog = default_catalog()
    with tempfile.TemporaryDirectory(prefix="sw-scrape-") as tmp:
        workdir = Path(tmp)
        store: dict[str, Any] = {"path": str(workdir / "store.sqlite")}
        if store_url:
            store["url"] = store_url
        samples = cloud_series(count, time.time())
        wrote = write_store(StoreConfig(**store), samples)
        del samples
        server, url = start_server(workdir, store)
        try:
            first, body = get(f"{url}/metrics")
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            plain = [get(f"{url}/metrics")[0] for _ in range(scrapes)]
            first_gzip, zipped_body = get(f"{url}/metrics", zipped=True)
            zipped = [get(f"{url}/metrics", zipped=True)[0] for _ in range(scrapes)]
            assert zipped_body == get(f"{url}/metrics")[1]
        finally:
            stop(server)
        reader = open_store(StoreConfig(**store))
        try:
            latest = reader.latest_samples()
            read = median_of(3, reader.latest_samples)
            rows = median_of(3, lambda: render_rows(reader.latest_rows(), catalog))
        finally:
            reader.close()
        library = median_of(3, lambda: render_with_prometheus_client(latest, catalog))
        ours = median_of(3, lambda: render(latest, catalog))
    plain.sort()
    zipped.sort()
    return {
        "series": count, "series_in_body": series, "body_mb": len(body) / 1e6,
        "store": "postgresql" if store_url else "sqlite", "write_s": wrote,
        "first_scrape_ms": first * 1000, "first_gzip_scrape_ms": first_gzip * 1000,
        "scrape_p50_ms": statistics.median(plain) * 1000,
        "scrape_p99_ms": plain[min(len(plain) - 1, int(len(plain) * 0.99))] * 1000,
        "gzip_scrape_p50_ms": statistics.median(zipped) * 1000,
        "gzip_scrape_p99_ms": zipped[min(len(zipped) - 1, int(len(zipped) * 0.99))] * 1000,
        "store_read_ms": read * 1000, "prometheus_client_render_ms": library * 1000,
        "stackwatch_render_ms": ours * 1000, "rows_read_and_render_ms": rows * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", default="100000,1000000")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--store-url", default=None, help="a PostgreSQL store instead")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for count in (int(n) for n in args.series.split(",")):
        print(f"{count:,} series: writing the store, starting stackwatch server...",
              file=sys.stderr)
        result = measure(count, args.scrapes, args.store_url)
        result["load"] = os.getloadavg()[0]
        results.append(result)
    print(f"machine: {os.cpu_count()} CPUs")
    print(f"{'series':>10} {'body':>8} {'first':>8} {'p50':>7} {'p99':>7} {'gzip p50':>9} "
          f"{'gzip p99':>9} {'read':>7} {'p_c render':>10} {'sw render':>10} {'rows':>8} "
          f"{'write':>7} {'load':>5}  goal")
    for r in results:
        goal = "-" if r["series"] > 100_000 else (
            "met" if r["gzip_scrape_p99_ms"] <= GOAL_MS else "MISSED")
        print(f"{r['series']:>10,} {r['body_mb']:>6.1f}MB {r['first_scrape_ms']:>6.0f}ms "
              f"{r['scrape_p50_ms']:>5.1f}ms {r['scrape_p99_ms']:>5.1f}ms "
              f"{r['gzip_scrape_p50_ms']:>7.1f}ms {r['gzip_scrape_p99_ms']:>7.1f}ms "
              f"{r['store_read_ms']:>5.0f}ms "
              f"{r['prometheus_client_render_ms']:>8.0f}ms {r['stackwatch_render_ms']:>8.0f}ms "
              f"{r['rows_read_and_render_ms']:>6.0f}ms {r['write_s']:>6.1f}s "
              f"{r['load']:>5.1f}  {goal}")
        if r["series_in_body"] < r["series"]:
            print(f"  only {r['series_in_body']:,} of {r['series']:,} series in the body!")
    print("first: the scrape that renders; p50/p99: the scrapes after it, plain and as "
          "Prometheus scrapes (Accept-Encoding: gzip, its default; the goal's figure); "
          "read: the store's "
          "latest_samples(); p_c render: prometheus_client's generate_latest over the same "
          "series (what /metrics did before); sw render: stackwatch's render() of the "
          "samples read; rows: the store's latest_rows() read and rendered as they are "
          "stored (what /metrics does now: read and render in one); write: the store's "
          "write of the series")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
