"""The production path's SQL Server statements, compiled with the mssql dialect and checked."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import mssql, postgresql

from etl_job.db import SourceUrlError, libpq_dsn, source_url
from etl_job.extract import EXTRACT_ORDER, Scope, change_bound_query, extract_query
from etl_job.source_model import PERSONAL_FIELDS, VIEWS, source_ddl

MSSQL = mssql.dialect()  # type: ignore[no-untyped-call]
PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _sql(statement: object, dialect: object = MSSQL) -> str:
    return " ".join(str(statement.compile(dialect=dialect)).split())  # type: ignore[attr-defined]


def test_bound_is_min_active_rowversion_on_sql_server() -> None:
    assert _sql(change_bound_query("mssql")).startswith(
        "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT)"
    )
    with pytest.raises(ValueError, match="oracle"):
        change_bound_query("oracle")


@pytest.mark.parametrize("view", [v for v in EXTRACT_ORDER if v != "v_ad_metrics_daily"])
def test_extract_reads_the_etl_view_between_watermark_and_bound(view: str) -> None:
    sql = _sql(extract_query(view, Scope()))
    assert f"FROM etl.{view}" in sql
    # The raw rowversion against binary(8) watermarks: an index on it can seek the range.
    # The campaign view's version spans three tables: a computed bigint (a small table).
    column = "change_version" if view == "v_campaign" else "row_version"
    bound = ":{}" if view == "v_campaign" else "CAST(:{} AS BINARY(8))"
    assert f"etl.{view}.{column} >= {bound.format('low')}" in sql
    assert f"etl.{view}.{column} < {bound.format('high')}" in sql
    assert ":campaign_id" not in sql
    pg = _sql(extract_query(view, Scope()), PG)
    assert "BINARY" not in pg


def test_metrics_extract_reaches_rows_through_their_own_or_their_ads_version() -> None:
    sql = _sql(extract_query("v_ad_metrics_daily", Scope()))
    first, second = sql.split(" UNION ALL ")
    view = "etl.v_ad_metrics_daily"
    low, high = "CAST(:low AS BINARY(8))", "CAST(:high AS BINARY(8))"
    assert f"{view}.metric_version >= {low} AND {view}.metric_version < {high}" in first
    assert f"{view}.ad_version IS NULL OR {view}.ad_version < {high}" in first
    assert f"{view}.ad_version >= {low} AND {view}.ad_version < {high}" in second
    assert f"{view}.metric_version < {low}" in second


def test_campaign_scope_filters_facts_and_reaches_referenced_customers() -> None:
    metrics = _sql(extract_query("v_ad_metrics_daily", Scope(campaign_id=7)))
    assert metrics.count("etl.v_ad_metrics_daily.campaign_id = :campaign_id") == 2
    channels = _sql(extract_query("v_channel", Scope(campaign_id=7)))
    assert ":campaign_id" not in channels
    customers = _sql(extract_query("v_customer", Scope(campaign_id=7)))
    assert "etl.v_customer.customer_id IN (SELECT etl.v_lead.customer_id" in customers
    assert "etl.v_conversion.campaign_id = :campaign_id" in customers
    assert customers.count("< CAST(:high AS BINARY(8))") == 4
    assert " UNION " in customers  # two halves, each a semi-join on the key (not an OR)


def test_sql_server_ddl_uses_rowversion_views_and_guards() -> None:
    ads = "\n".join(source_ddl("ads", MSSQL))
    crm = "\n".join(source_ddl("crm", MSSQL))
    assert "IF SCHEMA_ID('etl') IS NULL EXEC('CREATE SCHEMA etl')" in ads
    # 5 + 3 tables, 2 + 3 tombstone tables
    assert len(re.findall(r"row_version ROWVERSION NOT NULL", ads)) == 7
    assert len(re.findall(r"row_version ROWVERSION NOT NULL", crm)) == 6
    assert "CREATE OR ALTER VIEW etl.v_ad_metrics_daily AS" in ads
    assert "ad_metrics_daily.row_version AS metric_version" in ads
    assert "ads.row_version AS ad_version" in ads
    assert "IF OBJECT_ID('customers', 'U') IS NULL" in crm
    assert "day DATE NOT NULL" in ads
    assert "created_at DATETIME2 NOT NULL" in crm
    # rowversion stamps itself; the only triggers write tombstones of deleted rows
    assert (
        len(re.findall(r"CREATE OR ALTER TRIGGER trg_\w+_tombstone ON \w+ AFTER DELETE", ads)) == 2
    )
    assert (
        len(re.findall(r"CREATE OR ALTER TRIGGER trg_\w+_tombstone ON \w+ AFTER DELETE", crm)) == 3
    )
    assert "FROM deleted AS d" in crm
    assert "pg_current_xact_id" not in ads + crm


def test_stand_in_ddl_stamps_row_version_by_trigger_and_is_idempotent() -> None:
    ddl = "\n".join(source_ddl("crm", PG))
    assert "CREATE TABLE IF NOT EXISTS customers" in ddl
    assert "NEW.row_version := pg_current_xact_id()::text::bigint" in ddl
    assert ddl.count("EXECUTE FUNCTION etl.stamp_row_version()") == 6  # tables + tombstones
    assert ddl.count("REFERENCING OLD TABLE AS gone FOR EACH STATEMENT") == 3
    assert "CREATE OR REPLACE VIEW etl.v_customer AS" in ddl
    assert "row_version BIGINT NOT NULL" in ddl
    assert "ROWVERSION NOT NULL" not in ddl


def test_every_personal_field_is_in_the_customer_view() -> None:
    assert set(PERSONAL_FIELDS) <= set(VIEWS["v_customer"].c.keys())
    assert {"email", "phone", "first_name", "last_name", "street"} <= set(PERSONAL_FIELDS)


def test_source_urls_pin_drivers() -> None:
    assert source_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    prod = source_url("mssql+pyodbc://u:p@h/PromptAds?driver=ODBC+Driver+18+for+SQL+Server")
    assert prod.drivername == "mssql+pyodbc"
    with pytest.raises(SourceUrlError, match="sqlite"):
        source_url("sqlite:///x.db")
    with pytest.raises(SourceUrlError, match="stand-in"):
        libpq_dsn("mssql+pyodbc://u:p@h/PromptAds")
    assert libpq_dsn("postgresql+psycopg://u:pw@h:5/db") == "postgresql://u:pw@h:5/db"


@pytest.mark.parametrize("dialect", [MSSQL, PG], ids=["mssql", "postgresql"])
def test_metrics_extract_reads_spend_as_exact_cents(dialect: object) -> None:
    sql = _sql(extract_query("v_ad_metrics_daily", Scope()), dialect)
    # numeric(14, 2) * 100 is integral: the cast to BIGINT loses nothing on either engine.
    assert "CAST(etl.v_ad_metrics_daily.spend * 100 AS BIGINT) AS spend_cents" in sql
    columns = [c.name for c in extract_query("v_ad_metrics_daily", Scope()).selected_columns]
    assert columns == [
        "ad_id",
        "campaign_id",
        "day",
        "impressions",
        "clicks",
        "spend_cents",
        "conversions",
        "change_version",
    ]
    # The view itself keeps spend as money: it is the sources' contract.
    assert "spend" in VIEWS["v_ad_metrics_daily"].c
    assert "spend_cents" not in VIEWS["v_ad_metrics_daily"].c
