"""``stackwatch token create|list|revoke``: the web app's access tokens.

``create`` prints the token once, alone on standard output (so that
``TOKEN=$(stackwatch token create ...)`` works), and a reminder on standard
error; only its digest is kept, in the store of the configuration (its SQLite file or
its PostgreSQL database) or the SQLite file ``--store``. ``list`` shows names, roles and
times, never a token or a digest. A revoked token is refused from the server's next request on.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from stackwatch.errors import ConfigError, StackwatchError
from stackwatch.store.base import Role, TokenRecord, TokenStore

store_option = click.option(
    "--store", "store_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="SQLite store file (default: store.path of --config).")
config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="stackwatch.yaml", show_default=True, envvar="STACKWATCH_CONFIG",
    help="stackwatch.yaml whose store keeps the tokens, when --store is not given.")


def _open(store_path: Path | None, config_path: Path, create: bool,
          hint: str = "") -> TokenStore:
    """The token store of ``--store`` (a SQLite file) or of the configuration's store."""
    if store_path is not None:
        from stackwatch.store.existing import existing_store
        from stackwatch.store.tokens import SQLiteTokenStore

        return SQLiteTokenStore(store_path if create else existing_store(store_path, hint))
    if not config_path.exists():
        raise ConfigError(f"{config_path}: not found; give --store or --config")
    from stackwatch.config import load_config  # pydantic: only when a config is read
    from stackwatch.store.opening import open_token_store

    return open_token_store(load_config(config_path).store, create=create, hint=hint)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _row(token: TokenRecord, now: float) -> dict[str, object]:
    return {"name": token.name, "role": token.role.value, "created": _when(token.created),
            "expires": _when(token.expires), "last_used": _when(token.last_used),
            "expired": token.expired(now)}


@click.group()
def token() -> None:
    """Access tokens of the web app (read, or operator to act)."""


@token.command()
@click.option("--name", required=True, help="What the token is for (unique), e.g. grafana.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True,
              help="read: GET only; operator: may also act (collect now, acknowledge); "
                   "agent: may only push a node's results (stackwatch agent).")
@click.option("--expires", "expires_days", type=float, default=None, metavar="DAYS",
              help="Days until the token stops working (default: never).")
@store_option
@config_option
def create(name: str, role: str, expires_days: float | None, store_path: Path | None,
           config_path: Path) -> None:
    """Make a token and print it, once: only its digest is kept."""
    from stackwatch.tokens import issue

    store = _open(store_path, config_path, create=True)
    try:
        secret = issue(store, name, Role(role), time.time(), expires_days)
    finally:
        store.close()
    click.echo(secret)
    click.echo(f"token {name!r} ({role}) created; it is shown this once, keep it now",
               err=True)


@token.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@store_option
@config_option
def list_tokens(fmt: str, store_path: Path | None, config_path: Path) -> None:
    """Tokens by name: role, created, expires, last used (times in UTC)."""
    store = _open(store_path, config_path, create=False,
                  hint="create a token or start the server first")
    try:
        rows = [_row(t, time.time()) for t in store.tokens()]
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{'NAME':<24} {'ROLE':<9} {'CREATED':<26} {'EXPIRES':<26} LAST USED")
    for row in rows:
        expires = f"{row['expires']}{' (expired)' if row['expired'] else ''}"
        click.echo(f"{row['name']!s:<24} {row['role']!s:<9} {row['created']!s:<26} "
                   f"{expires:<26} {row['last_used']}")


@token.command()
@click.argument("name")
@store_option
@config_option
def revoke(name: str, store_path: Path | None, config_path: Path) -> None:
    """Forget a token: the server refuses it from its next request on."""
    store = _open(store_path, config_path, create=False)
    try:
        if not store.revoke(name):
            raise StackwatchError(f"no token named {name!r} (see stackwatch token list)")
    finally:
        store.close()
    click.echo(f"token {name!r} revoked")
