"""Configuration errors name the variable; scopes name their lock and watermark."""

from __future__ import annotations

import pytest

from etl_job.extract import Scope
from etl_job.load import VIEW_LOADS
from etl_job.run import ExitCode, RunSummary
from etl_job.settings import load_etl_settings
from promptsales.config import ConfigError


def test_missing_and_blank_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    for name in ("ADS_URL", "CRM_URL", "WAREHOUSE_DSN"):
        monkeypatch.delenv(f"PROMPTSALES_ETL_{name}", raising=False)
    monkeypatch.setenv("PROMPTSALES_ETL_ADS_URL", "postgresql://u:hunter2@h/db")
    monkeypatch.setenv("PROMPTSALES_ETL_CRM_URL", "   ")
    with pytest.raises(ConfigError) as info:
        load_etl_settings()
    message = str(info.value)
    assert "PROMPTSALES_ETL_CRM_URL" in message
    assert "PROMPTSALES_ETL_WAREHOUSE_DSN" in message
    assert "hunter2" not in message


def test_settings_read_mounted_secret_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    for name, value in {
        "PROMPTSALES_ETL_ADS_URL": "mssql+pyodbc://u:p@sql/PromptAds",
        "PROMPTSALES_ETL_CRM_URL": "mssql+pyodbc://u:p@sql/PromptCRM",
        "PROMPTSALES_ETL_WAREHOUSE_DSN": "host=wh dbname=PromptSales",
    }.items():
        monkeypatch.delenv(name, raising=False)
        (tmp_path / name).write_text(value)  # type: ignore[operator]
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", str(tmp_path))
    settings = load_etl_settings()
    assert settings.warehouse_dsn.get_secret_value() == "host=wh dbname=PromptSales"
    assert "p@sql" not in repr(settings)


def test_scope_names() -> None:
    assert Scope().name == "all"
    assert Scope(campaign_id=12).name == "campaign:12"


def test_quarantine_never_copies_personal_columns() -> None:
    customer = VIEW_LOADS["v_customer"]
    assert {name for name, _ in customer.columns}.isdisjoint(
        {"email", "phone", "first_name", "last_name", "street", "city", "postal_code"}
    )
    assert set(customer.private_columns) == {"email_hmac", "pii_key_id", "pii_ciphertext"}


def test_summary_line_shape() -> None:
    summary = RunSummary(scope="all", exit_code=ExitCode.SOURCE_UNAVAILABLE, status="failed")
    line = summary.as_dict()
    assert line["event"] == "etl-run"
    assert line["exit_code"] == 3
    assert {"rows_read", "rows_loaded", "rows_quarantined", "duration_ms"} <= set(line)
