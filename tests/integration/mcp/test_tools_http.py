"""Each tool's results through the SDK's client over streamable HTTP (TLS, bearer token)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcp_server.content.store import ContentStore
from tests.integration.mcp.conftest import TokenIssuer, error_text, mcp_client, payload, serve


async def test_get_content_ranks_relevant_items_first(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("user")) as client,
    ):
        result = await client.call_tool(
            "getContent", {"query": "running shoes on a mountain trail", "limit": 5}
        )
    assert not result.is_error, result.content
    data = payload(result)
    items = data["items"]
    assert len(items) == 5
    assert items[0]["title"].startswith("Trail running shoes")
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert data["model"] == "all-MiniLM-L6-v2"


async def test_get_content_filters_apply_before_top_k(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    async with (
        serve(app_factory(settings_factory())) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        result = await client.call_tool(
            "getContent",
            {"query": "running shoes", "campaign_id": "1004", "tags": ["winter"], "limit": 50},
        )
    assert not result.is_error, result.content
    items = payload(result)["items"]
    # Campaign 1004 has two winter briefs x 4 styles: all 8 and nothing else, despite the query.
    assert len(items) == 8
    assert all("1004" in i["campaigns"] and "winter" in i["tags"] for i in items)


async def test_campaign_performance_reads_warehouse_kpis(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        result = await client.call_tool(
            "getCampaignPerformance",
            {
                "campaign_id": "1001",
                "date_from": (today - dt.timedelta(days=4)).isoformat(),
                "date_to": today.isoformat(),
            },
        )
        unknown = await client.call_tool(
            "getCampaignPerformance",
            {"campaign_id": "4242", "date_from": "2026-01-01", "date_to": "2026-01-31"},
        )
    assert not result.is_error, result.content
    data = payload(result)
    assert data["campaign"]["name"] == "Trail season"
    assert len(data["daily"]) == 5
    totals = data["totals"]
    assert totals["impressions"] == 5000
    assert totals["clicks"] == 250
    assert totals["conversions"] == 20
    assert totals["ctr"] == 0.05
    assert totals["roas"] == 8.0
    assert unknown.is_error
    assert "campaign_id" in error_text(unknown)


async def test_generate_messages_offline_respects_limits_and_cites(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    warehouse_dsn: str,
) -> None:
    settings = settings_factory(warehouse_dsn=warehouse_dsn)
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        results = {
            channel: await client.call_tool(
                "generateCampaignMessages",
                {
                    "campaign_id": "1001",
                    "segment": "weekend trail runners",
                    "channel": channel,
                    "count": 4,
                    "tone": "playful",
                },
            )
            for channel in ("sms", "email", "push", "social")
        }
    limits = {"sms": (160, None), "email": (2000, 60), "push": (178, 50), "social": (280, None)}
    seed_1001 = {"img-0001", "img-0002", "img-0003", "img-0004"}
    for channel, result in results.items():
        assert not result.is_error, result.content
        data = payload(result)
        assert data["generator"] == "offline"
        assert len(data["variants"]) == 4
        body_limit, subject_limit = limits[channel]
        for variant in data["variants"]:
            assert len(variant["body"]) <= body_limit
            if subject_limit is None:
                assert variant["subject"] is None
            else:
                assert 0 < len(variant["subject"]) <= subject_limit
            cited = variant["citations"]["content_ids"]
            assert cited
            assert set(cited) <= {f"img-{n:04d}" for n in range(1, 101)}
            # Only the KPIs a variant's text uses are cited: here the period's conversions.
            assert variant["citations"]["kpis"] in ({}, {"conversions": 40})
            if variant["citations"]["kpis"]:
                assert "40" in variant["body"]
                assert variant["citations"]["kpi_period"]
            if channel in ("email", "sms", "social"):
                assert variant["citations"]["kpis"] == {"conversions": 40}
    cited_all = {
        cid
        for r in results.values()
        for v in payload(r)["variants"]
        for cid in v["citations"]["content_ids"]
    }
    # Grounded in the campaign's own items: campaign 1001's briefs are running, yoga, ...
    assert cited_all & (
        seed_1001
        | {f"img-{n:04d}" for n in range(5, 17)}
        | {f"img-{n:04d}" for n in range(93, 101)}
    )
