"""Load the recorded 2026.1 schemas and rows into SQLite or a real MariaDB.

The recordings (``tests/data/recorded/db``) are written by ``scripts/record_db.py`` from
the databases of a real control plane.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "recorded" / "db"

_SQLITE_TYPES = [("int", "INTEGER"), ("datetime", "DATETIME"), ("float", "REAL"),
                 ("double", "REAL"), ("decimal", "REAL")]


def create_statements(database: str) -> list[str]:
    """The recorded ``SHOW CREATE TABLE`` statements of one database."""
    text = (REFERENCE / f"{database}.sql").read_text()
    return [s[s.index("CREATE TABLE"):].strip() for s in re.split(r";\s*\n", text)
            if "CREATE TABLE" in s]


def _sqlite_ddl(statement: str) -> str:
    lines = statement.splitlines()
    name = re.search(r"CREATE TABLE `(\w+)`", lines[0])
    assert name is not None
    columns = []
    for line in lines[1:]:
        found = re.match(r"\s+`(\w+)` (\w+)", line)
        if not found:
            continue
        sqltype = next((t for k, t in _SQLITE_TYPES if k in found.group(2).lower()), "TEXT")
        columns.append(f'"{found.group(1)}" {sqltype}')
    return f'CREATE TABLE "{name.group(1)}" ({", ".join(columns)})'


def load(database: str, url: str, *, skip: tuple[str, ...] = ()) -> sa.Engine:
    """Create the reference tables of ``database`` at ``url`` and insert the recorded rows."""
    engine = sa.create_engine(url)
    backend = engine.dialect.name
    with engine.begin() as conn:
        if backend == "mysql":
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        for statement in create_statements(database):
            table = re.search(r"CREATE TABLE `(\w+)`", statement)
            assert table is not None
            if table.group(1) in skip:
                continue
            conn.exec_driver_sql(statement if backend == "mysql" else _sqlite_ddl(statement))
    rows = json.loads((REFERENCE / f"{database}.rows.json").read_text())["tables"]
    meta = sa.MetaData()
    meta.reflect(engine, resolve_fks=False)
    with engine.begin() as conn:
        for name, data in rows.items():
            if name not in meta.tables:
                continue
            records = [{k: _scalar(v) for k, v in row.items()} for row in data["sample"]]
            if records:
                conn.execute(meta.tables[name].insert(), records)
    return engine


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", value):
        return dt.datetime.fromisoformat(value)
    return value


def recorded_rows(database: str, table: str) -> list[dict[str, Any]]:
    data = json.loads((REFERENCE / f"{database}.rows.json").read_text())["tables"][table]
    assert data["total_rows"] == len(data["sample"]), "sample is not the whole table"
    return list(data["sample"])
