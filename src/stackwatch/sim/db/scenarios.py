"""Database-side fault scenarios: keystone's legacy ``token`` table bloat, revocation growth.

Before fernet tokens (Ocata), keystone stored every token it issued in ``token`` and
only ``keystone-manage token_flush`` removed the expired ones; a cloud whose flush cron
broke grew this table to millions of rows, most of them issued to one service user
re-authenticating in a loop. ``revocation_event`` grows the same way when tokens are
revoked faster than they expire. These functions write such rows in bulk (DB-API
``executemany`` of plain tuples: a million rows in seconds on SQLite) and undo them.
They take the keystone database's engine, so they work on SQLite, MariaDB or
PostgreSQL alike.
"""

from __future__ import annotations

import base64
import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwatch.sim.db import schema

CHUNK = 20_000
TOKEN_COLUMNS = ("id", "expires", "extra", "valid", "trust_id", "user_id")
REVOCATION_COLUMNS = (
    "domain_id", "project_id", "user_id", "role_id", "trust_id", "consumer_id",
    "access_token_id", "issued_before", "expires_at", "revoked_at", "audit_id",
    "audit_chain_id",
)  # fmt: skip


def _placeholders(engine: Engine, n: int) -> str:
    style = engine.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


def _executemany(
    engine: Engine, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]
) -> int:
    """Insert tuples through the driver's own ``executemany``, in chunks; returns rows."""
    quote = engine.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({_placeholders(engine, len(columns))})"
    )
    total = 0
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    cursor.executemany(sql, chunk)
                    total += len(chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
                total += len(chunk)
        finally:
            cursor.close()
    return total


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _dt(engine: Engine) -> Callable[[datetime], Any]:
    """How the driver wants a datetime: SQLite gets SQLAlchemy's own text format."""
    if engine.dialect.name == "sqlite":
        return lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")
    return lambda t: t


def bloat_tokens(
    engine: Engine,
    *,
    rows: int = 1_000_000,
    service_user_id: str,
    other_user_ids: Sequence[str] = (),
    service_share: float = 0.9,
    expired_share: float = 0.6,
    invalid_share: float = 0.02,
    now: datetime | None = None,
    seed: int = 1,
) -> int:
    """Fill keystone's legacy ``token`` table with ``rows`` UUID tokens; returns rows written.

    ``service_share`` of them belong to ``service_user_id`` (a service user whose token
    cache is broken), the rest to ``other_user_ids``; ``expired_share`` expired up to
    30 days ago (what ``token_flush`` would delete), the others expire within the hour
    (keystone's default ``[token] expiration = 3600``); ``invalid_share`` are revoked
    (``valid = 0``). Token ids are written in sorted order and the secondary indexes
    rebuilt afterwards: that is what makes a million rows take seconds. On MariaDB the
    server makes the rows itself in one statement (other draws than elsewhere, the same
    shares).
    """
    at = _naive(now or datetime.now(UTC))
    others = list(other_user_ids) or [service_user_id]
    if engine.dialect.name == "mysql" and getattr(engine.dialect, "is_mariadb", False):
        with _secondary_indexes_dropped(engine, "token"):
            return _bloat_tokens_in_mariadb(
                engine, rows, service_user_id, others,
                (service_share, expired_share, invalid_share), at, seed)
    rng = random.Random(seed)
    dt = _dt(engine)
    # A pool of expiry times (one a minute) instead of one datetime per row: generation
    # dominates the cost otherwise.
    expired = [at - timedelta(minutes=m) for m in range(1, 30 * 24 * 60)]
    live = [at + timedelta(minutes=m) for m in range(1, 60)]
    pools = [[(dt(t), t.isoformat() + ".000000Z") for t in pool] for pool in (expired, live)]
    ids = sorted(rng.getrandbits(128) for _ in range(rows))
    template = (
        '{"token_data":{"token":{"methods":["password"],"user":{"id":"%s",'
        '"domain":{"id":"default"}},"expires_at":"%s"}}}'
    )

    def generate() -> Iterator[tuple[Any, ...]]:
        rand, choice = rng.random, rng.choice
        for token_id in ids:
            user = service_user_id if rand() < service_share else choice(others)
            expires, iso = choice(pools[0] if rand() < expired_share else pools[1])
            valid = rand() >= invalid_share
            yield (f"{token_id:032x}", expires, template % (user, iso), valid, None, user)

    with _secondary_indexes_dropped(engine, "token"):
        return _executemany(engine, "token", TOKEN_COLUMNS, generate())


def _bloat_tokens_in_mariadb(
    engine: Engine,
    rows: int,
    service_user_id: str,
    others: Sequence[str],
    shares: tuple[float, float, float],
    at: datetime,
    seed: int,
) -> int:
    """:func:`bloat_tokens` as one ``INSERT ... SELECT`` over MariaDB's SEQUENCE engine
    (``seq_1_to_N``): the rows never cross the wire (a million in seconds, not minutes).
    Each row's draws are MD5s of (seed, draw, row number): deterministic, so the
    expiry in ``extra`` is the one in ``expires``; ids ascend as the primary key wants."""

    def draw(n: int) -> str:  # a number in [0, 1) per row, one stream per n
        return f"(CONV(LEFT(MD5(CONCAT(:seed, '/{n}/', seq)), 8), 16, 10) / 4294967296)"

    users = ", ".join(f":u{i}" for i in range(len(others)))
    expires = (f"IF({draw(2)} < :expired_share, "
               f":at - INTERVAL (1 + FLOOR({draw(3)} * {30 * 24 * 60 - 1})) MINUTE, "
               f":at + INTERVAL (1 + FLOOR({draw(4)} * 59)) MINUTE)")
    user = f"IF({draw(0)} < :service_share, :service, ELT(1 + FLOOR({draw(1)} * :n), {users}))"
    sql = (
        "INSERT INTO token (id, expires, extra, valid, trust_id, user_id) "
        "SELECT id, expires, CONCAT('{\"token_data\":{\"token\":{\"methods\":"
        "[\"password\"],\"user\":{\"id\":\"', user_id, '\",\"domain\":{\"id\":"
        "\"default\"}},\"expires_at\":\"', DATE_FORMAT(expires, :iso), '\"}}}'), "
        "valid, NULL, user_id FROM ("
        "SELECT CONCAT(LPAD(HEX(seq), 12, '0'), LEFT(MD5(CONCAT(:seed, '/', seq)), 20)) AS id, "
        f"{expires} AS expires, {draw(5)} >= :invalid_share AS valid, {user} AS user_id "
        f"FROM seq_1_to_{int(rows)}) AS generated"
    )
    service_share, expired_share, invalid_share = shares
    params: dict[str, Any] = {
        "seed": seed, "service": service_user_id, "n": len(others), "at": at,
        "service_share": service_share, "expired_share": expired_share,
        "invalid_share": invalid_share, "iso": "%Y-%m-%dT%H:%i:%s.000000Z",
        **{f"u{i}": u for i, u in enumerate(others)},
    }  # fmt: skip
    with engine.begin() as conn:
        return int(conn.execute(sa.text(sql), params).rowcount)


@contextlib.contextmanager
def _secondary_indexes_dropped(engine: Engine, table: str) -> Iterator[None]:
    """Drop the table's non-unique indexes for a bulk insert; build them again after
    (those it has: one dropped before stays dropped)."""
    present = {i["name"] for i in sa.inspect(engine).get_indexes(table)}
    indexes = [i for i in schema.table("keystone", table).indexes
               if not i.unique and i.name in present]
    for index in indexes:
        index.drop(engine, checkfirst=True)
    try:
        yield
    finally:
        for index in indexes:
            index.create(engine, checkfirst=True)


def flush_expired_tokens(engine: Engine, now: datetime | None = None) -> int:
    """What ``keystone-manage token_flush`` did: delete expired tokens; returns rows deleted."""
    token = sa.table("token", sa.column("expires"))
    at = _naive(now or datetime.now(UTC))
    with engine.begin() as conn:
        return conn.execute(sa.delete(token).where(token.c.expires < at)).rowcount


def clear_tokens(engine: Engine) -> int:
    """Empty the ``token`` table (as it is on a fernet cloud); returns rows deleted."""
    with engine.begin() as conn:
        return conn.execute(sa.delete(sa.table("token"))).rowcount


def _audit_id(rng: random.Random) -> str:
    # keystone audit ids: urlsafe base64 of 16 random bytes, without padding (22 chars)
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode()[:22]


def grow_revocation_events(
    engine: Engine,
    *,
    rows: int = 100_000,
    user_ids: Sequence[str] = (),
    project_ids: Sequence[str] = (),
    days: int = 7,
    now: datetime | None = None,
    seed: int = 2,
) -> int:
    """Add ``rows`` revocation events over the last ``days``; returns rows written.

    Most are revocations by audit id (a token revoked: ``DELETE /v3/auth/tokens``), a
    few by user or by user and project (password change, role removal), as keystone
    writes them.
    """
    rng = random.Random(seed)
    at = _naive(now or datetime.now(UTC))
    span = days * 86400
    dt = _dt(engine)

    def generate() -> Iterator[tuple[Any, ...]]:
        for _ in range(rows):
            revoked = at - timedelta(seconds=rng.randrange(0, span))
            kind = rng.random()
            user = project = audit = None
            if kind < 0.9 or not user_ids:
                audit = _audit_id(rng)
            else:
                user = rng.choice(user_ids)
                if kind > 0.97 and project_ids:
                    project = rng.choice(project_ids)
            t = dt(revoked)
            yield (None, project, user, None, None, None, None, t, None, t, audit, None)

    with _secondary_indexes_dropped(engine, "revocation_event"):
        return _executemany(engine, "revocation_event", REVOCATION_COLUMNS, generate())


def clear_revocation_events(engine: Engine, since: datetime | None = None) -> int:
    """Delete revocation events (all, or those revoked at or after ``since``)."""
    ev = sa.table("revocation_event", sa.column("revoked_at"))
    query = sa.delete(ev)
    if since is not None:
        query = query.where(ev.c.revoked_at >= _naive(since))
    with engine.begin() as conn:
        return conn.execute(query).rowcount
