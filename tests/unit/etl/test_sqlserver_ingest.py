"""The original design's ingest procedures (table types and ``usp_ingest_...`` taking a TVP),
parsed by a real T-SQL parser (sqlglot's ``tsql`` dialect; no SQL Server runs here), and the
seed's SQL Server writer calling them, against a recording stand-in for a pyodbc cursor."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from etl_job import sqlserver_ddl
from etl_job.seed import sqlserver_writer
from etl_job.source_model import ad_metrics_daily, leads
from etl_job.sqlserver_ingest import INGESTED, call_ingest, ingest_columns, ingest_ddl

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("source", ["ads", "crm"])
def test_procedures_parse_as_tsql_merges_over_their_table_type(source: str) -> None:
    statements = ingest_ddl(source)
    procedures = [s for s in statements if s.startswith("CREATE OR ALTER PROCEDURE")]
    types = [s for s in statements if "CREATE TYPE" in s]
    assert len(procedures) == len(types) == (1 if source == "ads" else 3)
    for statement in procedures:
        tree = sqlglot.parse_one(statement, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
        assert isinstance(tree, exp.Create)
        assert tree.args["kind"] == "PROCEDURE"
        merge = tree.find(exp.Merge)
        assert merge is not None
        assert "READONLY" in statement
    for statement in types:
        # sqlglot has no CREATE TYPE ... AS TABLE; its column list is a table's, parse that.
        body = statement.split("AS TABLE", 1)[1]
        table = sqlglot.parse_one(
            f"CREATE TABLE t {body}", read="tsql", error_level=sqlglot.ErrorLevel.RAISE
        )
        assert isinstance(table, exp.Create)
        assert statement.startswith("IF TYPE_ID(N'etl.")


def test_the_type_has_every_column_but_the_row_version_and_the_table_key() -> None:
    metrics_type = ingest_ddl("ads")[0]
    assert "row_version" not in metrics_type
    assert ingest_columns(ad_metrics_daily) == [
        "ad_id",
        "day",
        "impressions",
        "clicks",
        "spend",
        "conversions",
    ]
    assert "spend NUMERIC(14, 2) NOT NULL" in metrics_type
    assert "PRIMARY KEY (ad_id, day)" in metrics_type


def test_the_shipped_set_up_script_creates_them() -> None:
    script = sqlserver_ddl.sqlserver_ddl()
    for table in INGESTED.values():
        assert f"CREATE OR ALTER PROCEDURE etl.usp_ingest_{table.name} " in script
        assert f"CREATE TYPE etl.{table.name}_rows AS TABLE" in script


class RecordingCursor:
    """Records what the writer sends; stands in for a pyodbc cursor (no SQL Server here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fast_executemany = False

    def execute(self, sql: str, params: Any = ()) -> RecordingCursor:
        self.calls.append((sql, params))
        return self

    def executemany(self, sql: str, rows: Any) -> None:
        self.calls.append((sql, rows))


def test_seed_writer_sends_each_batch_as_one_tvp_with_exact_money(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("etl_job.seed.TVP_BATCH_ROWS", 2)
    cursor = RecordingCursor()
    write = sqlserver_writer(cursor)
    day = dt.date(2026, 9, 30)
    rows = [(1, day, 100, 3, "7.50", 0), (2, day, 90, 2, "1.05", 1), (3, day, 80, 1, "0.99", 0)]
    assert write("ad_metrics_daily", ingest_columns(ad_metrics_daily), rows) == 3
    assert [sql for sql, _ in cursor.calls] == ["{CALL etl.usp_ingest_ad_metrics_daily (?)}"] * 2
    first = cursor.calls[0][1][0]
    assert first == [(1, day, 100, 3, Decimal("7.50"), 0), (2, day, 90, 2, Decimal("1.05"), 1)]
    assert cursor.calls[1][1][0] == [(3, day, 80, 1, Decimal("0.99"), 0)]
    write("channels", ("channel_id", "name", "kind"), [(1, "Search", "search")])
    assert cursor.calls[-1] == (
        "INSERT INTO channels (channel_id, name, kind) VALUES (?, ?, ?)",
        [(1, "Search", "search")],
    )
    assert cursor.fast_executemany
    with pytest.raises(ValueError, match="ingest type's order"):
        write("leads", ("customer_id", "lead_id"), [(1, 2)])
    assert call_ingest(cursor, leads, []) == 0
