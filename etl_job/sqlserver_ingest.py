"""The original design's ingest procedures: table types and ``usp_ingest_...`` taking a TVP.

On SQL Server, rows arrive in PromptAds and PromptCRM through stored procedures that take a
table-valued parameter (one round trip per batch, one set-based MERGE on the server) rather
than row-by-row INSERTs. The types and procedures are generated from the same SQLAlchemy
tables as the rest of the source DDL (:mod:`etl_job.source_model`), so their columns cannot
drift from the tables', and :mod:`etl_job.sqlserver_ddl` ships them in the set-up script.
The seed's SQL Server path calls them through pyodbc's TVP support
(:func:`call_ingest`); the stand-in keeps COPY. No SQL Server runs here: the statements
are parsed by sqlglot's T-SQL dialect in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.dialects import mssql

from etl_job.source_model import VIEW_SCHEMA, ad_metrics_daily, conversions, customers, leads

INGESTED: dict[str, Table] = {
    "ads": ad_metrics_daily,
    "customers": customers,
    "leads": leads,
    "conversions": conversions,
}
"""Procedure suffix → the table it fills: PromptAds' daily metrics and PromptCRM's rows."""

_SOURCE_OF = {"ads": "ads", "customers": "crm", "leads": "crm", "conversions": "crm"}
_MSSQL = mssql.dialect()  # type: ignore[no-untyped-call]


def ingest_columns(table: Table) -> list[str]:
    """The TVP's columns, in order: every column of the table but its ``row_version``."""
    return [c.name for c in table.c if c.name != "row_version"]


def type_name(table: Table) -> str:
    return f"{VIEW_SCHEMA}.{table.name}_rows"


def procedure_name(table: Table) -> str:
    return f"{VIEW_SCHEMA}.usp_ingest_{table.name}"


def _type_ddl(table: Table) -> str:
    columns = ", ".join(
        f"{c.name} {c.type.compile(dialect=_MSSQL)}{'' if c.nullable else ' NOT NULL'}"
        for c in table.c
        if c.name != "row_version"
    )
    key = ", ".join(c.name for c in table.primary_key.columns)
    return (
        f"IF TYPE_ID(N'{type_name(table)}') IS NULL\n"
        f"CREATE TYPE {type_name(table)} AS TABLE ({columns}, PRIMARY KEY ({key}))"
    )


def _procedure_ddl(table: Table) -> str:
    columns = ingest_columns(table)
    key = [c.name for c in table.primary_key.columns]
    match = " AND ".join(f"t.{c} = s.{c}" for c in key)
    updates = ", ".join(f"t.{c} = s.{c}" for c in columns if c not in key)
    return (
        f"CREATE OR ALTER PROCEDURE {procedure_name(table)} "
        f"@rows {type_name(table)} READONLY AS\n"
        "BEGIN\n"
        "    SET NOCOUNT ON;\n"
        # HOLDLOCK: MERGE's upsert is not atomic against a concurrent insert of the same key
        # without it (it takes a range lock on the keys it probes).
        f"    MERGE {table.name} WITH (HOLDLOCK) AS t USING @rows AS s ON {match}\n"
        f"    WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"    WHEN NOT MATCHED BY TARGET THEN INSERT ({', '.join(columns)}) "
        f"VALUES ({', '.join(f's.{c}' for c in columns)});\n"
        "END"
    )


def ingest_ddl(source: str) -> list[str]:
    """The table types and procedures of one source (``ads`` or ``crm``), types first."""
    tables = [t for name, t in INGESTED.items() if _SOURCE_OF[name] == source]
    return [_type_ddl(t) for t in tables] + [_procedure_ddl(t) for t in tables]


class Cursor(Protocol):
    """What :func:`call_ingest` needs of a DB-API cursor (pyodbc's)."""

    def execute(self, sql: str, params: Sequence[Any]) -> Any: ...


def call_ingest(cursor: Cursor, table: Table, rows: Sequence[Sequence[Any]]) -> int:
    """Send ``rows`` (in :func:`ingest_columns` order) to the table's procedure as one TVP.

    pyodbc binds a list of row tuples as a table-valued parameter; a procedure call needs no
    type name (the server takes it from the procedure's signature). An empty TVP is sent as
    no call at all (pyodbc cannot describe the columns of an empty list).
    """
    if not rows:
        return 0
    cursor.execute(f"{{CALL {procedure_name(table)} (?)}}", ([tuple(r) for r in rows],))
    return len(rows)
