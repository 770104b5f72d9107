"""A warehouse created when facts stored ``spend`` itself is converted to cents in place."""

from __future__ import annotations

import psycopg

from etl_job.warehouse import init_warehouse
from tests.integration.etl.env import (
    EtlEnv,
    execute,
    snapshot,
    source_aggregates,
    warehouse_aggregates,
)

_OLD_FACT_AD_DAILY = """
CREATE TABLE warehouse.fact_ad_daily (
    day             date    NOT NULL,
    ad_id           integer NOT NULL,
    campaign_id     integer NOT NULL,
    impressions     bigint  NOT NULL,
    clicks          bigint  NOT NULL,
    spend           numeric(14, 2) NOT NULL,
    conversions     integer NOT NULL,
    source_version  bigint  NOT NULL,
    PRIMARY KEY (day, ad_id)
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS fact_ad_daily_campaign_day_idx
    ON warehouse.fact_ad_daily (campaign_id, day);
"""
"""``fact_ad_daily`` as the schema before ``spend_cents`` created it."""


def _downgrade_to_old_schema(warehouse: str) -> None:
    with psycopg.connect(warehouse) as conn:
        conn.execute(
            "CREATE TEMP TABLE old_rows AS SELECT day, ad_id, campaign_id, impressions, clicks, "
            "(spend_cents / 100.0)::numeric(14, 2) AS spend, conversions, source_version "
            "FROM warehouse.fact_ad_daily"
        )
        conn.execute("DROP TABLE warehouse.fact_ad_daily")
        conn.execute(_OLD_FACT_AD_DAILY)
        conn.execute(
            "SELECT warehouse.ensure_month_partitions('fact_ad_daily', min(day), max(day)) "
            "FROM old_rows"
        )
        conn.execute("INSERT INTO warehouse.fact_ad_daily SELECT * FROM old_rows")
        cents = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'warehouse' "
            "AND table_name = 'fact_ad_daily' AND column_name = 'spend_cents'"
        ).fetchone()
        assert cents == (0,)


def test_init_schema_converts_an_old_warehouse_and_loads_continue(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    loaded = snapshot(etl_env.warehouse)
    assert loaded["fact_ad_daily"]
    _downgrade_to_old_schema(etl_env.warehouse)

    init_warehouse(etl_env.warehouse)
    init_warehouse(etl_env.warehouse)  # converted once; a second run changes nothing

    assert snapshot(etl_env.warehouse) == loaded
    with psycopg.connect(etl_env.warehouse) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'warehouse' "
            "AND table_name = 'fact_ad_daily' AND column_name LIKE 'spend%'"
        ).fetchall()
    assert columns == [("spend_cents",)]
    # The staged merge writes cents into the converted table (new partitions included).
    execute(
        etl_env.ads,
        "UPDATE ad_metrics_daily SET spend = spend + 0.07 "
        "WHERE day = (SELECT max(day) FROM ad_metrics_daily)",
    )
    execute(
        etl_env.ads,
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, conversions) "
        "SELECT ad_id, max(day) + 40, 10, 1, 0.01, 0 FROM ad_metrics_daily GROUP BY ad_id",
    )
    again = etl_env.run()
    assert again.status == "succeeded", again.error
    assert again.rows_quarantined["v_ad_metrics_daily"] == 0
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)
