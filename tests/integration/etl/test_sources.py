"""A campaign's ``spec.etl.sources`` (PROMPTSALES_ETL_SOURCES) limits what a run loads."""

from __future__ import annotations

import psycopg
import pytest

from etl_job.settings import EtlSettings
from promptsales.config import ConfigError, load_settings
from tests.integration.etl.env import EtlEnv, snapshot


def _watermarked_views(warehouse: str) -> set[str]:
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute("SELECT source_view FROM warehouse.etl_watermark").fetchall()
    return {str(r[0]) for r in rows}


def test_ads_only_run_leaves_crm_for_a_later_run(etl_env: EtlEnv) -> None:
    ads_only = etl_env.run(sources="ads")
    assert ads_only.status == "succeeded"
    assert set(ads_only.rows_read) == {
        "v_channel",
        "v_campaign",
        "v_ad",
        "v_ad_metrics_daily",
        "v_ad_metrics_daily_deleted",
    }
    assert _watermarked_views(etl_env.warehouse) == set(ads_only.rows_read)

    both = etl_env.run()
    assert both.rows_read["v_customer"] > 0
    assert both.rows_read["v_ad_metrics_daily"] == 0
    reference = etl_env.fresh_warehouse()
    etl_env.run(warehouse=reference)
    assert snapshot(etl_env.warehouse) == snapshot(reference)


def test_crm_only_run_keeps_the_campaign_dimension_and_quarantines_nothing(
    etl_env: EtlEnv,
) -> None:
    crm_only = etl_env.run(sources="crm")
    assert set(crm_only.rows_read) == {
        "v_channel",
        "v_campaign",
        "v_customer",
        "v_lead",
        "v_conversion",
        "v_customer_deleted",
        "v_lead_deleted",
        "v_conversion_deleted",
    }
    assert crm_only.rows_read["v_lead"] > 0
    both = etl_env.run(warehouse=etl_env.fresh_warehouse())
    for view in ("v_customer", "v_lead", "v_conversion"):
        assert crm_only.rows_quarantined.get(view, 0) == both.rows_quarantined.get(view, 0)
        assert crm_only.rows_loaded[view] == both.rows_loaded[view]


def test_unknown_source_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, etl_env: EtlEnv
) -> None:
    for name, value in etl_env.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMPTSALES_ETL_SOURCES", "ads,billing")
    with pytest.raises(ConfigError, match="PROMPTSALES_ETL_SOURCES"):
        load_settings(EtlSettings)
