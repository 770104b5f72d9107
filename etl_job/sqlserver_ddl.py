"""The SQL Server set-up script for the ETL's sources, generated from :mod:`etl_job.source_model`.

``python -m etl_job.sqlserver_ddl`` writes ``workloads/sqlserver_sources.sql``: the source
tables and ``etl`` views compiled for SQL Server, as sqlcmd batches. The manifest builders
ship that file in the SQL Server init Job without importing the ETL (builders sit below the
components), and ``--check`` (run by a test) fails when the file no longer matches the model,
so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.dialects import mssql

import workloads
from etl_job.source_model import source_ddl
from etl_job.sqlserver_ingest import ingest_ddl
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
    parser = argparse.ArgumentParser(
        prog="python -m etl_job.sqlserver_ddl",
        description="Generate the SQL Server set-up script of the ETL's sources.",
    )
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--output", type=Path, default=DDL_FILE)
    args = parser.parse_args(argv)
    wanted = sqlserver_ddl()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != wanted:
            print(
                f"{args.output} is stale: run `python -m etl_job.sqlserver_ddl` and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
