"""The warehouse stays exact through late parents, moved rows and deletes (issue 15).

Every test compares the warehouse with :func:`source_truth`, a recompute written from the
source tables, not from the ETL views.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from etl_job.extract import Scope
from tests.integration.etl.env import (
    EtlEnv,
    aggregates_from_facts,
    execute,
    snapshot,
    source_dsn,
    source_truth,
    warehouse_truth,
)

LATE_CAMPAIGN = 1003


def _assert_exact(env: EtlEnv, *, every_customer: bool = True) -> None:
    """Campaign-scoped runs load only the customers their campaign's rows name."""
    loaded, truth = warehouse_truth(env.warehouse), source_truth(env)
    if not every_customer:
        assert loaded.customer_ids <= truth.customer_ids
        loaded.customer_ids = truth.customer_ids
    assert loaded == truth
    assert aggregates_from_facts(env.warehouse) == loaded.aggregates


def _quarantine_states(env: EtlEnv) -> dict[tuple[str, str, str], int]:
    status = json.loads(env.cli("etl", "status").stdout)
    return {(q["source_view"], q["reason"], q["state"]): q["rows"] for q in status["quarantine"]}


@pytest.mark.parametrize("scope", [Scope(), Scope(campaign_id=LATE_CAMPAIGN)], ids=["all", "one"])
def test_rows_of_a_campaign_still_uncommitted_in_promptads_load_once_it_commits(
    etl_env: EtlEnv, scope: Scope
) -> None:
    assert etl_env.run().status == "succeeded"
    ads = psycopg.connect(source_dsn(etl_env.ads))
    try:
        ads.execute(
            "INSERT INTO campaigns (campaign_id, channel_id, name, status, start_date) "
            "VALUES (%s, 1, 'Late launch', 'active', '2026-09-01')",
            (LATE_CAMPAIGN,),
        )
        ads.execute(
            "INSERT INTO budgets (budget_id, campaign_id, amount, currency) "
            "VALUES (9003, %s, 5000, 'USD')",
            (LATE_CAMPAIGN,),
        )
        # PromptCRM has no commit order with PromptAds: its rows are committed first.
        execute(
            etl_env.crm,
            "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
            "SELECT 700000 + g, g, %s, timestamp '2026-09-20 09:00' + g * interval '1 hour', "
            "'new' FROM generate_series(1, 10) g",
            (LATE_CAMPAIGN,),
        )
        execute(
            etl_env.crm,
            "INSERT INTO conversions (conversion_id, customer_id, campaign_id, lead_id, "
            "converted_at, revenue) SELECT 700000 + g, g, %s, 700000 + g, "
            "timestamp '2026-09-21 10:00' + g * interval '1 hour', 400 "
            "FROM generate_series(1, 5) g",
            (LATE_CAMPAIGN,),
        )
        early = etl_env.run(scope)
        assert early.status == "succeeded", early.error
        assert early.rows_quarantined["v_lead"] == 10
        assert early.rows_quarantined["v_conversion"] == 5
        assert _quarantine_states(etl_env) == {
            ("v_conversion", "unknown campaign", "waiting for parent"): 5,
            ("v_lead", "unknown campaign", "waiting for parent"): 10,
        }
        ads.commit()
    finally:
        ads.close()
    settled = etl_env.run(scope)
    assert settled.status == "succeeded", settled.error
    assert settled.rows_loaded["v_lead"] == 10
    assert settled.rows_loaded["v_conversion"] == 5
    with psycopg.connect(etl_env.warehouse) as conn:
        kpis = conn.execute(
            "SELECT leads, conversions, revenue FROM warehouse.campaign_kpis(%s, %s, %s)",
            (LATE_CAMPAIGN, dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
        ).fetchone()
    assert kpis is not None
    assert (kpis[0], kpis[1], str(kpis[2])) == (10, 5, "2000.00")
    assert _quarantine_states(etl_env) == {
        ("v_conversion", "unknown campaign", "resolved: loaded"): 5,
        ("v_lead", "unknown campaign", "resolved: loaded"): 10,
    }
    assert etl_env.run().status == "succeeded"
    _assert_exact(etl_env)


def test_a_bad_parent_reference_corrected_in_the_source_flows_through(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    execute(
        etl_env.ads,
        "INSERT INTO ads (ad_id, campaign_id, headline) VALUES (99001, 999, 'Typo campaign')",
    )
    execute(
        etl_env.ads,
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, conversions) "
        "SELECT 99001, d::date, 1000, 20, 15.50, 1 "
        "FROM generate_series(date '2026-09-25', date '2026-09-30', interval '1 day') d",
    )
    bad = etl_env.run()
    assert bad.rows_quarantined["v_ad"] == 1
    assert bad.rows_quarantined["v_ad_metrics_daily"] == 6
    execute(etl_env.ads, "UPDATE ads SET campaign_id = 5 WHERE ad_id = 99001")
    fixed = etl_env.run()
    assert fixed.status == "succeeded", fixed.error
    assert fixed.rows_loaded["v_ad_metrics_daily"] == 6
    assert fixed.rows_quarantined == {view: 0 for view in fixed.rows_quarantined}
    _assert_exact(etl_env)
    states = _quarantine_states(etl_env)
    assert set(states) == {
        ("v_ad", "unknown campaign", "resolved: superseded"),
        ("v_ad_metrics_daily", "unknown campaign", "resolved: superseded"),
    }


@pytest.mark.parametrize("scope", [Scope(), Scope(campaign_id=2)], ids=["all", "new-campaign"])
def test_an_ad_moved_to_another_campaign_takes_its_facts_along(
    etl_env: EtlEnv, scope: Scope
) -> None:
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(source_dsn(etl_env.ads)) as conn:
        row = conn.execute(
            "SELECT campaign_id, count(*) FROM ad_metrics_daily JOIN ads USING (ad_id) "
            "WHERE ad_id = 1 GROUP BY 1"
        ).fetchone()
    assert row is not None
    assert row[0] != 2
    execute(etl_env.ads, "UPDATE ads SET campaign_id = 2 WHERE ad_id = 1")
    moved = etl_env.run(scope)
    assert moved.status == "succeeded", moved.error
    assert moved.rows_loaded["v_ad_metrics_daily"] == row[1]
    _assert_exact(etl_env)


def _delete_some_of_everything(env: EtlEnv) -> None:
    execute(
        env.ads,
        "DELETE FROM ad_metrics_daily WHERE ad_id IN (1, 4) AND day >= '2026-09-25'",
    )
    execute(env.ads, "DELETE FROM budgets WHERE budget_id = (SELECT min(budget_id) FROM budgets)")
    execute(env.crm, "DELETE FROM conversions WHERE mod(conversion_id, 3) = 0")
    execute(env.crm, "DELETE FROM leads WHERE mod(lead_id, 5) = 0")
    # A customer erased on request, with everything that names them.
    execute(env.crm, "DELETE FROM conversions WHERE customer_id = 11")
    execute(env.crm, "DELETE FROM leads WHERE customer_id = 11")
    execute(env.crm, "DELETE FROM customers WHERE customer_id = 11")


@pytest.mark.parametrize("first", ["incremental", "first-load"])
def test_deletes_in_both_sources_leave_the_warehouse(etl_env: EtlEnv, first: str) -> None:
    if first == "incremental":
        assert etl_env.run().status == "succeeded"
    _delete_some_of_everything(etl_env)
    run = etl_env.run()
    assert run.status == "succeeded", run.error
    _assert_exact(etl_env)
    if first == "incremental":
        assert run.rows_read["v_lead_deleted"] > 0
        assert run.rows_loaded["v_customer_deleted"] == 1
    # Deleted rows that come back (a restored backup, a re-imported sale) load again.
    execute(
        etl_env.crm,
        "INSERT INTO customers (customer_id, first_name, last_name, email, country, created_at) "
        "VALUES (11, 'Back', 'Again', 'back.again@example.com', 'PT', '2026-01-01')",
    )
    execute(
        etl_env.crm,
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
        "VALUES (5, 11, 1, '2026-09-12 08:00', 'new')",
    )
    assert etl_env.run().status == "succeeded"
    _assert_exact(etl_env)


def test_deletes_reach_campaign_scoped_runs(etl_env: EtlEnv) -> None:
    for campaign in range(1, 7):
        assert etl_env.run(Scope(campaign_id=campaign)).status == "succeeded"
    _delete_some_of_everything(etl_env)
    for campaign in range(1, 7):
        run = etl_env.run(Scope(campaign_id=campaign))
        assert run.status == "succeeded", run.error
    _assert_exact(etl_env, every_customer=False)
    with psycopg.connect(etl_env.warehouse) as conn:
        erased = conn.execute("SELECT count(*) FROM warehouse.dim_customer WHERE customer_id = 11")
        assert erased.fetchone() == (0,)


def test_a_delete_and_reinsert_in_one_transaction_keeps_the_row(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(source_dsn(etl_env.crm)) as conn:
        conn.execute("DELETE FROM conversions WHERE conversion_id = 1")
        conn.execute(
            "INSERT INTO conversions (conversion_id, customer_id, campaign_id, converted_at, "
            "revenue) VALUES (1, 2, 3, '2026-09-15 12:00', 123.45)"
        )
    assert etl_env.run().status == "succeeded"
    _assert_exact(etl_env)


def test_a_run_ends_after_it_starts_and_status_says_so(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    execute(etl_env.ads, "UPDATE ad_metrics_daily SET clicks = clicks + 1 WHERE ad_id = 1")
    assert etl_env.run().status == "succeeded"
    with psycopg.connect(etl_env.warehouse) as conn:
        rows = conn.execute(
            "SELECT started_at, finished_at, duration_ms FROM warehouse.etl_run"
        ).fetchall()
    assert len(rows) == 2
    for started, finished, duration_ms in rows:
        assert started <= finished
        assert finished - started >= dt.timedelta(milliseconds=duration_ms) * 0.5
    status = json.loads(etl_env.cli("etl", "status").stdout)
    for run in status["runs"]:
        assert run["started_at"] <= run["finished_at"]


def test_a_channel_rename_counts_one_channel_loaded(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    execute(
        etl_env.ads,
        "UPDATE channels SET name = 'Paid Search' "
        "WHERE channel_id = (SELECT channel_id FROM campaigns WHERE campaign_id = 1)",
    )
    renamed = etl_env.run()
    assert renamed.rows_read["v_channel"] == 1
    assert renamed.rows_loaded["v_channel"] == 1
    with psycopg.connect(etl_env.warehouse) as conn:
        names = conn.execute(
            "SELECT channel FROM warehouse.dim_campaign WHERE campaign_id = 1"
        ).fetchall()
    assert names == [("Paid Search",)]


def test_a_run_killed_after_its_merges_leaves_nothing_half_loaded(etl_env: EtlEnv) -> None:
    """Parked rows, moves and deletes land in the run's one transaction: SIGKILL the run
    once all of them are merged (it waits for the KPI version table, held locked here) and
    the warehouse is exactly as before; the next run loads everything."""
    assert etl_env.run().status == "succeeded"
    execute(
        etl_env.crm,
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, status) "
        "VALUES (800001, 3, %s, '2026-09-20 10:00', 'new')",
        (LATE_CAMPAIGN,),
    )
    assert etl_env.run().rows_quarantined["v_lead"] == 1
    execute(
        etl_env.ads,
        "INSERT INTO campaigns (campaign_id, channel_id, name, status, start_date) "
        "VALUES (%s, 1, 'Late launch', 'active', '2026-09-01')",
        (LATE_CAMPAIGN,),
    )
    execute(etl_env.ads, "UPDATE ads SET campaign_id = 2 WHERE ad_id = 1")
    _delete_some_of_everything(etl_env)
    before = _everything(etl_env)
    with psycopg.connect(etl_env.warehouse) as holder:
        holder.execute("LOCK TABLE warehouse.campaign_kpi_version IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptsales_cli", "etl", "run", "--all"],
            env={**os.environ, **etl_env.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_until_blocked_on_kpi_versions(etl_env.warehouse, proc)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=60)
        holder.rollback()
    assert proc.returncode == -signal.SIGKILL
    assert _everything(etl_env) == before
    after = etl_env.run(lock_wait_seconds=60)
    assert after.status == "succeeded", after.error
    _assert_exact(etl_env)


def _everything(env: EtlEnv) -> dict[str, Any]:
    """The warehouse's data and the ETL's own bookkeeping."""
    state: dict[str, Any] = dict(snapshot(env.warehouse))
    with psycopg.connect(env.warehouse) as conn:
        for table in ("etl_run", "etl_watermark", "etl_quarantine", "etl_deleted"):
            state[table] = sorted(
                map(str, conn.execute(f"SELECT * FROM warehouse.{table}").fetchall())
            )
    return state


def _wait_until_blocked_on_kpi_versions(
    warehouse: str, proc: subprocess.Popen[str], timeout: float = 120
) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(warehouse)["dbname"]
    deadline = time.monotonic() + timeout
    with psycopg.connect(warehouse, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND query LIKE '%%campaign_kpi_version%%'",
                (dbname,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the run never reached its KPI versions")
