"""Encrypt and COPY-format a large customer load in a child process, on the other core.

The run's client is one Python process: the CRM reader thread fetches customers, the main
thread writes COPY data, and both share one GIL. Encrypting, HMACing and formatting a
customer (:mod:`etl_job.customer_rows`) was the largest share of that (about 5.6 of the
≈ 9 µs a customer cost the client on a design-scale first load), so a view with more than
one fetch batch of customers sends its batches to a child process instead: the reader
thread goes on fetching the next batch while the child encrypts the current one, and the
main thread gets ready-made binary COPY bytes.

- The child is ``python -m etl_job.customer_worker``, started only when the first batch
  is full (a view that fits into one batch, every incremental run's usual case, never
  pays for a process). The first batch is encoded in the reader thread while the child
  starts, so its start-up overlaps work.
- Protocol: pickles over the child's stdin and stdout. First a ``BatchKey`` (the active
  data key and the HMAC key, or the benchmark's plain stand-in: anything with
  ``cipher()``), then one row batch at a time, each answered by its ``CustomerBlock`` (or
  a ``_Failed`` naming the error). At most one batch is in flight, and the parent sends
  the next one only after reading the previous answer, so neither side can block writing
  while the other writes too.
- Exactly-once is untouched: the child holds no connection and writes nothing; its blocks
  go through the run's one warehouse transaction like the in-thread rows did. If the run
  ends or dies (SIGKILL included), the child reads end-of-file on stdin and exits.
"""

from __future__ import annotations

import contextlib
import pickle
import struct
import subprocess
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from etl_job.customer_rows import BlockEncoder, CustomerBlock, block_encoder

Rows = Sequence[Sequence[Any]]
_STOP_SECONDS = 5.0


@dataclass(frozen=True)
class _Failed:
    message: str


class WorkerError(RuntimeError):
    """The encryption worker process failed or exited."""


class _Child:
    """The running worker process and its two pipes."""

    def __init__(self, key: Any) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "etl_job.customer_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._send_pipe: IO[bytes] = self._process.stdin
        self._recv_pipe: IO[bytes] = self._process.stdout
        self.send(key)

    def send(self, item: Any) -> None:
        self.send_pickled(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))

    def send_pickled(self, data: bytes) -> None:
        try:
            _write_pickled(self._send_pipe, data)
        except BrokenPipeError:
            raise WorkerError(f"customer worker exited ({self._process.poll()})") from None

    def receive(self) -> CustomerBlock:
        try:
            answer = _read(self._recv_pipe)
        except EOFError:
            raise WorkerError(f"customer worker exited ({self._process.wait()})") from None
        if isinstance(answer, _Failed):
            raise WorkerError(f"customer worker failed: {answer.message}")
        assert isinstance(answer, CustomerBlock)
        return answer

    def stop(self) -> None:
        """Close both pipes (the child then reads end-of-file, or fails to write an answer
        nobody will read) and wait for it, killing it if it does not go."""
        for pipe in (self._send_pipe, self._recv_pipe):
            with contextlib.suppress(OSError):
                pipe.close()
        try:
            self._process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


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
    children: list[_Child] = []
    try:
        children += [_Child(key) for _ in range(workers)]
        yield encode(first)  # while the children start
        yield from _through(children, batches)
    finally:
        for child in children:
            child.stop()


def _through(children: Sequence[_Child], batches: Iterator[Rows]) -> Iterator[CustomerBlock]:
    """Batches to the children in turn, answers back in batch order; a child gets its next
    batch only once its previous answer is read (one in flight each)."""
    sent = 0
    for batch in batches:  # fetched while the children encode earlier ones
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        child = children[sent % len(children)]
        answer = child.receive() if sent >= len(children) else None
        child.send_pickled(data)
        sent += 1
        if answer is not None:
            yield answer
    for done in range(max(0, sent - len(children)), sent):
        yield children[done % len(children)].receive()


_LENGTH = struct.Struct("!Q")


def _write(pipe: IO[bytes], item: Any) -> None:
    """One message: its length, then its pickle."""
    _write_pickled(pipe, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))


def _write_pickled(pipe: IO[bytes], data: bytes) -> None:
    pipe.write(_LENGTH.pack(len(data)))
    pipe.write(data)
    pipe.flush()


def _read(pipe: IO[bytes]) -> Any:
    """The next message, read to its exact length. ``pickle.load`` straight from the pipe
    hung in one of the first four design-scale runs, both sides waiting for the other
    (the C unpickler reads ahead through ``peek``, which can block for bytes the other
    side sends only after its answer); reading exact lengths cannot."""
    head = pipe.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(head)
    data = pipe.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 (parent and its own child, a private pipe)


def _serve(encode: BlockEncoder, source: IO[bytes], sink: IO[bytes]) -> None:
    while True:
        try:
            rows = _read(source)
        except EOFError:
            return
        try:
            answer: CustomerBlock | _Failed = encode(rows)
        except Exception as exc:  # reported to the parent, which fails the run
            traceback.print_exc()
            answer = _Failed(f"{type(exc).__name__}: {exc}")
        try:
            _write(sink, answer)
        except BrokenPipeError:
            return  # the parent stopped reading: the run is over


def main() -> None:
    """The child: read the key, then encode batches until stdin ends."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        key = _read(source)
    except EOFError:
        return
    _serve(block_encoder(key.cipher()), source, sink)


if __name__ == "__main__":
    # Run the imported module's main, not this ``__main__`` copy's: the answers it pickles
    # (``_Failed``) must name ``etl_job.customer_worker``, which the parent can load.
    from etl_job.customer_worker import main as module_main

    module_main()
