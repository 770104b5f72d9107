"""The SQL Server set-up script for the ETL's sources, generated from :mod:`etl_job.source_model`.

``python -m etl_job.sqlserver_ddl`` writes ``workloads/sqlserver_sources.sql``: the source
tables and ``etl`` views compiled for SQL Server, as sqlcmd batches. The manifest builders
ship that file in the SQL Server init Job without importing the ETL (builders sit below the
components), and ``--check`` (run by a test) fails when the file no longer matches the model,
so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.dialects import mssql

import workloads
from etl_job.source_model import source_ddl
from etl_job.sqlserver_ingest import ingest_ddl
from promptsales.generated import generated_file_main
from workloads import databases

DDL_FILE = Path(workloads.__file__).resolve().parent / "sqlserver_sources.sql"
HEADER = (
    "-- Generated from etl_job/source_model.py by `python -m etl_job.sqlserver_ddl`; do not edit.\n"
)


def sqlserver_ddl() -> str:
    """Each source's tables and views in its own database, one sqlcmd batch a statement."""
    batches: list[str] = []
    for source, database in (("ads", databases.ADS_DATABASE), ("crm", databases.CRM_DATABASE)):
        batches.append(f"USE [{database}];\nGO")
        batches.extend(f"{stmt};\nGO" for stmt in source_ddl(source, mssql.dialect()))  # type: ignore[no-untyped-call]
        batches.extend(f"{stmt};\nGO" for stmt in ingest_ddl(source))
    return HEADER + "\n".join(batches) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated_file_main(
        argv,
        prog="python -m etl_job.sqlserver_ddl",
        description="Generate the SQL Server set-up script of the ETL's sources.",
        default_output=DDL_FILE,
        render=sqlserver_ddl,
    )


if __name__ == "__main__":
    raise SystemExit(main())
