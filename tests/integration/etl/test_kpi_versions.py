"""campaign_kpi_version: a run bumps exactly the campaigns whose answers it changed.

The MCP server keys its cached KPI answers by these versions, so a missed bump serves a
stale answer for a cache TTL, and a needless one costs every campaign a recomputation.
"""

from __future__ import annotations

import psycopg

from tests.integration.etl.env import EtlEnv, execute, source_dsn


def _versions(warehouse: str) -> dict[int, tuple[int, int]]:
    """campaign_id -> (version, run_id)."""
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "SELECT campaign_id, version, run_id FROM warehouse.campaign_kpi_version"
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _row_ids(warehouse: str) -> list[str]:
    with psycopg.connect(warehouse) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT xmin::text || ctid::text FROM warehouse.campaign_kpi_version"
            ).fetchall()
        )


def _ad_of(env: EtlEnv, campaign_id: int) -> int:
    with psycopg.connect(source_dsn(env.ads)) as conn:
        row = conn.execute(
            "SELECT min(ad_id) FROM ads WHERE campaign_id = %s", (campaign_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_first_load_versions_every_loaded_campaign_once(etl_env: EtlEnv) -> None:
    first = etl_env.run()
    assert first.status == "succeeded", first.error
    versions = _versions(etl_env.warehouse)
    with psycopg.connect(etl_env.warehouse) as conn:
        loaded = {r[0] for r in conn.execute("SELECT campaign_id FROM warehouse.dim_campaign")}
    assert set(versions) == loaded
    assert {run for _, run in versions.values()} == {first.run_id}
    # One version per run: every campaign of this run shares it.
    assert len({version for version, _ in versions.values()}) == 1
    assert first.campaigns_changed == len(loaded)


def test_metric_change_bumps_only_that_campaign(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _versions(etl_env.warehouse)
    ad = _ad_of(etl_env, 3)
    execute(
        etl_env.ads,
        "UPDATE ad_metrics_daily SET clicks = clicks + 7 WHERE ad_id = %s "
        "AND day = (SELECT max(day) FROM ad_metrics_daily)",
        (ad,),
    )
    second = etl_env.run()
    assert second.status == "succeeded", second.error
    after = _versions(etl_env.warehouse)
    changed = {cid for cid in after if after[cid] != before.get(cid)}
    assert changed == {3}
    assert after[3][1] == second.run_id
    assert after[3][0] > max(version for version, _ in before.values())
    assert second.campaigns_changed == 1


def test_reread_without_kpi_change_bumps_nothing(etl_env: EtlEnv) -> None:
    """A fact re-sent with the same numbers (a new change version) leaves its KPIs alone."""
    assert etl_env.run().status == "succeeded"
    before = _versions(etl_env.warehouse)
    execute(
        etl_env.ads,
        "UPDATE ad_metrics_daily SET clicks = clicks WHERE ad_id = %s",
        (_ad_of(etl_env, 2),),
    )
    again = etl_env.run()
    assert again.status == "succeeded", again.error
    assert again.rows_read["v_ad_metrics_daily"] > 0
    assert _versions(etl_env.warehouse) == before
    assert again.campaigns_changed == 0


def test_campaign_rename_bumps_that_campaign(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _versions(etl_env.warehouse)
    execute(etl_env.ads, "UPDATE campaigns SET name = name || ' (new)' WHERE campaign_id = 4")
    assert etl_env.run().status == "succeeded"
    after = _versions(etl_env.warehouse)
    assert {cid for cid in after if after[cid] != before.get(cid)} == {4}


def test_no_change_rerun_writes_no_version_rows(etl_env: EtlEnv) -> None:
    assert etl_env.run().status == "succeeded"
    before = _row_ids(etl_env.warehouse)
    again = etl_env.run()
    assert again.status == "succeeded"
    assert again.campaigns_changed == 0
    assert _row_ids(etl_env.warehouse) == before
