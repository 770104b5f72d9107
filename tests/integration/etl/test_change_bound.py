"""The stand-in's safe bound against transactions that finish while a run takes its snapshot.

The race is made deterministic with an engine hook: just before the ads source's bound query
runs, the hook takes the run's snapshot (the transaction's first statement, REPEATABLE READ)
and then commits a transaction that was open at that snapshot. The bound query then sees that
transaction id in its snapshot while ``pg_stat_activity`` no longer shows whose it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from tests.integration.etl.env import EtlEnv, execute, source_dsn

_DAY = "(SELECT min(day) FROM ad_metrics_daily)"


@contextmanager
def _between_snapshot_and_bound(env: EtlEnv, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` after the ads bound's snapshot is taken, before the bound is computed."""
    ads_database = make_url(env.ads).database
    fired: list[bool] = []

    def hook(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if fired or "pg_current_snapshot" not in statement:
            return
        if conn.engine.url.database != ads_database:
            return
        fired.append(True)
        cursor.execute("SELECT 1")  # first statement: fixes the REPEATABLE READ snapshot
        action()

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", hook)
    assert fired, "the ads bound query never ran"


def _spend(env: EtlEnv, ad_id: int) -> str:
    with psycopg.connect(env.warehouse) as conn:
        row = conn.execute(
            "SELECT (spend_cents / 100.0)::numeric(14, 2) FROM warehouse.fact_ad_daily "
            "WHERE ad_id = %s "
            "AND day = (SELECT min(day) FROM warehouse.fact_ad_daily)",
            (ad_id,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def _set_spend(target: psycopg.Connection | str, ad_id: int, spend: str) -> None:
    statement = f"UPDATE ad_metrics_daily SET spend = %s WHERE ad_id = %s AND day = {_DAY}"
    if isinstance(target, str):
        execute(target, statement, (spend, ad_id))
    else:
        target.execute(statement, (spend, ad_id))


def test_other_database_commit_after_the_snapshot_does_not_hold_rows_back(
    etl_env: EtlEnv,
) -> None:
    assert etl_env.run().status == "succeeded"
    # A transaction in another database takes its id before the ads change is written, so
    # if it counted it would put the bound below the change.
    other = psycopg.connect(etl_env.make_db("ps_other"))
    try:
        other.execute("SELECT pg_current_xact_id()")
        _set_spend(etl_env.ads, 2, "444.44")
        with _between_snapshot_and_bound(etl_env, other.commit):
            summary = etl_env.run()
    finally:
        other.close()
    assert summary.status == "succeeded", summary.error
    assert _spend(etl_env, 2) == "444.44"


def test_same_database_commit_after_the_snapshot_still_holds_rows_back(
    etl_env: EtlEnv,
) -> None:
    assert etl_env.run().status == "succeeded"
    late = psycopg.connect(source_dsn(etl_env.ads))
    try:
        _set_spend(late, 2, "777.77")  # older id, committed only after the run's snapshot
        _set_spend(etl_env.ads, 3, "555.55")
        with _between_snapshot_and_bound(etl_env, late.commit):
            middle = etl_env.run()
    finally:
        late.close()
    assert middle.status == "succeeded", middle.error
    # The late transaction's row is invisible to the run's snapshot, so the bound must stay
    # at or below its id (else the next run would start above it and never read the row),
    # which also holds back the younger, committed change.
    assert _spend(etl_env, 3) != "555.55"
    last = etl_env.run()
    assert last.status == "succeeded", last.error
    assert (_spend(etl_env, 2), _spend(etl_env, 3)) == ("777.77", "555.55")
