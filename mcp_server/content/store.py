"""MongoDB access for ``PromptContent``: upserts, the content version, index snapshots.

All query documents are built here from validated values, never from caller-supplied
mappings, so no ``$`` operator can be injected. The content version is a counter in a
small side collection: loaders bump it after every batch write, servers poll it and
rebuild their index (and thereby their cache keys) when it moves.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pymongo
from bson.binary import Binary, BinaryVectorDtype
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError
from pymongo.operations import SearchIndexModel

from mcp_server.content_model import ContentFilters, ContentItem, ScoredItem
from mcp_server.search.embeddings import Matrix
from mcp_server.search.index import VectorIndex
from workloads.content_search import INDEX_NAME, VECTOR_PATH, vector_index_model

META_COLLECTION = "content_meta"
VERSION_ID = "content_version"
DUPLICATE_KEY = 11000
VECTOR_SUBTYPE = 9
FLOAT32_DTYPE = b"\x27"
_PROJECTION_NO_VECTOR = {"embedding": 0, "embedding_model": 0, "embedding_dim": 0}

Document = dict[str, Any]


def vector_to_bson(vector: Sequence[float]) -> Binary:
    """A BSON vector (binData subtype 9, float32): what ``$vectorSearch`` indexes natively,
    at half the size of an array of doubles and decoded without a Python float per value."""
    return Binary.from_vector([float(x) for x in vector], BinaryVectorDtype.FLOAT32)


def vectors_from_bson(values: Sequence[bytes], dimensions: int) -> Matrix:
    """Stack stored float32 BSON vectors into one matrix (header: dtype 0x27, padding 0)."""
    if not values:
        return np.zeros((0, dimensions), dtype=np.float32)
    body = b"".join(bytes(v)[2:] for v in values)
    return np.frombuffer(body, dtype="<f4").reshape(len(values), dimensions).astype(np.float32)


def to_document(item: ContentItem, vector: Sequence[float], model_id: str) -> Document:
    """The stored shape of one item (see :mod:`mcp_server.content_model`)."""
    now = dt.datetime.now(dt.UTC)
    data = item.model_dump(mode="json", exclude={"id", "created_at", "updated_at"})
    data.update(
        {
            "embedding": vector_to_bson(vector),
            "embedding_model": model_id,
            "embedding_dim": len(vector),
            "updated_at": item.updated_at or now,
        }
    )
    return data


def from_document(doc: Document) -> ContentItem:
    fields = {k: v for k, v in doc.items() if k not in {"_id", *_PROJECTION_NO_VECTOR}}
    return ContentItem(id=str(doc["_id"]), **fields)


def decode_document(
    doc: Document, model_id: str, dimensions: int
) -> tuple[ContentItem, bytes] | None:
    """The item and its float32 BSON vector; None for another model's or a malformed
    vector, which is never mixed into an index."""
    embedding = doc.get("embedding")
    if (
        doc.get("embedding_model") != model_id
        or doc.get("embedding_dim") != dimensions
        or not isinstance(embedding, Binary)
        or embedding.subtype != VECTOR_SUBTYPE
        or bytes(embedding[:1]) != FLOAT32_DTYPE
    ):
        return None
    return from_document(doc), bytes(embedding)


class ContentStore:
    """The content collection of one database."""

    def __init__(self, database: Database[Document], collection: str = "content") -> None:
        self.db = database
        self.collection: Collection[Document] = database[collection]
        self.meta: Collection[Document] = database[META_COLLECTION]

    @classmethod
    def connect(
        cls, uri: str, database: str, collection: str = "content", timeout_seconds: float = 5.0
    ) -> ContentStore:
        client: pymongo.MongoClient[Document] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=int(timeout_seconds * 1000), tz_aware=True
        )
        return cls(client[database], collection)

    def close(self) -> None:
        self.db.client.close()

    def ping(self) -> bool:
        try:
            self.db.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    def ensure_indexes(self) -> None:
        """The one secondary index reads need: loading one model's vectors.

        Filters run in the in-memory index (or in the Atlas search index), so no B-tree
        on tags or campaigns is kept: it would only slow every load down.
        """
        self.collection.create_index([("embedding_model", 1)])

    # --- version -----------------------------------------------------------------------

    def version(self) -> int:
        doc = self.meta.find_one({"_id": VERSION_ID})
        return int(doc["value"]) if doc else 0

    def bump_version(self) -> int:
        """A new content version, strictly above every version this store ever had.

        The version is part of every cache key, so it must never repeat: raising it to the
        clock (microseconds) before the increment means a store wiped and reloaded (the
        counter document gone with it) cannot hand out a number a cached answer from the
        old data still carries in Redis.
        """
        floor = time.time_ns() // 1000
        self.meta.update_one({"_id": VERSION_ID}, {"$max": {"value": floor}}, upsert=True)
        doc = self.meta.find_one_and_update(
            {"_id": VERSION_ID},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=pymongo.ReturnDocument.AFTER,
        )
        assert doc is not None  # upsert=True always returns the document
        return int(doc["value"])

    # --- writes ------------------------------------------------------------------------

    def upsert(self, items: Sequence[ContentItem], vectors: Matrix, model_id: str) -> int:
        """Write one batch (insert or replace by id), keeping ``created_at`` of existing items.

        New ids go in with one ``insert_many`` (an order of magnitude cheaper than upserts
        on large documents); ids that exist, or that a concurrent loader inserted first,
        are updated in place.
        """
        if not items:
            return 0
        now = dt.datetime.now(dt.UTC)
        docs = {
            item.id: to_document(item, vector.tolist(), model_id)
            for item, vector in zip(items, vectors, strict=True)
        }
        created = {item.id: item.created_at or now for item in items}
        existing = {
            d["_id"] for d in self.collection.find({"_id": {"$in": list(docs)}}, {"_id": 1})
        }
        fresh = [
            {"_id": cid, **doc, "created_at": created[cid]}
            for cid, doc in docs.items()
            if cid not in existing
        ]
        written = 0
        if fresh:
            try:
                written += len(self.collection.insert_many(fresh, ordered=False).inserted_ids)
            except BulkWriteError as exc:
                duplicates = {
                    fresh[e["index"]]["_id"]
                    for e in exc.details.get("writeErrors", [])
                    if e.get("code") == DUPLICATE_KEY
                }
                if len(duplicates) != len(exc.details.get("writeErrors", [])):
                    raise
                written += int(exc.details.get("nInserted", 0))
                existing |= duplicates
        updates = [
            pymongo.UpdateOne(
                {"_id": cid},
                {"$set": docs[cid], "$setOnInsert": {"created_at": created[cid]}},
                upsert=True,
            )
            for cid in docs
            if cid in existing
        ]
        if updates:
            result = self.collection.bulk_write(updates, ordered=False)
            written += int(result.upserted_count + result.modified_count)
        return written

    # --- reads -------------------------------------------------------------------------

    def iter_model_documents(self, model_id: str, batch_size: int = 5000) -> Iterator[Document]:
        yield from self.collection.find({"embedding_model": model_id}, batch_size=batch_size)

    def load_index(self, model_id: str, dimensions: int) -> VectorIndex:
        """A snapshot of every item embedded by ``model_id`` at the current version.

        The version is read first: content written during the load shows up under the next
        version, so a snapshot is never labelled newer than what it holds.
        """
        version = self.version()
        items: list[ContentItem] = []
        vectors: list[bytes] = []
        for doc in self.iter_model_documents(model_id):
            decoded = decode_document(doc, model_id, dimensions)
            if decoded is None:
                continue
            items.append(decoded[0])
            vectors.append(decoded[1])
        matrix = vectors_from_bson(vectors, dimensions)
        return VectorIndex(items, matrix, model_id=model_id, version=version)

    def has_campaign(self, campaign_id: str) -> bool:
        """Some content item is used by the campaign (a validated id, matched with $eq)."""
        doc = self.collection.find_one({"campaigns": {"$eq": campaign_id}}, {"_id": 1})
        return doc is not None

    def count(self, model_id: str | None = None) -> int:
        query: Document = {} if model_id is None else {"embedding_model": model_id}
        return int(self.collection.count_documents(query))

    # --- $vectorSearch (MongoDB Search: MongoDBSearch's mongot, or Atlas) -----------------

    def supports_vector_search(self, index_name: str = INDEX_NAME) -> bool:
        """The named ``vectorSearch`` index exists and is queryable.

        Asked through ``$listSearchIndexes``, which servers without MongoDB Search refuse:
        a ``$vectorSearch`` probe would not do, as a missing index answers no hits rather
        than an error.
        """
        try:
            indexes = list(self.collection.list_search_indexes(index_name))
        except OperationFailure:
            return False
        return any(
            index.get("type") == "vectorSearch" and index.get("queryable") is True
            for index in indexes
        )

    def ensure_vector_index(self, dimensions: int, index_name: str = INDEX_NAME) -> bool:
        """Create the ``vectorSearch`` index unless it exists; True when created."""
        if any(True for _ in self.collection.list_search_indexes(index_name)):
            return False
        model = vector_index_model(dimensions, index_name)
        self.collection.create_search_index(
            SearchIndexModel(definition=model["definition"], name=model["name"], type=model["type"])
        )
        return True


def vector_search_pipeline(
    query: Matrix,
    filters: ContentFilters,
    limit: int,
    model_id: str,
    index_name: str = INDEX_NAME,
) -> list[Document]:
    """The ``$vectorSearch`` pipeline equivalent to :meth:`VectorIndex.search`.

    ``exact: true`` (an exhaustive search, ENN) gives the in-process index's top-k rather
    than an approximation; ``numCandidates`` is only for the approximate search and is
    left out. The filter is a pre-filter of the stage, applied before ranking (its paths
    are the index's ``filter`` fields), built only with ``$eq``/``$and`` from validated
    values, so top-k is computed within the filtered set as the in-process index does.
    """
    clauses: list[Document] = [{"embedding_model": {"$eq": model_id}}]
    if filters.campaign_id is not None:
        clauses.append({"campaigns": {"$eq": filters.campaign_id}})
    clauses.extend({"tags": {"$eq": t}} for t in sorted(set(filters.tags)))
    if filters.media_type is not None:
        clauses.append({"media_type": {"$eq": filters.media_type}})
    if filters.language is not None:
        clauses.append({"language": {"$eq": filters.language}})
    return [
        {
            "$vectorSearch": {
                "index": index_name,
                "path": VECTOR_PATH,
                "queryVector": [float(x) for x in np.asarray(query)],
                "exact": True,
                "limit": limit,
                "filter": {"$and": clauses},
            }
        },
        {"$addFields": {"score": {"$meta": "vectorSearchScore"}}},
        {"$project": _PROJECTION_NO_VECTOR},
    ]


def cosine_from_score(score: float) -> float:
    """MongoDB normalizes a cosine similarity to ``(1 + cosine) / 2``; callers get the
    cosine itself, as the in-process index reports it."""
    return 2.0 * score - 1.0


def run_vector_search(
    store: ContentStore,
    query: Matrix,
    filters: ContentFilters,
    limit: int,
    model_id: str,
    index_name: str = INDEX_NAME,
) -> list[ScoredItem]:
    pipeline = vector_search_pipeline(query, filters, limit, model_id, index_name)
    hits = []
    for doc in store.collection.aggregate(pipeline):
        score = cosine_from_score(float(doc.pop("score")))
        hits.append(ScoredItem(score=round(score, 6), item=from_document(doc)))
    return hits
