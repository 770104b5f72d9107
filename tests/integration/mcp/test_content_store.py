"""The content store and loader against the MongoDB wire-protocol server, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bson.binary import Binary
from typer.testing import CliRunner

from mcp_server.content.loader import load_content
from mcp_server.content.seed import seed_items
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentFilters, ContentItem
from mcp_server.search.embeddings import LocalEmbedder
from promptsales_cli.main import app


def _item(item_id: str, title: str) -> ContentItem:
    return ContentItem(
        id=item_id,
        title=title,
        media_type="image",
        media_url="https://cdn.test/a.jpg",
        tags=["winter"],
        campaigns=["1001"],
    )


def test_loader_writes_documented_shape_and_bumps_version(
    store: ContentStore, embedder: LocalEmbedder
) -> None:
    report = load_content(store, embedder, seed_items()[:10], batch_size=4)
    assert report.items == 10
    assert report.version == store.version() > 0
    doc = store.collection.find_one({"_id": "img-0001"})
    assert doc is not None
    assert isinstance(doc["embedding"], Binary)
    assert doc["embedding"].subtype == 9
    assert (doc["embedding_model"], doc["embedding_dim"]) == ("all-MiniLM-L6-v2", 384)
    assert doc["title"] == "Trail running shoes hero banner"
    index = store.load_index("all-MiniLM-L6-v2", 384)
    assert len(index) == 10
    assert index.version == report.version
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-5)


def test_reloading_updates_in_place_and_keeps_created_at(
    store: ContentStore, embedder: LocalEmbedder
) -> None:
    first = load_content(store, embedder, [_item("a1", "Red scarf")])
    created = store.collection.find_one({"_id": "a1"})["created_at"]  # type: ignore[index]
    report = load_content(store, embedder, [_item("a1", "Blue scarf"), _item("a2", "Hat")])
    doc = store.collection.find_one({"_id": "a1"})
    assert doc is not None
    assert doc["title"] == "Blue scarf"
    assert doc["created_at"] == created
    assert store.count() == 2
    assert report.version > first.version
    hits = store.load_index("all-MiniLM-L6-v2", 384).search(
        embedder.embed(["blue scarf"])[0], ContentFilters(tags=["winter"]), 1
    )
    assert hits[0].item.id == "a1"


def test_wire_server_without_atlas_search_uses_the_exact_index(store: ContentStore) -> None:
    assert store.supports_vector_search() is False


def test_cli_load_content_and_bad_file(
    mongo_uri: str, store: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTSALES_MCP_MONGO_URI", mongo_uri)
    monkeypatch.setenv("PROMPTSALES_MCP_MONGO_DB", store.db.name)
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    good = tmp_path / "items.jsonl"
    rows: list[dict[str, Any]] = [
        {
            "id": f"c{n}",
            "title": f"Coffee poster {n}",
            "media_type": "image",
            "media_url": f"https://cdn.test/c{n}.jpg",
            "tags": ["coffee"],
        }
        for n in range(3)
    ]
    good.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = CliRunner().invoke(app, ["mcp", "load-content", str(good)])
    assert result.exit_code == 0, result.output
    assert "loaded 3 items" in result.output
    assert f"content version {store.version()}" in result.output
    assert store.count() == 3

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows[0], "campaigns": [{"$ne": ""}]}) + "\n")
    result = CliRunner().invoke(app, ["mcp", "load-content", str(bad)])
    assert result.exit_code == 2
    assert "bad.jsonl:1: invalid field(s): campaigns.0" in result.output
    assert store.count() == 3


def test_content_version_never_repeats_after_the_store_is_wiped(store: ContentStore) -> None:
    first = store.bump_version()
    second = store.bump_version()
    assert second > first
    store.meta.drop()  # a wiped and reloaded PromptContent loses its counter document
    assert store.version() == 0
    assert store.bump_version() > second
