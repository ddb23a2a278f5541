"""``token-bloat`` and its fix ``token-flush``: on the simulator's token-bloat scenario
(the diagnosis names the service user, the flush makes it OK, the audit holds it), and
on a real MariaDB holding 1,000,000 token rows, where no statement of the flush may take
a second."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from stackwatch.catalog.loader import default_catalog
from stackwatch.config import parse_config
from stackwatch.model import Collection, Sample
from stackwatch.runbooks import fixer, registry
from stackwatch.runbooks.books.token_bloat import INDEX_SQL
from stackwatch.runbooks.context import RunbookContext
from stackwatch.sim.cloud import SimulatedCloud
from stackwatch.sim.db import scenarios, schema
from stackwatch.store.base import Store

from .conftest import OPERATOR, ContextMaker

pytestmark = pytest.mark.integration

ENABLED = {"enabled": ["token-flush"]}


def token_counts(engine: sa.Engine, now: dt.datetime) -> tuple[int, int]:
    """(expired, live) rows of keystone's token table."""
    with engine.connect() as conn:
        expired = conn.execute(sa.text("SELECT count(*) FROM token WHERE expires < :t"),
                               {"t": now}).scalar_one()
        live = conn.execute(sa.text("SELECT count(*) FROM token WHERE expires >= :t"),
                            {"t": now}).scalar_one()
    return int(expired), int(live)


@pytest.fixture
def bloated(cloud: SimulatedCloud) -> Iterator[None]:
    cloud.inject("token-bloat", rows="20000", user="nova")
    cloud.flush()
    yield
    cloud.clear("token-bloat")


def test_an_empty_table_is_ok_with_the_revocation_events(contexts: ContextMaker) -> None:
    found = fixer.diagnose(registry.runbook("token-bloat"), contexts())
    assert found.verdict == "OK" and "no stored tokens" in found.summary, found
    assert {"revocation events", "fernet primary key age"} <= {e.label for e in found.evidence}


def test_the_sim_scenario_is_named_flushed_to_ok_and_audited(
        cloud: SimulatedCloud, bloated: None, contexts: ContextMaker, store: Store) -> None:
    fix = registry.fix("token-flush")
    now = time.time()  # what sql.keystone would have stored: 8,000 rows two hours ago
    store.write(Collection(tuple(Sample.of("openstack_keystone_db_tokens", n, t)
                                 for n, t in ((8000, now - 7200), (20000, now - 60)))))
    assert registry.runbook("token-bloat") is fix
    sick = fixer.diagnose(fix, contexts())
    assert sick.verdict == "WARNING", sick
    assert "nova holds" in sick.summary  # the user by name, not by id
    evidence = {e.label: e.value for e in sick.evidence}
    assert evidence["token rows"] == "20,000"
    expired = int(evidence["expired rows"].replace(",", ""))
    assert 10_000 < expired < 14_000  # the scenario's 60 %
    assert evidence["index on (expires, valid)"] == "present"
    assert evidence["growth"] == f"{12000 / (7140 / 3600):+,.0f} rows/hour"
    assert any("fix token-flush" in a for a in sick.advice)
    plan = fixer.dry_run(fix, contexts(**ENABLED))
    [change] = plan.changes
    assert change.target == "keystone.token" and change.before.startswith(f"{expired} rows")
    assert fixer.diagnose(fix, contexts()).evidence == sick.evidence  # nothing changed
    outcome = fixer.apply(fix, contexts(**ENABLED))
    assert outcome.ok, outcome.applied
    assert outcome.applied[0].result.startswith(f"applied: deleted {expired} rows")
    healthy = fixer.diagnose(fix, contexts())
    assert healthy.verdict == "OK", healthy
    assert {e.label: e.value for e in healthy.evidence}["expired rows"] == "0"
    applied = [e for e in store.audit(0, time.time() + 1, runbook="token-flush")
               if not e.dry_run]
    assert [e.result.split(":")[0] for e in applied] == ["applied"]
    assert applied[0].actor == OPERATOR.name and applied[0].target == "keystone.token"


def test_a_flush_whose_rows_changed_since_the_dry_run_is_refused(
        cloud: SimulatedCloud, bloated: None, contexts: ContextMaker) -> None:
    fix = registry.fix("token-flush")
    plan = fixer.dry_run(fix, contexts(**ENABLED))
    engine = sa.create_engine(cloud.db_urls["keystone"])
    try:
        cutoff = dt.datetime.fromisoformat(plan.args["cutoff"])
        before = token_counts(engine, cutoff)
        with engine.begin() as conn:  # keystone's own token_flush got there first, partly
            conn.execute(sa.text("DELETE FROM token WHERE id IN (SELECT id FROM token WHERE "
                                 "expires < :t LIMIT 10)"), {"t": cutoff})
        with pytest.raises(Exception, match="changed since the dry run"):
            fixer.apply(fix, contexts(**ENABLED))
        assert token_counts(engine, cutoff) == (before[0] - 10, before[1])
    finally:
        engine.dispose()


def test_bad_arguments_are_refused_naming_them(contexts: ContextMaker) -> None:
    fix = registry.fix("token-flush")
    with pytest.raises(Exception, match="batch='lots' is not a number"):
        fixer.dry_run(fix, contexts(), {"batch": "lots"})


# ------------------------------------------------------------------ a million rows
MILLION = 1_000_000


@pytest.fixture(scope="module")
def million(mariadb: Any) -> Iterator[str]:
    """A MariaDB keystone database with 1,000,000 token rows, 60 % expired, 90 % of
    them a service user's, and no (expires, valid) index; its URL."""
    url = mariadb.create_database("keystone_million")
    engine = sa.create_engine(url)
    try:
        schema.metadata("keystone").create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO user (id, enabled, domain_id) VALUES "
                                 "('u-nova', 1, 'default'), ('u-alice', 1, 'default')"))
            conn.execute(sa.text("INSERT INTO local_user (user_id, domain_id, name) VALUES "
                                 "('u-nova', 'default', 'nova'), "
                                 "('u-alice', 'default', 'alice')"))
            # (dropped before the bulk load, which builds again only the indexes it found)
            conn.execute(sa.text("DROP INDEX ix_token_expires_valid ON token"))
        assert scenarios.bloat_tokens(engine, rows=MILLION, service_user_id="u-nova",
                                      other_user_ids=["u-alice"]) == MILLION
    finally:
        engine.dispose()
    yield url


def test_a_million_rows_are_flushed_without_a_statement_over_a_second(
        million: str, store: Store) -> None:
    config = parse_config({"clouds": [{"name": "c", "databases": {"keystone": million}}],
                           "fixes": ENABLED})
    ctx = RunbookContext(config, config.clouds[0], default_catalog(), OPERATOR, store)
    try:
        fix = registry.fix("token-flush")
        sick = fixer.diagnose(fix, ctx)
        assert sick.verdict == "CRITICAL", sick
        evidence = {e.label: e.value for e in sick.evidence}
        assert evidence["token rows"] == f"{MILLION:,}"
        assert evidence["index on (expires, valid)"] == "missing"
        assert evidence["rows of nova"].endswith("(90 %)")
        assert float(evidence["table size"].split()[0].replace(",", "")) > 50
        plan = fixer.dry_run(fix, ctx)
        assert any(INDEX_SQL in n for n in plan.notes)
        cutoff = dt.datetime.fromisoformat(plan.args["cutoff"])
        expired, live = token_counts(ctx.engine("keystone"), cutoff)
        assert 550_000 < expired < 650_000

        statements: list[tuple[float, str]] = []
        writer = ctx.engine("keystone", write=True)

        def start(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
            conn.info["started"] = time.perf_counter()

        def end(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
            statements.append((time.perf_counter() - conn.info.pop("started"), sql))

        sa.event.listen(writer, "before_cursor_execute", start)
        sa.event.listen(writer, "after_cursor_execute", end)
        started = time.monotonic()
        outcome = fixer.apply(fix, ctx)
        took = time.monotonic() - started
        assert outcome.ok, outcome.applied
        deletes = [t for t, sql in statements if sql.lstrip().upper().startswith("DELETE")]
        assert len(deletes) > 50  # many short statements, not one long one
        longest = max(t for t, _ in statements)
        print(f"\ntoken flush: {expired} of {MILLION} rows in {took:.1f} s "
              f"({expired / took:,.0f} rows/s), {len(statements)} statements, "
              f"longest {longest:.3f} s")
        assert longest < 1.0, sorted(statements)[-3:]
        assert token_counts(ctx.engine("keystone"), cutoff) == (0, live)
    finally:
        ctx.close()
