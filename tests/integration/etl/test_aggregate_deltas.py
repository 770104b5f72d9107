"""The KPI aggregate follows a run's fact changes as deltas: a key whose last fact moves
away or is deleted loses its aggregate row, a key that gains its first fact gets one, and
a re-read fact with the same values changes no aggregate row."""

from __future__ import annotations

import psycopg

from tests.integration.etl.env import (
    EtlEnv,
    aggregates_from_facts,
    execute,
    source_dsn,
    source_truth,
    warehouse_truth,
)

LEAD = 800_001
ALONE = "2031-01-15 09:00"  # a day with no other fact of any campaign
MOVED = "2031-02-20 09:00"


def _exact(env: EtlEnv) -> None:
    loaded = warehouse_truth(env.warehouse)
    assert loaded == source_truth(env)
    assert aggregates_from_facts(env.warehouse) == loaded.aggregates


def _keys(env: EtlEnv, campaign: int) -> set[str]:
    with psycopg.connect(env.warehouse) as conn:
        rows = conn.execute(
            "SELECT day::text FROM warehouse.agg_campaign_daily "
            "WHERE campaign_id = %s AND day >= '2031-01-01'",
            (campaign,),
        )
        return {r[0] for r in rows}


def test_a_key_gets_and_loses_its_aggregate_row_with_its_only_fact(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(source_dsn(etl_env.crm)) as conn:
        row = conn.execute("SELECT customer_id, campaign_id FROM leads LIMIT 1").fetchone()
    assert row is not None
    customer, campaign = row

    execute(
        etl_env.crm,
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
        "VALUES (%s, %s, %s, %s, 'new')",
        (LEAD, customer, campaign, ALONE),
    )
    assert etl_env.run().status == "succeeded"
    assert _keys(etl_env, campaign) == {"2031-01-15"}
    _exact(etl_env)

    # The same lead read again with nothing that counts changed: no KPI row changes.
    execute(etl_env.crm, "UPDATE leads SET status = 'qualified' WHERE lead_id = %s", (LEAD,))
    again = etl_env.run()
    assert again.status == "succeeded"
    assert again.rows_loaded["v_lead"] == 1
    assert again.aggregates_changed == 0

    execute(etl_env.crm, "UPDATE leads SET created_at = %s WHERE lead_id = %s", (MOVED, LEAD))
    assert etl_env.run().status == "succeeded"
    assert _keys(etl_env, campaign) == {"2031-02-20"}
    _exact(etl_env)

    execute(etl_env.crm, "DELETE FROM leads WHERE lead_id = %s", (LEAD,))
    assert etl_env.run().status == "succeeded"
    assert _keys(etl_env, campaign) == set()
    _exact(etl_env)


def test_a_first_fact_of_zeros_still_gets_its_aggregate_row(etl_env: EtlEnv) -> None:
    """Keys whose sums did not move are skipped before the upsert; a key that gained its
    first fact row must get its aggregate row even when every figure of that row is 0."""
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(source_dsn(etl_env.ads)) as conn:
        row = conn.execute("SELECT ad_id, campaign_id FROM ads LIMIT 1").fetchone()
    assert row is not None
    ad, campaign = row
    execute(
        etl_env.ads,
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, conversions) "
        "VALUES (%s, %s, 0, 0, 0, 0)",
        (ad, ALONE[:10]),
    )
    assert etl_env.run().status == "succeeded"
    assert _keys(etl_env, campaign) == {"2031-01-15"}
    _exact(etl_env)
