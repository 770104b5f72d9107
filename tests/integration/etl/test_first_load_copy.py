"""The first-load fact COPY creates monthly partitions as batches need them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg

from etl_job import bulk
from etl_job.extract import Scope, extract_query
from tests.integration.etl.env import EtlEnv


def _metric(ad_id: int, day: dt.date, spend_cents: int = 100) -> tuple[object, ...]:
    return (ad_id, 1, day, 10, 1, spend_cents, 0, 7)


def test_later_batches_with_new_months_get_their_partitions(etl_env: EtlEnv) -> None:
    warehouse = etl_env.fresh_warehouse()
    fact = bulk.DIRECT_FACTS["v_ad_metrics_daily"]
    campaigns, ads = {1}, {10, 11}
    batches = [
        [_metric(10, dt.date(2026, 7, 31))],
        [_metric(10, dt.date(2026, 9, 1)), _metric(12, dt.date(2026, 12, 1))],  # 12: unknown
        [_metric(11, dt.date(2026, 8, 15)), _metric(11, dt.date(2026, 7, 1))],  # covered
        [_metric(11, dt.date(2026, 5, 31), -100)],  # quarantined: needs no partition
        [_metric(11, dt.date(2026, 6, 30), 1234)],  # before the covered months
    ]
    with psycopg.connect(warehouse) as wh:
        run_id = wh.execute(
            "INSERT INTO warehouse.etl_run (scope, status, started_at, duration_ms) "
            "VALUES ('all', 'succeeded', now(), 0) RETURNING run_id"
        ).fetchone()
        assert run_id is not None
        done = bulk.copy_facts(
            wh,
            fact,
            batches,
            bulk.rule_for(fact.view, campaigns, ads),
            bulk.accept_for(fact.view, campaigns, ads),
            run_id[0],
            # The columns as the run passes them: the extract query's.
            [c.name for c in extract_query("v_ad_metrics_daily", Scope()).selected_columns],
        )
        wh.commit()
        loaded = wh.execute(
            "SELECT ad_id, day, (spend_cents / 100.0)::numeric(14, 2) "
            "FROM warehouse.fact_ad_daily ORDER BY day"
        ).fetchall()
        partitions = wh.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'warehouse.fact_ad_daily'::regclass ORDER BY 1"
        ).fetchall()
        reasons = wh.execute(
            "SELECT source_key, reason, payload->>'spend', payload ? 'spend_cents' "
            "FROM warehouse.etl_quarantine ORDER BY 1"
        ).fetchall()
    assert (done.loaded, done.quarantined) == (5, 2)
    assert loaded == [
        (11, dt.date(2026, 6, 30), Decimal("12.34")),  # stored as cents
        (11, dt.date(2026, 7, 1), Decimal("1.00")),
        (10, dt.date(2026, 7, 31), Decimal("1.00")),
        (11, dt.date(2026, 8, 15), Decimal("1.00")),
        (10, dt.date(2026, 9, 1), Decimal("1.00")),
    ]
    assert [name for (name,) in partitions] == [
        f"fact_ad_daily_2026_{month:02d}" for month in (6, 7, 8, 9)
    ]
    # The quarantine keeps the row as the source view has it: spend in money, not cents.
    assert reasons == [
        ("11/2026-05-31", "negative metric", "-1.00", False),
        ("12/2026-12-01", "unknown ad", "1.00", False),
    ]
