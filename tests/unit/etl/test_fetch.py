"""The driver-level statement the fast fetch sends: same SQL and bind values SQLAlchemy would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc

from etl_job.extract import Scope, extract_query
from etl_job.fetch import driver_statement, stream_tuples


class _DialectOnly:
    """What ``driver_statement`` needs of a connection: its dialect (no server here)."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


# pyodbc declares paramstyle "qmark"; create_engine passes it on (pyodbc's shared library is
# not installed here, so the dialect is built the way create_engine would build it).
PYODBC = MSDialect_pyodbc(paramstyle="qmark")  # type: ignore[no-untyped-call]


def test_sql_server_gets_one_value_per_qmark_in_placeholder_order() -> None:
    query = extract_query("v_customer", Scope(campaign_id=7))
    sql, args = driver_statement(_DialectOnly(PYODBC), query, {"low": 5, "high": 9})  # type: ignore[arg-type]
    assert isinstance(args, list)
    assert sql.count("?") == len(args) == 11
    # (high, low, campaign, campaign) UNION (high, campaign, low, high, campaign, low, high)
    assert args == [9, 5, 7, 7, 9, 7, 5, 9, 7, 5, 9]


def test_sql_server_window_binds() -> None:
    sql, args = driver_statement(
        _DialectOnly(PYODBC),  # type: ignore[arg-type]
        extract_query("v_ad", Scope()),
        {"low": 1, "high": 2},
    )
    assert args == [1, 2]
    # rowversion compared as binary(8): an index on the column can seek it
    assert (
        "etl.v_ad.row_version >= CAST(? AS BINARY(8)) "
        "AND etl.v_ad.row_version < CAST(? AS BINARY(8))"
    ) in sql


def test_sql_server_metrics_window_binds_both_branches() -> None:
    sql, args = driver_statement(
        _DialectOnly(PYODBC),  # type: ignore[arg-type]
        extract_query("v_ad_metrics_daily", Scope(campaign_id=3)),
        {"low": 1, "high": 2},
    )
    # rows changed themselves: (low, high, high, campaign); rows of changed ads:
    # (low, high, low, campaign)
    assert args == [1, 2, 2, 3, 1, 2, 1, 3]
    assert "UNION ALL" in sql


def test_stand_in_gets_named_placeholders() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql, args = driver_statement(
        _DialectOnly(dialect),  # type: ignore[arg-type]
        extract_query("v_ad_metrics_daily", Scope(campaign_id=3)),
        {"low": 1, "high": 2},
    )
    assert args == {"low": 1, "high": 2, "campaign_id": 3}
    assert "%(low)s" in sql
    assert "%(campaign_id)s" in sql


def _sqlite_with_etl_schema() -> Engine:
    """SQLite is a positional (``?``) DB-API like pyodbc: the non-PostgreSQL fetch branch
    (plain cursor, ``arraysize``, ``fetchmany``) runs for real without a SQL Server."""
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def attach(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("ATTACH DATABASE ':memory:' AS etl")

    return engine


def test_positional_driver_streams_tuples_in_batches_within_the_window() -> None:
    engine = _sqlite_with_etl_schema()
    with engine.connect() as conn:
        conn.execute(
            text(
                "CREATE TABLE etl.v_ad (ad_id INTEGER, campaign_id INTEGER, headline TEXT, "
                "change_version BIGINT, row_version BIGINT)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO etl.v_ad VALUES (1, 7, 'a', 5, 5), (2, 7, 'b', 6, 6), "
                "(3, 8, 'c', 7, 7), (4, 8, 'd', 9, 9), (5, 8, 'e', 4, 4)"
            )
        )
        window = {"low": 5, "high": 9}
        batches = list(stream_tuples(conn, extract_query("v_ad", Scope()), window, 2))
        scoped = list(stream_tuples(conn, extract_query("v_ad", Scope(campaign_id=8)), window, 2))
    assert batches == [[(1, 7, "a", 5), (2, 7, "b", 6)], [(3, 8, "c", 7)]]
    assert all(type(row) is tuple for batch in batches for row in batch)
    assert scoped == [[(3, 8, "c", 7)]]
