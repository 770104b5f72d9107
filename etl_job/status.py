"""``promptsales etl status``: what a person checks first when a CronJob looks wrong."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def read_status(dsn: str, limit: int) -> dict[str, Any]:
    """Last ``limit`` runs, every watermark, quarantined rows per view and reason."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        runs = conn.execute(
            "SELECT run_id, scope, status, started_at, finished_at, duration_ms, rows_read, "
            "rows_loaded, rows_quarantined, error FROM warehouse.etl_run "
            "ORDER BY run_id DESC LIMIT %s",
            (limit,),
        ).fetchall()
        watermarks = conn.execute(
            "SELECT scope, source_view, low_version, run_id, updated_at "
            "FROM warehouse.etl_watermark ORDER BY scope, source_view"
        ).fetchall()
        quarantine = conn.execute(
            "SELECT source_view, reason, count(*) AS rows FROM warehouse.etl_quarantine "
            "GROUP BY source_view, reason ORDER BY source_view, reason"
        ).fetchall()
    return {"runs": runs, "watermarks": watermarks, "quarantine": quarantine}
