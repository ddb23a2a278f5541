"""A fleet of agents pushing into one server: accepted batches/s, ingest latency, backlog.

Starts a real ``stackwatch server`` (``server.accept_agents``, its store: SQLite in a
temporary directory; ``--store postgres``: a PostgreSQL 15 started for the run as the
tests start it; or ``--store postgresql://user:password@host/db``, an empty database) and
``--agents`` simulated agents, coroutines spread over ``--processes`` worker processes.
Each agent makes one batch every ``--interval`` seconds (at its own phase) shaped like
a node's checks (``--samples`` samples, ``--checks`` checks, encoded by the agent's own
``wire.encode_batch``), keeps it in its queue and pushes what waits (up to
``--batch-size`` a push) with an agent token, over its own kept-alive connection; a
failed push is retried at its next tick. Every 10 s it prints the batches made and
accepted per second, p50/p99 ingest latency (from the agents' side: request sent to
answer read), the backlog (batches waiting in agents' queues), the machine's load and
the server's CPU and memory. At the end it stops making batches, lets the queues drain,
and checks with ``GET /api/v1/agents`` that the server holds every batch, once.
With ``--outage S`` the server is killed (SIGKILL) at ``--outage-at`` seconds for S
seconds, then started again on the same store: the backlog grows, then drains.

    python3 bench/fleet.py [--agents 500] [--duration 300] [--interval 10]
                           [--outage 60 [--outage-at 60]]

Goal (issue 11): no backlog growth, nothing lost, p99 under 1 s. The machine's load is
printed beside the figures: the agents' own processes share it with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from stackwatch.agent.wire import encode_batch, encode_push
from stackwatch.config import StoreConfig
from stackwatch.model import CheckResult, Collection, PerfDatum, Sample, Status, make_labels
from stackwatch.redact import redact
from stackwatch.store.base import Role
from stackwatch.store.opening import open_token_store
from stackwatch.tokens import issue

SERVICES = ("nova-compute", "libvirtd", "neutron-ovn-metadata-agent", "ovn-controller",
            "ovs-vswitchd", "ovsdb-server", "chronyd", "sshd", "rsyslogd", "collectd")
REPORT_S = 10.0


def node_batch(host: str, seq: int, samples: int, checks: int, now: float) -> bytes:
    """One run of a node's checks: process counts, ports, disks, load, memory, network."""
    rng = random.Random(f"{host}:{seq}")
    out: list[Sample] = []
    for i in range(samples):
        kind = i % 5
        if kind == 0:
            out.append(Sample("stackwatch_process_count", float(rng.randint(1, 8)), make_labels(
                host=host, service=SERVICES[i // 5 % len(SERVICES)], process=f"p{i}"), now))
        elif kind == 1:
            out.append(Sample("stackwatch_host_filesystem_used_ratio", rng.random(),
                              make_labels(host=host, mount=f"/m{i}"), now))
        elif kind == 2:
            out.append(Sample("stackwatch_host_network_receive_bytes_total",
                              float(seq * 1_000_000 + rng.randint(0, 999_999)),
                              make_labels(host=host, interface=f"eth{i}"), now))
        elif kind == 3:
            out.append(Sample("stackwatch_host_load_per_cpu", rng.random() * 2,
                              make_labels(host=host, period=str(i)), now))
        else:
            out.append(Sample("stackwatch_port_listening", 1.0, make_labels(
                host=host, service=SERVICES[i // 5 % len(SERVICES)], port=str(5000 + i)), now))
    results = []
    for i in range(checks):
        status = Status.WARNING if rng.random() < 0.02 else Status.OK
        service = SERVICES[i % len(SERVICES)]
        results.append(CheckResult(
            "node.process" if i % 2 == 0 else "node.port", status,
            f"{service}: {rng.randint(1, 8)} running", make_labels(host=host, service=service,
                                                                    check=str(i)),
            (PerfDatum("running", float(rng.randint(1, 8)), minimum=0),), now))
    collection = Collection(tuple(out), tuple(results))
    return encode_batch(seq, host, "node.bench", False, now, collection)


# ------------------------------------------------------------------ the agents
@dataclass
class Window:
    """What one worker saw since its last report."""

    made: int = 0
    accepted: int = 0
    duplicates: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)


class SimAgent:
    """One agent: a batch each interval into its queue, pushed as the real agent pushes:
    what waits, oldest first, back to back; after a failure, again after a backoff
    doubling from 1 s to ``--retry-max`` with jitter (``stackwatch.agent.sender``)."""

    def __init__(self, index: int, args: argparse.Namespace, window: Window) -> None:
        self.id = f"bench-{index:05d}"
        self.host = f"cmp-{index:05d}"
        self.args = args
        self.window = window
        self.queue: list[tuple[int, bytes]] = []
        self.seq = 0
        self.making = True
        self.delay = 0.0

    async def _push(self, session: aiohttp.ClientSession, url: str,
                    headers: dict[str, str]) -> bool:
        """Push what waits; False at the first failure (the rest kept)."""
        while self.queue:
            chunk = self.queue[:self.args.batch_size]
            body = encode_push(self.id, [data for _, data in chunk])
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status, answer = 0, b""
            if status != 200:
                self.window.failures += 1
                return False
            self.window.latencies.append(time.perf_counter() - started)  # answered pushes
            ack = json.loads(answer)
            self.window.accepted += len(ack["accepted"])
            self.window.duplicates += len(ack["duplicates"])
            del self.queue[:len(chunk)]
        return True

    async def run(self, session: aiohttp.ClientSession, url: str, token: str,
                  stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        loop = asyncio.get_running_loop()
        next_make = loop.time() + random.uniform(0, self.args.interval)  # phases spread
        next_push = math.inf
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                wait = max(0.0, min(next_make, next_push) - loop.time())
                await asyncio.wait_for(stop.wait(), wait)
            now = loop.time()
            if now >= next_make:
                next_make += self.args.interval
                if self.making:
                    self.seq += 1
                    self.queue.append((self.seq, node_batch(
                        self.host, self.seq, self.args.samples, self.args.checks, time.time())))
                    self.window.made += 1
                if self.queue and not self.delay:
                    next_push = now  # pushed as soon as made, unless backing off
            if not self.queue:
                next_push = math.inf
            elif loop.time() >= next_push:
                if await self._push(session, url, headers):
                    self.delay, next_push = 0.0, math.inf
                else:
                    self.delay = min(self.args.retry_max, max(1.0, 2 * self.delay))
                    next_push = loop.time() + random.uniform(self.delay / 2, self.delay)


async def _worker(number: int, indexes: list[int], args: argparse.Namespace, url: str,
                  token: str, reports: Any, control: Any) -> None:
    window = Window()
    agents = [SimAgent(i, args, window) for i in indexes]
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(a.run(session, url, token, stop)) for a in agents]
        while True:
            await asyncio.sleep(1.0)
            backlog = sum(len(a.queue) for a in agents)
            reports.put((number, window.made, window.accepted, window.duplicates,
                         window.failures, window.latencies, backlog))
            window.made = window.accepted = window.duplicates = window.failures = 0
            window.latencies = []
            try:
                order = control.get_nowait()
            except queue.Empty:
                order = ""
            if order == "drain":
                for agent in agents:
                    agent.making = False
            if order == "stop":
                break
        stop.set()
        await asyncio.gather(*tasks)


def worker(number: int, indexes: list[int], args: argparse.Namespace, url: str, token: str,
           reports: Any, control: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_worker(number, indexes, args, url, token, reports, control))


# ------------------------------------------------------------------ the server
@contextlib.contextmanager
def server_store(spec: str, workdir: Path) -> Iterator[dict[str, Any]]:
    """The ``store:`` section of the server's config for ``--store``."""
    if spec == "sqlite":
        yield {"path": str(workdir / "store.sqlite")}
    elif spec == "postgres":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from servers import start_postgres

        with start_postgres() as server:
            yield {"path": str(workdir / "local.sqlite"),
                   "url": server.create_database("stackwatch_fleet")}
    elif spec.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        yield {"path": str(workdir / "local.sqlite"), "url": spec}
    else:
        sys.exit(f"--store {spec!r}: sqlite, postgres, or a postgresql:// URL")


def start_server(workdir: Path, store: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    config = {"clouds": [{"name": "bench", "disable": ["api"]}], "store": store,
              "server": {"accept_agents": True}, "web": {"listen": f"127.0.0.1:{port}"}}
    path = workdir / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (the child holds it)
    proc = subprocess.Popen([sys.executable, "-c", "from stackwatch.cli import main; main()",
                             "server", "--config", str(path)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit(f"the server did not start: see {workdir / 'server.log'}")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored(port: int) -> tuple[int, int]:
    """(batches kept, sequence numbers missing) over every agent, from the server."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/agents", timeout=30) as r:
        views = json.loads(r.read())
    return sum(v["batches"] for v in views), sum(v["missing"] for v in views)


def _cpu(process: psutil.Process) -> float:
    try:
        return float(process.cpu_percent())
    except psutil.Error:  # killed for the outage
        return 0.0


def _rss_mb(process: psutil.Process) -> float:
    try:
        return float(process.memory_info().rss / 1e6)
    except psutil.Error:
        return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of pushing")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between batches")
    parser.add_argument("--samples", type=int, default=50, help="samples a batch")
    parser.add_argument("--checks", type=int, default=20, help="checks a batch")
    parser.add_argument("--batch-size", type=int, default=20, help="batches a push at most")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--retry-max", type=float, default=60.0,
                        help="longest backoff after a failed push (the agent's retry_max)")
    parser.add_argument("--store", default="sqlite",
                        help="sqlite, postgres (one started for the run), or a URL")
    parser.add_argument("--outage", type=float, default=0.0,
                        help="seconds the server is killed for (0: none)")
    parser.add_argument("--outage-at", type=float, default=None,
                        help="when the server is killed (default: a third of the duration)")
    args = parser.parse_args()
    outage_at = args.duration / 3 if args.outage_at is None else args.outage_at
    with tempfile.TemporaryDirectory(prefix="stackwatch-fleet-") as tmp, \
            server_store(args.store, Path(tmp)) as store:
        workdir = Path(tmp)
        tokens = open_token_store(StoreConfig(**store))
        token = issue(tokens, "fleet", Role.AGENT, time.time())
        tokens.close()
        port = free_port()
        server = start_server(workdir, store, port)
        server_ps = psutil.Process(server.pid)
        server_ps.cpu_percent()
        url = f"http://127.0.0.1:{port}/api/v1/ingest"
        reports: Any = multiprocessing.Queue()
        controls = [multiprocessing.Queue() for _ in range(args.processes)]
        parts = [list(range(args.agents))[i::args.processes] for i in range(args.processes)]
        workers = [multiprocessing.Process(target=worker, args=(n, part, args, url, token,
                                                                 reports, control))
                   for n, (part, control) in enumerate(zip(parts, controls, strict=True))]
        for proc in workers:
            proc.start()
        bench_ps = [psutil.Process(p.pid) for p in workers]
        for p in bench_ps:
            p.cpu_percent()
        print(f"{args.agents} agents in {args.processes} processes, a batch of {args.samples} "
              f"samples + {args.checks} checks every {args.interval:g} s each, for "
              f"{args.duration:g} s; server on 127.0.0.1:{port}, store {redact(args.store)}; "
              f"{psutil.cpu_count()} CPUs")
        print(f"{'t(s)':>5} {'made/s':>7} {'acc/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'backlog':>7} {'fail':>5} {'load1':>5} {'srv CPU%':>8} {'srv MB':>6} "
              f"{'agents CPU%':>11}")
        totals = {"made": 0, "accepted": 0, "duplicates": 0, "failures": 0}
        latencies: list[float] = []
        backlogs = dict.fromkeys(range(args.processes), 0)
        backlog_series: list[int] = []  # at each report while batches are made
        start = time.monotonic()
        window: list[Any] = []
        next_report = start + REPORT_S
        drain_started = 0.0
        killed_at = 0.0

        def take(item: Any) -> None:
            number, made, accepted, dups, failures, lats, backlog = item
            totals["made"] += made
            totals["accepted"] += accepted
            totals["duplicates"] += dups
            totals["failures"] += failures
            latencies.extend(lats)
            backlogs[number] = backlog
            window.append(item)

        while True:
            with contextlib.suppress(queue.Empty):
                take(reports.get(timeout=0.5))
            now = time.monotonic()
            if args.outage and not killed_at and now - start >= outage_at:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
                killed_at = now
                print(f"-- server killed (SIGKILL) for {args.outage:g} s", flush=True)
            elif killed_at > 0 and now - killed_at >= args.outage:
                server = start_server(workdir, store, port)
                server_ps = psutil.Process(server.pid)
                server_ps.cpu_percent()
                killed_at = -1.0
                print("-- server started again", flush=True)
            if now < next_report:
                continue
            elapsed = now - start
            backlog_now = sum(backlogs.values())
            lats = [x for item in window for x in item[5]]
            print(f"{elapsed:5.0f} {sum(i[1] for i in window) / REPORT_S:7.1f} "
                  f"{sum(i[2] for i in window) / REPORT_S:7.1f} {1000 * pct(lats, .5):7.1f} "
                  f"{1000 * pct(lats, .99):7.1f} {backlog_now:7d} "
                  f"{sum(i[4] for i in window):5d} {os.getloadavg()[0]:5.2f} "
                  f"{_cpu(server_ps):8.1f} {_rss_mb(server_ps):6.0f} "
                  f"{sum(p.cpu_percent() for p in bench_ps):11.1f}", flush=True)
            window = []
            next_report += REPORT_S
            if not drain_started:
                backlog_series.append(backlog_now)
                if elapsed >= args.duration:
                    drain_started = now
                    for control in controls:
                        control.put("drain")
                    print("-- no more batches made; draining the agents' queues", flush=True)
            elif backlog_now == 0 or now - drain_started > 120:
                break
        for control in controls:
            control.put("stop")
        for proc in workers:
            proc.join(60)
        while True:  # the last reports
            try:
                take(reports.get(timeout=0.5))
            except queue.Empty:
                break
        kept, missing = stored(port)
        pushing = backlog_series or [0]
        first, second = pushing[:max(1, len(pushing) // 2)], pushing[len(pushing) // 2:]
        print(f"batches made {totals['made']}, acknowledged {totals['accepted']} (+"
              f"{totals['duplicates']} duplicates), stored at the server {kept}, sequence "
              f"numbers missing there {missing}; failed pushes {totals['failures']}")
        print(f"accepted {totals['accepted'] / args.duration:.1f} batches/s over the "
              f"{args.duration:g} s; ingest latency p50 {1000 * pct(latencies, .5):.1f} ms, "
              f"p99 {1000 * pct(latencies, .99):.1f} ms, max "
              f"{1000 * max(latencies, default=0):.0f} ms over {len(latencies)} answered "
              "pushes")
        print(f"backlog while pushing: mean of the first half {statistics.fmean(first):.1f}, of "
              f"the second half {statistics.fmean(second):.1f}, max {max(pushing)}")
        lost = totals["made"] - kept
        print(f"lost {lost}; {'OK' if lost == 0 and missing == 0 else 'NOT OK'}: nothing lost"
              f"; p99 {'under' if pct(latencies, .99) < 1 else 'OVER'} 1 s")
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
