"""The exact index: top-k equals brute force, filters apply before ranking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.content_model import ContentFilters, ContentItem
from mcp_server.search.embeddings import normalize
from mcp_server.search.index import VectorIndex

CAMPAIGNS = ["1", "2", "3"]
TAGS = ["a", "b", "c"]
MEDIA = ["image", "video", "text"]


def _items(n: int, rng: np.random.Generator) -> list[ContentItem]:
    return [
        ContentItem(
            id=f"i{k}",
            title=f"item {k}",
            tags=[t for t in TAGS if rng.random() < 0.5],
            media_type=MEDIA[k % 3],
            media_url="https://cdn.test/x",
            campaigns=[CAMPAIGNS[k % 3]] + (["3"] if k % 5 == 0 else []),
            language="en" if k % 2 else "es",
        )
        for k in range(n)
    ]


def _brute_force(index: VectorIndex, q: np.ndarray, f: ContentFilters, k: int) -> list[str]:
    scored = []
    for row, item in enumerate(index.items):
        if f.campaign_id is not None and f.campaign_id not in item.campaigns:
            continue
        if not set(f.tags) <= set(item.tags):
            continue
        if f.media_type is not None and item.media_type != f.media_type:
            continue
        if f.language is not None and item.language != f.language:
            continue
        scored.append((-float(index.vectors[row] @ q), row, item.id))
    return [item_id for _, _, item_id in sorted(scored)[:k]]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 70),
    campaign=st.sampled_from([None, *CAMPAIGNS, "404"]),
    tags=st.lists(st.sampled_from(TAGS), max_size=2),
    media=st.sampled_from([None, *MEDIA]),
    language=st.sampled_from([None, "en", "es"]),
)
def test_search_equals_brute_force(
    n: int,
    seed: int,
    k: int,
    campaign: str | None,
    tags: list[str],
    media: str | None,
    language: str | None,
) -> None:
    rng = np.random.default_rng(seed)
    items = _items(n, rng)
    vectors = normalize(rng.normal(size=(n, 8)))
    index = VectorIndex(items, vectors, model_id="m", version=1)
    query = normalize(rng.normal(size=(1, 8)))[0]
    filters = ContentFilters(
        campaign_id=campaign,
        tags=tags,
        media_type=media,
        language=language,
    )
    hits = index.search(query, filters, k)
    assert [h.item.id for h in hits] == _brute_force(index, query, filters, k)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_filtered_top_k_is_not_starved_by_unfiltered_neighbours() -> None:
    rng = np.random.default_rng(1)
    items = _items(30, rng)
    vectors = normalize(rng.normal(size=(30, 4)))
    index = VectorIndex(items, vectors, model_id="m", version=1)
    hits = index.search(vectors[0], ContentFilters(campaign_id="2"), 5)
    assert len(hits) == 5
    assert all("2" in h.item.campaigns for h in hits)


def test_query_of_another_dimension_is_refused() -> None:
    index = VectorIndex.empty("m", 4)
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.zeros(3, dtype=np.float32), ContentFilters(), 3)


def test_rows_and_items_must_agree() -> None:
    with pytest.raises(ValueError, match="one row per item"):
        VectorIndex(
            _items(2, np.random.default_rng(0)),
            np.zeros((3, 4), np.float32),
            model_id="m",
            version=0,
        )
