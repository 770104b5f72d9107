"""A getContent miss starts its query's embedding while the cache is still being asked
(``ContentService.answer``), and what the warm-up embeds is kept, never wasted: when the
cache then holds the answer (another replica computed it), the vector stays in this
replica's query LRU for the next call of the query."""

from __future__ import annotations

from typing import Any

from mcp_server.content.store import ContentStore
from tests.integration.mcp.conftest import TokenIssuer, mcp_client, payload, serve

QUERY = "a cosy reading corner with a wool blanket"


async def test_a_miss_here_embeds_its_query_even_when_redis_holds_the_answer(
    seeded_store: ContentStore, settings_factory: Any, app_factory: Any, tokens: TokenIssuer
) -> None:
    settings = settings_factory()
    first, second = app_factory(settings), app_factory(settings_factory())
    async with serve(first) as one, mcp_client(one, token=tokens.token()) as client:
        computed = await client.call_tool("getContent", {"query": QUERY, "limit": 3})
        await first.service.cache.flush()
    assert payload(computed)["cached"] is False
    queries = second.service.queries
    async with serve(second) as other, mcp_client(other, token=tokens.token()) as client:
        assert queries.keeps(QUERY)  # this replica never embedded it
        from_redis = await client.call_tool("getContent", {"query": QUERY, "limit": 3})
        assert payload(from_redis)["cached"] is True  # answered by the other's computation
        for _ in range(200):  # the warm-up finishes on the compute thread
            if not queries.keeps(QUERY):
                break
            await second.service.run_compute(lambda: None)
    assert not queries.keeps(QUERY)
