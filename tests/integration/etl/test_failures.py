"""Quarantine, crashes (SIGKILL mid-load) and the exit codes a CronJob sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from etl_job.seed import SeedSize
from tests.integration.etl.env import (
    EtlEnv,
    execute,
    make_env,
    snapshot,
    source_aggregates,
    warehouse_aggregates,
)


@pytest.mark.parametrize("first_load", [True, False], ids=["direct-copy", "staged-merge"])
def test_bad_rows_are_quarantined_with_reason_and_run_succeeds(
    etl_env: EtlEnv, first_load: bool
) -> None:
    if not first_load:
        # Facts already exist: bad rows now go through staging and the SQL rules.
        assert etl_env.run().status == "succeeded"
    execute(
        etl_env.ads,
        "UPDATE ad_metrics_daily SET spend = -5 WHERE ad_id = 1 "
        "AND day = (SELECT min(day) FROM ad_metrics_daily)",
    )
    execute(
        etl_env.ads,
        "INSERT INTO ad_metrics_daily (ad_id, day, impressions, clicks, spend, "
        "conversions) VALUES (424242, '2026-09-01', 1, 1, 1, 0)",
    )
    execute(
        etl_env.crm,
        "INSERT INTO conversions (conversion_id, customer_id, campaign_id, "
        "converted_at, revenue) VALUES (800001, 1, 99999, '2026-09-10', 10)",
    )
    execute(
        etl_env.crm,
        "INSERT INTO leads (lead_id, customer_id, campaign_id, created_at, "
        "status) VALUES (800001, NULL, 1, '2026-09-10', 'new')",
    )
    summary = etl_env.run()
    assert summary.status == "succeeded", summary.error
    assert summary.rows_quarantined["v_ad_metrics_daily"] == 2
    assert summary.rows_quarantined["v_conversion"] == 1
    assert summary.rows_quarantined["v_lead"] == 1
    with psycopg.connect(etl_env.warehouse) as conn:
        reasons = sorted(
            conn.execute(
                "SELECT source_view, source_key, reason FROM warehouse.etl_quarantine"
            ).fetchall()
        )
        # Both paths quarantine the source view's row: spend in money, no staged cents.
        spends = conn.execute(
            "SELECT payload->>'spend', payload ? 'spend_cents' FROM warehouse.etl_quarantine "
            "WHERE source_view = 'v_ad_metrics_daily' ORDER BY source_key"
        ).fetchall()
        loaded_bad = conn.execute(
            "SELECT count(*) FROM warehouse.fact_ad_daily WHERE spend_cents < 0 OR ad_id = 424242"
        ).fetchone()
        status = conn.execute(
            "SELECT rows_quarantined FROM warehouse.etl_run WHERE run_id = %s", (summary.run_id,)
        ).fetchone()
    assert [(v, r) for v, _, r in reasons] == [
        ("v_ad_metrics_daily", "negative metric"),
        ("v_ad_metrics_daily", "unknown ad"),
        ("v_conversion", "unknown campaign"),
        ("v_lead", "missing customer_id"),
    ]
    assert loaded_bad == (0,)
    assert spends == [("-5.00", False), ("1.00", False)]
    assert status is not None
    assert status[0]["v_conversion"] == 1
    # Fixing the source row brings it in on the next run; the quarantine stays as history.
    execute(etl_env.ads, "UPDATE ad_metrics_daily SET spend = 5 WHERE spend < 0")
    fixed = etl_env.run()
    assert fixed.rows_loaded["v_ad_metrics_daily"] == 1
    assert fixed.rows_quarantined["v_ad_metrics_daily"] == 0


def _wait_for_load(warehouse: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Block until the run's warehouse session is copying or merging (mid-load)."""
    dbname = psycopg.conninfo.conninfo_to_dict(warehouse)["dbname"]
    deadline = time.monotonic() + timeout
    with psycopg.connect(warehouse, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run finished before it could be killed"
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                "AND (query LIKE 'COPY stg_v_customer%%' OR query LIKE 'COPY warehouse.fact_%%')",
                (dbname,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the run never reached the load phase")


def test_sigkill_mid_load_then_normal_run_equals_one_clean_run(
    pg_database_factory: Any, tmp_path: Path
) -> None:
    env = make_env(pg_database_factory, tmp_path, SeedSize(campaigns=10, customers=20_000, days=30))
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptsales_cli", "etl", "run", "--all"],
        env={**os.environ, **env.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_load(env.warehouse, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with psycopg.connect(env.warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.etl_run").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM warehouse.fact_ad_daily").fetchone() == (0,)

    # The killed session may linger a moment; the next run waits for its lock to go.
    after = env.cli("etl", "run", "--all", env={"PROMPTSALES_ETL_LOCK_WAIT_SECONDS": "60"})
    assert after.returncode == 0, after.stdout + after.stderr
    assert json.loads(after.stdout)["status"] == "succeeded"

    clean = env.fresh_warehouse()
    assert env.run(warehouse=clean).status == "succeeded"
    assert snapshot(env.warehouse) == snapshot(clean)
    assert warehouse_aggregates(env.warehouse) == source_aggregates(env)
    with psycopg.connect(env.warehouse) as conn:
        assert conn.execute(
            "SELECT status, count(*) FROM warehouse.etl_run GROUP BY status"
        ).fetchall() == [("succeeded", 1)]


def test_cli_run_prints_one_json_line_and_status_reports(etl_env: EtlEnv) -> None:
    result = etl_env.cli("etl", "run", "--campaign-id", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["status"] == "succeeded"
    assert summary["scope"] == "campaign:3"
    assert set(summary["rows_read"]) >= {"v_ad_metrics_daily", "v_customer"}
    status = json.loads(etl_env.cli("etl", "status").stdout)
    assert status["runs"][0]["scope"] == "campaign:3"
    assert {w["source_view"] for w in status["watermarks"]} >= {"v_ad_metrics_daily"}


def test_cli_exit_codes(etl_env: EtlEnv, tmp_path: Path) -> None:
    both = etl_env.cli("etl", "run", "--all", "--campaign-id", "1")
    assert both.returncode == 2

    missing = etl_env.cli("etl", "run", "--all", env={"PROMPTSALES_ETL_WAREHOUSE_DSN": ""})
    assert missing.returncode == 2
    assert (
        "PROMPTSALES_ETL_WAREHOUSE_DSN" in missing.stdout + missing.stderr
        or json.loads(missing.stdout)["status"] == "failed"
    )

    down = etl_env.cli(
        "etl",
        "run",
        "--all",
        env={"PROMPTSALES_ETL_ADS_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nope"},
    )
    assert down.returncode == 3
    assert json.loads(down.stdout)["status"] == "failed"

    no_keys = etl_env.cli(
        "etl", "run", "--all", env={"PROMPTSALES_PII_KEYRING_FILE": str(tmp_path / "absent.json")}
    )
    assert no_keys.returncode == 5
    assert "keyring" in json.loads(no_keys.stdout)["error"]

    bare = etl_env.fresh_warehouse()
    with psycopg.connect(bare) as conn:
        conn.execute("DROP SCHEMA warehouse CASCADE")
    no_schema = etl_env.cli("etl", "run", "--all", env={"PROMPTSALES_ETL_WAREHOUSE_DSN": bare})
    assert no_schema.returncode == 1
    assert "promptsales etl init-schema" in json.loads(no_schema.stdout)["error"]

    twice = [etl_env.cli("etl", "init-schema").returncode for _ in range(2)]
    assert twice == [0, 0]
