"""How fast each store writes and reads a big cloud's full collection: SQLite, PostgreSQL.

Writes ``--cycles`` collections of ``--samples`` samples (a big cloud's run writes
~136,000 series: per-VM, per-port, per-volume and per-project series) with ``--checks``
check results, as the server does (one source's run), then times latest(), a range and
statistics over one series, latest_checks(), the /metrics exposition and prune().
Prints one line per figure and store, then the two side by side.

    python3 bench/store_write.py [--samples 136000] [--cycles 3] [--store sqlite|postgres|both]
        [--url postgresql://user:password@host:port/database]

Without ``--url`` a PostgreSQL 15 is started for the run (tests/servers.py: Debian's
``postgresql``, fsync off as in the tests; a production server syncs its WAL, which adds
to a write's commit, not to its statements). Wall time depends on what else the machine
runs: CPU time is printed beside it, this process's and the PostgreSQL server's (read
from /proc, so the server must run on this machine), and the ratios compare both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stackwatch.catalog.loader import default_catalog
from stackwatch.exposition import render
from stackwatch.model import CheckResult, Collection, Sample, Status, make_labels
from stackwatch.store.base import Store
from stackwatch.store.postgres import PostgresStore
from stackwatch.store.sqlite import SQLiteStore


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


def server_cpu(store: Store) -> Callable[[], float]:
    """CPU seconds the PostgreSQL server has used so far (its postmaster's processes, read
    from /proc: the server must run on this machine); 0 for SQLite, which runs in here."""
    if not isinstance(store, PostgresStore):
        return lambda: 0.0
    [(backend,)] = store._query("SELECT pg_backend_pid()")
    postmaster = int(Path(f"/proc/{backend}/stat").read_text().rpartition(")")[2].split()[1])
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster or stat.parent.name == str(postmaster):
                    total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    return used


def bench(store: Store, args: argparse.Namespace, kind: str) -> dict[str, tuple[float, float]]:
    """Run the figures on one store; print them; return (wall, CPU) seconds of each, CPU
    being this process's and the database server's (a loaded machine stretches wall
    times, CPU much less)."""
    figures: dict[str, tuple[float, float]] = {}
    server = server_cpu(store)

    def timed(what: str, call: Callable[[], object]) -> object:
        t0, c0, s0 = time.perf_counter(), time.process_time(), server()
        result = call()
        took, cpu, cpu_server = (time.perf_counter() - t0, time.process_time() - c0,
                                 server() - s0)
        figures[what] = (took, cpu + cpu_server)
        print(f"{kind:<10} {what}: {took:.3f} s wall, {cpu:.3f} s CPU here"
              + (f" + {cpu_server:.3f} s in the server" if kind == "postgres" else ""))
        return result

    start = time.time() - 3600
    for cycle in range(args.cycles):
        data = collection(args.samples, args.checks, start + 60 * cycle)
        kind_of = "first write (new series)" if cycle == 0 else f"write {cycle + 1} (known)"
        timed(kind_of, lambda data=data: store.write(data, "api.compute"))
    if isinstance(store, PostgresStore):
        # autovacuum analyzes the new tables within a minute of a big first write; until
        # then the planner guesses (latest_samples(name) was 20 times slower)
        store._query("ANALYZE")
    latest: list[Sample] = []
    for attempt in ("first", "again"):
        latest = timed(f"latest_samples() {attempt}", store.latest_samples)  # type: ignore[assignment]
    print(f"{kind:<10} {len(latest)} series latest")
    timed("latest_samples(name)", lambda: store.latest_samples("openstack_bench_metric_3"))
    labels = latest[0].labels
    timed("range + statistics of one series", lambda: (
        store.sample_range(latest[0].name, start - 1, time.time(), labels),
        store.statistics(latest[0].name, start - 1, time.time(), labels)))
    timed("latest_checks()", store.latest_checks)
    catalog = default_catalog()
    timed("/metrics exposition", lambda: render(store.latest_samples(), catalog))
    timed("prune() of the first cycle", lambda: store.prune(start + 30))
    return figures


@contextlib.contextmanager
def postgres_url(url: str | None) -> Iterator[str]:
    """The given URL, or one of a PostgreSQL started for the run."""
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from servers import start_postgres

    with start_postgres() as server:
        yield server.create_database("stackwatch_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=136_000)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database to use")
    args = parser.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(Path(tmp) / "bench.sqlite")
            results["sqlite"] = bench(store, args, "sqlite")
            store.close()
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
            print(f"sqlite     file size: {size / 2**20:.1f} MiB")
    if args.store in ("postgres", "both"):
        with postgres_url(args.url) as url:
            pg = PostgresStore(url)
            results["postgres"] = bench(pg, args, "postgres")
            pg.close()
    if len(results) == 2:
        print(f"\n{'seconds':<34} {'wall: sqlite':>12} {'postgres':>9} {'ratio':>6}"
              f" {'CPU: sqlite':>12} {'postgres':>9} {'ratio':>6}")
        for what, (wall, cpu) in results["sqlite"].items():
            pg_wall, pg_cpu = results["postgres"][what]
            print(f"{what:<34} {wall:>12.3f} {pg_wall:>9.3f} {pg_wall / wall:>6.1f}"
                  f" {cpu:>12.3f} {pg_cpu:>9.3f} {pg_cpu / max(cpu, 1e-3):>6.1f}")


if __name__ == "__main__":
    main()
