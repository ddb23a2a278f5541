"""Log parsing throughput through the CLI, on real logs in their real proportions.

Builds a corpus from the project's recorded real logs (``--recorded``, default
``tests/data/recorded/logs``: what ``scripts/`` recorded from the real control plane)
with ``bench/logs_corpus.py``: whole records (tracebacks with their head), each file
repeated to its share of ``--lines`` with shifted timestamps and request ids. Then
runs the commands a user runs, as subprocesses, and prints lines/s in wall time and
per CPU-second (user + system of the subprocess, ``RUSAGE_CHILDREN``: less sensitive
to what else the machine runs than wall time):

* tail mode end to end: ``stackwatch collect --once -s logs`` over the corpus, every
  ``logs.<service>`` source parsing its backlog and writing the request index into the
  store; then ``stackwatch trace`` of one request, whose first call builds the index's
  deferred secondary indexes (timed apart, and together with the collection);
* backfill: ``stackwatch logs backfill`` (compiled, the default; after an untimed run on
  one file that compiles the kernels or loads them from numba's cache), and with
  ``--engine python``;
* baseline: a naive loop in this process, one ``re.match`` per line and pattern, doing
  the tail mode's work.

Records by level from the collection and from the backfill must equal an independent
count (``logs_corpus.independent_levels``); the benchmark says so and exits 1 if not.

Usage: ``python bench/logs_throughput.py [--lines 2000000] [--recorded DIR]
[--workdir DIR] [--modes tail,backfill,python,baseline]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from logs_corpus import Corpus, build, independent_levels, traceback_share
from stackwatch.logparse.engine import IndexRow
from stackwatch.logparse.tally import new_histogram, observe
from stackwatch.logparse.timestamps import iso_epoch
from stackwatch.logparse.urls import TemplateCache

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "tests" / "data" / "recorded" / "logs"
CLI = (sys.executable, "-c", "import sys; from stackwatch.cli import main; sys.exit(main())")


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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(*args: str, out: Path | None = None) -> tuple[float, float]:
    """Run ``stackwatch ARGS``; return (wall seconds, CPU seconds of the process)."""
    cpu, wall = _children_cpu(), time.perf_counter()
    with open(out or os.devnull, "wb") as stdout:
        done = subprocess.run([*CLI, *args], stdout=stdout, stderr=subprocess.PIPE,
                              check=False)
    wall, cpu = time.perf_counter() - wall, _children_cpu() - cpu
    if done.returncode not in (0, 1):
        raise SystemExit(f"stackwatch {' '.join(args)} exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return wall, cpu


def report(label: str, seconds: float, lines: int, size: int, clock: str) -> None:
    print(f"{label:<46} {lines / seconds:>12,.0f} lines/s {size / seconds / 1e6:>8.1f} MB/s"
          f"   ({lines:,} lines in {seconds:.2f} s {clock})")


def report_both(label: str, wall: float, cpu: float, corpus: Corpus) -> None:
    report(label, wall, corpus.lines, corpus.size, "wall")
    report(label, cpu, corpus.lines, corpus.size, "CPU")


def write_config(workdir: Path, root: Path) -> Path:
    """A stackwatch.yaml: one cloud whose logs are the corpus, the store in ``workdir``."""
    config = workdir / "stackwatch.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "clouds": [{"name": "bench", "logs": {"root": str(root)}}],
        "intervals": {"logs": 3600}, "timeouts": {"logs": 3600},
        "store": {"path": str(workdir / "store.sqlite")},
    }))
    return config


def tail_levels(output: Path) -> tuple[Counter[str], int]:
    """Records by level and lines read, from ``collect --format json``'s samples."""
    levels: Counter[str] = Counter()
    lines = 0
    for sample in json.loads(output.read_text())["samples"]:
        if sample["name"] == "openstack_log_records_total":
            levels[sample["labels"]["level"]] += int(sample["value"])
        elif sample["name"] == "openstack_log_lines_total":
            lines += int(sample["value"])
    return levels, lines


def store_levels(store: Path) -> Counter[str]:
    """Records by level that ``logs backfill`` stored."""
    with sqlite3.connect(store) as conn:
        return Counter({level: int(n) for level, n in conn.execute(
            "SELECT level, sum(records) FROM log_hourly_records GROUP BY level")})


def some_request(corpus: Corpus) -> str:
    """A request id of the corpus (for ``stackwatch trace``)."""
    for path in corpus.files:
        found = re.search(rb"req-[0-9a-f-]{36}", path.read_bytes()[:1 << 20])
        if found:
            return found.group().decode()
    return "req-00000000-0000-0000-0000-000000000000"


def check(label: str, got: Counter[str], truth: Counter[str]) -> bool:
    same = +got == +truth
    print(f"{'':<46} records by level, {label}: {dict(sorted(got.items()))} "
          f"{'= the independent count' if same else '!= the independent count'}")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--recorded", type=Path, default=RECORDED,
                        help="recorded real logs (default: tests/data/recorded/logs)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--modes", default="tail,backfill,python,baseline",
                        help="comma-separated: tail, backfill, python, baseline")
    args = parser.parse_args()
    modes = set(args.modes.split(","))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stackwatch-bench-logs-"))
    if workdir.exists() and args.workdir is not None:
        shutil.rmtree(workdir)  # the corpus, the store and the checkpoints, anew
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    corpus = build(args.recorded, workdir / "log", args.lines)
    print(f"machine: {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared: CPU times are the "
          "fair figures)")
    print(f"corpus: {corpus.lines:,} lines, {corpus.size / 1e6:.0f} MB in {len(corpus.files)} "
          f"files from {args.recorded} ({traceback_share(corpus.files):.0%} of the lines "
          f"continue a record: tracebacks; built in {time.perf_counter() - started:.1f} s)")
    if corpus.left_out:
        print(f"  not in the corpus (no default glob takes them): {', '.join(corpus.left_out)}")
    truth = independent_levels(corpus.files)
    print(f"independent count, records by level: {dict(sorted(truth.items()))}")
    for path in corpus.files:  # the page cache warm: every mode reads from memory
        path.read_bytes()
    config = write_config(workdir, workdir / "log")
    same = True
    if "tail" in modes:
        output = workdir / "collect.json"
        wall = cpu = 0.0
        runs = lines = 0
        while lines < corpus.lines and runs < 10:  # a poll reads 1 GiB of a file at most
            took = run_cli("collect", "--once", "-s", "logs", "--config", str(config),
                           "--format", "json", out=output)
            wall, cpu, runs = wall + took[0], cpu + took[1], runs + 1
            levels, lines = tail_levels(output)  # cumulative counters: the checkpoints'
        report_both("tail mode: collect -s logs, request index", wall, cpu, corpus)
        if runs > 1:
            print(f"{'':<46} in {runs} collections (a poll reads 1 GiB of a file at most)")
        if lines != corpus.lines:
            print(f"{'':<46} read {lines:,} lines of {corpus.lines:,}")
            same = False
        trace_wall, trace_cpu = run_cli("trace", some_request(corpus), "--config",
                                        str(config))
        print(f"{'':<46} first trace (builds the index's secondary indexes): "
              f"{trace_wall:.2f} s wall, {trace_cpu:.2f} s CPU")
        report_both("tail mode + first trace", wall + trace_wall, cpu + trace_cpu, corpus)
        with sqlite3.connect(workdir / "store.sqlite") as conn:
            rows = conn.execute("SELECT count(*) FROM log_records").fetchone()[0]
        print(f"{'':<46} request index: {rows:,} records, "
              f"{(workdir / 'store.sqlite').stat().st_size / 1e6:.0f} MB")
        same &= check("tail mode", levels, truth)
    if "backfill" in modes:
        warm = workdir / "warm"
        warm.mkdir()
        shutil.copy(corpus.files[0], warm / corpus.files[0].name)
        wall, start = run_cli("logs", "backfill", "--store", str(workdir / "warm.sqlite"),
                              "--host", "ctl1", str(warm))
        print(f"{'backfill: kernels compiled or loaded, once':<46} {wall:.2f} s wall, "
              f"{start:.2f} s CPU on one small file (the start-up: Python, imports, numba)")
        store = workdir / "backfill.sqlite"
        wall, cpu = run_cli("logs", "backfill", "--store", str(store), "--host", "ctl1",
                            str(workdir / "log"))
        report_both("backfill: logs backfill (compiled)", wall, cpu, corpus)
        if cpu > start:
            report("backfill (compiled) beyond its start-up", cpu - start, corpus.lines,
                   corpus.size, "CPU, less the small file's run")
        same &= check("backfill", store_levels(store), truth)
    if "python" in modes:
        store = workdir / "backfill-python.sqlite"
        wall, cpu = run_cli("logs", "backfill", "--engine", "python", "--store", str(store),
                            "--host", "ctl1", str(workdir / "log"))
        report_both("backfill: logs backfill --engine python", wall, cpu, corpus)
        same &= check("backfill python", store_levels(store), truth)
    if "baseline" in modes:
        cpu, lines = naive(list(corpus.files))
        report("baseline: naive per-line regex loop", cpu, lines, corpus.size, "CPU")
    print(f"machine load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.workdir is None:
        shutil.rmtree(workdir)
    if not same:
        raise SystemExit("records by level differ from the independent count")


if __name__ == "__main__":
    main()
