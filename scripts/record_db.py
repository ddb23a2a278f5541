#!/usr/bin/env python3
"""Record the schemas and rows of a real OpenStack control plane's databases.

For each database and table of :data:`TABLES` (the ones stackwatch's SQL sources and
the simulator read), writes into ``<out>/db/``:

* ``<database>.sql``: ``SHOW CREATE TABLE`` of each table, as MariaDB prints it;
* ``<database>.rows.json``: ``{"database", "mariadb_version", "release", "tables":
  {table: {"total_rows", "sample": [row, ...]}}}`` with up to ``--rows`` rows per table
  (newest ``created_at`` first), datetimes as ``YYYY-MM-DD HH:MM:SS[.ffffff]``.

With ``--error-server``, a server that cannot be scheduled (a flavor with more disk
than any host: NoValidHost) is booted first and deleted after, so ``nova_cell0`` holds a live
instance in ERROR with its fault and action, as a real cloud with a failed boot does.

Read with a read-only account (realcloud's ``monitor``: SELECT, PROCESS, REPLICATION
CLIENT). Passwords in URLs (``nova_api.cell_mappings``) become ``<password>`` and paths of
the recording host are rewritten, as in ``record_logs.py``. Usage::

    RC_PASSWORD=... python scripts/record_db.py --root <root> [--host 127.0.0.1]
        [--user monitor] [--out tests/data/recorded] [--rows 100] [--database NAME ...]
        [--error-server --auth-url http://127.0.0.1:5000/v3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from record_fidelity import Recorder, login, wait
from record_logs import RELEASE, scrub, scrubber

TABLES: dict[str, tuple[str, ...]] = {
    "keystone": ("user", "local_user", "project", "token", "revocation_event", "assignment"),
    "nova": ("instances", "services", "compute_nodes", "instance_faults", "instance_actions",
             "instance_actions_events", "quotas", "quota_usages", "migrations"),
    "nova_cell0": ("instances", "instance_faults", "instance_actions",
                   "instance_actions_events"),
    "nova_api": ("quotas", "request_specs", "flavors", "cell_mappings", "host_mappings",
                 "instance_mappings", "build_requests"),
    "cinder": ("volumes", "snapshots", "services", "quotas", "quota_usages"),
    "neutron": ("agents", "routerl3agentbindings", "routers", "ports", "networks", "subnets",
                "ml2_port_bindings", "floatingips", "securitygroups", "securitygrouprules",
                "subnetpools", "quotas", "reservations", "resourcedeltas", "networkrbacs",
                "qospolicyrbacs", "securitygrouprbacs", "addressscoperbacs", "subnetpoolrbacs",
                "addressgrouprbacs"),
    "placement": ("resource_providers", "inventories", "allocations", "resource_classes"),
    "glance": ("images", "image_members"),
}


def plain(value: Any, pairs: list[Any]) -> Any:
    """A column value as JSON: datetimes as MariaDB prints them, strings scrubbed."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return scrub(value, pairs)
    return value


def record(engine: sa.Engine, database: str, tables: tuple[str, ...], rows: int,
           pairs: list[Any]) -> tuple[str, dict[str, Any]]:
    """The ``.sql`` text and the ``.rows.json`` content of one database."""
    with engine.connect() as conn:
        version = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
        statements = [f"-- {database} on MariaDB {version}\n"]
        found: dict[str, Any] = {}
        for table in tables:
            create = conn.exec_driver_sql(f"SHOW CREATE TABLE `{database}`.`{table}`").one()[1]
            statements.append(f"{create};\n")
            columns = [r[0] for r in conn.exec_driver_sql(
                f"SHOW COLUMNS FROM `{database}`.`{table}`")]
            order = " ORDER BY `created_at` DESC" if "created_at" in columns else ""
            total = conn.exec_driver_sql(f"SELECT COUNT(*) FROM `{database}`.`{table}`").scalar()
            result = conn.exec_driver_sql(
                f"SELECT * FROM `{database}`.`{table}`{order} LIMIT {int(rows)}")
            sample = [{k: plain(v, pairs) for k, v in row._mapping.items()} for row in result]
            found[table] = {"total_rows": int(total or 0), "sample": sample}
    content = {"database": database, "mariadb_version": version, "release": RELEASE,
               "tables": found}
    return "\n".join(statements), content


@contextlib.contextmanager
def error_server(auth_url: str, password: str) -> Iterator[None]:
    """A server in ERROR through NoValidHost while the block runs (admin's project)."""
    admin = login(auth_url, "admin", password, "admin")
    r = Recorder(Path("unused"), admin)

    def call(method: str, url: str, body: Any = None, **ids: str) -> Any:
        answer = r.call("compute", method, url, ids, version="latest", body=body, record=False)
        return answer.json() if answer.content else None

    image = r.call("image", "GET", "/v2/images?status=active", record=False).json()["images"][0]
    # more disk than any host has, within the quotas: accepted, then NoValidHost
    flavor = call("POST", "/v2.1/flavors", {"flavor": {
        "name": "rc-record-huge", "ram": 64, "vcpus": 1, "disk": 700000}})["flavor"]["id"]
    server = ""
    try:
        server = call("POST", "/v2.1/servers", {"server": {
            "name": "rc-record-err", "imageRef": image["id"], "flavorRef": flavor,
            "networks": "none"}})["server"]["id"]
        wait("rc-record-err", lambda: str(call("GET", "/v2.1/servers/{server_id}",
                                              server_id=server)["server"]["status"]), "ERROR")
        yield
    finally:
        if server:
            call("DELETE", "/v2.1/servers/{server_id}", server_id=server)
        call("DELETE", "/v2.1/flavors/{flavor_id}", flavor_id=flavor)


def record_all(engine: sa.Engine, out: Path, rows: int, pairs: list[Any],
               databases: list[str] | None = None) -> None:
    """Every database of :data:`TABLES` (or only ``databases``) into ``out``."""
    for database, tables in TABLES.items():
        if databases and database not in databases:
            continue
        sql, content = record(engine, database, tables, rows, pairs)
        (out / f"{database}.sql").write_text(sql)
        (out / f"{database}.rows.json").write_text(json.dumps(content, indent=1) + "\n")
        counts = {t: v["total_rows"] for t, v in content["tables"].items()}
        print(f"{database}: {counts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True,
                        help="the control plane's root ($RC_ROOT), for rewriting its paths")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="monitor")
    parser.add_argument("--password-env", default="RC_PASSWORD",
                        help="environment variable holding the password (realcloud's "
                             "default 'secret' when unset)")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--error-server", action="store_true",
                        help="record with a server in ERROR (NoValidHost) present")
    parser.add_argument("--auth-url", default="http://127.0.0.1:5000/v3")
    parser.add_argument("--database", action="append", choices=sorted(TABLES),
                        help="record only this database (repeatable; default: all)")
    args = parser.parse_args(argv)
    pairs = scrubber(args.root.resolve())
    password = os.environ.get(args.password_env, "secret")
    url = sa.URL.create("mysql+pymysql", username=args.user, password=password,
                        host=args.host, port=args.port)
    engine = sa.create_engine(url)
    out = args.out / "db"
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if args.error_server:
            stack.enter_context(error_server(args.auth_url, password))
        record_all(engine, out, args.rows, pairs, args.database)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
