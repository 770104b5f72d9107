"""Cached KPI answers follow the warehouse: after an ETL run changes a campaign's data, the
server's next poll moves that campaign's cache key, and only that campaign's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg

from etl_job.seed import ANCHOR_DAY
from mcp_server.app import McpApplication
from tests.integration.etl.env import EtlEnv, execute, make_env, source_dsn
from tests.integration.mcp.conftest import TokenIssuer, mcp_client, payload, serve

CHANGED, UNCHANGED = "3", "4"


def _range(campaign_id: str) -> dict[str, str]:
    return {
        "campaign_id": campaign_id,
        "date_from": "2026-09-01",
        "date_to": ANCHOR_DAY.isoformat(),
    }


def _db_version(warehouse: str, campaign_id: str) -> int:
    with psycopg.connect(warehouse) as conn:
        row = conn.execute(
            "SELECT version FROM warehouse.campaign_kpi_version WHERE campaign_id = %s",
            (int(campaign_id),),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _until_polled(application: McpApplication, campaign_id: str, version: int) -> None:
    """Wait for the refresh loop to have read ``version`` (bounded; no timing is asserted)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        versions = application.service.kpi_versions
        if versions is not None and versions.get(campaign_id) == version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never read version {version} of campaign {campaign_id}")


def _add_clicks(env: EtlEnv, campaign_id: str, clicks: int) -> None:
    with psycopg.connect(source_dsn(env.ads)) as conn:
        row = conn.execute(
            "SELECT min(ad_id) FROM ads WHERE campaign_id = %s", (int(campaign_id),)
        ).fetchone()
    assert row is not None
    execute(
        env.ads,
        "UPDATE ad_metrics_daily SET clicks = clicks + %s WHERE ad_id = %s AND day = %s",
        (clicks, row[0], ANCHOR_DAY),
    )


async def test_an_etl_run_refreshes_the_changed_campaigns_cached_answer_only(
    pg_database_factory: Any,
    tmp_path: Path,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
) -> None:
    env = make_env(pg_database_factory, tmp_path)
    first = await asyncio.to_thread(env.run)
    assert first.status == "succeeded", first.error
    application = app_factory(settings_factory(warehouse_dsn=env.warehouse))
    async with (
        serve(application) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        await _until_polled(application, CHANGED, _db_version(env.warehouse, CHANGED))
        before = payload(await client.call_tool("getCampaignPerformance", _range(CHANGED)))
        await application.service.cache.flush()
        repeat = payload(await client.call_tool("getCampaignPerformance", _range(CHANGED)))
        # The next repeat is replayed at the protocol layer; the new version must end that too.
        replayed = payload(await client.call_tool("getCampaignPerformance", _range(CHANGED)))
        counter = application.service.metrics.cache_replayed_hits
        assert counter.labels(tool="getCampaignPerformance")._value.get() == 1
        other = payload(await client.call_tool("getCampaignPerformance", _range(UNCHANGED)))
        assert repeat["cached"] is True
        assert replayed == repeat

        _add_clicks(env, CHANGED, 5)
        second = await asyncio.to_thread(env.run)
        assert second.status == "succeeded", second.error
        await _until_polled(application, CHANGED, _db_version(env.warehouse, CHANGED))

        after = payload(await client.call_tool("getCampaignPerformance", _range(CHANGED)))
        other_after = payload(await client.call_tool("getCampaignPerformance", _range(UNCHANGED)))
    assert before["cached"] is False
    assert after["cached"] is False
    assert after["totals"]["clicks"] == before["totals"]["clicks"] + 5
    assert other["cached"] is False
    assert other_after["cached"] is True
    assert other_after["totals"] == other["totals"]


async def test_kpi_answers_keep_working_while_the_version_poll_fails(
    pg_database_factory: Any,
    tmp_path: Path,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
) -> None:
    """A poll that fails (here: the version table is gone) keeps the last versions."""
    env = make_env(pg_database_factory, tmp_path)
    assert (await asyncio.to_thread(env.run)).status == "succeeded"
    application = app_factory(settings_factory(warehouse_dsn=env.warehouse))
    async with (
        serve(application) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        await _until_polled(application, CHANGED, _db_version(env.warehouse, CHANGED))
        assert (await application.service.health())["kpi_versions"] == "loaded"
        known = dict(application.service.kpi_versions or {})
        await client.call_tool("getCampaignPerformance", _range(CHANGED))
        execute(env.warehouse, "DROP TABLE warehouse.campaign_kpi_version")
        service = application.service
        assert await service.refresh_kpi_versions() is False
        again = payload(await client.call_tool("getCampaignPerformance", _range(CHANGED)))
        content = await client.call_tool("getContent", {"query": "running shoes", "limit": 1})
    assert service.kpi_versions == known
    assert again["cached"] is True
    assert not content.is_error, content.content
