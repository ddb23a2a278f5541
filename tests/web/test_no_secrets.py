"""No password or token in any reply, page or log line of a monitor watching a real
(simulated) cloud whose database URLs carry passwords, two of them refused by MariaDB.

Every GET route of the app's router is asked, from a non-local address with an
operator token, from loopback without one, and from a non-local address without
one; the login flow and an action too. The database errors do reach the API (the
test checks that they were shown, with the password masked), so the search
covers the paths that could leak.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from aiohttp import web

from servers import MariaDB
from stackwatch.config import load_config
from stackwatch.server import Monitor
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sources.registry import build_sources
from stackwatch.store.base import Role
from stackwatch.tokens import digest, issue

from .client import Http
from .leaks import assert_no_secrets

pytestmark = pytest.mark.integration

#: a valid query for the routes that need one
QUERIES = {"/api/v1/samples": "?name=stackwatch_source_up"}

CLOUD_PASSWORD = "cloud-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedCloud]:
    with SimulatedCloud(workdir=tmp_path_factory.mktemp("sim"), size="small", seed=1,
                        admin_password=CLOUD_PASSWORD) as sim:
        yield sim


def get_paths(app: web.Application, values: Mapping[str, str]) -> list[str]:
    """A path for every GET route of the router, placeholders filled from ``values``
    (others with ``x``), with a valid query where one is needed; static files aside."""
    paths = []
    for resource in app.router.resources():
        if not any(route.method == "GET" for route in resource):
            continue
        info = resource.get_info()
        if "path" in info:
            path = str(info["path"])
        elif "formatter" in info:
            formatter = str(info["formatter"])
            names = [name for _, name, _, _ in string.Formatter().parse(formatter) if name]
            path = formatter.format(**{n: values.get(n, "x") for n in names})
        else:
            continue  # a static directory: the package's own files
        paths.append(path + QUERIES.get(path, ""))
    return paths


def test_no_reply_page_or_log_line_holds_a_secret(
        cloud: SimulatedCloud, mariadb: MariaDB, tmp_path: Path, public_address: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    granted, wrong = "db-" + secrets.token_hex(8), "db-" + secrets.token_hex(8)
    # a monitor account that may not read keystone's database; glance's URL has a
    # password MariaDB does not know
    mariadb.execute("DROP USER IF EXISTS 'sw_monitor'@'%'",
                    f"CREATE USER 'sw_monitor'@'%' IDENTIFIED BY '{granted}'")
    base = f"127.0.0.1:{mariadb.port}"
    data = yaml.safe_load(cloud.config_path.read_text())
    [watched] = data["clouds"]
    watched["databases"]["keystone"] = f"mysql+pymysql://sw_monitor:{granted}@{base}/keystone"
    watched["databases"]["glance"] = f"mysql+pymysql://sw_monitor:{wrong}@{base}/glance"
    # the same cloud again, with a password keystone refuses (its API sources only)
    clouds_yaml = yaml.safe_load(cloud.clouds_yaml.read_text())
    [entry] = clouds_yaml["clouds"].values()
    refused = "cloud-" + secrets.token_hex(8)
    clouds_yaml["clouds"]["refused"] = {**entry, "auth": {**entry["auth"], "password": refused}}
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump(clouds_yaml))
    watched["clouds_yaml"] = str(tmp_path / "clouds.yaml")
    data["clouds"].append({"name": "refused", "clouds_yaml": str(tmp_path / "clouds.yaml"),
                           "disable": ["sql", "logs", "procs"]})
    data.update(store={"path": str(tmp_path / "store.sqlite")},
                intervals={"api": 5, "sql": 5, "logs": 5, "procs": 5},
                # the wrong token is tried on every path: not held up after ten
                web={"max_auth_failures": 1000})
    (tmp_path / "stackwatch.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / "stackwatch.yaml")
    sources = build_sources(config)
    with Monitor(config, sources, listen=(public_address, 0)) as monitor:
        assert monitor.wait_for_runs(len(sources), timeout=240)
        assert monitor.app is not None
        now = time.time()
        read = issue(monitor.tokens, "reader", Role.READ, now)
        operator = issue(monitor.tokens, "operator", Role.OPERATOR, now)
        guess = "sw_" + secrets.token_urlsafe(32)
        # several clouds: a source's name holds '/', written %2F in a path
        paths = get_paths(monitor.app, {"source": quote(sources[0].name, safe="")})
        assert {"/metrics", "/api/v1/health", "/api/v1/sources", "/login"} <= set(paths)

        remote, local = Http(monitor.url), Http(monitor.url, source="127.0.0.1")
        stranger, browser = Http(monitor.url), Http(monitor.url)
        for path in paths:
            assert remote.get(path, operator).status < 500, path
            assert remote.get(path, read).status < 500, path
            assert local.get(path).status < 500, path
            assert stranger.get(path).status in (200, 401), path  # 200: /login only
            assert stranger.get(path, guess).status in (200, 401, 429), path
        for source in sources:
            assert remote.post(f"/api/v1/sources/{quote(source.name, safe='')}/collect",
                               operator).status == 202
        assert browser.post("/login", form=f"token={guess}&next=/").status == 401
        logged_in = browser.post("/login", form=f"token={read}&next=/api/v1/sources")
        cookie = {"Cookie": (logged_in.header("Set-Cookie") or "").split(";")[0]}
        for path in paths:
            assert browser.request("GET", path, cookie).status < 500, path
        assert browser.request("POST", "/logout", cookie).status == 303

        # the errors were shown: the databases' with their passwords masked, keystone's
        shown = {s["source"].rpartition("/")[::2]: s["message"]
                 for s in json.loads(local.get("/api/v1/sources").body)}
        for name in ("sql.keystone", "sql.glance"):
            message = shown[(watched["name"], name)]
            assert "sw_monitor:***@" in message and "Access denied" in message, message
        assert "SourceAuthError" in shown[("refused", "api.compute")]

    # and logged, masked too; every failure was translated (none "unexpected")
    assert any("sw_monitor:***@" in r.getMessage() for r in caplog.records)
    assert not [r.getMessage() for r in caplog.records if "unexpected" in r.getMessage()]
    replies = remote.replies + local.replies + stranger.replies + browser.replies
    looked_at = assert_no_secrets(
        [CLOUD_PASSWORD, refused, granted, wrong, read, operator, guess, digest(read),
         digest(operator)],
        replies, caplog.records)
    assert looked_at >= len(replies) > 6 * len(paths)
