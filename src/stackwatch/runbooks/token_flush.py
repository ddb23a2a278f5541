"""Delete keystone's expired token rows in short statements (the ``token-flush`` fix).

``keystone-manage token_flush`` (and a plain ``DELETE FROM token WHERE expires < NOW()``)
deletes every expired row in one statement: on a bloated table that holds row locks on
hundreds of thousands of rows for minutes, and every token validation waiting on them
stalls the cloud. Here the table is walked by primary key, ``batch`` rows a step
(``SELECT id, expires FROM token WHERE id > :last ORDER BY id LIMIT :batch``: an index
range read, whatever other indexes exist), and the expired ones of each step are
deleted by primary key in a transaction of their own, so locks are held for one short
statement at a time. The step adapts: a statement slower than :data:`TARGET_S` halves
it, a fast one doubles it (between :data:`MIN_BATCH` and :data:`MAX_BATCH`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from stackwatch.redact import redact
from stackwatch.sources.sql.base import translate

log = logging.getLogger(__name__)

#: seconds one statement should take at most (the step adapts to stay under it)
TARGET_S = 0.25
MIN_BATCH = 100
MAX_BATCH = 8000

TOKEN = sa.table("token", sa.column("id"), sa.column("expires", sa.DateTime))


@dataclass
class FlushReport:
    """What a flush did: rows deleted, steps, every statement's duration, wall time."""

    deleted: int = 0
    steps: int = 0
    statements: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def longest(self) -> float:
        return max(self.statements, default=0.0)

    @property
    def rate(self) -> float:
        """Rows deleted per second of wall time."""
        return self.deleted / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (f"deleted {self.deleted} rows in {self.steps} steps, {self.seconds:.1f} s "
                f"({self.rate:,.0f} rows/s); longest statement {self.longest:.3f} s")


def flush_expired(engine: Engine, cutoff: dt.datetime, batch: int = 2000) -> FlushReport:
    """Delete the rows of ``token`` that expired before ``cutoff`` (naive UTC)."""
    report = FlushReport()
    started = time.monotonic()
    last: str | None = None
    where = redact(str(engine.url))
    while True:
        query = sa.select(TOKEN.c.id, TOKEN.c.expires).order_by(TOKEN.c.id).limit(batch)
        if last is not None:
            query = query.where(TOKEN.c.id > last)
        try:
            t0 = time.monotonic()
            with engine.connect() as conn:
                rows = conn.execute(query).all()
            read = time.monotonic() - t0
            if not rows:
                break
            last = rows[-1][0]
            expired = [r[0] for r in rows if r[1] is not None and r[1] < cutoff]
            took = 0.0
            if expired:
                t0 = time.monotonic()
                with engine.begin() as conn:
                    report.deleted += conn.execute(
                        sa.delete(TOKEN).where(TOKEN.c.id.in_(expired))
                        .where(TOKEN.c.expires < cutoff)).rowcount
                took = time.monotonic() - t0
        except exc.SQLAlchemyError as error:
            raise translate(error, f"token flush after id {last!r}", where) from None
        report.statements += [read, took] if expired else [read]
        report.steps += 1
        slowest = max(read, took)
        if slowest > TARGET_S:
            batch = max(MIN_BATCH, batch // 2)
        elif slowest < TARGET_S / 4:
            batch = min(MAX_BATCH, batch * 2)
    report.seconds = time.monotonic() - started
    log.info("token flush on %s: %s", where, report.summary())
    return report
