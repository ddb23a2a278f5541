"""``token-bloat``: keystone's token table, and the ``token-flush`` fix.

Before fernet tokens keystone stored every token it issued in ``token``; only
``keystone-manage token_flush`` removed expired ones. When its cron stops, the table
grows to millions of rows (one service user re-authenticating in a loop makes most of
them), token validation slows and ``nova list`` hangs. The operations guide's cure: an
index on ``(expires, valid)``, a flush, and a token driver that stores nothing (fernet).

The diagnosis reads the keystone database (``databases.keystone``): rows, expired rows,
the table's size on disk where the server says (MariaDB ``information_schema``,
PostgreSQL ``pg_total_relation_size``), growth from the rows counted by ``sql.keystone``
over the last day (the store), the users with most rows by *name* (``local_user``),
whether an index starts with ``expires, valid``, and for a fernet cloud (an empty
table) the revocation events and the age of the fernet key repository's primary key
where readable. The fix deletes expired rows in short statements
(:mod:`stackwatch.runbooks.token_flush`), prints the index to create, advises the
driver.

Arguments of the fix: ``batch`` (rows a step, default 2000) and ``after`` (only rows
expired that many seconds ago: what ``fixes.auto`` passes).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from stackwatch.errors import FixRefused, SourceError
from stackwatch.redact import redact
from stackwatch.runbooks.context import RunbookContext
from stackwatch.runbooks.model import Applied, Change, Diagnosis, Evidence, Plan, fingerprint
from stackwatch.runbooks.token_flush import flush_expired
from stackwatch.sources.sql.base import translate

DB = "keystone"
TOKEN = sa.table("token", sa.column("id"), sa.column("expires", sa.DateTime),
                 sa.column("valid"), sa.column("user_id"))
LOCAL_USER = sa.table("local_user", sa.column("user_id"), sa.column("name"))
REVOCATIONS = sa.table("revocation_event", sa.column("id"))
TOKENS_METRIC = "openstack_keystone_db_tokens"
FERNET_KEYS = Path("/etc/keystone/fernet-keys")
INDEX_SQL = "CREATE INDEX ix_token_expires_valid ON token (expires, valid);"
TOP_USERS = 5

#: rows (total, expired) at which the table is a WARNING, and CRITICAL
WARNING_ROWS, CRITICAL_ROWS = (50_000, 10_000), (500_000, 100_000)
#: a fernet primary key older than this many days: rotation has stopped (WARNING)
ROTATION_DAYS = 30


def utcnow(ctx: RunbookContext) -> dt.datetime:
    """``ctx.now`` as naive UTC, as keystone stores ``expires``."""
    return dt.datetime.fromtimestamp(ctx.now, dt.UTC).replace(tzinfo=None)


def _query(engine: Engine, what: str, query: sa.Executable) -> list[tuple[Any, ...]]:
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]
    except exc.SQLAlchemyError as error:
        raise translate(error, what, redact(str(engine.url))) from None


def _count(engine: Engine, what: str, query: sa.Executable) -> int:
    rows = _query(engine, what, query)
    return int(rows[0][0] or 0) if rows else 0


def expired_rows(engine: Engine, cutoff: dt.datetime) -> int:
    return _count(engine, "expired token rows", sa.select(sa.func.count())
                  .select_from(TOKEN).where(TOKEN.c.expires < cutoff))


def has_expires_valid_index(engine: Engine) -> bool:
    """True when an index of ``token`` starts with ``expires, valid``."""
    try:
        indexes = sa.inspect(engine).get_indexes("token")
    except exc.SQLAlchemyError as error:
        raise translate(error, "token indexes", redact(str(engine.url))) from None
    return any(list(i["column_names"][:2]) == ["expires", "valid"] for i in indexes)


def table_bytes(engine: Engine) -> int | None:
    """The token table's size on disk with its indexes, where the server says."""
    backend = engine.dialect.name
    if backend in ("mysql", "mariadb"):
        query = sa.text("SELECT data_length + index_length FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() AND table_name = 'token'")
    elif backend == "postgresql":
        query = sa.text("SELECT pg_total_relation_size('token')")
    else:
        return None
    rows = _query(engine, "token table size", query)
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def key_age_days(keys: Path, now: float) -> float | None:
    """Days since the fernet primary key (the highest-numbered file) was written; None
    when the repository cannot be read here."""
    try:
        numbered = [p for p in keys.iterdir() if p.name.isdigit()]
        if not numbered:
            return None
        primary = max(numbered, key=lambda p: int(p.name))
        return (now - primary.stat().st_mtime) / 86400
    except OSError:
        return None


class TokenBloat:
    """Keystone's token table: size, growth, who fills it, the index; and the flush."""

    name = "token-bloat"
    fix = "token-flush"
    summary = "keystone's token table: rows, expired, growth, top users, index; flush fix"

    def diagnose(self, ctx: RunbookContext) -> Diagnosis:
        if not ctx.has_database(DB):
            return Diagnosis(runbook=self.name, verdict="UNKNOWN",
                             summary="no keystone database configured (databases.keystone)",
                             advice=["give a read-only URL of keystone's database in "
                                     "stackwatch.yaml: databases: {keystone: URL}"])
        engine = ctx.engine(DB)
        where = f"{DB} database"
        now = utcnow(ctx)
        total = _count(engine, "token rows", sa.select(sa.func.count()).select_from(TOKEN))
        expired = expired_rows(engine, now)
        indexed = has_expires_valid_index(engine)
        evidence = [Evidence(label="token rows", value=f"{total:,}", source=f"{where}: token"),
                    Evidence(label="expired rows", value=f"{expired:,}",
                             source=f"{where}: token.expires < now")]
        size = table_bytes(engine)
        if size is not None:
            evidence.append(Evidence(label="table size", value=f"{size / 2**20:,.1f} MiB",
                                     source=f"{where}: catalog"))
        growth = self._growth(ctx)
        if growth is not None:
            evidence.append(Evidence(label="growth", value=f"{growth:+,.0f} rows/hour",
                                     source=f"store: {TOKENS_METRIC}, last 24 h"))
        evidence.append(Evidence(label="index on (expires, valid)",
                                 value="present" if indexed else "missing",
                                 source=f"{where}: token indexes"))
        top = self._top_users(engine, total)
        evidence += top
        advice: list[str] = []
        if total == 0:
            return self._fernet(ctx, engine, evidence)
        warn = total >= WARNING_ROWS[0] or expired >= WARNING_ROWS[1]
        crit = total >= CRITICAL_ROWS[0] or expired >= CRITICAL_ROWS[1]
        if expired:
            advice.append(f"`stackwatch fix token-flush` deletes the {expired:,} expired rows "
                          "in short statements (dry run first); schedule "
                          "`keystone-manage token_flush` hourly so they do not come back")
        if not indexed and (warn or crit):
            advice.append(f"create the index token validation needs: {INDEX_SQL}")
        if top and (warn or crit):
            advice.append(f"{top[0].label.removeprefix('rows of ')} holds the most rows: "
                          "check that service's token caching (keystonemiddleware "
                          "memcached_servers) instead of re-authenticating per request")
        if warn or crit:
            advice.append("move to the fernet token provider ([token] provider = fernet): "
                          "it stores no tokens at all")
        verdict = "CRITICAL" if crit else "WARNING" if warn or (not indexed and total >= 10_000) \
            else "OK"
        summary = (f"{total:,} token rows, {expired:,} expired"
                   + ("" if indexed else "; no (expires, valid) index")
                   + (f"; {top[0].label.removeprefix('rows of ')} holds {top[0].value}"
                      if top and verdict != "OK" else ""))
        return Diagnosis(runbook=self.name, verdict=verdict, summary=summary,
                         evidence=evidence, advice=advice)

    @staticmethod
    def _growth(ctx: RunbookContext) -> float | None:
        """Rows per hour over the last day, from what ``sql.keystone`` stored."""
        if ctx.store is None:
            return None
        samples = sorted(ctx.store.sample_range(TOKENS_METRIC, ctx.now - 86400, ctx.now),
                         key=lambda s: s.timestamp)
        if len(samples) < 2 or samples[-1].timestamp - samples[0].timestamp < 60:
            return None
        hours = (samples[-1].timestamp - samples[0].timestamp) / 3600
        return (samples[-1].value - samples[0].value) / hours

    @staticmethod
    def _top_users(engine: Engine, total: int) -> list[Evidence]:
        if not total:
            return []
        count = sa.func.count().label("n")
        rows = _query(engine, "token rows per user",
                      sa.select(TOKEN.c.user_id, sa.func.max(LOCAL_USER.c.name), count)
                      .select_from(TOKEN.outerjoin(LOCAL_USER,
                                                   LOCAL_USER.c.user_id == TOKEN.c.user_id))
                      .group_by(TOKEN.c.user_id).order_by(count.desc()).limit(TOP_USERS))
        return [Evidence(label=f"rows of {name or user_id}",
                         value=f"{int(n):,} ({100 * int(n) / total:.0f} %)",
                         source=f"keystone database: token.user_id {user_id}")
                for user_id, name, n in rows]

    def _fernet(self, ctx: RunbookContext, engine: Engine,
                evidence: list[Evidence]) -> Diagnosis:
        """An empty token table: fernet (or a flushed UUID cloud). Revocation events and
        the key repository's age are what can grow or go stale there."""
        revocations = _count(engine, "revocation events",
                             sa.select(sa.func.count()).select_from(REVOCATIONS))
        evidence.append(Evidence(label="revocation events", value=f"{revocations:,}",
                                 source="keystone database: revocation_event"))
        age = key_age_days(FERNET_KEYS, ctx.now)
        evidence.append(Evidence(label="fernet primary key age",
                                 value="not readable here" if age is None else f"{age:.1f} days",
                                 source=str(FERNET_KEYS)))
        if age is not None and age > ROTATION_DAYS:
            return Diagnosis(runbook=self.name, verdict="WARNING",
                             summary=f"no stored tokens; the fernet primary key is {age:.0f} "
                                     "days old: key rotation has stopped",
                             evidence=evidence,
                             advice=["run `keystone-manage fernet_rotate` from cron and "
                                     "distribute the keys to every keystone node"])
        return Diagnosis(runbook=self.name, verdict="OK",
                         summary=f"no stored tokens (fernet, or flushed); {revocations:,} "
                                 "revocation events", evidence=evidence)

    # ------------------------------------------------------------------ the fix
    def plan(self, ctx: RunbookContext, args: dict[str, str]) -> Plan:
        unknown = set(args) - {"batch", "after"}
        if unknown:
            raise FixRefused(f"token-flush: unknown argument(s) {', '.join(sorted(unknown))} "
                             "(it takes batch=ROWS and after=SECONDS)", "args")
        after = args.get("after", "0")
        try:
            grace = dt.timedelta(seconds=float(after))
        except (ValueError, OverflowError):
            raise FixRefused(f"token-flush: after={after!r} is not a number of seconds",
                             "args") from None
        batch = args.get("batch", "2000")
        if not batch.isdigit() or not 100 <= int(batch) <= 100_000:
            raise FixRefused(f"token-flush: batch={batch!r} is not a number of rows from 100 "
                             "to 100000", "args")
        if not ctx.has_database(DB):
            raise FixRefused("token-flush: no keystone database configured "
                             "(databases.keystone)", "args")
        engine = ctx.engine(DB)
        cutoff = (utcnow(ctx) - grace).replace(microsecond=0)
        expired = expired_rows(engine, cutoff)
        changes = [Change(target="keystone.token", action="delete",
                          before=f"{expired} rows expired before {cutoff:%Y-%m-%d %H:%M:%S}",
                          after="0 of them")] if expired else []
        notes = [f"deleted {batch} rows a step at most, by primary key, each step its own "
                 "transaction; the database account must be allowed to DELETE "
                 "(fixes.databases.keystone)"] if expired else []
        if not has_expires_valid_index(engine):
            notes.append(f"token validation scans without it: create the index by hand "
                         f"(not done by the fix): {INDEX_SQL}")
        notes.append("the lasting cure is a token driver that stores nothing: "
                     "[token] provider = fernet")
        return Plan(runbook=self.fix, changes=changes, notes=notes,
                    args={**args, "batch": batch, "cutoff": cutoff.isoformat(sep=" ")},
                    fingerprint=fingerprint(expired, cutoff.isoformat()))

    def fingerprint(self, ctx: RunbookContext, plan: Plan) -> str:
        cutoff = dt.datetime.fromisoformat(plan.args["cutoff"])
        return fingerprint(expired_rows(ctx.engine(DB), cutoff), cutoff.isoformat())

    def apply(self, ctx: RunbookContext, plan: Plan) -> list[Applied]:
        cutoff = dt.datetime.fromisoformat(plan.args["cutoff"])
        done = []
        for change in plan.changes:
            try:
                report = flush_expired(ctx.engine(DB, write=True), cutoff,
                                       int(plan.args["batch"]))
            except SourceError as error:
                done.append(Applied(change=change, ok=False, result=str(error)))
                continue
            left = expired_rows(ctx.engine(DB), cutoff)
            ok = left == 0
            done.append(Applied(change=change, ok=ok,
                                result=f"applied: {report.summary()}" if ok else
                                f"{left} expired rows left after: {report.summary()}"))
        return done


RUNBOOK = TokenBloat()
