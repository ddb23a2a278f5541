"""Alarm evaluation at scale: stackwatch's engine beside a real Prometheus on the same
series and the same rules.

    python3 bench/alarms.py [--hosts 1000] [--per-host 10] [--alarms 10] [--cycles 5]
                            [--json FILE]

In one run, on this machine:

* ``--alarms`` metrics of ``--hosts`` x ``--per-host`` series each (100,000 series by
  default), four samples each over the last minute, written to a SQLite store;
* as many alarms, one per metric: ``avg`` over 60 s, grouped by ``host`` (one instance
  per host: 10,000 instances by default), a share of them firing;
* stackwatch's :class:`~stackwatch.alarms.evaluate.Engine` evaluates them ``--cycles``
  times over the store (every series read, every instance decided, what changed saved):
  the time per cycle, median and worst;
* the same alarms exported with ``stackwatch export prometheus-rules`` (``promtool check
  rules``), loaded by Debian's Prometheus, which scrapes the same series (latest
  values, from an exposition this script serves) every 5 s and evaluates the rules every
  5 s; its ``prometheus_rule_group_last_duration_seconds`` after a few evaluations.

Goal (issue 12): at most 1 s per cycle and no slower than Prometheus.
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
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


def value(metric: int, host: int, index: int) -> float:
    """Every tenth host above the threshold (10) on average."""
    return 20.0 + index % 3 if host % 10 == 0 else 1.0 + (metric + index) % 5


def series(names: list[str], hosts: int, per_host: int, now: float, ages: list[float]
           ) -> list[Collection]:
    return [Collection(samples=tuple(
        Sample.of(name, value(m, h, i), now - age, host=f"h{h:04d}", index=i)
        for m, name in enumerate(names) for h in range(hosts) for i in range(per_host)))
        for age in ages]


def alarm_text(names: list[str]) -> str:
    return yaml.safe_dump({"alarms": [
        {"name": f"bench-{n}", "metric": name, "statistic": "avg", "period": 60,
         "group_by": ["host"], "aggregate": "avg", "comparison_operator": "gt",
         "threshold": 10, "alarm_actions": []}
        for n, name in enumerate(names)]})


def exposition(names: list[str], hosts: int, per_host: int) -> bytes:
    lines = []
    for m, name in enumerate(names):
        lines.append(f"# TYPE {name} gauge")
        lines += [f'{name}{{host="h{h:04d}",index="{i}"}} {value(m, h, i)}'
                  for h in range(hosts) for i in range(per_host)]
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
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


def prometheus_durations(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("prometheus_rule_group_last_duration_seconds{"):
            found[line.split('rule_group="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return found


def run_prometheus(workdir: Path, rules: Path, target: str, wait: float) -> dict[str, float]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus not found: apt-get install prometheus")
    port = 0
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 5s, evaluation_interval: 5s, scrape_timeout: 5s}\n"
        f"rule_files: ['{rules}']\n"
        f"scrape_configs:\n  - job_name: bench\n    static_configs: [{{targets: ['{target}']}}]\n")
    url = f"http://127.0.0.1:{port}"
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + wait
        readings: list[float] = []
        while time.monotonic() < deadline:
            time.sleep(5)
            try:
                durations = prometheus_durations(url)
            except OSError:
                continue
            if durations:
                readings.append(sum(durations.values()))
        return {"last_s": readings[-1] if readings else float("nan"),
                "median_s": statistics.median(readings[-6:]) if readings else float("nan"),
                "max_s": max(readings[-6:]) if readings else float("nan")}
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--per-host", type=int, default=10)
    parser.add_argument("--alarms", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--prometheus-wait", type=float, default=90.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names = list(METRICS[:args.alarms])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = SQLiteStore(workdir / "store.sqlite")
        now = time.time()
        started = time.perf_counter()
        for collection in series(names, args.hosts, args.per_host, now, [50, 35, 20, 5]):
            store.write(collection)
        wrote = time.perf_counter() - started
        total_series = len(names) * args.hosts * args.per_host
        text = alarm_text(names)
        alarms = load_alarms(texts={"bench.yaml": text}, defaults=False,
                             catalog=default_catalog())
        assert not alarms.problems, alarms.problems
        states = SQLiteAlarmStore(workdir / "store.sqlite")
        engine = Engine(alarms, store, states, None, default_actions=(),
                        clock=lambda: now)
        cycles = []
        for _ in range(args.cycles):
            result = engine.evaluate(now)
            cycles.append(result.seconds)
        firing = sum(r.state == "alarm" for r in engine.current())
        instances = len(engine.current())
        print(f"{total_series} series ({wrote:.1f} s to write), {instances} alarm instances, "
              f"{firing} firing")
        print(f"stackwatch: first cycle {cycles[0]:.3f} s (every instance new, saved), "
              f"then median {statistics.median(cycles[1:] or cycles):.3f} s, "
              f"worst {max(cycles[1:] or cycles):.3f} s per cycle")
        rules = workdir / "rules.yml"
        rules.write_text(rules_document(alarms.alarms, interval=5))
        check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                               text=True, check=False)
        print("promtool check rules:", check.stdout.strip().splitlines()[-1])
        server, target = serve(exposition(names, args.hosts, args.per_host))
        try:
            prom = run_prometheus(workdir, rules, target, args.prometheus_wait)
        finally:
            server.shutdown()
        print(f"prometheus: rule group last duration {prom['last_s']:.3f} s "
              f"(median of the last readings {prom['median_s']:.3f} s, max {prom['max_s']:.3f} s)")
        figures = {"series": total_series, "instances": instances, "firing": firing,
                   "stackwatch_cycles_s": cycles, "prometheus": prom}
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
        states.close()
        store.close()


if __name__ == "__main__":
    main()
