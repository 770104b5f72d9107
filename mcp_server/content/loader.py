"""Embed and upsert content in batches, then bump the content version once per load.

Texts are de-duplicated per batch before embedding (a library often repeats captions
across formats of one asset), and the version is bumped after the last batch so
servers rebuild their index, and thereby invalidate cached answers, exactly once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from mcp_server.content.store import ContentStore
from mcp_server.content_model import ContentItem
from mcp_server.search.embeddings import Embedder, Matrix

log = logging.getLogger(__name__)


class ContentFileError(ValueError):
    """A content file line that is not a valid item; names the line and the field."""


@dataclass(frozen=True)
class LoadReport:
    items: int
    embedded_texts: int
    version: int
    model_id: str


def batched(items: Iterable[ContentItem], size: int) -> Iterator[list[ContentItem]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def embed_batch(
    embedder: Embedder, items: list[ContentItem], memo: dict[str, Matrix]
) -> tuple[Matrix, int]:
    """Vectors for ``items``; ``memo`` carries already-embedded texts across batches."""
    texts = [item.embedding_text() for item in items]
    missing = list(dict.fromkeys(t for t in texts if t not in memo))
    if missing:
        for text, vector in zip(missing, embedder.embed(missing), strict=True):
            memo[text] = vector
    return np.stack([memo[t] for t in texts]).astype(np.float32), len(missing)


def load_content(
    store: ContentStore,
    embedder: Embedder,
    items: Iterable[ContentItem],
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    memo_limit: int = 50_000,
) -> LoadReport:
    """Embed and upsert every item; bump the version if anything was written."""
    store.ensure_indexes()
    memo: dict[str, Matrix] = {}
    total = embedded = 0
    for batch in batched(items, batch_size):
        vectors, fresh = embed_batch(embedder, batch, memo)
        store.upsert(batch, vectors, embedder.model_id)
        total += len(batch)
        embedded += fresh
        if len(memo) > memo_limit:
            memo.clear()
        if progress is not None:
            progress(total)
    version = store.bump_version() if total else store.version()
    log.info(
        "content loaded",
        extra={"items": total, "embedded_texts": embedded, "content_version": version},
    )
    return LoadReport(total, embedded, version, embedder.model_id)


def read_jsonl(path: Path) -> Iterator[ContentItem]:
    """Items from a JSON-lines file, one item per line, in the documented shape."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield ContentItem.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ContentFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
            except ValidationError as exc:
                fields = ", ".join(
                    ".".join(str(p) for p in err["loc"]) or "(item)" for err in exc.errors()
                )
                raise ContentFileError(f"{path}:{number}: invalid field(s): {fields}") from None
