"""Full load, incremental loads, late commits and scopes against real PostgreSQL databases."""

from __future__ import annotations

import threading

import psycopg
import pytest

from etl_job import bulk
from etl_job.extract import Scope
from tests.integration.etl.env import (
    EtlEnv,
    execute,
    snapshot,
    source_aggregates,
    source_dsn,
    warehouse_aggregates,
)


def _mutate_sources(env: EtlEnv) -> None:
    """Inserts, updates and a fact that moves to another day, in both sources."""
    execute(
        env.ads,
        "UPDATE ad_metrics_daily SET spend = spend + 1.25, clicks = clicks + 3 "
        "WHERE ad_id IN (1, 5) AND day = (SELECT max(day) FROM ad_metrics_daily)",
    )
    execute(
        env.ads,
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, "
        "conversions) SELECT ad_id, max(day) + 1, 1000, 10, 12.50, 1 FROM ad_metrics_daily "
        "GROUP BY ad_id",
    )
    # A lead that changes campaign on the same day: its old (campaign, day) loses a lead.
    execute(
        env.crm,
        "UPDATE leads SET campaign_id = 5 "
        "WHERE lead_id = (SELECT min(lead_id) FROM leads WHERE campaign_id <> 5)",
    )
    # An ad moved to another campaign: its metrics move between campaigns' aggregates.
    execute(env.ads, "UPDATE ads SET campaign_id = 6 WHERE ad_id = 2")
    execute(env.ads, "UPDATE ad_metrics_daily SET impressions = impressions + 1 WHERE ad_id = 2")
    execute(env.ads, "UPDATE campaigns SET name = name || ' (renamed)' WHERE campaign_id = 2")
    execute(env.ads, "UPDATE budgets SET amount = amount + 100 WHERE campaign_id = 3")
    execute(env.crm, "UPDATE customers SET email = 'moved.' || email WHERE customer_id <= 5")
    execute(
        env.crm,
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
        "VALUES (900001, 7, 4, '2026-09-29 10:00', 'new')",
    )
    execute(
        env.crm,
        "INSERT INTO conversions (conversion_id, customer_id, campaign_id, lead_id, "
        "converted_at, revenue) VALUES (900001, 7, 4, 900001, '2026-09-29 12:00', 99.99)",
    )
    execute(
        env.crm,
        "UPDATE conversions SET converted_at = converted_at + interval '3 days', "
        "campaign_id = 1 WHERE conversion_id = (SELECT min(conversion_id) FROM conversions)",
    )


def test_full_then_incremental_equals_from_scratch_recompute(etl_env: EtlEnv) -> None:
    first = etl_env.run()
    assert first.status == "succeeded", first.error
    assert first.rows_read["v_ad_metrics_daily"] > 0
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)

    _mutate_sources(etl_env)
    second = etl_env.run()
    assert second.status == "succeeded", second.error
    assert 0 < second.rows_read["v_ad_metrics_daily"] < first.rows_read["v_ad_metrics_daily"]
    assert second.rows_read["v_customer"] == 5

    fresh = etl_env.fresh_warehouse()
    assert etl_env.run(warehouse=fresh).status == "succeeded"
    assert snapshot(etl_env.warehouse) == snapshot(fresh)
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


def test_a_first_load_leaves_statistics_on_the_partitioned_facts(etl_env: EtlEnv) -> None:
    """Autovacuum never analyzes a partitioned parent, and every merge joins against one:
    the first load gathers the parents' statistics itself (``bulk.analyze_facts``)."""
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(etl_env.warehouse) as wh:
        analyzed = wh.execute(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'warehouse' "
            "AND tablename = ANY(%s)",
            ([fact.table for fact in bulk.DIRECT_FACTS.values()],),
        ).fetchall()
    assert sorted(row[0] for row in analyzed) == sorted(
        fact.table for fact in bulk.DIRECT_FACTS.values()
    )


def test_late_commit_below_the_watermark_is_not_skipped(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    # T1 takes the older transaction id and stays open; T2 starts later and commits first.
    late = psycopg.connect(source_dsn(etl_env.ads))
    try:
        late.execute(
            "UPDATE ad_metrics_daily SET spend = 777.77 WHERE ad_id = 2 "
            "AND day = (SELECT min(day) FROM ad_metrics_daily)"
        )
        execute(
            etl_env.ads,
            "UPDATE ad_metrics_daily SET spend = 555.55 WHERE ad_id = 3 "
            "AND day = (SELECT min(day) FROM ad_metrics_daily)",
        )
        middle = etl_env.run()
        assert middle.status == "succeeded", middle.error
        late.commit()
    finally:
        late.close()
    last = etl_env.run()
    assert last.status == "succeeded", last.error
    with psycopg.connect(etl_env.warehouse) as conn:
        spends: dict[int, object] = dict(
            conn.execute(
                "SELECT ad_id, (spend_cents / 100.0)::numeric(14, 2) FROM warehouse.fact_ad_daily "
                "WHERE ad_id IN (2, 3) "
                "AND day = (SELECT min(day) FROM warehouse.fact_ad_daily)"
            ).fetchall()
        )
    assert {k: str(v) for k, v in spends.items()} == {2: "777.77", 3: "555.55"}
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


def test_rerun_without_changes_writes_nothing(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    tables = [
        "dim_channel",
        "dim_campaign",
        "dim_ad",
        "dim_customer",
        "fact_ad_daily",
        "fact_lead",
        "fact_conversion",
        "agg_campaign_daily",
        "dim_date",
        "etl_watermark",
        "pii_data_keys",
        "etl_quarantine",
    ]

    def versions() -> dict[str, list[str]]:
        with psycopg.connect(etl_env.warehouse) as conn:
            return {
                t: sorted(
                    r[0]
                    for r in conn.execute(
                        f"SELECT xmin::text || ctid::text FROM warehouse.{t}"
                    ).fetchall()
                )
                for t in tables
            }

    before = versions()
    again = etl_env.run()
    assert again.status == "succeeded"
    assert sum(again.rows_read.values()) == 0
    assert sum(again.rows_loaded.values()) == 0
    assert again.aggregates_changed == 0
    assert versions() == before


def test_campaign_scope_loads_only_that_campaign_then_all_converges(etl_env: EtlEnv) -> None:
    one = etl_env.run(Scope(campaign_id=2))
    assert one.status == "succeeded", one.error
    with psycopg.connect(etl_env.warehouse) as conn:
        campaigns = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT campaign_id FROM warehouse.fact_ad_daily"
            ).fetchall()
        }
        orphan_leads = conn.execute(
            "SELECT count(*) FROM warehouse.fact_lead l LEFT JOIN warehouse.dim_customer c "
            "USING (customer_id) WHERE c.customer_id IS NULL"
        ).fetchone()
    assert campaigns == {2}
    assert orphan_leads == (0,)
    assert etl_env.run().status == "succeeded"
    assert etl_env.run(Scope(campaign_id=2)).rows_loaded["v_ad_metrics_daily"] == 0
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


def test_concurrent_runs_of_one_scope_never_double_count(etl_env: EtlEnv) -> None:
    results = []

    def worker() -> None:
        results.append(etl_env.run(lock_wait_seconds=0))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status for r in results)
    assert "succeeded" in statuses
    assert set(statuses) <= {"succeeded", "skipped"}
    assert all(r.exit_code == 0 for r in results)
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


def test_second_run_skips_while_scope_is_locked(etl_env: EtlEnv) -> None:
    with psycopg.connect(etl_env.warehouse) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('promptsales-etl:all', 0))")
        skipped = etl_env.run()
        other_scope = etl_env.run(Scope(campaign_id=1))
    assert skipped.status == "skipped"
    assert skipped.exit_code == 0
    assert other_scope.status == "succeeded"
    assert etl_env.run().status == "succeeded"
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


def test_overlapping_scopes_at_once_converge(etl_env: EtlEnv) -> None:
    _mutate_sources(etl_env)
    results = []
    threads = [
        threading.Thread(target=lambda s=s: results.append(etl_env.run(s)))
        for s in (Scope(), Scope(campaign_id=1), Scope(campaign_id=4))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    assert warehouse_aggregates(etl_env.warehouse) == source_aggregates(etl_env)


_INDEXES_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'warehouse'
ORDER BY c.relname
"""


@pytest.mark.parametrize("defer_from_rows", [0, 10**9])
def test_first_load_leaves_the_same_indexes_as_the_schema(
    etl_env: EtlEnv, monkeypatch: pytest.MonkeyPatch, defer_from_rows: int
) -> None:
    """A large first load rebuilds fact secondary indexes after its COPY; none may go missing
    (the small seed needs a threshold of 0 to take that path)."""
    monkeypatch.setattr(bulk, "DEFER_INDEX_ROWS", defer_from_rows)
    assert etl_env.run().status == "succeeded"
    reference = etl_env.fresh_warehouse()
    with psycopg.connect(etl_env.warehouse) as wh, psycopg.connect(reference) as ref:
        for table in ("fact_ad_daily", "fact_lead", "fact_conversion"):
            span = wh.execute(f"SELECT min(day), max(day) FROM warehouse.{table}").fetchone()
            assert span is not None
            assert span[0] is not None
            ref.execute("SELECT warehouse.ensure_month_partitions(%s, %s, %s)", (table, *span))
        loaded = wh.execute(_INDEXES_SQL).fetchall()
        expected = ref.execute(_INDEXES_SQL).fetchall()
    assert any("campaign_id, day" in definition for _, definition, _ in loaded)
    assert loaded == expected
    assert all(valid for _, _, valid in loaded)


def test_merged_tables_leave_room_for_in_page_updates(etl_env: EtlEnv) -> None:
    """Customers, fact partitions (created by the load) and the KPI aggregate keep a tenth
    of each page free, so a merge's updates can stay on their page (HOT) instead of adding
    an entry to every index."""
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(etl_env.warehouse) as wh:
        rows = wh.execute(
            "SELECT c.relname, c.reloptions FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'warehouse' AND c.relkind = 'r' "
            "AND (c.relname IN ('dim_customer', 'agg_campaign_daily') "
            "OR c.relname ~ '^fact_(ad_daily|lead|conversion)_[0-9]{4}_[0-9]{2}$')"
        ).fetchall()
    partitions = [name for name, _ in rows if name.startswith("fact_")]
    assert len(partitions) >= 3
    assert {name: options for name, options in rows} == {
        name: ["fillfactor=90"] for name, _ in rows
    }
