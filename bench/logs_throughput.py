"""Log parsing throughput: tail mode on one core, backfill mode, and a naive baseline.

Generates a mixed set of OpenStack logs with the simulator's log writer (nova,
keystone Apache access, placement, neutron and cinder eventlet, glance, HAProxy,
libvirt) plus the recorded real logs of ``../shared/reference/logs`` (tracebacks,
WARNINGs, gunicorn, RabbitMQ, MariaDB), repeated until there are ``--lines``
lines, then reads the same files three ways and prints lines/s and MB/s:

* tail mode: every ``logs.<service>`` source's ``collect()`` in this one process
  (full parsing, counters, histograms, request-index rows), CPU time of one core;
  once more with the request index written to SQLite;
* backfill mode, the Python reference: ``stackwatch logs backfill --engine python``'s
  parser over worker processes (hourly aggregates), wall and CPU time;
* backfill mode, the compiled fast path (``--engine compiled``, the default): numba
  kernels on threads, wall and CPU time (after a warm-up that compiles the kernels or
  loads them from numba's cache, timed apart), and a check that it counted the same
  lines, requests and records as the reference; then once more on the files
  gzip-compressed (MB/s are of the uncompressed content);
* baseline: a naive loop, one ``re.match`` per line with one pattern per format,
  same counters.

Usage: ``python bench/logs_throughput.py [--lines 2000000] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from stackwatch.config import CloudConfig, LogsConfig
from stackwatch.logparse.engine import IndexRow
from stackwatch.logparse.engine import warm_up as warm_up_tail
from stackwatch.logparse.tally import new_histogram, observe
from stackwatch.logparse.timestamps import iso_epoch
from stackwatch.logparse.urls import TemplateCache
from stackwatch.sources.logs import build_log_sources
from stackwatch.sources.logs.backfill import FileResult, backfill
from stackwatch.sources.logs.compiled import CompiledBackfill, backfill_compiled, warm_up
from stackwatch.store.request_index import RequestIndex

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "logs"
# reference file -> where it goes in the standard layout (a file the default globs take)
REFERENCE_FILES = {
    "nova-compute-1.log": "nova/nova-compute-ref.log",
    "nova-conductor.log": "nova/nova-conductor-ref.log",
    "nova-api.log": "nova/nova-api-ref.log",
    "keystone.log": "keystone/keystone-ref.log",
    "neutron-server.log": "neutron/neutron-ref.log",
    "cinder-api.log": "cinder/cinder-ref.log",
    "glance-api.log": "glance/glance-ref.log",
    "placement-api.log": "placement/placement-ref.log",
    "nova-api-gunicorn.log": "nova/nova-api-gunicorn.log",
    "rabbitmq.stdout": "rabbitmq/rabbit@ctl1.log",
    "mariadb.stdout": "mysql/error.log",
}


def generate(root: Path, lines: int) -> tuple[int, int]:
    """Write the corpus under ``root``; return (lines, bytes)."""
    from datetime import UTC, datetime, timedelta

    from stackwatch.sim.generate import Sizing, generate
    from stackwatch.sim.logwriter import LogWriter
    from stackwatch.sim.state import CloudState
    from stackwatch.sim.traffic import TrafficGenerator

    state = CloudState()
    generate(state, Sizing.for_size("small"), seed=7, base_url="http://x", admin_password="p")
    writer = LogWriter(root, state, host="ctl1", seed=3).start()
    traffic = TrafficGenerator(writer, state, seed=5)
    traffic.emit(40_000)
    writer.inject("auth-401-storm", {"count": "500"})
    writer.inject("api-5xx-burst", {"service": "compute", "count": "200"})
    now = datetime.now(UTC)
    for minute in range(0, 24 * 60, 5):
        writer.periodic(now + timedelta(minutes=minute))
    writer.close()
    for name, target in REFERENCE_FILES.items():
        if (REFERENCE / name).exists():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REFERENCE / name, root / target)
    files = [p for p in root.rglob("*") if p.is_file()]
    base = sum(p.read_bytes().count(b"\n") for p in files)
    copies = -(-lines // base)
    for path in files:
        data = path.read_bytes()
        path.write_bytes(data * copies)
    return base * copies, sum(p.stat().st_size for p in files)


class CountingSink:
    """A request-index sink that only counts (the parse cost without SQLite's)."""

    def __init__(self) -> None:
        self.rows = 0

    def add(self, service: str, host: str, stream: int, rows: list[IndexRow]) -> int:
        self.rows += len(rows)
        return len(rows)

    def prune(self, older_than: float) -> int:
        return 0


def tail_mode(root: Path, checkpoints: Path, index: object) -> tuple[float, float, int]:
    cloud = CloudConfig(name="bench", logs=LogsConfig(root=root))
    sources = build_log_sources(cloud, checkpoints, host="ctl1", index=index)  # type: ignore[arg-type]
    cpu, wall = time.process_time(), time.perf_counter()
    for source in sources:
        source.collect()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    lines = int(sum(s.total.line_total() for s in sources))
    return cpu, wall, lines


NAIVE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("oslo", re.compile(
        r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (\d+) ([A-Z]+) (\S+) (?:\[([^\]]*)\] )?"
        r"(?:\[instance: ([0-9a-f-]{36})\] )?(.*)$")),
    ("access", re.compile(
        r'^(\S+) \S+ \S+ \[([^\]]+)\] "([A-Z]+) ([^ ?"]*)\S* HTTP/[\d.]+" (\d{3}) (\S+) '
        r'"[^"]*" "[^"]*" (\S+)$')),
    ("haproxy", re.compile(
        r"^\w{3} +\d+ [\d:]+ (\S+) haproxy\[\d+\]: (\S+):\d+ \[([^\]]+)\] (\S+) ([^/ ]+)/(\S+) "
        r'[-\d]+/[-\d]+/[-\d]+/[-\d]+/\+?(\d+) (\d{3}) .*"([A-Z]+) ([^ ?"]*)')),
    ("libvirt", re.compile(r"^(\S+ \S+): (\d+): (\w+) : (.*)$")),
)
NAIVE_REQUEST = re.compile(r'(\S+) "([A-Z]+) ([^ ?"]*)\S*(?: HTTP/[\d.]+)?" status: (\d{3})'
                           r"\s+len: (\d+)(?: microversion: \S+)?(?: time: ([\d.]+))?")
NAIVE_CONTEXT = re.compile(r"^(?:(None|req-\S+) )?(req-\S+)")
NAIVE_UUID = re.compile(r"/servers/([0-9a-f-]{36})")


def naive(files: list[Path]) -> tuple[float, int]:
    """One re.match per line and per pattern until one fits, producing what the tail mode
    produces: requests, histograms (oslo request lines, access, HAProxy Ta), records by
    level, and a request-index row for every record with a request id or instance."""
    template = TemplateCache()
    requests: dict[tuple[str, str, str], int] = {}
    durations: dict[tuple[str, str], list[float]] = {}
    proxy: dict[tuple[str, str, str, str, str], int] = {}
    proxy_time: dict[tuple[str, str, str], list[float]] = {}
    levels: dict[str, int] = {}
    rows: list[IndexRow] = []
    unparsed = 0
    lines = 0
    cpu = time.process_time()
    for path in files:
        offset = 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                lines += 1
                here = offset
                offset += len(line)
                for kind, pattern in NAIVE_PATTERNS:
                    match = pattern.match(line)
                    if match is None:
                        continue
                    if kind == "oslo":
                        stamp, _, level, logger, context, instance, message = match.groups()
                        if context is None:
                            break  # a traceback line: part of the record above
                        levels[level] = levels.get(level, 0) + 1
                        ids = NAIVE_CONTEXT.match(context)
                        request = NAIVE_REQUEST.match(message)
                        if request is not None:
                            method, path_, status = request.group(2, 3, 4)
                            key = (method, template(path_), status)
                            requests[key] = requests.get(key, 0) + 1
                            if request.group(6):
                                observe(durations.setdefault(key[:2], new_histogram()),
                                        float(request.group(6)))
                            if instance is None:
                                found = NAIVE_UUID.search(path_)
                                instance = found.group(1) if found else None
                        if ids is not None or instance:
                            rows.append(IndexRow(
                                here, iso_epoch(stamp), level, logger,
                                ids.group(2) if ids else "",
                                ids.group(1) if ids and ids.group(1) != "None" else "",
                                instance or "", message))
                    elif kind == "access":
                        key = (match.group(3), template(match.group(4)), match.group(5))
                        requests[key] = requests.get(key, 0) + 1
                        observe(durations.setdefault(key[:2], new_histogram()),
                                float(match.group(7)) / 1e6)
                    elif kind == "haproxy":
                        host, _, _, front, back, server, total, status = match.groups()[:8]
                        pkey = (host, front, back, server, status)
                        proxy[pkey] = proxy.get(pkey, 0) + 1
                        observe(proxy_time.setdefault(pkey[:3], new_histogram()),
                                int(total) / 1000)
                    else:
                        levels[match.group(3)] = levels.get(match.group(3), 0) + 1
                    break
                else:
                    unparsed += 1
    return time.process_time() - cpu, lines


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _headroom() -> float:
    """How much faster two threads hash than one, right now (what the wall times can show)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    data = b"x" * (64 << 20)
    times = []
    for threads in (1, 2):
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: hashlib.sha256(data).digest(), range(4)))
        times.append(time.perf_counter() - started)
    return times[0] / times[1]


def _totals(results: list[FileResult]) -> tuple[int, int, int]:
    """(lines, requests, records) of a backfill, all hours together."""
    tallies = [t for r in results for t in r.hours.values()]
    return (sum(r.lines for r in results), sum(sum(t.requests.values()) for t in tallies),
            sum(sum(t.records.values()) for t in tallies))


def report(label: str, seconds: float, lines: int, size: int, clock: str) -> None:
    print(f"{label:<44} {lines / seconds:>12,.0f} lines/s {size / seconds / 1e6:>8.1f} MB/s"
          f"   ({lines:,} lines in {seconds:.2f} s {clock})")


def timed_backfill(label: str, over: str, size: int,
                   run: Callable[[], Iterable[FileResult]]) -> list[FileResult]:
    """Run a backfill; report its lines/s and MB/s in wall time and in CPU time (``over``:
    the processes or threads that CPU time is summed over)."""
    cpu, wall = _cpu(), time.perf_counter()
    results = list(run())
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    lines = sum(r.lines for r in results)
    report(label, wall, lines, size, "wall")
    report(label, cpu, lines, size, f"CPU over {over}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--modes", default="tail,index,backfill,compiled,gz,baseline",
                        help="comma-separated: tail, index, backfill, compiled (or its former "
                             "name columnar), gz, baseline")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stackwatch-bench-logs-"))
    root = workdir / "log"
    # a re-used work directory: the corpus is written anew, so old checkpoints and index go
    for stale in ("cp1", "cp2", "store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "gz"):
        target = workdir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    started = time.perf_counter()
    total_lines, size = generate(root, args.lines)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other work shares them: CPU times are the fair figures)")
    print(f"parallel headroom now: a GIL-free hash on 2 threads ran {_headroom():.2f}x as fast "
          "as on 1 (2.0 = two idle cores)")
    print(f"corpus: {total_lines:,} lines, {size / 1e6:.0f} MB in {len(files)} files under "
          f"{root} (generated in {time.perf_counter() - started:.1f} s)")
    for path in files:  # warm the page cache so every mode reads from memory
        path.read_bytes()

    modes = set(args.modes.split(","))
    if "columnar" in modes:  # the fast engine's former name
        modes.add("compiled")
    if "tail" in modes:
        cpu, wall = time.process_time(), time.perf_counter()
        warm_up_tail()  # once per process: numba's import, the kernels from the disk cache
        print(f"{'tail mode: batch kernels loaded, once':<44} {time.process_time() - cpu:.2f} s "
              f"CPU, {time.perf_counter() - wall:.2f} s wall (not in the figures below)")
        sink = CountingSink()
        cpu, wall, lines = tail_mode(root, workdir / "cp1", sink)
        assert lines == total_lines, (lines, total_lines)
        report("tail mode, 1 core (index rows kept)", cpu, lines, size, "CPU")
        report("tail mode, 1 core (index rows kept)", wall, lines, size, "wall")
    if "index" in modes:
        index = RequestIndex(workdir / "store.sqlite")
        cpu, wall, lines = tail_mode(root, workdir / "cp2", index)
        report("tail mode, 1 core + SQLite request index", cpu, lines, size, "CPU")
        print(f"{'':<44} request index: {index.count():,} records, "
              f"{(workdir / 'store.sqlite').stat().st_size / 1e6:.0f} MB")
        index.close()
    totals: dict[str, tuple[int, int, int]] = {}
    if "backfill" in modes:
        warm_up_tail()  # the reference's kernels compiled (cached on disk) before timing
    for workers in sorted({1, args.workers}) if "backfill" in modes else ():
        results = timed_backfill(f"backfill python, {workers} process(es)",
                                 f"{workers} process(es)", size,
                                 partial(backfill, [root], workers=workers, host="ctl1"))
        totals["python"] = _totals(results)
    if modes & {"compiled", "gz"}:
        print(f"{'':<44} kernels compiled or loaded from numba's cache in {warm_up():.2f} s "
              "(once per process, not in the figures below)")
    for threads in sorted({1, args.workers}) if "compiled" in modes else ():
        engine = CompiledBackfill(threads)
        results = timed_backfill(f"backfill compiled, {threads} thread(s)",
                                 f"{threads} thread(s)", size,
                                 partial(backfill_compiled, [root], host="ctl1",
                                         engine=engine))
        totals["compiled"] = _totals(results)
        print(f"{'':<44} {len(engine.fallbacks)} of {len(files)} files whole to the "
              f"reference parser (formats it does not take)")
    if "gz" in modes:  # the same corpus as logrotate leaves it: each file gzip-compressed
        packed = workdir / "gz"
        for path in files:
            target = packed / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_name(target.name + ".1.gz").write_bytes(
                gzip.compress(path.read_bytes(), compresslevel=1))
        timed_backfill(f"backfill compiled, .gz files, {args.workers} thread(s)",
                       f"{args.workers} thread(s)", size,
                       partial(backfill_compiled, [packed], host="ctl1",
                               threads=args.workers))
    if len(totals) == 2:
        same = totals["python"] == totals["compiled"]
        print(f"{'':<44} compiled = python in lines, requests, records: {same} "
              f"{totals['compiled']}")
    if "baseline" in modes:
        cpu, lines = naive(files)
        report("baseline: naive per-line regex loop, same work", cpu, lines, size, "CPU")
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
