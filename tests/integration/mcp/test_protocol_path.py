"""Calls answered at the protocol layer (``mcp_server.protocol_path``): the same answer the
tool would give, never across callers, content versions or expiry, and every call it
cannot answer still reaches the tool (with the tool's own errors)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from mcp import Client
from mcp_types import CallToolResult

from mcp_server.app import McpApplication
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentItem
from mcp_server.protocol_path import WireShape
from mcp_server.search.embeddings import LocalEmbedder
from tests.integration.mcp.conftest import (
    RunningServer,
    TokenIssuer,
    add_content,
    error_text,
    mcp_client,
    payload,
    rpc,
    serve,
)

QUERY = {"query": "cosy knitted scarf for winter evenings", "limit": 4}


def replayed(application: McpApplication, tool: str = "getContent") -> float:
    counter = application.service.metrics.cache_replayed_hits.labels(tool=tool)
    return float(counter._value.get())


async def stored_hit(
    application: McpApplication, client: Client, args: dict[str, Any]
) -> CallToolResult:
    """Compute an answer, let it reach Redis and the in-process tier, then hit it once
    through the tool, which stores its wire result; returns that hit."""
    first = await client.call_tool("getContent", args)
    assert payload(first)["cached"] is False
    await application.service.cache.flush()
    hit = await client.call_tool("getContent", args)
    assert payload(hit)["cached"] is True
    assert replayed(application) == 0
    return hit


def as_sent(result: CallToolResult) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def answered_here(application: McpApplication, tool: str = "getContent") -> float:
    counter = application.service.metrics.protocol_layer_answers.labels(tool=tool)
    return float(counter._value.get())


async def test_calls_answered_here_send_exactly_what_the_tool_sends(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    """After the SDK's first result has shown the shape, new calls (misses and hits alike)
    are answered here; each result, as raw JSON on the wire, is compared with what the SDK
    path sends for the same call on a fresh server, where it is the first call and so
    goes through the tool."""
    calls = [
        QUERY,
        {"query": "trail running shoes at sunrise", "limit": 3},
        {"query": "Summer SALE on beach umbrellas", "limit": 5, "diversity": "product"},
    ]
    token = tokens.token()

    async def sent(server: RunningServer, arguments: dict[str, Any]) -> dict[str, Any]:
        response = await rpc(
            server, "tools/call", {"name": "getContent", "arguments": arguments}, token=token
        )
        result: dict[str, Any] = response.json()["result"]
        return result

    application = app_factory(settings_factory(cache_prefix=f"here:{uuid.uuid4().hex}:"))
    async with serve(application) as server:
        await sent(server, {"query": "the first call shows the shape"})
        assert answered_here(application) == 0
        here = [await sent(server, args) for args in calls]
        assert answered_here(application) == len(calls)
        await application.service.cache.flush()
        hit = await sent(server, calls[1])
        assert answered_here(application) == len(calls) + 1
    for args, mine in zip(calls, here, strict=True):
        assert mine["structuredContent"]["cached"] is False
        reference = app_factory(settings_factory(cache_prefix=f"sdk:{uuid.uuid4().hex}:"))
        async with serve(reference) as server:
            through_tool = await sent(server, args)
        assert answered_here(reference) == 0
        assert mine == through_tool
    assert hit["structuredContent"] == {**here[1]["structuredContent"], "cached": True}
    assert WireShape.learn(hit) == WireShape.learn(here[1])


def test_a_result_of_another_shape_teaches_nothing() -> None:
    """Only "one text block holding the structured content's JSON" is learned: anything
    else (an error, extra content, text that is not that JSON) keeps the SDK path."""
    good: dict[str, Any] = {
        "content": [{"type": "text", "text": '{"items":[],"cached":false}'}],
        "structuredContent": {"items": [], "cached": False},
    }
    assert WireShape.learn({**good, "isError": False}) == WireShape({"isError": False})
    assert WireShape.learn(good) is not None
    assert WireShape.learn({**good, "isError": True}) is None
    assert WireShape.learn({**good, "content": good["content"] * 2}) is None
    assert WireShape.learn({**good, "content": [{"type": "text", "text": "{}"}]}) is None
    assert WireShape.learn({**good, "structuredContent": None}) is None
    assert WireShape.learn("not a result") is None


async def test_a_repeat_is_replayed_with_exactly_the_answer_the_tool_gave(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    application = app_factory(settings_factory())
    async with serve(application) as server, mcp_client(server, token=tokens.token()) as client:
        through_tool = await stored_hit(application, client, QUERY)
        again = await client.call_tool("getContent", QUERY)
        assert replayed(application) == 1
        # Spacing and case normalize to the same key, as in the tool; but a stored result
        # repeats its first caller's text, so the respelled call goes through the tool
        # (a hit there, with its own text), whose result then becomes the stored one.
        spelled = "  Cosy knitted SCARF for winter   evenings"
        respelled = await client.call_tool("getContent", {**QUERY, "query": spelled})
        assert replayed(application) == 1
        respelled_again = await client.call_tool("getContent", {**QUERY, "query": spelled})
        metrics = application.service.metrics.render().decode()
    assert replayed(application) == 2
    assert as_sent(again) == as_sent(through_tool)
    assert payload(again)["cached"] is True
    assert payload(respelled)["query"] == "Cosy knitted SCARF for winter evenings"
    assert payload(respelled)["cached"] is True
    assert payload(respelled)["items"] == payload(through_tool)["items"]
    assert as_sent(respelled_again) == as_sent(respelled)
    # Counted like any other hit: five calls, four hits, two of them replayed.
    assert 'promptsales_mcp_tool_calls_total{outcome="ok",tool="getContent"} 5.0' in metrics
    assert 'promptsales_mcp_cache_requests_total{result="hit",tool="getContent"} 4.0' in metrics


async def test_a_replay_never_crosses_roles_campaign_scopes_or_content_versions(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    embedder: LocalEmbedder,
) -> None:
    application = app_factory(settings_factory())
    async with serve(application) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            await stored_hit(application, client, QUERY)
            assert payload(await client.call_tool("getContent", QUERY))["cached"] is True
        assert replayed(application) == 1
        async with mcp_client(server, token=tokens.token("marketing")) as client:
            other_role = await client.call_tool("getContent", QUERY)
        async with mcp_client(server, token=tokens.token("user", campaign="1001")) as client:
            scoped = await client.call_tool("getContent", QUERY)
        assert replayed(application) == 1
        assert payload(other_role)["cached"] is False
        assert payload(scoped)["cached"] is False
        assert all("1001" in item["campaigns"] for item in payload(scoped)["items"])

        new = ContentItem(
            id="img-scarf-new",
            title="Cosy knitted scarf for winter evenings",
            description="A chunky knitted wool scarf by a fireplace on a winter evening.",
            tags=["winter", "fashion"],
            media_type="image",
            media_url="https://cdn.promptsales.io/media/scarf.jpg",
        )
        await add_content(application, seeded_store, embedder, new)
        async with mcp_client(server, token=tokens.token("user")) as client:
            fresh = await client.call_tool("getContent", QUERY)
    assert replayed(application) == 1
    assert payload(fresh)["cached"] is False
    assert payload(fresh)["items"][0]["id"] == "img-scarf-new"


async def test_calls_a_replay_cannot_answer_reach_the_tool_and_its_errors(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    application = app_factory(settings_factory())
    async with serve(application) as server:
        async with mcp_client(server, token=tokens.token("user")) as client:
            await stored_hit(application, client, QUERY)
            bad_limit = await client.call_tool("getContent", {**QUERY, "limit": 0})
            blank = await client.call_tool("getContent", {**QUERY, "query": "   "})
            not_allowed = await client.call_tool(
                "generateCampaignMessages",
                {"campaign_id": "1001", "segment": "runners", "channel": "sms"},
            )
        async with mcp_client(server, token=tokens.token("user", campaign="1001")) as client:
            other_campaign = await client.call_tool("getContent", {**QUERY, "campaign_id": "1002"})
    assert replayed(application) == 0
    assert bad_limit.is_error
    assert "limit" in error_text(bad_limit)
    assert blank.is_error
    assert "query" in error_text(blank)
    assert not_allowed.is_error
    assert "may not call generateCampaignMessages" in error_text(not_allowed)
    assert other_campaign.is_error
    assert "campaign_id" in error_text(other_campaign)


async def test_a_replay_expires_with_its_answer(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    application = app_factory(settings_factory(cache_ttl_seconds=1))
    async with serve(application) as server, mcp_client(server, token=tokens.token()) as client:
        await stored_hit(application, client, QUERY)
        assert payload(await client.call_tool("getContent", QUERY))["cached"] is True
        assert replayed(application) == 1
        await asyncio.sleep(1.2)  # past the Redis entry's TTL, hence the in-process entry's
        expired = await client.call_tool("getContent", QUERY)
    assert payload(expired)["cached"] is False
    assert replayed(application) == 1


async def test_with_redis_down_nothing_is_replayed(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    from harness.services import free_port

    application = app_factory(settings_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with serve(application) as server, mcp_client(server, token=tokens.token()) as client:
        answers = [payload(await client.call_tool("getContent", QUERY)) for _ in range(3)]
    assert [a["cached"] for a in answers] == [False, False, False]
    assert replayed(application) == 0
