"""Warehouse schema set-up: run the idempotent DDL in ``warehouse.sql`` under a lock."""

from __future__ import annotations

from importlib import resources

import psycopg

SCHEMA_LOCK_KEY = 0x5053_4554_4C00  # "PSETL\0": serializes concurrent init-schema runs


def warehouse_ddl() -> str:
    """The warehouse DDL shipped with the package."""
    return resources.files("etl_job").joinpath("warehouse.sql").read_text(encoding="utf-8")


def init_warehouse(dsn: str) -> None:
    """Create or complete the warehouse schema; safe to run twice and from two pods at once."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute(warehouse_ddl())
