"""Alarm evaluation at scale: stackwatch's engine beside a real Prometheus on the same
series and the same rules.

    python3 bench/alarms.py [--hosts 1000] [--per-host 10] [--alarms 10] [--rounds 8]
                            [--json FILE]

In one run, on this machine:

* ``--alarms`` metrics of ``--hosts`` x ``--per-host`` series each (100,000 series by
  default), a sample every 15 s, written to a SQLite store: four in the last minute;
  values that move from one collection to the next (each instance's value changes
  every cycle and is saved, as with real data);
* as many alarms, one per metric: ``avg`` over 60 s, grouped by ``host`` (one instance
  per host: 10,000 instances by default), every tenth host firing;
* the same alarms exported with ``stackwatch export prometheus-rules`` (``promtool check
  rules``), loaded by Debian's Prometheus, which scrapes the same series (the same
  values, from an exposition this script serves) every 15 s, so that its 60 s windows
  hold the same four samples (or five: its window is closed at both ends), and evaluates
  the rules every 5 s;
* stackwatch's :class:`~stackwatch.alarms.evaluate.Engine` evaluates them over the store:
  a first cycle (every instance new, saved), then, once Prometheus has warmed up (its
  first window full, two more evaluations), ``--rounds`` rounds in turns: one Prometheus
  evaluation that overlapped nothing of this script's (its own
  ``prometheus_rule_group_last_duration_seconds``, read once it is over), then at once
  one stackwatch cycle (every series read over its window, every instance decided, what
  changed saved; wall time, and the process's CPU time), then the next collection
  written, 15 s later in stackwatch's clock, as the server does;
* medians and worsts of both, the load average beside each, and as a check that both
  evaluated the same thing, each one's firing instances and Prometheus's samples per
  window.

Both figures are wall time, taken in turns on the same machine under the same load.
Goal (issue 12): at most 1 s per cycle and no slower than
Prometheus.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from stackwatch.alarms.definitions import load_alarms
from stackwatch.alarms.evaluate import Engine
from stackwatch.alarms.prometheus import rules_document
from stackwatch.catalog.loader import default_catalog
from stackwatch.model import Collection, Sample
from stackwatch.store.alarm_state import SQLiteAlarmStore
from stackwatch.store.sqlite import SQLiteStore

#: gauges of the catalog the series borrow their names from
METRICS = ("stackwatch_node_load1", "stackwatch_node_load5", "stackwatch_node_load15",
           "stackwatch_process_count", "stackwatch_process_zombies",
           "stackwatch_node_cpus", "stackwatch_node_memory_available_bytes",
           "stackwatch_node_swap_free_bytes", "stackwatch_node_filesystem_free_bytes",
           "stackwatch_node_filesystem_files_free", "stackwatch_port_listening",
           "stackwatch_node_network_up")


#: seconds between two samples of a series (stackwatch's collections, Prometheus's scrapes)
SPACING = 15.0
#: the rules' window, and Prometheus's evaluation interval
PERIOD, EVALUATION = 60, 5


def value(metric: int, host: int, index: int, k: int) -> float:
    """Every tenth host above the threshold (10); the values move with the collection
    ``k`` (a cycle of three), so that every instance's value changes from one cycle to
    the next and is saved, as with real data."""
    return 20.0 + (index + k) % 3 if host % 10 == 0 else 1.0 + (metric + index + k) % 3


def collection(names: list[str], hosts: int, per_host: int, ts: float) -> Collection:
    k = round(ts / SPACING)
    return Collection(samples=tuple(
        Sample.of(name, value(m, h, i, k), ts, host=f"h{h:04d}", index=i)
        for m, name in enumerate(names) for h in range(hosts) for i in range(per_host)))


def alarm_text(names: list[str]) -> str:
    return yaml.safe_dump({"alarms": [
        {"name": f"bench-{n}", "metric": name, "statistic": "avg", "period": PERIOD,
         "group_by": ["host"], "aggregate": "avg", "comparison_operator": "gt",
         "threshold": 10, "alarm_actions": []}
        for n, name in enumerate(names)]})


def exposition(names: list[str], hosts: int, per_host: int, k: int) -> bytes:
    lines = []
    for m, name in enumerate(names):
        lines.append(f"# TYPE {name} gauge")
        lines += [f'{name}{{host="h{h:04d}",index="{i}"}} {value(m, h, i, k)}'
                  for h in range(hosts) for i in range(per_host)]
    return ("\n".join(lines) + "\n").encode()


def serve(bodies: list[bytes]) -> tuple[http.server.ThreadingHTTPServer, str]:
    """The series for Prometheus to scrape: the values of the collection of the time."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[round(time.time() / SPACING) % len(bodies)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """Debian's Prometheus over the same series and rules, read through its own metrics."""

    def __init__(self, workdir: Path, rules: Path, target: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise SystemExit("prometheus not found: apt-get install prometheus")
        port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            f"global: {{scrape_interval: {SPACING:g}s, evaluation_interval: {EVALUATION}s, "
            f"scrape_timeout: {SPACING:g}s}}\n"
            f"rule_files: ['{rules}']\n"
            "scrape_configs:\n  - job_name: bench\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n")
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=log)
        # warm-up: the first scrape, a full window after it, two more evaluations
        self.warm = time.time() + SPACING + PERIOD + 2 * EVALUATION

    def _get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return str(answer.read().decode())

    def _last(self) -> tuple[float, float] | None:
        """When the rule group's last evaluation started, and how long it took."""
        found: dict[str, float] = {}
        for line in self._get("/metrics").splitlines():
            name = line.split("{", 1)[0]
            if name in ("prometheus_rule_group_last_duration_seconds",
                        "prometheus_rule_group_last_evaluation_timestamp_seconds"):
                found[name] = float(line.rsplit(" ", 1)[1])
        started = found.get("prometheus_rule_group_last_evaluation_timestamp_seconds", 0.0)
        if started <= 0:
            return None
        return started, found["prometheus_rule_group_last_duration_seconds"]

    def evaluation(self, after: float, timeout: float = 120.0) -> tuple[float, float]:
        """The first evaluation that started after ``after`` (and after the warm-up), once
        it is over: when it started, and its ``prometheus_rule_group_last_duration_seconds``
        (set as it ends)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"prometheus stopped: see {self.log}")
            try:
                found = self._last()
            except OSError:  # not listening yet
                found = None
            if found is not None and found[0] >= max(after, self.warm):
                return found
            time.sleep(0.5)
        raise SystemExit(f"prometheus evaluated nothing in {timeout:g} s: see {self.log}")

    def value(self, query: str) -> float:
        answer = json.loads(self._get(
            f"/api/v1/query?{urllib.parse.urlencode({'query': query})}"))
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--per-host", type=int, default=10)
    parser.add_argument("--alarms", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names = list(METRICS[:args.alarms])
    total_series = len(names) * args.hosts * args.per_host
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        alarms = load_alarms(texts={"bench.yaml": alarm_text(names)}, defaults=False,
                             catalog=default_catalog())
        assert not alarms.problems, alarms.problems
        rules = workdir / "rules.yml"
        rules.write_text(rules_document(alarms.alarms, interval=EVALUATION))
        check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                               text=True, check=False)
        print("promtool check rules:", check.stdout.strip().splitlines()[-1])
        server, target = serve([exposition(names, args.hosts, args.per_host, k)
                                for k in range(3)])
        prometheus = Prometheus(workdir, rules, target)  # warms up while the store fills
        try:
            store = SQLiteStore(workdir / "store.sqlite")
            states = SQLiteAlarmStore(workdir / "store.sqlite")
            # stackwatch's clock: a cycle every SPACING seconds, all of them in the past
            clock = [time.time() - (args.rounds + 2) * SPACING - PERIOD]
            started = time.perf_counter()
            for age in (50, 35, 20, 5):  # four samples in the first cycle's window
                store.write(collection(names, args.hosts, args.per_host, clock[0] - age))
            wrote = time.perf_counter() - started
            engine = Engine(alarms, store, states, None, default_actions=(),
                            clock=lambda: clock[0])
            cpu = time.process_time()
            result = engine.evaluate()
            first = (result.seconds, time.process_time() - cpu, len(result.transitions))
            print(f"{total_series} series ({wrote:.1f} s to write four samples each), "
                  f"{len(engine.current())} alarm instances")
            print(f"stackwatch: first cycle {first[0]:.3f} s ({first[1]:.3f} s CPU; every "
                  f"instance new: {first[2]} transitions saved)")
            # in turns: one Prometheus evaluation that overlapped nothing of ours, then at
            # once one stackwatch cycle (between two evaluations), then its next collection
            ours: list[tuple[float, float, float]] = []  # wall, CPU, load average
            theirs: list[tuple[float, float]] = []  # duration, load average
            for _ in range(args.rounds):
                clock[0] += SPACING  # the next collection, 5 s before the next cycle
                store.write(collection(names, args.hosts, args.per_host, clock[0] - 5))
                _, duration = prometheus.evaluation(after=time.time())
                theirs.append((duration, os.getloadavg()[0]))
                cpu = time.process_time()
                result = engine.evaluate()
                ours.append((result.seconds, time.process_time() - cpu, os.getloadavg()[0]))
            firing = sum(r.state == "alarm" for r in engine.current())
            their_firing = prometheus.value('count(ALERTS{alertstate="firing"})')
            per_window = prometheus.value(f"avg(count_over_time({names[0]}[{PERIOD}s]))")
        finally:
            prometheus.close()
            server.shutdown()
        walls = [w for w, _, _ in ours]
        durations = [d for d, _ in theirs]
        print(f"stackwatch: {len(ours)} cycles, each after one more collection: median "
              f"{statistics.median(walls):.3f} s per cycle, worst {max(walls):.3f} s (CPU "
              f"median {statistics.median(c for _, c, _ in ours):.3f} s); load average "
              f"{statistics.median(x for _, _, x in ours):.2f}; {firing} firing")
        print(f"prometheus: {len(theirs)} evaluations after the warm-up, in turns with "
              f"stackwatch's cycles: rule group duration median "
              f"{statistics.median(durations):.3f} s, worst {max(durations):.3f} s; load "
              f"average {statistics.median(x for _, x in theirs):.2f}; {their_firing:.0f} "
              f"firing, {per_window:.2f} samples per series per window")
        figures = {"series": total_series, "instances": len(engine.current()),
                   "firing": firing, "prometheus_firing": their_firing,
                   "prometheus_samples_per_window": per_window,
                   "stackwatch_first": first, "stackwatch": ours, "prometheus": theirs}
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
        states.close()
        store.close()


if __name__ == "__main__":
    main()
