"""``promptsales.logs.redact``: every secret shape the platform's connection strings use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptsales.logs import REDACTED, redact, redact_text

SECRET = "Zq9-secret-Value"


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://etl:{SECRET}@wh:5432/PromptSales",
        f"postgresql+psycopg://etl:{SECRET}@wh/PromptSales?sslmode=verify-full",
        f"mssql+pyodbc://etl:{SECRET}@sql:1433/PromptAds?driver=ODBC+Driver+18+for+SQL+Server",
        f"mongodb://app:{SECRET}@m1:27017,m2:27017/PromptContent?replicaSet=rs0",
        f"rediss://default:{SECRET}@cache:6380/0",
        f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/",
        f"host=wh user=etl password={SECRET} dbname=PromptSales",
        f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=sql;UID=etl;PWD={SECRET};Encrypt=yes",
        f"Authorization: Bearer {SECRET}",
        f"-----BEGIN EC PRIVATE KEY-----\nAAAA{SECRET}\n-----END EC PRIVATE KEY-----",
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{SECRET}\n-----END ENCRYPTED PRIVATE KEY-----",
    ],
)
def test_secret_shapes_in_text_are_masked(text: str) -> None:
    cleaned = redact_text(text)
    assert SECRET not in cleaned
    assert REDACTED in cleaned


def test_what_is_not_secret_survives() -> None:
    text = "postgresql://etl@wh:5432/PromptSales?sslmode=verify-full host=wh port=5432"
    assert redact_text(text) == text
    cleaned = redact_text(f"postgresql://etl:{SECRET}@wh:5432/PromptSales")
    assert cleaned == f"postgresql://etl:{REDACTED}@wh:5432/PromptSales"


@pytest.mark.parametrize(
    "key",
    ["password", "db_password", "PASSWD", "secret", "client_secret", "token", "api_key",
     "apiKey", "private_key", "Authorization", "kek", "dek_wrapped", "credentials"],
)  # fmt: skip
def test_secret_named_keys_are_masked_whatever_the_value(key: str) -> None:
    assert redact({key: "anything", "user": "etl"}) == {key: REDACTED, "user": "etl"}
    assert redact({key: 12345}) == {key: REDACTED}


def test_nested_structures_are_walked() -> None:
    value = {
        "sources": [
            {"url": f"postgresql://etl:{SECRET}@ads/x", "name": "ads"},
            (f"redis://u:{SECRET}@c/0", 3),
        ],
        "auth": {"token": SECRET},
    }
    assert SECRET not in repr(redact(value))
    assert redact(value)["sources"][0]["name"] == "ads"


def test_non_text_values_pass_through() -> None:
    assert redact(42) == 42
    assert redact(None) is None
    assert redact({"rows": 10, "ok": True}) == {"rows": 10, "ok": True}


@given(password=st.text(alphabet=st.characters(categories=["L", "N"]), min_size=6, max_size=40))
def test_any_url_password_is_masked(password: str) -> None:
    assert password not in redact_text(f"postgresql://etl:{password}@wh:5432/db").split("@")[0]


# --- shapes that once leaked: no user name, quoted libpq values, braced ODBC values ------


def test_password_only_redis_url_is_masked() -> None:
    assert SECRET not in redact_text(f"redis://:{SECRET}@cache:6379/0")


def test_quoted_libpq_password_is_masked() -> None:
    assert "tail" not in redact_text("host=wh password='head tail' dbname=x")


def test_braced_odbc_password_is_masked() -> None:
    assert "tail" not in redact_text("UID=etl;PWD={head;tail};Encrypt=yes")
