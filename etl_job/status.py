"""``promptsales etl status``: what a person checks first when a CronJob looks wrong."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from etl_job.load import PARENT_REASONS

QUARANTINE_SQL = """
SELECT source_view, reason,
       CASE WHEN resolution IS NOT NULL THEN 'resolved: ' || resolution
            WHEN reason = ANY(%s) THEN 'waiting for parent'
            ELSE 'bad' END AS state,
       count(*) AS rows
FROM warehouse.etl_quarantine
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
"""Quarantine entries per view, reason and state: still bad, parked until their parent
arrives, or resolved (loaded once the parent came, superseded by a newer read of the row,
deleted in the source)."""


def read_status(dsn: str, limit: int) -> dict[str, Any]:
    """Last ``limit`` runs, every watermark, quarantine entries per view, reason and state."""
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
        quarantine = conn.execute(QUARANTINE_SQL, (list(PARENT_REASONS),)).fetchall()
    return {"runs": runs, "watermarks": watermarks, "quarantine": quarantine}
