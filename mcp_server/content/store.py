"""MongoDB access for ``PromptContent``: upserts, the content version, index snapshots.

All query documents are built here from validated values, never from caller-supplied
mappings, so no ``$`` operator can be injected. The content version is a counter in a
small side collection: loaders bump it after every batch write, servers poll it and
rebuild their index (and thereby their cache keys) when it moves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from mcp_server.content.models import ContentFilters, ContentItem, ScoredItem
from mcp_server.embeddings import Matrix
from mcp_server.index import VectorIndex, stack

META_COLLECTION = "content_meta"
VERSION_ID = "content_version"
_PROJECTION_NO_VECTOR = {"embedding": 0, "embedding_model": 0, "embedding_dim": 0}

Document = dict[str, Any]


def to_document(item: ContentItem, vector: Sequence[float], model_id: str) -> Document:
    """The stored shape of one item (see :mod:`mcp_server.content.models`)."""
    now = dt.datetime.now(dt.UTC)
    data = item.model_dump(mode="json", exclude={"id", "created_at", "updated_at"})
    data.update(
        {
            "embedding": [float(x) for x in vector],
            "embedding_model": model_id,
            "embedding_dim": len(vector),
            "updated_at": item.updated_at or now,
        }
    )
    return data


def from_document(doc: Document) -> ContentItem:
    fields = {k: v for k, v in doc.items() if k not in {"_id", *_PROJECTION_NO_VECTOR}}
    return ContentItem(id=str(doc["_id"]), **fields)


class ContentStore:
    """The content collection of one database."""

    def __init__(self, database: Database[Document], collection: str = "content") -> None:
        self.db = database
        self.collection: Collection[Document] = database[collection]
        self.meta: Collection[Document] = database[META_COLLECTION]

    @classmethod
    def connect(cls, uri: str, database: str, collection: str = "content") -> ContentStore:
        client: pymongo.MongoClient[Document] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=5000, tz_aware=True
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
        """Secondary indexes for filtered reads and for loading one model's vectors."""
        self.collection.create_index([("embedding_model", 1)])
        self.collection.create_index([("campaigns", 1)])

    # --- version -----------------------------------------------------------------------

    def version(self) -> int:
        doc = self.meta.find_one({"_id": VERSION_ID})
        return int(doc["value"]) if doc else 0

    def bump_version(self) -> int:
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
        """Write one batch (insert or replace by id), keeping ``created_at`` of existing items."""
        now = dt.datetime.now(dt.UTC)
        ops = []
        for item, vector in zip(items, vectors, strict=True):
            doc = to_document(item, vector.tolist(), model_id)
            ops.append(
                pymongo.UpdateOne(
                    {"_id": item.id},
                    {"$set": doc, "$setOnInsert": {"created_at": item.created_at or now}},
                    upsert=True,
                )
            )
        if not ops:
            return 0
        result = self.collection.bulk_write(ops, ordered=False)
        return int(result.upserted_count + result.modified_count)

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
        vectors: list[list[float]] = []
        for doc in self.iter_model_documents(model_id):
            if doc.get("embedding_dim") != dimensions:
                continue
            vectors.append(doc["embedding"])
            items.append(from_document(doc))
        matrix = stack(vectors, dimensions)
        return VectorIndex(items, matrix, model_id=model_id, version=version)

    def count(self, model_id: str | None = None) -> int:
        query: Document = {} if model_id is None else {"embedding_model": model_id}
        return int(self.collection.count_documents(query))

    # --- $vectorSearch (MongoDB Atlas / servers with search) ------------------------------

    def supports_vector_search(self, index_name: str = "content_vector") -> bool:
        """Probe once: servers without Atlas Search answer the stage with an error."""
        try:
            list(
                self.collection.aggregate(
                    [
                        {
                            "$vectorSearch": {
                                "index": index_name,
                                "path": "embedding",
                                "queryVector": [0.0],
                                "numCandidates": 1,
                                "limit": 1,
                            }
                        }
                    ]
                )
            )
        except OperationFailure:
            return False
        return True


def vector_search_pipeline(
    query: Matrix,
    filters: ContentFilters,
    limit: int,
    model_id: str,
    index_name: str = "content_vector",
) -> list[Document]:
    """The ``$vectorSearch`` pipeline equivalent to :meth:`VectorIndex.search`.

    The filter is a pre-filter of the search stage (fields must be declared as filter
    fields in the search index), so top-k is computed within the filtered set.
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
                "path": "embedding",
                "queryVector": [float(x) for x in np.asarray(query)],
                "numCandidates": max(100, limit * 20),
                "limit": limit,
                "exact": True,
                "filter": {"$and": clauses},
            }
        },
        {"$addFields": {"score": {"$meta": "vectorSearchScore"}}},
        {"$project": _PROJECTION_NO_VECTOR},
    ]


def run_vector_search(
    store: ContentStore, query: Matrix, filters: ContentFilters, limit: int, model_id: str
) -> list[ScoredItem]:
    docs = store.collection.aggregate(vector_search_pipeline(query, filters, limit, model_id))
    hits = []
    for doc in docs:
        score = float(doc.pop("score", 0.0))
        hits.append(ScoredItem(score=round(score, 6), item=from_document(doc)))
    return hits
