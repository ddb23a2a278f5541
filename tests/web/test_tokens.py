"""``stackwatch token``: a token is shown once, kept only as its digest, listed without
it, judged in constant time per comparison, and gone once revoked."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from stackwatch.cli import main
from stackwatch.config import StoreConfig
from stackwatch.errors import StackwatchError
from stackwatch.store.base import Role
from stackwatch.store.opening import open_token_store
from stackwatch.tokens import digest, issue, verify
from stores import Stores

unit = pytest.mark.unit


def token(*args: str) -> Result:
    return CliRunner().invoke(main, ["token", *args])


@unit
def test_a_token_is_shown_once_and_kept_as_its_digest(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    made = token("create", "--name", "grafana", "--role", "read", "--store", str(store))
    assert made.exit_code == 0, made.output
    [secret] = made.stdout.splitlines()
    assert secret.startswith("sw_") and len(secret) == 3 + 43  # 32 random bytes
    assert "shown this once" in made.stderr
    # the file holds the digest, nowhere the token (nor in its WAL)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in stored
    assert digest(secret).encode() in stored
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT name, role, digest FROM tokens").fetchall() == [
            ("grafana", "read", digest(secret))]

    listed = token("list", "--store", str(store))
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "ROLE", "CREATED", "EXPIRES"]
    assert row.split()[:2] == ["grafana", "read"] and row.split()[3:] == ["-", "-"]
    assert secret not in listed.output and digest(secret) not in listed.output


@unit
def test_names_roles_and_expiry_are_checked(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite")
    assert token("create", "--name", "ops", "--role", "operator", "--store", store,
                 "--expires", "30").exit_code == 0
    again = token("create", "--name", "ops", "--role", "read", "--store", store)
    assert again.exit_code == 2 and "a token named 'ops' exists" in again.stderr
    bad_name = token("create", "--name", "no spaces", "--role", "read", "--store", store)
    assert bad_name.exit_code == 2 and "token name 'no spaces'" in bad_name.stderr
    bad_role = token("create", "--name", "x", "--role", "admin", "--store", store)
    assert bad_role.exit_code == 2 and "'admin' is not one of 'read', 'operator'" in bad_role.stderr
    never = token("create", "--name", "x", "--role", "read", "--store", store, "--expires", "0")
    assert never.exit_code == 2 and "--expires 0" in never.stderr
    [row] = json.loads(token("list", "--store", store, "--format", "json").stdout)
    lasts = datetime.fromisoformat(row["expires"]) - datetime.fromisoformat(row["created"])
    assert (row["name"], row["role"], row["expired"]) == ("ops", "operator", False)
    assert lasts.total_seconds() == pytest.approx(30 * 86400, abs=1)


@unit
def test_revoke(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite")
    assert token("create", "--name", "a", "--role", "read", "--store", store).exit_code == 0
    gone = token("revoke", "a", "--store", store)
    assert gone.exit_code == 0 and "revoked" in gone.stdout
    assert json.loads(token("list", "--store", store, "--format", "json").stdout) == []
    unknown = token("revoke", "a", "--store", store)
    assert unknown.exit_code == 2 and "no token named 'a'" in unknown.stderr


@unit
def test_listing_a_missing_store_does_not_create_one(tmp_path: Path) -> None:
    listed = token("list", "--store", str(tmp_path / "none.sqlite"))
    assert listed.exit_code == 2 and "no store" in listed.stderr
    assert not (tmp_path / "none.sqlite").exists()


@unit
def test_the_store_of_the_configuration_is_used(tmp_path: Path) -> None:
    (tmp_path / "stackwatch.yaml").write_text("clouds: [{name: x}]\nstore: {path: s.sqlite}\n")
    made = token("create", "--name", "a", "--role", "read",
                 "--config", str(tmp_path / "stackwatch.yaml"))
    assert made.exit_code == 0, made.output
    assert (tmp_path / "s.sqlite").exists()


def test_verify_tells_valid_invalid_and_expired(store_config: StoreConfig) -> None:
    store = open_token_store(store_config)
    try:
        now = time.time()
        lasting = issue(store, "lasting", Role.OPERATOR, now)
        short = issue(store, "short", Role.READ, now, expires_days=1)
        found = verify(store, lasting, now)
        assert found.valid and found.token is not None and found.token.role is Role.OPERATOR
        assert verify(store, short, now + 86399).valid
        assert verify(store, short, now + 86400).reason == "expired"
        assert verify(store, lasting + "x", now).reason == "invalid"
        assert verify(store, "", now).reason == "invalid"
        with pytest.raises(StackwatchError, match="token name"):
            issue(store, "-starts-with-a-dash", Role.READ, now)
        with pytest.raises(StackwatchError, match="a token named 'short' exists"):
            issue(store, "short", Role.READ, now)
        store.touch("short", now + 5)
        store.touch("short", now + 1)  # an older use does not go back in time
        assert {t.name: t.last_used for t in store.tokens()} == {"lasting": None,
                                                                "short": now + 5}
        assert store.revoke("short") and not store.revoke("short")
        assert [t.name for t in store.tokens()] == ["lasting"]
    finally:
        store.close()


def test_the_cli_keeps_tokens_in_the_configured_store(stores: Stores, tmp_path: Path) -> None:
    """``--config`` with a SQLite path or a PostgreSQL URL: the same commands, the same
    answers; only the digest is in the store; reading an empty one makes nothing."""
    config = stores.config()
    stored = {"path": str(config.path)} if config.url is None else {"url": config.url}
    path = tmp_path / "stackwatch.yaml"
    path.write_text(yaml.safe_dump({"clouds": [{"name": "x"}], "store": stored}))
    listed = token("list", "--config", str(path))
    assert listed.exit_code == 2, listed.output
    if config.url is None:
        assert "no store; create a token or start the server first" in listed.stderr
        assert not config.path.exists()
    else:
        assert f"{config.location}: no stackwatch store in this database; create a token " \
               "or start the server first" in listed.stderr
        assert make_url(config.url).password not in listed.stderr
    made = token("create", "--name", "grafana", "--role", "read", "--config", str(path))
    assert made.exit_code == 0, made.output
    [secret] = made.stdout.splitlines()
    if config.url is None:
        with sqlite3.connect(config.path) as conn:
            rows = conn.execute("SELECT name, role, digest FROM tokens").fetchall()
        conn.close()
    else:
        with psycopg.connect(config.url.replace("+psycopg", "")) as pg:
            rows = pg.execute("SELECT name, role, digest FROM tokens").fetchall()
    assert rows == [("grafana", "read", digest(secret))]
    again = token("create", "--name", "grafana", "--role", "read", "--config", str(path))
    assert again.exit_code == 2 and "a token named 'grafana' exists" in again.stderr
    [row] = json.loads(token("list", "--config", str(path), "--format", "json").stdout)
    assert (row["name"], row["role"], row["expired"]) == ("grafana", "read", False)
    assert token("revoke", "grafana", "--config", str(path)).exit_code == 0
    assert json.loads(token("list", "--config", str(path), "--format", "json").stdout) == []
