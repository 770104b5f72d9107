"""Encrypt and COPY-format a large customer load in a child process, on the other core.

The run's client is one Python process: the CRM reader thread fetches customers, the main
thread writes COPY data, and both share one GIL. Encrypting, HMACing and formatting a
customer (:mod:`etl_job.customer_rows`) was the largest share of that (about 5.6 of the
≈ 9 µs a customer cost the client on a design-scale first load), so a view with more than
one fetch batch of customers sends its batches to a child process instead: the reader
thread goes on fetching the next batch while the child encrypts the current one, and the
main thread gets ready-made binary COPY bytes.

- The children are started only when the first batch is full (a view that fits into one
  batch, every incremental run's usual case, never pays for a process). The first batch
  is encoded in the reader thread while they start, so their start-up overlaps work.
- The pool is the standard library's ``ProcessPoolExecutor`` (spawn context: a fresh
  interpreter, no copy of the run's connections or threads). Its initializer receives a
  ``BatchKey`` (the active data key and the HMAC key, or the benchmark's plain stand-in:
  anything with ``cipher()``), pickled over the pool's pipe, never an argument or a file.
  Each child is one batch ahead at most: the parent submits the next batch only after it
  has taken the oldest answer, so memory stays bounded.
- Exactly-once is untouched: the child holds no connection and writes nothing; its blocks
  go through the run's one warehouse transaction like the in-thread rows did. If the run
  ends or dies (SIGKILL included), the pool's children see their pipe close and exit.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from etl_job.customer_rows import BlockEncoder, CustomerBlock, block_encoder

Rows = Sequence[Sequence[Any]]


class WorkerError(RuntimeError):
    """The encryption worker process failed or exited."""


def encode_blocks(
    cipher: Any, batches: Iterator[Rows], batch_rows: int, workers: int
) -> Iterator[CustomerBlock]:
    """``batches`` of ``v_customer`` extract rows as :class:`CustomerBlock` s, in order.

    In this thread when ``workers`` is 0 or the rows fit into one batch; else, from the
    second batch on (when the first was full, ``batch_rows``, and the cipher can be handed
    over, ``batch_key()``), in ``workers`` child processes, each one batch ahead.
    """
    encode = block_encoder(cipher)
    first = next(batches, None)
    if first is None:
        return
    key = cipher.batch_key() if workers and len(first) >= batch_rows else None
    if key is None:
        yield encode(first)
        for batch in batches:
            yield encode(batch)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(key,),
    )
    try:
        yield encode(first)  # while the children start
        pending: deque[Future[CustomerBlock]] = deque()
        for batch in batches:  # fetched while the children encode earlier ones
            if len(pending) >= workers:
                yield _answer(pending.popleft())
            pending.append(pool.submit(_encode, batch))
        while pending:
            yield _answer(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _answer(future: Future[CustomerBlock]) -> CustomerBlock:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise WorkerError(f"customer worker exited: {exc}") from None
    except Exception as exc:  # raised in the child, re-raised here by the pool
        raise WorkerError(f"customer worker failed: {type(exc).__name__}: {exc}") from exc


_encoder: BlockEncoder | None = None  # the child's, set by the pool's initializer


def _start(key: Any) -> None:
    global _encoder
    _encoder = block_encoder(key.cipher())


def _encode(rows: Rows) -> CustomerBlock:
    assert _encoder is not None
    return _encoder(rows)
