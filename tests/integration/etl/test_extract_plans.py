"""A campaign's CronJob reads its campaign through indexes, not by scanning every source row.

EXPLAIN ANALYZE of each per-campaign extract on a seeded stand-in (300 campaigns, 60,000
customers), with sequential scans priced out (``enable_seqscan = off``), counting the
rows each scan of a table that grows with the business touched (metrics, leads,
conversions, customers and their tombstones): an index path that seeks the campaign's
rows touches hundreds, a scan (or an index read end to end) touches the table. Priced
normally, the planner may prefer a scan at this size (it read all 60,000 customers
rather than probe the key 360 times): its cost call, not a missing index; at the design
scale (500,000 customers) it takes the index by itself (139 ms against 284 ms for the
previous OR form, measured once under load).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine

from etl_job.extract import EXTRACT_ORDER, Scope, extract_query
from etl_job.fetch import driver_statement
from etl_job.seed import SeedSize
from etl_job.source_model import view_source
from harness import services
from tests.integration.etl.env import EtlEnv, make_env, source_dsn

GROWING = (
    "ad_metrics_daily",
    "leads",
    "conversions",
    "customers",
    "ad_metrics_daily_tombstones",
    "leads_tombstones",
    "conversions_tombstones",
)


@pytest.fixture(scope="module")
def seeded(pg_admin_dsn: str, tmp_path_factory: Any) -> Any:
    created: list[str] = []

    def make(prefix: str = "ps_plan") -> str:
        name = services.create_database(pg_admin_dsn, f"{prefix}_plans")
        created.append(name)
        return services.dsn_for_database(pg_admin_dsn, name)

    env = make_env(
        make, tmp_path_factory.mktemp("plans"), SeedSize(campaigns=300, customers=60_000)
    )
    for url in (env.ads, env.crm):
        with psycopg.connect(source_dsn(url), autocommit=True) as conn:
            conn.execute("ANALYZE")
    yield env
    for name in created:
        services.drop_database(pg_admin_dsn, name)


def _plan(env: EtlEnv, view: str, low: int) -> dict[str, Any]:
    url = env.ads if view_source(view) == "ads" else env.crm
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            sql, params = driver_statement(
                conn, extract_query(view, Scope(campaign_id=42)), {"low": low, "high": 2**62}
            )
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("SET enable_seqscan = off")
            row = raw.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()
    finally:
        engine.dispose()
    assert row is not None
    return dict(row[0][0]["Plan"])


def _rows_visited(node: dict[str, Any], totals: dict[str, float]) -> dict[str, float]:
    """Rows each growing table's scans touched: returned plus discarded by a filter."""
    table = node.get("Relation Name")
    if table in GROWING:
        loops = node.get("Actual Loops", 1)
        touched = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        touched += node.get("Rows Removed by Index Recheck", 0)
        totals[table] = totals.get(table, 0) + touched * loops
    for child in node.get("Plans", []):
        _rows_visited(child, totals)
    return totals


@pytest.mark.parametrize("view", [v for v in EXTRACT_ORDER if v != "v_channel"])
@pytest.mark.parametrize("window", ["first-run", "incremental"])
def test_campaign_extract_is_served_by_indexes(seeded: EtlEnv, view: str, window: str) -> None:
    low = 0 if window == "first-run" else 2**61  # an incremental window: few rows in it
    visited = _rows_visited(_plan(seeded, view, low), {})
    # Campaign 42 of 300 owns well under 1% of any table; a scan would touch all of it.
    assert all(rows < 3_000 for rows in visited.values()), visited
