"""What the simulator's world costs: service-database load, token bloat, logs, notifications.

Prints, for each size asked: the state generation time, the time to create the
service databases and bulk-load the whole state into them (SQLite files, and a
server when ``--db-url`` is given, e.g. ``mysql+pymysql://root@127.0.0.1:3306/bench_``),
the rows written; then the ``token-bloat`` scenario (``--tokens`` rows into
``keystone.token``), the log writer's lines per second under the traffic generator,
and notifications per second through kombu's in-memory transport.

Usage: ``python bench/sim_world.py [--size small --size big] [--db-url URL]
[--tokens 1000000]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from stackwatch.sim import ops
from stackwatch.sim.bus import NotificationBus
from stackwatch.sim.db import scenarios
from stackwatch.sim.db.sync import ServiceDatabases
from stackwatch.sim.generate import Sizing, generate
from stackwatch.sim.logwriter import LogWriter
from stackwatch.sim.state import CloudState
from stackwatch.sim.traffic import TrafficGenerator


def load(size: str, workdir: Path, db_url: str | None) -> CloudState:
    state = CloudState()
    t = time.perf_counter()
    generate(
        state, Sizing.for_size(size), seed=1, base_url="http://127.0.0.1:1", admin_password="bench"
    )
    print(f"[{size}] generate: {time.perf_counter() - t:.2f} s")
    for url in (None, db_url) if db_url else (None,):
        dbs = ServiceDatabases(workdir / ("sqlite" if url is None else "server"), url)
        t = time.perf_counter()
        dbs.create()
        created = time.perf_counter() - t
        dbs.attach(state)
        report = dbs.last_load
        assert report is not None
        where = "sqlite" if url is None else dbs.url("nova").get_backend_name()
        print(
            f"[{size}] {where}: create {created:.2f} s, bulk load {report.rows} rows "
            f"in {report.seconds:.2f} s ({report.rows / max(report.seconds, 1e-9):,.0f} rows/s)"
        )
        dbs.close()
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", action="append", choices=("small", "medium", "big"))
    parser.add_argument("--db-url")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        state = CloudState()
        for size in args.size or ["small", "big"]:
            state = load(size, workdir / size, args.db_url)

        dbs = ServiceDatabases(workdir / "tokens")
        dbs.create()
        t = time.perf_counter()
        n = scenarios.bloat_tokens(
            dbs.engine("keystone"),
            rows=args.tokens,
            service_user_id="a" * 32,
            other_user_ids=["b" * 32],
        )
        print(
            f"token-bloat: {n} rows into keystone.token (SQLite) in {time.perf_counter() - t:.2f} s"
        )
        dbs.close()

        writer = LogWriter(workdir / "log", state).start()
        traffic = TrafficGenerator(writer, state, seed=1)
        t = time.perf_counter()
        traffic.emit(20_000)
        took = time.perf_counter() - t
        print(
            f"logs: {writer.lines_written} lines for 20000 requests in {took:.2f} s "
            f"({20_000 / took:,.0f} requests/s)"
        )
        writer.close()

        bus = NotificationBus(state).start()
        rng = random.Random(1)
        servers = [s for s in state.servers if s.vm_state == "active"][:500]
        t = time.perf_counter()
        for s in servers:
            ops.power(state, s.id, False, f"req-bench-{rng.random()}")
        audit = bus.audit()
        bus.flush(timeout=600)
        took = time.perf_counter() - t
        print(
            f"bus (memory://): {bus.published} notifications ({audit} from the audit) in "
            f"{took:.2f} s ({bus.published / took:,.0f}/s)"
        )
        bus.close()


if __name__ == "__main__":
    main()
