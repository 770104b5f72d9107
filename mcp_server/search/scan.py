"""Score every row of the index on threads of our own, in two passes that stay exact.

Why our own threads: numpy's BLAS (OpenBLAS) parallelizes a matrix-vector product by
itself, but its workers busy-wait (``sched_yield`` in a loop) for up to ~0.1 s after
every call, and on a small node those spinning workers took the cores the event loop
and the next request needed (measured with the server in its own process on 2 cores: a
cached answer right after a 100K-row scan went from 1.75 ms to 2.45 ms at p50). Our
threads block on a queue when idle, so a parallel scan leaves nothing spinning behind.
BLAS is therefore limited to one thread in the server process.

Why two passes: a scan reads the whole matrix, so it costs memory bandwidth, not
arithmetic. The first pass reads a float16 copy (half the bytes) and scores every row
approximately; the second rescores, in float32, every row the first pass cannot rule out.
With unit vectors the first pass errs by at most ``half_error`` (float16 rounding of the
row, of the query and of the result, and float32 accumulation; see :func:`half_error`),
so a row whose approximate score is more than twice that below the k-th best approximate
score cannot be in the exact top k. The answer is therefore the float32 top k, not an
approximation of it (tests compare it with a float64 brute force). The float16 copy
costs half the matrix's memory again; without torch the scan is one float32 pass.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from mcp_server.search.local_model import default_threads

Scores = npt.NDArray[np.float32]

_torch: Any
try:
    import torch as _torch
except ImportError:  # pragma: no cover - torch comes with the embeddings extra
    _torch = None

# Below this many rows one thread is faster than handing shards out (about 30 µs each).
MIN_ROWS_PER_SHARD = 16_384
# Below this many rows a float32 pass is cheap enough that a second pass does not pay.
MIN_ROWS_FOR_HALF = 32_768
_UNIT_ROUNDOFF_HALF = 2.0**-11
_UNIT_ROUNDOFF_SINGLE = 2.0**-24
_configured = threading.local()


def half_error(dimensions: int, max_row_norm: float, query_norm: float) -> float:
    """An upper bound on |float16 score - exact score| for one row.

    Rounding a row and the query to float16 perturbs each product by at most ``2u + u^2``
    of its magnitude, float32 accumulation of ``d`` products adds at most ``d * u32``
    (the standard gamma_d bound) and rounding the sum to float16 another ``u`` of it; by
    Cauchy-Schwarz the magnitudes sum to at most ``|row| * |query|``. Doubled for margin.
    """
    u = _UNIT_ROUNDOFF_HALF
    scale = max_row_norm * query_norm
    bound = (2 * u + u * u) * scale + 1.01 * dimensions * _UNIT_ROUNDOFF_SINGLE * scale
    return 2.0 * (bound + u * (scale + bound))


def _single_threaded_torch() -> None:
    """torch's own intra-op pool would spin like BLAS's; each of our threads runs one."""
    if _torch is not None and not getattr(_configured, "done", False):
        _torch.set_num_threads(1)
        _configured.done = True


class HalfMatrix:
    """The float16 copy of an index matrix, and its error bound per unit of query norm."""

    def __init__(self, matrix: npt.NDArray[np.float32]) -> None:
        assert _torch is not None
        self.tensor = _torch.from_numpy(matrix).to(_torch.float16)
        self.max_row_norm = float(np.linalg.norm(matrix, axis=1).max())
        self.dimensions = int(matrix.shape[1])

    @classmethod
    def build(cls, matrix: npt.NDArray[np.float32]) -> HalfMatrix | None:
        """The copy when it pays (torch installed, enough rows); None otherwise."""
        if _torch is None or matrix.shape[0] < MIN_ROWS_FOR_HALF:
            return None
        return cls(matrix)

    def error(self, query: npt.NDArray[np.float32]) -> float:
        return half_error(self.dimensions, self.max_row_norm, float(np.linalg.norm(query)))


class RowScanner:
    """Whole-matrix scores, split into contiguous row shards computed in parallel."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, threads or default_threads())
        # Process-wide on purpose: any BLAS call in the server would otherwise leave its
        # workers spinning (see the module docstring). Kept for the life of the process.
        self._blas_limit = threadpool_limits(limits=1, user_api="blas")
        self._pool = (
            ThreadPoolExecutor(
                self.threads - 1,
                thread_name_prefix="promptsales-scan",
                initializer=_single_threaded_torch,
            )
            if self.threads > 1
            else None
        )

    def _sharded(self, rows: int, shard: Callable[[int, int], None]) -> None:
        """Run ``shard(start, stop)`` over the rows; the calling thread takes the first."""
        shards = min(self.threads, rows // MIN_ROWS_PER_SHARD)
        if self._pool is None or shards < 2:
            shard(0, rows)
            return
        bounds = [int(b) for b in np.linspace(0, rows, shards + 1)]
        pending: list[Future[None]] = [
            self._pool.submit(shard, a, b) for a, b in itertools.pairwise(bounds[1:])
        ]
        shard(0, bounds[1])
        for future in pending:
            future.result()

    def scores(self, matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]) -> Scores:
        """Exact float32 scores of every row."""
        out: Scores = np.empty(matrix.shape[0], dtype=np.float32)

        def shard(a: int, b: int) -> None:
            np.matmul(matrix[a:b], query, out=out[a:b])

        self._sharded(matrix.shape[0], shard)
        return out

    def approximate_scores(self, half: HalfMatrix, query: npt.NDArray[np.float32]) -> Scores:
        """float16 scores of every row, each within ``half.error(query)`` of the exact one."""
        _single_threaded_torch()
        out = _torch.empty(half.tensor.shape[0], dtype=_torch.float16)
        q = _torch.from_numpy(np.ascontiguousarray(query)).to(_torch.float16)

        def shard(a: int, b: int) -> None:
            with _torch.inference_mode():
                _torch.mv(half.tensor[a:b], q, out=out[a:b])

        self._sharded(half.tensor.shape[0], shard)
        result: Scores = out.numpy().astype(np.float32)
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
