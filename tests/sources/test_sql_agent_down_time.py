"""``agent_down_time`` per cloud: sql.neutron judges agents as neutron.conf says, on SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from sources.dbload import load
from sources.test_api_replay import value
from stackwatch.config import parse_config
from stackwatch.errors import ConfigError
from stackwatch.sources.sql import NeutronSql, sql_sources

pytestmark = pytest.mark.integration


def neutron_with_an_agent_silent_for(tmp_path: Path, seconds: float) -> str:
    """URL of a reference neutron database holding only one agent, last heard ``seconds`` ago."""
    url = f"sqlite:///{tmp_path / 'neutron.sqlite'}"
    load("neutron", url).dispose()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    agents = sa.table("agents", sa.column("id"), sa.column("agent_type"), sa.column("binary"),
                      sa.column("topic"), sa.column("host"), sa.column("admin_state_up"),
                      sa.column("created_at"), sa.column("started_at"),
                      sa.column("heartbeat_timestamp"), sa.column("configurations"),
                      sa.column("load"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(agents.delete())
        conn.execute(agents.insert().values(
            id="a1", agent_type="L3 agent", binary="neutron-l3-agent", topic="t", host="net1",
            admin_state_up=1, created_at=now, started_at=now, configurations="{}", load=0,
            heartbeat_timestamp=now - dt.timedelta(seconds=seconds)))
    engine.dispose()
    return url


def neutron_source(url: str, **cloud: object) -> NeutronSql:
    """The sql.neutron source ``stackwatch.yaml`` builds for a cloud with these settings."""
    config = parse_config({"clouds": [{"name": "c", "databases": {"neutron": url}, **cloud}]})
    (source,) = sql_sources(config.clouds[0])
    assert isinstance(source, NeutronSql)
    return source


@pytest.mark.parametrize(("cloud", "alive"), [
    ({"agent_down_time": 30}, 0),     # realcloud's neutron.conf: 40 s of silence is dead
    ({"agent_down_time": 75}, 1),
    ({}, 1),                          # neutron's default, 75 s
])
def test_an_agent_silent_for_40_s_is_judged_by_the_clouds_agent_down_time(
        tmp_path: Path, cloud: dict[str, object], alive: int) -> None:
    url = neutron_with_an_agent_silent_for(tmp_path, 40)
    source = neutron_source(url, **cloud)
    try:
        out = source.collect()
    finally:
        source.close()
    assert value(out, "openstack_neutron_db_agent_alive", host="net1") == alive


@pytest.mark.parametrize("seconds", [0, -30])
def test_agent_down_time_must_be_positive(seconds: float) -> None:
    with pytest.raises(ConfigError, match=r"clouds\.0\.agent_down_time"):
        parse_config({"clouds": [{"name": "c", "agent_down_time": seconds}]})
