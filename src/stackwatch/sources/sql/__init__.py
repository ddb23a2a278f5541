"""SQL sources: one class per service database, read-only, through SQLAlchemy Core.

``sql_sources(cloud, intervals)`` builds one source per configured database
URL it knows (``nova``, ``nova_cell0``, ``cinder``, ``keystone``, ``neutron``);
others (``nova_api``, ``placement``...) are not read. ``sql.neutron`` takes the
cloud's ``agent_down_time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackwatch.config import CloudConfig
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.cinder import CinderSql
from stackwatch.sources.sql.keystone import KeystoneSql
from stackwatch.sources.sql.neutron import NeutronSql
from stackwatch.sources.sql.nova import NovaCell0Sql, NovaSql

SQL_CLASSES: dict[str, type[SqlSource]] = {
    "nova": NovaSql, "nova_cell0": NovaCell0Sql, "cinder": CinderSql, "keystone": KeystoneSql,
    "neutron": NeutronSql,
}


def sql_sources(cloud: CloudConfig,
                intervals: Mapping[str, float] | None = None) -> list[SqlSource]:
    """One source per database of the cloud that stackwatch knows how to read."""
    sources: list[SqlSource] = []
    for db, url in sorted(cloud.databases.items()):
        if db not in SQL_CLASSES:
            continue
        options: dict[str, Any] = dict(timeout=cloud.sql_timeout, region=cloud.region or "",
                       intervals=dict(intervals or {}), name=f"sql.{db}")
        if db == "neutron":
            sources.append(NeutronSql(url, agent_down_time=cloud.agent_down_time, **options))
        else:
            sources.append(SQL_CLASSES[db](url, **options))
    return sources


__all__ = ["SQL_CLASSES", "CinderSql", "KeystoneSql", "NeutronSql", "NovaCell0Sql", "NovaSql",
           "SqlSource",
           "sql_sources"]
