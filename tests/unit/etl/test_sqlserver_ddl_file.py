"""The SQL Server set-up script shipped by the builders is the one the ETL's model generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_job import sqlserver_ddl
from workloads.render import sqlserver_source_ddl

pytestmark = pytest.mark.unit


def test_the_shipped_script_is_current() -> None:
    assert sqlserver_ddl.main(["--check"]) == 0, "run `python -m etl_job.sqlserver_ddl`"


def test_a_stale_script_is_refused(tmp_path: Path) -> None:
    stale = tmp_path / "sources.sql"
    stale.write_text(sqlserver_ddl.sqlserver_ddl().replace("CREATE TABLE", "CREATE TABEL", 1))
    assert sqlserver_ddl.main(["--check", "--output", str(stale)]) == 1


def test_the_builders_ship_the_file() -> None:
    assert sqlserver_source_ddl() == sqlserver_ddl.DDL_FILE.read_text(encoding="utf-8")
    assert "USE [PromptAds];" in sqlserver_source_ddl()
    assert "USE [PromptCRM];" in sqlserver_source_ddl()
