"""The ETL's run summary as CloudNativePG custom-query metrics, run on a real warehouse.

CloudNativePG's exporter runs the query of ``workloads.warehouse_cluster`` on the primary
and turns each column into ``cnpg_promptsales_etl_<column>``; here the same SQL runs on the
local PostgreSQL against the schema ``promptsales etl init-schema`` creates, over runs
written the way the ETL writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml

from etl_job.warehouse import init_warehouse
from harness.services import PG_ADMIN_DSN, throwaway_database
from workloads import warehouse_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse() -> Iterator[str]:
    with throwaway_database(PG_ADMIN_DSN, "etlmetrics") as dsn:
        init_warehouse(dsn)
        yield dsn


def _run(conn: psycopg.Connection[Any], scope: str, status: str, minutes_ago: int, ms: int) -> None:
    conn.execute(
        "INSERT INTO warehouse.etl_run (scope, status, started_at, finished_at, duration_ms, "
        "error) VALUES (%s, %s, now() - make_interval(mins => %s) - interval '1 second', "
        "now() - make_interval(mins => %s), %s, %s)",
        (scope, status, minutes_ago, minutes_ago, ms, "boom" if status == "failed" else None),
    )


def _rows(dsn: str) -> dict[str, dict[str, float]]:
    with psycopg.connect(dsn) as conn:
        cursor = conn.execute(warehouse_cluster.ETL_QUERY_SQL)
        columns = [c.name for c in cursor.description or []]
        return {
            row[0]: {col: float(value) for col, value in zip(columns[1:], row[1:], strict=True)}
            for row in cursor.fetchall()
        }


def test_each_scope_reports_its_last_success_failures_and_last_run(warehouse: str) -> None:
    with psycopg.connect(warehouse) as conn:
        _run(conn, "campaign-7", "succeeded", 90, 1200)
        _run(conn, "campaign-7", "failed", 30, 400)
        _run(conn, "campaign-7", "failed", 10, 2500)
        _run(conn, "campaign-8", "failed", 120, 100)
        _run(conn, "campaign-8", "succeeded", 5, 3000)
        now = conn.execute("SELECT EXTRACT(EPOCH FROM now())").fetchone()
    assert now is not None
    rows = _rows(warehouse)
    seven, eight = rows["campaign-7"], rows["campaign-8"]
    assert seven["last_success_timestamp_seconds"] == pytest.approx(float(now[0]) - 90 * 60)
    assert seven["last_run_timestamp_seconds"] == pytest.approx(float(now[0]) - 10 * 60)
    assert seven["failures_last_hour"] == 2
    assert seven["last_run_failed"] == 1
    assert seven["last_run_duration_seconds"] == 2.5
    assert eight["failures_last_hour"] == 0  # its failure is two hours old
    assert eight["last_run_failed"] == 0
    assert eight["last_run_duration_seconds"] == 3.0


def test_a_scope_that_never_succeeded_reports_zero_as_its_last_success(warehouse: str) -> None:
    with psycopg.connect(warehouse) as conn:
        _run(conn, "campaign-9", "failed", 1, 10)
    assert _rows(warehouse)["campaign-9"]["last_success_timestamp_seconds"] == 0


def test_the_query_returns_exactly_the_columns_the_exporter_is_told_about(
    warehouse: str,
) -> None:
    with psycopg.connect(warehouse) as conn:
        cursor = conn.execute(warehouse_cluster.ETL_QUERY_SQL)
        columns = [c.name for c in cursor.description or []]
    document = yaml.safe_load(warehouse_cluster.custom_queries())
    query = document[warehouse_cluster.ETL_QUERY]
    declared = [next(iter(metric)) for metric in query["metrics"]]
    assert columns == declared
    assert query["target_databases"] == [warehouse_cluster.DATABASE]
