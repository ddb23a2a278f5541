"""SQL sources: one class per service database, read-only, through SQLAlchemy Core.

``sql_sources(cloud, intervals)`` builds one source per configured database
URL (``nova``, ``nova_cell0``, ``nova_api``, ``cinder``, ``keystone``, ``neutron``,
``glance``: :data:`stackwatch.config.SQL_DATABASES`, which refuses any other key at
config load; ``placement`` is read only by the API sources, :mod:`.shortcuts`).
``sql.neutron`` takes the cloud's ``agent_down_time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackwatch.config import CloudConfig
from stackwatch.errors import ConfigError
from stackwatch.sources.sql.base import SqlSource
from stackwatch.sources.sql.cinder import CinderSql
from stackwatch.sources.sql.glance import GlanceSql
from stackwatch.sources.sql.keystone import KeystoneSql
from stackwatch.sources.sql.neutron import NeutronSql
from stackwatch.sources.sql.nova import NovaCell0Sql, NovaSql
from stackwatch.sources.sql.nova_api import NovaApiSql

SQL_CLASSES: dict[str, type[SqlSource]] = {
    "nova": NovaSql, "nova_cell0": NovaCell0Sql, "nova_api": NovaApiSql, "cinder": CinderSql,
    "keystone": KeystoneSql, "neutron": NeutronSql, "glance": GlanceSql,
}

#: Databases read only in place of API requests (sources/sql/shortcuts.py), by no sql.* source.
API_ONLY = ("placement",)


def sql_sources(cloud: CloudConfig,
                intervals: Mapping[str, float] | None = None) -> list[SqlSource]:
    """One source per database of the cloud that stackwatch knows how to read."""
    sources: list[SqlSource] = []
    for db, url in sorted(cloud.databases.items()):
        if db in API_ONLY:
            continue
        if db not in SQL_CLASSES:  # config refuses these; a CloudConfig built by hand
            raise ConfigError(f"databases.{db}: stackwatch does not read this database")
        options: dict[str, Any] = dict(timeout=cloud.sql_timeout, region=cloud.region or "",
                       intervals=dict(intervals or {}), name=f"sql.{db}")
        if db == "neutron":
            sources.append(NeutronSql(url, agent_down_time=cloud.agent_down_time,
                                      report_interval=cloud.heartbeat.neutron_report_interval,
                                      **options))
        elif db in ("nova", "nova_cell0"):
            sources.append(SQL_CLASSES[db](  # type: ignore[call-arg]
                url, report_interval=cloud.heartbeat.nova_report_interval,
                lifecycle=cloud.lifecycle, **options))
        else:
            sources.append(SQL_CLASSES[db](url, **options))
    return sources


__all__ = ["SQL_CLASSES", "CinderSql", "GlanceSql", "KeystoneSql", "NeutronSql", "NovaApiSql",
           "NovaCell0Sql", "NovaSql", "SqlSource", "sql_sources"]
