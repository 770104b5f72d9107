"""The MCP server follows PromptContent through a change stream, or polls where none is offered.

Against SecantusDB (the MongoDB wire-protocol stand-in), which advertises itself as a
single-node replica set and serves ``$changeStream`` with resume tokens, and refuses the
stage as a standalone ``mongod`` does (code 40573) when started with ``--standalone``.
No real MongoDB replica set runs here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pymongo
import pytest
from pymongo.errors import OperationFailure

from harness import services
from mcp_server.answers.cache import ResponseCache
from mcp_server.content.follow import HISTORY_LOST, ChangeStream, OpenStream
from mcp_server.content.loader import load_content
from mcp_server.content.seed import seed_items
from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentFilters, ContentItem
from mcp_server.metrics import Metrics
from mcp_server.search.embeddings import LOCAL_MODEL_ID, LocalEmbedder, Matrix
from mcp_server.search.index import VectorIndex
from mcp_server.service import ContentService
from tests.integration.mcp.conftest import until


def _item(item_id: str, title: str, campaign: str = "1001") -> ContentItem:
    return ContentItem(
        id=item_id,
        title=title,
        media_type="image",
        media_url=f"https://cdn.test/{item_id}.jpg",
        tags=["winter"],
        campaigns=[campaign],
        updated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )


class LoadCounter:
    """Counts full reads of the collection (``ContentStore.load_index``)."""

    def __init__(self, store: ContentStore) -> None:
        self.calls = 0
        self._load = store.load_index

        def counted(model_id: str, dimensions: int) -> VectorIndex:
            self.calls += 1
            return self._load(model_id, dimensions)

        store.load_index = counted  # type: ignore[method-assign]


@asynccontextmanager
async def running(store: ContentStore, embedder: LocalEmbedder) -> AsyncIterator[ContentService]:
    service = ContentService(
        store=store,
        embedder=embedder,
        cache=ResponseCache(None, prefix="t:", ttl_seconds=60, metrics=Metrics()),
        metrics=Metrics(),
        refresh_seconds=0.2,
    )
    async with service.running():
        yield service


def top_ids(service: ContentService, embedder: LocalEmbedder, query: str, k: int = 3) -> list[str]:
    vector = embedder.embed([query])[0]
    return [h.item.id for h in service.index.search(vector, ContentFilters(), k)]


def ids(service: ContentService) -> set[str]:
    return {item.id for item in service.index.items}


@pytest.fixture
def small_store(store: ContentStore, seed_vectors: Matrix) -> ContentStore:
    store.upsert(seed_items()[:8], seed_vectors[:8], LOCAL_MODEL_ID)
    store.bump_version()
    return store


async def test_new_updated_and_deleted_content_arrive_through_the_change_stream(
    small_store: ContentStore, embedder: LocalEmbedder
) -> None:
    store = small_store
    async with running(store, embedder) as service:
        assert service.follow_mode == "change_stream"
        assert (await service.health())["content"]["follow"] == "change_stream"
        loads = LoadCounter(store)
        before = service.index.version

        await asyncio.to_thread(load_content, store, embedder, [_item("new-1", "Red wool scarf")])
        await until(lambda: service.index.version == store.version(), "new item published")
        assert service.index.version > before
        assert "new-1" in ids(service)
        assert len(service.index) == 9
        assert top_ids(service, embedder, "red wool scarf")[0] == "new-1"

        # Updated in place (an update event, whose document the follower looks up).
        await asyncio.to_thread(load_content, store, embedder, [_item("new-1", "Green silk tie")])
        await until(lambda: service.index.version == store.version(), "update published")
        assert top_ids(service, embedder, "green silk tie")[0] == "new-1"
        assert len(service.index) == 9
        assert next(i for i in service.index.items if i.id == "new-1").title == "Green silk tie"

        store.collection.delete_one({"_id": "img-0001"})
        store.bump_version()
        await until(lambda: service.index.version == store.version(), "delete published")
        assert "img-0001" not in ids(service)
        assert len(service.index) == 8
        # Every change came from the stream: the collection was never read again.
        assert loads.calls == 0


async def test_item_changes_wait_for_the_version_that_follows_them(
    small_store: ContentStore, embedder: LocalEmbedder
) -> None:
    """A snapshot is labelled with a version only once it holds what came before it."""
    store = small_store
    async with running(store, embedder) as service:
        version = service.index.version
        vector = embedder.embed(["plain blue mug"])
        store.upsert([_item("mug", "Plain blue mug")], vector, LOCAL_MODEL_ID)  # no bump
        follower = service.follower
        assert follower is not None
        await until(lambda: "mug" in follower.pending_ids, "the insert reached the follower")
        assert service.index.version == version
        assert "mug" not in ids(service)
        store.bump_version()
        await until(lambda: service.index.version == store.version(), "version published")
        assert "mug" in ids(service)


async def test_another_models_vectors_leave_the_index(
    small_store: ContentStore, embedder: LocalEmbedder
) -> None:
    store = small_store
    async with running(store, embedder) as service:
        store.collection.update_one({"_id": "img-0002"}, {"$set": {"embedding_model": "other"}})
        store.bump_version()
        await until(lambda: service.index.version == store.version(), "change published")
        assert "img-0002" not in ids(service)


@pytest.fixture
def failpoint_server() -> Iterator[services.MongoServer]:
    with services.mongo_server(["--enable-test-commands"]) as server:
        yield server


def _store_on(server: services.MongoServer) -> ContentStore:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.uri, tz_aware=True)
    return ContentStore(client["PromptContent"])


async def test_a_broken_stream_resumes_from_its_token_and_misses_nothing(
    failpoint_server: services.MongoServer, embedder: LocalEmbedder, seed_vectors: Matrix
) -> None:
    store = _store_on(failpoint_server)
    store.upsert(seed_items()[:4], seed_vectors[:4], LOCAL_MODEL_ID)
    store.bump_version()
    try:
        async with running(store, embedder) as service:
            assert service.follow_mode == "change_stream"
            loads = LoadCounter(store)
            # The server fails the stream's next reads and re-opens (a failover, a dropped
            # connection): more than pymongo's own single resume attempt absorbs.
            store.db.client.admin.command(
                {
                    "configureFailPoint": "failCommand",
                    "mode": {"times": 4},
                    "data": {"failCommands": ["getMore", "aggregate"], "errorCode": 6},
                }
            )
            await asyncio.to_thread(
                load_content, store, embedder, [_item("while-down", "Orange rain jacket")]
            )
            await until(lambda: service.index.version == store.version(), "changes after failure")
            assert "while-down" in ids(service)
            assert loads.calls == 0  # resumed from the token, not reloaded
    finally:
        store.close()


class HistoryLostOnce:
    """A stand-in for the server's answer to a resume token that fell off the oplog
    (ChangeStreamHistoryLost, code 286), which SecantusDB does not produce: the first
    re-open with a token fails that way; everything else is the real pymongo stream."""

    def __init__(self, real: OpenStream) -> None:
        self.real = real
        self.refused = 0

    def __call__(
        self, pipeline: list[dict[str, Any]], resume_after: Any, max_await_ms: int
    ) -> ChangeStream:
        if resume_after is not None and not self.refused:
            self.refused += 1
            raise OperationFailure("Resume of change stream was not possible", HISTORY_LOST)
        return self.real(pipeline, resume_after, max_await_ms)


async def test_a_lost_resume_position_reloads_everything(
    small_store: ContentStore, embedder: LocalEmbedder
) -> None:
    store = small_store
    async with running(store, embedder) as service:
        follower = service.follower
        assert follower is not None
        loads = LoadCounter(store)
        lost = HistoryLostOnce(follower.open_stream)
        follower.open_stream = lost
        follower.close()  # the cursor is gone; the next read re-opens from the token
        await asyncio.to_thread(load_content, store, embedder, [_item("late", "Yellow kite")])
        await until(lambda: "late" in ids(service), "content after the reload")
        assert lost.refused == 1
        assert loads.calls >= 1  # read again in full
        await until(lambda: service.index.version == store.version(), "latest version")


@pytest.fixture
def standalone_server() -> Iterator[services.MongoServer]:
    with services.mongo_server(["--standalone"]) as server:
        yield server


async def test_a_server_without_change_streams_is_polled(
    standalone_server: services.MongoServer, embedder: LocalEmbedder, seed_vectors: Matrix
) -> None:
    store = _store_on(standalone_server)
    store.upsert(seed_items()[:4], seed_vectors[:4], LOCAL_MODEL_ID)
    store.bump_version()
    try:
        with pytest.raises(OperationFailure) as refused:
            store.db.watch().try_next()
        assert refused.value.code == 40573  # what a standalone mongod answers
        async with running(store, embedder) as service:
            assert service.follow_mode == "poll"
            assert (await service.health())["content"]["follow"] == "poll"
            await asyncio.to_thread(load_content, store, embedder, [_item("p1", "Purple umbrella")])
            await until(lambda: service.index.version == store.version(), "polled version")
            assert "p1" in ids(service)
    finally:
        store.close()
