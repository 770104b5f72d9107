"""getContent through $vectorSearch: the documented shapes, and the same answers as the
in-process index, with no index held in process.

MongoDB Search does not run here: the search operations go to a stand-in
(:mod:`tests.support.vector_search`) that checks them against MongoDB's documented
shapes and evaluates them over the documents stored in SecantusDB.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np
import pytest

from mcp_server.access.auth import Principal
from mcp_server.answers.cache import ResponseCache
from mcp_server.content.store import ContentStore, vector_search_pipeline
from mcp_server.content_model import ContentFilters
from mcp_server.metrics import Metrics
from mcp_server.search.embeddings import LOCAL_MODEL_ID, LocalEmbedder
from mcp_server.search.index import VectorIndex
from mcp_server.service import ContentService, ToolInputError
from tests.support.vector_search import VectorSearchStandIn, check_index_definition
from workloads import content_search

# From MongoDB's documentation of the $vectorSearch stage and the vectorSearch index type.
DOCUMENTED_STAGE_FIELDS = {
    "index", "path", "queryVector", "numCandidates", "limit", "filter", "exact",
}  # fmt: skip
DOCUMENTED_FILTER_OPERATORS = {
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$not", "$nor", "$and", "$or",
    "$exists",
}  # fmt: skip


def test_the_index_definition_has_the_documented_vector_search_shape() -> None:
    model = content_search.vector_index_model(384)
    assert model["type"] == "vectorSearch"
    assert model["name"] == "content_vector"
    fields = model["definition"]["fields"]
    vector = [f for f in fields if f["type"] == "vector"]
    assert vector == [
        {"type": "vector", "path": "embedding", "numDimensions": 384, "similarity": "cosine"}
    ]
    filters = [f for f in fields if f["type"] == "filter"]
    assert all(set(f) == {"type", "path"} for f in filters)
    assert {f["path"] for f in filters} == {
        "embedding_model", "campaigns", "tags", "media_type", "language",
    }  # fmt: skip
    check_index_definition(model["definition"])


def _filter_paths_and_operators(expression: dict[str, Any]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for key, value in expression.items():
        if key in {"$and", "$or", "$nor"}:
            found.add(("", key))
            for part in value:
                found |= _filter_paths_and_operators(part)
        else:
            found |= {(key, op) for op in value}
    return found


def test_the_pipeline_has_the_documented_stage_shape() -> None:
    filters = ContentFilters(
        campaign_id="1001", tags=["sale", "summer"], media_type="image", language="en"
    )
    pipeline = vector_search_pipeline(np.ones(384, np.float32), filters, 7, LOCAL_MODEL_ID)
    assert list(pipeline[0]) == ["$vectorSearch"]  # the first stage, alone
    stage = pipeline[0]["$vectorSearch"]
    assert set(stage) <= DOCUMENTED_STAGE_FIELDS
    assert {"index", "path", "queryVector", "limit"} <= set(stage)
    assert stage["index"] == "content_vector"
    assert stage["path"] == "embedding"
    assert len(stage["queryVector"]) == 384
    assert all(isinstance(x, float) for x in stage["queryVector"])
    assert stage["limit"] == 7
    # Exact top-k (ENN), as the in-process index: numCandidates belongs to ANN only.
    assert stage["exact"] is True
    assert "numCandidates" not in stage
    pairs = _filter_paths_and_operators(stage["filter"])
    assert {op for _, op in pairs} <= DOCUMENTED_FILTER_OPERATORS
    indexed = set(content_search.FILTER_PATHS)
    assert {path for path, _ in pairs if path} <= indexed
    assert ("tags", "$eq") in pairs
    assert pipeline[1] == {"$addFields": {"score": {"$meta": "vectorSearchScore"}}}


@pytest.fixture
def search_store(seeded_store: ContentStore) -> tuple[ContentStore, VectorSearchStandIn]:
    stand_in = VectorSearchStandIn(seeded_store.collection)
    seeded_store.collection = stand_in  # type: ignore[assignment]
    return seeded_store, stand_in


def _service(store: ContentStore, embedder: LocalEmbedder) -> ContentService:
    return ContentService(
        store=store,
        embedder=embedder,
        cache=ResponseCache(None, prefix="t:", ttl_seconds=60, metrics=Metrics()),
        metrics=Metrics(),
        refresh_seconds=0.2,
        use_vector_search=None,  # auto: MongoDB Search where a queryable index exists
    )


QUERIES = ("trail running at sunrise", "holiday gifts for the family", "cheap headphones")
FILTERS = (
    ContentFilters(),
    ContentFilters(campaign_id="1003"),
    ContentFilters(tags=["summer", "sale"]),
    ContentFilters(media_type="image", language="en", tags=["holiday"]),
    ContentFilters(campaign_id="1001", tags=["outdoor"]),
    ContentFilters(language="fr"),
)


async def test_get_content_runs_vector_search_with_the_in_process_answers(
    search_store: tuple[ContentStore, VectorSearchStandIn], embedder: LocalEmbedder
) -> None:
    store, stand_in = search_store
    store.ensure_vector_index(embedder.dimensions)
    exact = store.load_index(LOCAL_MODEL_ID, embedder.dimensions)  # the reference answers

    def no_full_load(model_id: str, dimensions: int) -> VectorIndex:
        raise AssertionError("the in-process index must not be loaded with $vectorSearch")

    store.load_index = no_full_load  # type: ignore[method-assign]
    service = _service(store, embedder)
    async with service.running():
        assert service.vector_search
        assert len(service.index) == 0
        health = await service.health()
        assert health["content"]["search"] == "mongo"
        assert health["content"]["items"] == 100
        for query, filters, limit in itertools.product(QUERIES, FILTERS, (1, 5, 50)):
            got = await service.search(query, filters, limit)
            want = exact.search(embedder.embed([query])[0], filters, limit)
            assert [h.item.id for h in got] == [h.item.id for h in want], (query, filters)
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
            assert len(got) == min(limit, len(want))
    assert len(stand_in.pipelines) == len(QUERIES) * len(FILTERS) * 3


async def test_unknown_campaigns_are_told_apart_by_the_database(
    search_store: tuple[ContentStore, VectorSearchStandIn], embedder: LocalEmbedder
) -> None:
    store, _ = search_store
    store.ensure_vector_index(embedder.dimensions)
    service = _service(store, embedder)
    principal = Principal(subject="t", role="marketing", campaign_id=None, method="oauth")
    async with service.running():
        known = service.plan_content(principal, "shoes", ContentFilters(campaign_id="1001"), 3)
        assert (await known.compute())["items"]
        unknown = service.plan_content(principal, "shoes", ContentFilters(campaign_id="9999"), 3)
        with pytest.raises(ToolInputError, match="campaign_id"):
            await unknown.compute()


async def test_without_a_queryable_index_auto_keeps_the_in_process_index(
    search_store: tuple[ContentStore, VectorSearchStandIn], embedder: LocalEmbedder
) -> None:
    store, stand_in = search_store
    service = _service(store, embedder)
    async with service.running():
        assert not service.vector_search
        assert len(service.index) == 100
        await service.search("shoes", ContentFilters(), 3)
    assert stand_in.pipelines == []


async def test_configured_vector_search_waits_for_the_index(
    search_store: tuple[ContentStore, VectorSearchStandIn], embedder: LocalEmbedder
) -> None:
    store, _ = search_store
    service = _service(store, embedder)
    service._use_vector_search = True  # PROMPTSALES_MCP_VECTOR_BACKEND=mongo
    async with service.running():
        assert (await service.health())["ready"] is False  # no index yet, no fallback
        assert len(service.index) == 0
        await asyncio.to_thread(store.ensure_vector_index, embedder.dimensions)
        for _ in range(200):
            if (await service.health())["ready"]:
                break
            await asyncio.sleep(0.05)
        assert (await service.health())["ready"] is True
        assert len(service.index) == 0
