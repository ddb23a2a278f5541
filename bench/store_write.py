"""How fast the SQLite store writes and reads a big cloud's full collection.

Writes ``--cycles`` collections of ``--samples`` samples (a 3,000-VM cloud's
collection is ~200k samples: per-VM, per-port, per-volume and per-project
series) with ``--checks`` check results, then times latest(), a range and
statistics over one series, and prune(). Prints one line per figure.

    python3 bench/store_write.py [--samples 200000] [--cycles 3]

Wall time depends on what else the machine runs; CPU time is printed beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from prometheus_client import generate_latest

from stackwatch.catalog.loader import default_catalog
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.sqlite import SQLiteStore
from stackwatch.web.metrics import registry_for


def collection(samples: int, checks: int, when: float) -> Collection:
    """A collection shaped like a big cloud's: few metric names, many label sets."""
    names = [f"openstack_bench_metric_{i}" for i in range(20)]
    per_name = samples // len(names)
    out = [
        Sample(name, float(j % 97), make_labels(project=f"p{j % 3000}", id=f"r{j}"), when)
        for name in names for j in range(per_name)
    ]
    results = [
        CheckResult("nova_service", Status.OK, "up", make_labels(service="nova-compute",
                                                                    host=f"cmp{j}"), timestamp=when)
        for j in range(checks)
    ]
    return Collection(tuple(out), tuple(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.sqlite")
        start = time.time() - 3600
        for cycle in range(args.cycles):
            data = collection(args.samples, args.checks, start + 60 * cycle)
            t0, c0 = time.perf_counter(), time.process_time()
            store.write(data, "api.compute")  # as the server writes: one source's run
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            kind = "first (new series)" if cycle == 0 else "next (known series)"
            print(f"write {cycle + 1} {kind}: {len(data.samples)} samples + "
                  f"{len(data.checks)} checks in {took:.2f} s wall, {cpu:.2f} s CPU "
                  f"({len(data.samples) / took:,.0f} samples/s)")
        for attempt in ("first", "again"):
            t0 = time.perf_counter()
            latest = store.latest_samples()
            print(f"latest_samples() {attempt}: {len(latest)} series in "
                  f"{time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        one = store.latest_samples("openstack_bench_metric_3")
        print(f"latest_samples(name): {len(one)} series in {time.perf_counter() - t0:.3f} s")
        labels = latest[0].labels
        t0 = time.perf_counter()
        rng = store.sample_range(latest[0].name, start - 1, time.time(), labels)
        stats = store.statistics(latest[0].name, start - 1, time.time(), labels)
        print(f"range + statistics of one series: {len(rng)} samples, count="
              f"{stats.count if stats else 0} in {time.perf_counter() - t0:.3f} s")
        t0 = time.perf_counter()
        checks = store.latest_checks()
        print(f"latest_checks(): {len(checks)} in {time.perf_counter() - t0:.3f} s")
        registry = registry_for(store.latest_samples, default_catalog())
        t0 = time.perf_counter()
        body = generate_latest(registry)
        print(f"/metrics exposition: {len(body) / 2**20:.1f} MiB for {len(latest)} series in "
              f"{time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        removed = store.prune(start + 30)
        print(f"prune(): {removed} rows in {time.perf_counter() - t0:.2f} s")
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        print(f"file size: {size / 2**20:.1f} MiB for {args.cycles} cycles")
        store.close()


if __name__ == "__main__":
    main()
