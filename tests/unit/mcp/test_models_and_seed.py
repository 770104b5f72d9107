"""Document shape validation, the seed set, the 100K generator and the JSONL reader."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest
from pydantic import ValidationError

from mcp_server.content.loader import ContentFileError, read_jsonl
from mcp_server.content.seed import SEED_CAMPAIGNS, generated_items, seed_items
from mcp_server.content.store import vector_search_pipeline
from mcp_server.content_model import ContentFilters, ContentItem


def test_seed_set_is_100_distinct_images_over_every_seed_campaign() -> None:
    items = seed_items()
    assert len(items) == 100
    assert len({i.id for i in items}) == 100
    assert {i.media_type for i in items} == {"image"}
    assert {c for i in items for c in i.campaigns} == set(SEED_CAMPAIGNS)
    assert seed_items() == items  # deterministic


def test_generator_is_deterministic_and_varied() -> None:
    first = list(islice(generated_items(100_000), 2000))
    again = list(islice(generated_items(100_000), 2000))
    assert first == again
    assert len({i.id for i in first}) == 2000
    assert {i.media_type for i in first} == {"image", "video", "text", "audio", "document"}
    assert len({i.language for i in first}) == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"campaigns": [{"$ne": ""}]},
        {"campaigns": ["$where"]},
        {"id": "a/../b"},
        {"tags": ["$gt"]},
        {"media_type": "hologram"},
        {"language": "eng"},
        {"media_url": "javascript:alert(1)"},
        {"unexpected": 1},
    ],
)
def test_item_rejects_operator_like_and_malformed_values(bad: dict[str, object]) -> None:
    data = {"id": "img-1", "title": "t", "media_type": "image", "media_url": "https://x.test/a"}
    with pytest.raises(ValidationError):
        ContentItem.model_validate({**data, **bad})


def test_jsonl_errors_name_the_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    good = {"id": "a1", "title": "t", "media_type": "image", "media_url": "https://x.test/a"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "media_type": "nope"}) + "\n")
    with pytest.raises(ContentFileError, match=r"items.jsonl:2: invalid field\(s\): media_type"):
        list(read_jsonl(path))


def test_vector_search_pipeline_uses_only_equality_on_validated_values() -> None:
    import numpy as np

    filters = ContentFilters(campaign_id="1001", tags=["b", "a"], media_type="image", language="en")
    stage = vector_search_pipeline(np.ones(3, np.float32), filters, 5, "m")[0]["$vectorSearch"]
    clauses = stage["filter"]["$and"]
    assert clauses[0] == {"embedding_model": {"$eq": "m"}}
    assert {"tags": {"$eq": "a"}} in clauses
    assert all(next(iter(c.values())).keys() == {"$eq"} for c in clauses)
    assert stage["limit"] == 5
