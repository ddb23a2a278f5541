"""What the agent costs on a node, beside monasca-agent and prometheus-node-exporter.

    python3 bench/agent_cost.py [--duration 300] [--interval 10] [--json FILE]
                                [--no-monasca | --monasca-venv DIR] [--no-node-exporter]

On this machine, in one run:

* the simulator's processes (``SimProcesses``: real OS processes named like a
  controller's, a compute and a network node's OpenStack services, their ports
  bound), started by this script, counted against nobody;
* a real ``stackwatch server`` (``server.accept_agents``) and an agent token made
  with ``stackwatch token create --role agent``; the server's cost is not counted;
* ``stackwatch agent`` with the simulator's ``node:`` section (``node.processes``,
  ``node.ports``, ``node.host``) every ``--interval`` seconds, pushing to it;
* monasca-agent from PyPI (its own venv, ``--monasca-venv``, made and filled with
  ``pip install monasca-agent`` when absent): collector, forwarder and statsd, its
  ``process`` check for the same process names and its system checks (cpu, disk,
  load, memory, network) every ``--interval`` seconds, the forwarder posting to a
  sink in this script (that also answers its keystone token request);
* prometheus-node-exporter (Debian), scraped by this script every ``--interval``
  seconds: the host part only.

After a warm-up of one interval (start-up is not steady state), each tool's CPU is
sampled from ``/proc/<pid>/stat`` (utime + stime of all its processes, children
included) over ``--duration`` seconds: CPU % of one core. Peak RSS is ``VmHWM``
summed over a tool's processes. The machine's load (``/proc/loadavg``) and busy CPU
(``/proc/stat``) over the same window are printed beside: the tools share the
machine with whatever else runs. Goal (issue 11): the agent ≤ 1 % of a core and
≤ 60 MB, and ≥ 3 times less CPU than monasca-agent.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackwatch.sim.procs import SimProcesses
from subprocs import free_port, stop

GOAL_CPU_PCT = 1.0
GOAL_RSS_MB = 60.0
GOAL_RATIO = 3.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
MONASCA_SYSTEM_CHECKS = ("cpu", "disk", "load", "memory", "network")
MONASCA_PROCESSES = ("monasca-forwarder", "monasca-collector", "monasca-statsd")


# ------------------------------------------------------------------ measuring
def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (psutil would cost the same)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def _hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@dataclass
class Tool:
    """One measured tool: its root processes (all their descendants belong to it)."""

    name: str
    roots: list[int]
    parts: dict[int, str] = field(default_factory=dict)  # root pid -> what it is
    start_ticks: dict[int, int] = field(default_factory=dict)
    last_ticks: dict[int, int] = field(default_factory=dict)
    hwm_kb: dict[int, int] = field(default_factory=dict)
    processes: set[int] = field(default_factory=set)
    root_of: dict[int, int] = field(default_factory=dict)

    def sample(self, first: bool = False) -> None:
        """Take every process's CPU ticks and peak RSS (``first``: the window's start)."""
        for root in self.roots:
            for pid in _tree(root):
                ticks = _cpu_ticks(pid)
                if ticks is None:
                    continue
                self.processes.add(pid)
                self.root_of[pid] = root
                # a process born in the window counts from zero
                self.start_ticks.setdefault(pid, ticks if first else 0)
                self.last_ticks[pid] = ticks
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), _hwm_kb(pid))

    def cpu_seconds(self) -> float:
        return sum(self.last_ticks[p] - self.start_ticks[p] for p in self.last_ticks) / CLK_TCK

    def cpu_by_part(self) -> dict[str, float]:
        """CPU seconds of each root process and its descendants, by what it is."""
        out: dict[str, float] = {}
        for pid, ticks in self.last_ticks.items():
            part = self.parts.get(self.root_of[pid], self.name)
            out[part] = out.get(part, 0.0) + (ticks - self.start_ticks[pid]) / CLK_TCK
        return {part: round(seconds, 2) for part, seconds in out.items()}

    def peak_rss_mb(self) -> float:
        return sum(self.hwm_kb.values()) / 1024


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# ------------------------------------------------------------------ the tools
def _stackwatch(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", "from stackwatch.cli import main; main()",
                                 *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_http(url: str, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode}): see {log}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # up, refusing without a token
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{what} did not answer {url}: see {log}")


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """A ``stackwatch server`` taking agents' pushes, and an agent token for it."""
    port = free_port()
    store = work / "server" / "store.sqlite"
    config = {"clouds": [{"name": "bench", "disable": ["api"]}], "store": {"path": str(store)},
              "server": {"accept_agents": True}, "web": {"listen": f"127.0.0.1:{port}"},
              "intervals": {"node": 30}}
    path = work / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    made = subprocess.run([sys.executable, "-c", "from stackwatch.cli import main; main()",
                           "token", "create", "--name", "bench", "--role", "agent",
                           "--config", str(path)], capture_output=True, text=True, check=True)
    token = next(line for line in made.stdout.splitlines() if line.startswith("sw_"))
    log = work / "server.log"
    proc = _stackwatch("server", "--config", str(path), log=log)
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/api/v1/health", "stackwatch server", proc, log)
    return proc, url, token, store


def start_agent(work: Path, url: str, token: str, node: dict[str, Any],
                interval: float) -> subprocess.Popen[bytes]:
    """``stackwatch agent`` running the node sources every ``interval`` seconds."""
    adir = work / "agent"
    adir.mkdir()
    token_file = adir / "agent.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    config = {"clouds": [{"name": "bench", "disable": ["api"]}], "node": node,
              "intervals": {"node": interval},
              "store": {"path": str(adir / "local.sqlite")},
              "agent": {"server": url, "token_file": str(token_file),
                        "buffer_dir": str(adir / "buffer"), "host": str(node["host"])}}
    path = adir / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return _stackwatch("agent", "--config", str(path), log=adir / "agent.log")


class _Sink(http.server.BaseHTTPRequestHandler):
    """Takes monasca-forwarder's posts (and gives it a keystone token)."""

    posts = 0
    series = 0
    base = ""  # its own URL, set once it listens

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/").endswith("/auth/tokens"):
            answer = json.dumps({"token": {
                "expires_at": "2999-01-01T00:00:00.000000Z", "issued_at": "2000-01-01T00:00:00Z",
                "methods": ["password"], "user": {"id": "u", "name": "bench",
                                                  "domain": {"id": "default", "name": "Default"}},
                "project": {"id": "p", "name": "bench", "domain": {"id": "default",
                                                                   "name": "Default"}},
                "roles": [{"id": "r", "name": "monasca-agent"}],
                "catalog": [{"type": "monitoring", "name": "monasca", "id": "m", "endpoints": [
                    {"interface": i, "region": "RegionOne", "region_id": "RegionOne", "id": i,
                     "url": f"{_Sink.base}/v2.0"}
                    for i in ("public", "internal", "admin")]}]}}).encode()
            self.send_response(201)
            self.send_header("X-Subject-Token", "bench-token")
        else:
            _Sink.posts += 1
            with contextlib.suppress(ValueError):
                data = json.loads(body)
                _Sink.series += len(data) if isinstance(data, list) else 1
            answer = b""
            self.send_response(204)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        base = _Sink.base
        answer = json.dumps({"version": {"id": "v3.14", "status": "stable", "links": [
            {"rel": "self", "href": f"{base}/v3/"}]}}).encode()  # keystone's discovery
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def ensure_monasca(venv: Path) -> Path:
    """The venv's ``bin`` with monasca-agent in it; made with pip when absent."""
    bindir = venv / "bin"
    if not (bindir / "monasca-collector").exists():
        print(f"installing monasca-agent into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # its process check calls psutil's memory_info_ex, gone since psutil 6
        subprocess.run([str(bindir / "pip"), "install", "-q", "monasca-agent", "psutil<6"],
                       check=True)
    return bindir


def start_monasca(work: Path, bindir: Path, names: list[str], interval: float,
                  sink_port: int) -> list[subprocess.Popen[bytes]]:
    """collector, forwarder and statsd with the process and system checks."""
    conf = work / "monasca"
    (conf / "conf.d").mkdir(parents=True)
    sink = f"http://127.0.0.1:{sink_port}"
    forwarder_port = free_port()
    agent = {
        "Api": {"url": f"{sink}/v2.0", "keystone_url": f"{sink}/v3", "username": "bench",
                "password": "bench-not-a-secret", "project_name": "bench",
                "user_domain_name": "Default", "project_domain_name": "Default",
                "endpoint_type": "public", "region_name": "RegionOne",
                "insecure": True, "max_buffer_size": 1000, "backlog_send_rate": 1000,
                "max_measurement_buffer_size": -1, "write_timeout": 10},
        "Main": {"hostname": "controller", "check_freq": int(interval),
                 "forwarder_url": f"http://127.0.0.1:{forwarder_port}",
                 "listen_port": forwarder_port, "collector_restart_interval": 24,
                 "num_collector_threads": 1, "pool_full_max_retries": 4,
                 "sub_collection_warn": 6, "autorestart": False, "dimensions": {}},
        "Statsd": {"monasca_statsd_port": free_port(), "monasca_statsd_interval": 20},
        "Logging": {"log_level": "WARNING",
                    "collector_log_file": str(conf / "collector.log"),
                    "forwarder_log_file": str(conf / "forwarder.log"),
                    "statsd_log_file": str(conf / "statsd.log"), "enable_logrotate": False},
    }
    (conf / "agent.yaml").write_text(yaml.safe_dump(agent))
    process = {"init_config": None, "instances": [
        {"name": name, "detailed": True, "search_string": [name], "exact_match": False}
        for name in names]}
    (conf / "conf.d" / "process.yaml").write_text(yaml.safe_dump(process))
    for check in MONASCA_SYSTEM_CHECKS:
        (conf / "conf.d" / f"{check}.yaml").write_text(yaml.safe_dump(
            {"init_config": None, "instances": [{"name": check}]}))
    env = {**os.environ, "MONASCA_AGENT_CONFIG_DIR": str(conf)}
    env.pop("PYTHONPATH", None)
    procs = []
    config = str(conf / "agent.yaml")
    # the forwarder parses its command line with tornado (no -f): agent.yaml from its cwd
    commands = tuple(zip(MONASCA_PROCESSES, ((), ("-f", config, "foreground"),
                                             ("--config", config)), strict=True))
    for tool, argv in commands:
        with (conf / f"{tool}.out").open("wb") as out:
            procs.append(subprocess.Popen([str(bindir / tool), *argv], stdout=out,
                                          stderr=subprocess.STDOUT, env=env, cwd=conf,
                                          start_new_session=True))
    return procs


def start_node_exporter(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        sys.exit("prometheus-node-exporter is not installed "
                 "(apt-get install prometheus-node-exporter), or run with --no-node-exporter")
    port = free_port()
    log = work / "node-exporter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/metrics"
    _wait_http(url, "prometheus-node-exporter", proc, log)
    return proc, url


# ------------------------------------------------------------------ the run
@dataclass(frozen=True)
class Figures:
    """One tool's cost over the window."""

    tool: str
    processes: int
    cpu_seconds: float
    cpu_pct: float
    peak_rss_mb: float
    cpu_seconds_by_part: dict[str, float]


def _stored_batches(store: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM agent_batches").fetchone()[0])


@contextlib.contextmanager
def _running(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                stop(proc, timeout=15)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sim = SimProcesses(work / "sim").start()
    started: list[subprocess.Popen[bytes]] = []
    try:
        with _running(started):
            return _measure(args, work, sim, started)
    finally:
        sim.close()


def _measure(args: argparse.Namespace, work: Path, sim: SimProcesses,
             started: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    node = sim.node_section("controller")
    server, url, token, store = start_server(work)
    started.append(server)
    agent = start_agent(work, url, token, node, args.interval)
    started.append(agent)
    tools = [Tool("stackwatch agent", [agent.pid])]
    sink: http.server.ThreadingHTTPServer | None = None
    if args.monasca:
        bindir = ensure_monasca(args.monasca_venv or work / "monasca-venv")
        sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        _Sink.base = f"http://127.0.0.1:{sink.server_port}"
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        names = sorted({spec.executable[:15] for spec in sim.specs})
        monasca = start_monasca(work, bindir, names, args.interval, sink.server_port)
        started.extend(monasca)
        tools.append(Tool("monasca-agent", [p.pid for p in monasca],
                          {p.pid: name for p, name in zip(monasca, MONASCA_PROCESSES,
                                                          strict=True)}))
    exporter_url = None
    if args.node_exporter:
        exporter, exporter_url = start_node_exporter(work)
        started.append(exporter)
        tools.append(Tool("prometheus-node-exporter", [exporter.pid]))

    warmup = args.warmup if args.warmup is not None else args.interval + 2
    print(f"warming up {warmup:.0f} s, then measuring {args.duration:.0f} s "
          f"({len(sim.specs)} simulated processes, interval {args.interval:g} s)", flush=True)
    time.sleep(warmup)
    for proc in started:
        if proc.poll() is not None:
            sys.exit(f"{proc.args!r} exited ({proc.returncode}): see the logs in {work}")
    for tool in tools:
        tool.sample(first=True)
    load_before = os.getloadavg()
    busy0, total0 = _machine_busy()
    t0 = time.monotonic()
    batches0 = _stored_batches(store)
    scrapes = scrape_bytes = 0
    next_scrape = t0
    loads = []
    while (now := time.monotonic()) < t0 + args.duration:
        if exporter_url and now >= next_scrape:
            with urllib.request.urlopen(exporter_url, timeout=10) as answer:
                scrape_bytes += len(answer.read())
            scrapes += 1
            next_scrape += args.interval
        for tool in tools:
            tool.sample()
        loads.append(os.getloadavg()[0])
        time.sleep(min(1.0, max(0.0, t0 + args.duration - time.monotonic())))
    for tool in tools:
        tool.sample()
    elapsed = time.monotonic() - t0
    busy1, total1 = _machine_busy()
    batches = _stored_batches(store) - batches0
    if sink is not None:
        sink.shutdown()
    figures = [Figures(t.name, len(t.processes), round(t.cpu_seconds(), 2),
                       round(100 * t.cpu_seconds() / elapsed, 3), round(t.peak_rss_mb(), 1),
                       t.cpu_by_part())
               for t in tools]
    cpus = os.cpu_count() or 1
    return {
        "duration_s": round(elapsed, 1), "interval_s": args.interval,
        "simulated_processes": len(sim.specs),
        "tools": [asdict(f) for f in figures],
        "agent_batches_stored": batches,
        "monasca_posts": _Sink.posts if args.monasca else None,
        "node_exporter_scrapes": scrapes if exporter_url else None,
        "node_exporter_scrape_kb": round(scrape_bytes / max(scrapes, 1) / 1024, 1),
        "machine": {"cpus": cpus, "load_1m_start": round(load_before[0], 2),
                    "load_1m_mean": round(sum(loads) / max(len(loads), 1), 2),
                    "busy_pct_of_all_cpus": round(100 * (busy1 - busy0)
                                                  / max(total1 - total0, 1), 1)},
        "goals": {"cpu_pct": GOAL_CPU_PCT, "rss_mb": GOAL_RSS_MB, "ratio": GOAL_RATIO},
    }


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['duration_s']:.0f} s at a {result['interval_s']:g} s interval, "
          f"{result['simulated_processes']} simulated service processes")
    print(f"{'tool':<26} {'procs':>5} {'CPU s':>8} {'CPU % core':>11} {'peak RSS MB':>12}")
    for t in result["tools"]:
        print(f"{t['tool']:<26} {t['processes']:>5} {t['cpu_seconds']:>8.2f} "
              f"{t['cpu_pct']:>11.3f} {t['peak_rss_mb']:>12.1f}")
        if len(t["cpu_seconds_by_part"]) > 1:
            print("    CPU s by process: " + ", ".join(
                f"{part} {seconds:.2f}" for part, seconds in t["cpu_seconds_by_part"].items()))
    m = result["machine"]
    print(f"machine: {m['cpus']} CPUs, load {m['load_1m_start']} at start, "
          f"{m['load_1m_mean']} on average; {m['busy_pct_of_all_cpus']} % of all CPUs busy")
    print(f"agent batches stored by the server: {result['agent_batches_stored']}"
          + (f"; monasca posts to the sink: {result['monasca_posts']}"
             if result["monasca_posts"] is not None else "")
          + (f"; node-exporter scrapes: {result['node_exporter_scrapes']} "
             f"({result['node_exporter_scrape_kb']} KiB each)"
             if result["node_exporter_scrapes"] is not None else ""))
    tools = {t["tool"]: t for t in result["tools"]}
    agent = tools["stackwatch agent"]
    print(f"goal: agent ≤ {GOAL_CPU_PCT} % of a core: "
          f"{'met' if agent['cpu_pct'] <= GOAL_CPU_PCT else 'MISSED'}; "
          f"≤ {GOAL_RSS_MB:.0f} MB: {'met' if agent['peak_rss_mb'] <= GOAL_RSS_MB else 'MISSED'}")
    if "monasca-agent" in tools:
        ratio = tools["monasca-agent"]["cpu_seconds"] / max(agent["cpu_seconds"], 1e-9)
        result["monasca_cpu_ratio"] = round(ratio, 2)
        print(f"monasca-agent uses {ratio:.1f} times the agent's CPU (goal ≥ {GOAL_RATIO:g}): "
              f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds measured")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between checks")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (interval + 2)")
    parser.add_argument("--no-monasca", dest="monasca", action="store_false")
    parser.add_argument("--monasca-venv", type=Path,
                        help="venv with monasca-agent (made in the work dir when absent)")
    parser.add_argument("--no-node-exporter", dest="node_exporter", action="store_false")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--workdir", type=Path, help="keep configs and logs here")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args, Path(tempfile.mkdtemp(prefix="agent-cost-", dir=args.workdir)))
    else:
        with tempfile.TemporaryDirectory(prefix="agent-cost-") as tmp:
            result = run(args, Path(tmp))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
