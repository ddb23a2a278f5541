#!/usr/bin/env python3
"""Record what a real Galera cluster's nodes say in each state stackwatch judges.

Brings up a 3-node MariaDB Galera cluster on 127.0.0.1 (Debian's ``mariadb-server``
and ``galera-4``, the tests' ``start_galera``), drives it through the states below and
writes, per state, into ``<out>/galera/``:

* ``<state>.status.tsv``: ``SHOW GLOBAL STATUS LIKE 'wsrep%'`` plus the status
  variables stackwatch reads (``Threads_connected``...) of the node named in
  ``INFO.json``, as the ``mariadb`` client prints them in batch mode
  (``Variable_name<TAB>Value``);
* ``<state>.variables.tsv``: the ``SHOW GLOBAL VARIABLES`` stackwatch reads;
* ``INFO.json``: versions, and per state which node was read and what was done.

States (in this order, on one cluster)::

    healthy        3 nodes Synced, Primary
    desynced       node2 after SET GLOBAL wsrep_desync=ON
    flow-control   node1 while node2 holds LOCK TABLES on a table node1 writes to
                   (node2's appliers wait, its receive queue passes gcs.fc_limit=2,
                   and it pauses the cluster), read 4 s after FLUSH STATUS
    size-below     node1 after node3 stopped cleanly (cluster size 2), FLUSH STATUS
                   done after the flow control episode
    non-primary    node1 after node2 was killed -9 (1 of 2: quorum lost)

Usage::

    python scripts/record_galera.py [--out tests/data/infra]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import GaleraNode, start_galera  # noqa: E402

#: status variables besides wsrep_* that stackwatch reads (infra/mysql.py STATUS_FIELDS)
STATUS = ("Threads_connected", "Max_used_connections", "Threads_running", "Aborted_connects",
          "Slow_queries", "Uptime")
VARIABLES = ("max_connections", "version", "wsrep_on", "wsrep_provider", "wsrep_node_name",
             "wsrep_cluster_name")


def tsv(rows: list[tuple[object, ...]]) -> str:
    """Rows as ``mariadb --batch`` prints them, header first."""
    return "Variable_name\tValue\n" + "".join(f"{k}\t{v}\n" for k, v in rows)


def record(node: GaleraNode, state: str, out: Path, info: dict[str, object], done: str) -> None:
    status = node.query("SHOW GLOBAL STATUS LIKE 'wsrep%'")
    names = ", ".join(f"'{n}'" for n in STATUS)
    status += node.query(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
    names = ", ".join(f"'{n}'" for n in VARIABLES)
    variables = node.query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
    (out / f"{state}.status.tsv").write_text(tsv(status))
    (out / f"{state}.variables.tsv").write_text(tsv(variables))
    states = info.setdefault("states", {})
    assert isinstance(states, dict)
    states[state] = {"node": node.name, "done": done}
    print(f"{state}: {node.name} {dict(status).get('wsrep_local_state_comment')} "
          f"{dict(status).get('wsrep_cluster_status')}", file=sys.stderr)


def settle(node: GaleraNode, key: str, value: str, timeout: float = 60.0) -> None:
    """Wait until ``node``'s status ``key`` is ``value``."""
    deadline = time.monotonic() + timeout
    while node.status().get(key) != value:
        if time.monotonic() > deadline:
            raise SystemExit(f"{node.name}: {key} never became {value}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "infra")
    args = parser.parse_args(argv)
    out = args.out / "galera"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stackwatch-galera-") as tmp, \
            start_galera(Path(tmp)) as cluster:
        node1, node2, node3 = cluster.nodes
        version = dict(node1.query("SHOW GLOBAL VARIABLES LIKE 'version'"))["version"]
        provider = dict(node1.status())["wsrep_provider_version"]
        info: dict[str, object] = {"mariadb": version, "galera": provider,
                                   "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime())}
        record(node1, "healthy", out, info, "3 nodes started, all Synced")
        node2.query("SET GLOBAL wsrep_desync=ON")
        record(node2, "desynced", out, info, "SET GLOBAL wsrep_desync=ON on this node")
        node2.query("SET GLOBAL wsrep_desync=OFF")
        settle(node2, "wsrep_local_state", "4")
        # the flow control state is read while node2's lock is held

        node1.query("CREATE DATABASE IF NOT EXISTS fc")
        node1.query("CREATE TABLE IF NOT EXISTS fc.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        node2.query("SET GLOBAL wsrep_provider_options='gcs.fc_limit=2'")
        node1.query("FLUSH STATUS")
        holder = pymysql.connect(host="127.0.0.1", port=node2.port, user="root",
                                 autocommit=True)
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES fc.t WRITE")
        writer = threading.Thread(target=lambda: [node1.query(
            "INSERT INTO fc.t (v) VALUES (1)") for _ in range(20)], daemon=True)
        writer.start()
        time.sleep(4)
        record(node1, "flow-control", out, info, "FLUSH STATUS, then 4 s of inserts into a "
               "table node2 holds LOCK TABLES ... WRITE on (node2 gcs.fc_limit=2)")
        with holder.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        holder.close()
        writer.join(60)
        node1.query("FLUSH STATUS")  # the paused share counts from here (not the episode)
        cluster.stop(node3)
        settle(node1, "wsrep_cluster_size", "2")
        record(node1, "size-below", out, info, "node3 stopped cleanly (SIGTERM)")
        cluster.stop(node2, kill=True)
        settle(node1, "wsrep_cluster_status", "non-Primary")
        record(node1, "non-primary", out, info, "node2 killed -9: 1 node of the last 2 left")
        (out / "INFO.json").write_text(json.dumps(info, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
