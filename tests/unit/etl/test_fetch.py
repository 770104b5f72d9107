"""The driver-level statement the fast fetch sends: same SQL and bind values SQLAlchemy would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc

from etl_job.extract import Scope, extract_query
from etl_job.fetch import driver_statement


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
    assert sql.count("?") == len(args) == 10
    # high; (low, campaign, campaign) OR (campaign, low, high, campaign, low, high)
    assert args == [9, 5, 7, 7, 7, 5, 9, 7, 5, 9]


@pytest.mark.parametrize(
    ("view", "scope", "expected"),
    [
        ("v_ad", Scope(), [1, 2]),
        ("v_ad_metrics_daily", Scope(campaign_id=3), [1, 2, 3]),
    ],
)
def test_sql_server_window_binds(view: str, scope: Scope, expected: list[int]) -> None:
    sql, args = driver_statement(
        _DialectOnly(PYODBC),  # type: ignore[arg-type]
        extract_query(view, scope),
        {"low": 1, "high": 2},
    )
    assert args == expected
    assert f"etl.{view}.change_version >= ? AND etl.{view}.change_version < ?" in sql


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
