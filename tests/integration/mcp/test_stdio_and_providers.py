"""stdio transport through the CLI, the OpenAI-compatible path (embeddings and chat),
JWKS-based token verification, and the local embedding model on real text."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import jwt
import numpy as np
import pytest
from mcp import Client, StdioServerParameters

from mcp_server.app import build_application, build_service
from mcp_server.content.loader import load_content
from mcp_server.content.seed import seed_items
from mcp_server.content.store import ContentStore
from mcp_server.embeddings import LocalEmbedder, OpenAIEmbedder
from tests.integration.mcp.conftest import TokenIssuer, error_text, mcp_client, payload, serve
from tests.integration.mcp.openai_compatible import (
    DIMENSIONS,
    StubState,
    openai_compatible_server,
)


@pytest.fixture
def openai_stub() -> Iterator[tuple[str, StubState]]:
    with openai_compatible_server() as stub:
        yield stub


async def test_stdio_transport_through_the_cli(
    seeded_store: ContentStore, mongo_uri: str, redis_url: str, redis_prefix: str
) -> None:
    env = {
        **os.environ,
        "PROMPTSALES_MCP_MONGO_URI": mongo_uri,
        "PROMPTSALES_MCP_MONGO_DB": seeded_store.db.name,
        "PROMPTSALES_MCP_REDIS_URL": redis_url,
        "PROMPTSALES_MCP_CACHE_PREFIX": redis_prefix,
        "PROMPTSALES_MCP_STDIO_ROLE": "user",
        "PROMPTSALES_SECRETS_DIR": "/nonexistent",
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "promptsales_cli", "mcp", "serve", "--transport", "stdio"],
        env=env,
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        latte = {"query": "latte art in a sunny cafe", "limit": 2}
        found = await client.call_tool("getContent", latte)
        # Repeats over stdio are cache hits through the tool (replays are HTTP-only).
        repeats = [await client.call_tool("getContent", latte) for _ in range(3)]
        denied = await client.call_tool(
            "getCampaignPerformance",
            {"campaign_id": "1001", "date_from": "2026-01-01", "date_to": "2026-01-02"},
        )
    assert tools == {"getContent"}  # the local caller is a plain user: one tool listed
    assert not found.is_error, found.content
    assert payload(found)["items"][0]["title"].startswith("Organic coffee")
    assert [payload(r)["cached"] for r in repeats] == [True, True, True]
    assert all(payload(r)["items"] == payload(found)["items"] for r in repeats)
    assert denied.is_error  # the local caller was configured as a plain user


async def test_openai_compatible_embeddings_and_chat(
    store: ContentStore,
    seed_vectors: Any,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    openai_stub: tuple[str, StubState],
    warehouse_dsn: str,
) -> None:
    from mcp_server.embeddings import LOCAL_MODEL_ID

    base_url, state = openai_stub
    # Local-model vectors already stored under other ids must never be mixed in.
    local_only = [i.model_copy(update={"id": f"local-{i.id}"}) for i in seed_items()]
    store.upsert(local_only, seed_vectors, LOCAL_MODEL_ID)
    remote = OpenAIEmbedder(
        model="text-embedding-test",
        base_url=f"{base_url}/v1",
        api_key="sk-test-123",
        dimensions=None,
        timeout=10,
    )
    load_content(store, remote, seed_items())
    settings = settings_factory(
        embedding_provider="openai",
        embedding_model="text-embedding-test",
        openai_base_url=f"{base_url}/v1",
        openai_api_key="sk-test-123",
        openai_chat_model="chat-test",
        warehouse_dsn=warehouse_dsn,
    )
    # Built from settings alone (app_factory would inject the local model).
    application = build_application(settings, service=build_service(settings))
    async with (
        serve(application) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        found = await client.call_tool("getContent", {"query": "camping tent", "limit": 50})
        sms = await client.call_tool(
            "generateCampaignMessages",
            {"campaign_id": "1001", "segment": "hikers", "channel": "sms", "count": 2},
        )
    assert not found.is_error, found.content
    data = payload(found)
    assert data["model"] == "text-embedding-test"
    assert all(not i["id"].startswith("local-") for i in data["items"])
    assert application.service.index.dimensions == DIMENSIONS
    assert not sms.is_error, sms.content
    messages = payload(sms)
    assert messages["generator"] == "openai:chat-test"
    assert len(messages["variants"]) == 2
    for variant in messages["variants"]:
        assert len(variant["body"]) <= 160  # the model's over-long first body was cut
        assert "invented-id" not in variant["citations"]["content_ids"]
        assert variant["citations"]["kpis"]["clicks"] == 500
    chat = [r for r in state.requests if r["path"] == "chat"]
    assert chat
    assert chat[0]["body"]["model"] == "chat-test"
    assert any(r.get("auth") == "Bearer sk-test-123" for r in state.requests)


async def test_chat_endpoint_failure_is_a_tool_error(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    openai_stub: tuple[str, StubState],
) -> None:
    base_url, state = openai_stub
    state.fail_chat = True
    settings = settings_factory(
        openai_base_url=f"{base_url}/v1",
        openai_chat_model="chat-test",
        openai_timeout_seconds=5,
    )
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("marketing")) as client,
    ):
        result = await client.call_tool(
            "generateCampaignMessages",
            {"campaign_id": "1001", "segment": "hikers", "channel": "push"},
        )
    assert result.is_error
    assert "chat endpoint failed" in error_text(result)


async def test_tokens_verified_against_the_issuers_jwks(
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    openai_stub: tuple[str, StubState],
) -> None:
    base_url, state = openai_stub
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(tokens.key.public_key(), as_dict=True)
    state.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    settings = settings_factory(oauth_public_keys_file=None, oauth_jwks_url=f"{base_url}/jwks.json")
    async with (
        serve(app_factory(settings)) as server,
        mcp_client(server, token=tokens.token("user")) as client,
    ):
        result = await client.call_tool("getContent", {"query": "yoga"})
    assert not result.is_error, result.content


def test_local_model_embeds_real_text_meaningfully(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(
        [
            "A runner on a mountain trail at sunrise",
            "Trail running in the hills early in the morning",
            "Quarterly tax filing deadline for small businesses",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > 0.5
    assert unrelated < 0.2
    assert embedder.model_id == "all-MiniLM-L6-v2"
