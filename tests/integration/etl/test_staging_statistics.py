"""Staged rows are analyzed before the merge joins them, on the columns the joins use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import psycopg

from etl_job.load import VIEW_LOADS, copy_rows, create_staging


def test_staged_rows_get_statistics_on_ids_days_and_versions_only(
    pg_database_factory: Callable[[], str],
) -> None:
    spec = VIEW_LOADS["v_lead"]
    created = dt.datetime(2031, 1, 15, 9)
    rows = [(n, n % 50, n % 7, created, "qualified", 1000 + n) for n in range(1, 401)]
    with psycopg.connect(pg_database_factory()) as conn:
        create_staging(conn, spec)
        assert copy_rows(conn, spec, [rows[:200], rows[200:]]) == 400
        counted = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (spec.staging,)
        ).fetchone()
        analyzed = {
            name
            for (name,) in conn.execute(
                "SELECT attname FROM pg_stats WHERE tablename = %s", (spec.staging,)
            )
        }
    assert counted == (400,)  # the row count every merge plan starts from
    assert analyzed == {"lead_id", "customer_id", "campaign_id", "created_at", "change_version"}
