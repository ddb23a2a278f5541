"""The token-flush fix against a single ``DELETE ... WHERE expires < NOW()``, on MariaDB.

Two fresh copies of the same bloated keystone ``token`` table (``--rows``, 60 % expired,
the simulator's ``token-bloat`` generator, same seed), one flushed each way, in the same
run. While each runs, a probe does what keystone keeps doing meanwhile: it issues a
token (an INSERT) every 50 ms; its slowest insert is how long a user's login waited.
Prints per method: rows deleted, wall time, rows/s, statements and the longest one, and
the probe's slowest insert.

    python3 bench/token_flush.py [--rows 1000000] [--batch 2000]

A MariaDB is started for the run (tests/servers.py: Debian's ``mariadb-server``, a
128 MB buffer pool, ``innodb_flush_log_at_trx_commit=2`` as in the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from stackwatch.runbooks.token_flush import FlushReport, flush_expired
from stackwatch.sim.db import scenarios, schema


def bloated(server: object, name: str, rows: int, now: dt.datetime) -> sa.Engine:
    """A fresh keystone database ``name`` with ``rows`` tokens."""
    url = server.create_database(name)  # type: ignore[attr-defined]
    engine = sa.create_engine(url)
    schema.metadata("keystone").create_all(engine)
    scenarios.bloat_tokens(engine, rows=rows, service_user_id="u-nova",
                           other_user_ids=["u-alice", "u-bob"], now=now, seed=7)
    return engine


def single_delete(engine: sa.Engine, cutoff: dt.datetime) -> FlushReport:
    """What ``keystone-manage token_flush`` amounts to: one statement."""
    report = FlushReport(steps=1)
    started = time.monotonic()
    with engine.begin() as conn:
        report.deleted = conn.execute(sa.text("DELETE FROM token WHERE expires < :cutoff"),
                                      {"cutoff": cutoff}).rowcount
    report.seconds = time.monotonic() - started
    report.statements = [report.seconds]
    return report


class Probe(threading.Thread):
    """Issues a token every 50 ms (as keystone does at login) and keeps the slowest."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.stop = threading.Event()
        self.slowest = 0.0
        self.count = 0

    def run(self) -> None:
        insert = sa.text("INSERT INTO token (id, expires, extra, valid, user_id) "
                         "VALUES (:id, :expires, '{}', 1, 'u-probe')")
        while not self.stop.wait(0.05):
            expires = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
            started = time.monotonic()
            with self.engine.begin() as conn:
                conn.execute(insert, {"id": uuid.uuid4().hex, "expires": expires})
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.count += 1


def measure(name: str, engine: sa.Engine, flush: Callable[[], FlushReport]) -> None:
    probe = Probe(engine)
    probe.start()
    try:
        report = flush()
    finally:
        probe.stop.set()
        probe.join()
    print(f"{name:<34} deleted {report.deleted:>9,} rows in {report.seconds:7.1f} s "
          f"= {report.rate:>9,.0f} rows/s; {len(report.statements):>5} statements, longest "
          f"{report.longest:6.3f} s; a login's insert waited at most {probe.slowest:6.3f} s "
          f"({probe.count} inserts)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from servers import start_mariadb

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="token-flush-") as tmp, \
            start_mariadb(Path(tmp)) as server:
        print(f"MariaDB on 127.0.0.1:{server.port}; two copies of {args.rows:,} token rows "
              f"(60 % expired before {now:%H:%M:%S} UTC)", flush=True)
        ours = bloated(server, "keystone_batched", args.rows, now)
        theirs = bloated(server, "keystone_single", args.rows, now)
        try:
            measure(f"token-flush (batch {args.batch}, by id)", ours,
                    lambda: flush_expired(ours, now, args.batch))
            measure("DELETE ... WHERE expires < NOW()", theirs,
                    lambda: single_delete(theirs, now))
        finally:
            ours.dispose()
            theirs.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
